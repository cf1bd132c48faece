"""Throttling, timeouts, drops, dead links, refused binds, SMSC unbinds and a clean stop."""

from __future__ import annotations

import asyncio

import pytest

from smpp.aio import BindMode, BindState, Outcome
from smpp.core.status import CommandStatus
from smpp.sim.config import Latency, ThrottleKind, ThrottleRule
from tests.smpp.aio.conftest import StartPool, StartSim
from tests.smpp.aio.helpers import long_sms, sms
from tests.smpp.aio.scripted import Script, start_scripted, wait_for

TEXT = "Habari! " * 50  # 3 GSM parts


async def test_throttled_then_ok_keeps_the_parts_in_order(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(throttle=ThrottleRule(tps=20, kind=ThrottleKind.BUCKET, burst=1))
    pool, _ = await start_pool(sim, throttle_pause=0.02, throttle_pause_max=0.05)
    results = await asyncio.gather(*(pool.send(long_sms(TEXT, ref)) for ref in range(3)))
    assert all(r.ok for r in results)
    record = sim.records()
    assert record.throttled > 0
    assert sum(p.throttled for r in results for p in r.parts) == record.throttled
    accepted = [s.concat for s in record.submits if s.status == 0]
    for ref in range(3):
        assert [i.seq for i in accepted if i and i.reference == ref] == [1, 2, 3]


async def test_a_drop_loses_no_submit(start_sim: StartSim, start_pool: StartPool) -> None:
    sim = await start_sim(latency=Latency(fixed=0.05))
    pool, rec = await start_pool(sim, window=20)
    futures = [pool.send([sms(dest=f"2547{i:08d}", receipt=False)]) for i in range(60)]
    await sim.wait_for_submits(10)
    assert sim.drop() == 1
    results = await asyncio.gather(*futures)
    assert all(r.ok for r in results)
    in_doubt = [r for r in results if r.parts[0].in_doubt]
    assert in_doubt and all(r.parts[0].attempts == 2 for r in in_doubt)
    accepted = {s.destination for s in sim.records().submits if s.status == 0}
    assert accepted == {f"2547{i:08d}" for i in range(60)}
    reasons = [e.reason for e in rec.states if e.state is BindState.DISCONNECTED]
    assert reasons == ["connection closed by SMSC"]
    assert len(sim.records().binds) == 2


async def test_response_timeout_retries_then_reports(start_pool: StartPool) -> None:
    script = Script(answer_submits=False)
    server, port = await start_scripted(script)
    async with server:
        pool, _ = await start_pool(("127.0.0.1", port), response_timeout=0.05, max_attempts=2)
        result = await pool.submit([sms()])
        part = result.parts[0]
        assert part.outcome is Outcome.RETRY and part.in_doubt and part.attempts == 2
        assert part.error == "response timeout"
        assert script.submits == 2


async def test_a_dead_link_is_found_within_two_enquire_link_intervals(
    start_pool: StartPool,
) -> None:
    script = Script(answer_enquire_link=False)
    server, port = await start_scripted(script)
    interval = 0.5  # long enough that loop lag on a loaded machine stays well below it
    async with server:
        _, rec = await start_pool(("127.0.0.1", port), enquire_link_interval=interval)
        await wait_for(script, lambda: len(script.binds) >= 2)  # found dead, bound again
        bound = next(e for e in rec.states if e.state is BindState.BOUND)
        dead = [e for e in rec.states if e.state is BindState.DISCONNECTED]
        assert dead[0].reason == "link dead"
        assert script.enquire_links == 1
        assert dead[0].at - bound.at <= 2 * interval + interval / 2  # two intervals, not three


async def test_already_bound_is_retried_until_the_bind_passes(start_pool: StartPool) -> None:
    script = Script(bind_statuses=[CommandStatus.ESME_RALYBND, CommandStatus.ESME_RALYBND])
    server, port = await start_scripted(script)
    async with server:
        pool, rec = await start_pool(("127.0.0.1", port))
        assert script.binds == [CommandStatus.ESME_RALYBND, CommandStatus.ESME_RALYBND, 0]
        refused = [e for e in rec.states if e.state is BindState.DISCONNECTED]
        assert [e.command_status for e in refused] == [CommandStatus.ESME_RALYBND] * 2
        assert all(e.reason == "bind refused" and e.retry_in is not None for e in refused)
        assert (await pool.submit([sms()])).ok


async def test_unbind_from_the_smsc_is_answered_and_bound_again(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim)
    assert sim.unbind() == 1
    await sim.wait_for_bind(1)
    await sim.wait_until(lambda: len(sim.records().binds) == 2, 5, "second bind")
    await pool.wait_bound(within=5)
    first = sim.records().binds[0]
    assert first.close_reason == "unbound by the SMSC"
    assert [e.reason for e in rec.states if e.state is BindState.DISCONNECTED] == [
        "unbind from SMSC"
    ]
    assert (await pool.submit([sms()])).ok


async def test_stop_drains_the_window_and_unbinds(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(latency=Latency(fixed=0.1))
    pool, rec = await start_pool(sim, binds=2, window=10)
    futures = [pool.send([sms(receipt=False)]) for _ in range(10)]
    await sim.wait_for_submits(10)
    report = await pool.stop(drain_budget=2.0)
    assert report.drained and not report.in_doubt and not report.not_sent
    assert sorted(report.unbound) == ["smsc/trx0", "smsc/trx1"]
    assert all(f.result().ok for f in futures)
    await sim.wait_for_unbind(2)
    assert rec.states[-1].state is BindState.STOPPED


async def test_stop_past_its_budget_reports_what_is_in_doubt(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(latency=Latency(fixed=5.0))
    pool, _ = await start_pool(sim, window=2, unbind_timeout=0.2)
    futures = [pool.send([sms(receipt=False)], ref=i) for i in range(3)]
    await sim.wait_for_submits(2)
    report = await pool.stop(drain_budget=0.1)
    assert not report.drained
    assert sorted(report.in_doubt) == [(0, 0), (1, 0)]
    assert report.not_sent == ((2, 0),)
    outcomes = [f.result().parts[0].outcome for f in futures]
    assert outcomes == [Outcome.IN_DOUBT, Outcome.IN_DOUBT, Outcome.NOT_SENT]


async def test_transmitter_and_receiver_binds(start_sim: StartSim, start_pool: StartPool) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim, bind_mode=BindMode.TRANSMITTER_RECEIVER, binds=2)
    assert sorted(pool.bind_states()) == ["smsc/rx0", "smsc/rx1", "smsc/tx0", "smsc/tx1"]
    results = await asyncio.gather(*(pool.send([sms()]) for _ in range(4)))
    assert {r.parts[0].bind_id for r in results} <= {"smsc/tx0", "smsc/tx1"}
    await sim.wait_for_receipts_acked(4)
    assert {i.bind_id for i in rec.inbound} <= {"smsc/rx0", "smsc/rx1"}
    stats = {s.bind_id: s for s in pool.stats()}
    assert stats["smsc/tx0"].submits + stats["smsc/tx1"].submits == 4
    assert stats["smsc/rx0"].window == 0


async def test_parts_queued_without_a_bind_are_given_up_after_the_queue_timeout(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim, queue_timeout=0.2, reconnect_min=1.0, reconnect_max=2.0)
    await sim.close()
    await rec.wait_state(BindState.DISCONNECTED)
    result = await asyncio.wait_for(pool.send([sms()]), 5)
    part = result.parts[0]
    assert part.outcome is Outcome.NOT_SENT and part.error == "no bind for 0.2 s"
    assert part.attempts == 0


async def test_an_unanswered_bind_is_abandoned_and_retried(start_pool: StartPool) -> None:
    script = Script(answer_binds=False)
    server, port = await start_scripted(script)
    async with server:
        _, rec = await start_pool(("127.0.0.1", port), bound=False, bind_timeout=0.1)
        event = await rec.wait_state(BindState.DISCONNECTED)
        assert event.reason == "bind not answered" and event.command_status is None
        await wait_for(script, lambda: len(script.binds) >= 2)


async def test_a_transient_error_is_sent_again_after_the_retry_delay(
    start_pool: StartPool,
) -> None:
    script = Script(submit_statuses=[CommandStatus.ESME_RSYSERR])
    server, port = await start_scripted(script)
    async with server:
        pool, _ = await start_pool(("127.0.0.1", port), retry_delay=0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        part = (await pool.submit([sms()])).parts[0]
        assert part.outcome is Outcome.OK and part.attempts == 2 and not part.in_doubt
        assert loop.time() - start >= 0.05
        assert script.submits == 2


async def test_a_drop_in_the_middle_of_a_long_message_keeps_its_order(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(latency=Latency(fixed=0.05))
    pool, _ = await start_pool(sim, binds=2)
    sending = pool.send(long_sms(TEXT, 9))
    await sim.wait_for_submits(2)  # part 1 accepted, part 2 written
    sim.drop()
    result = await sending
    assert result.ok
    accepted = [(s.at, s.concat.seq) for s in sim.records().submits if s.status == 0 and s.concat]
    first_seen = {}
    for at, seq in accepted:
        first_seen.setdefault(seq, at)
    assert sorted(first_seen, key=first_seen.__getitem__) == [1, 2, 3]
    assert result.parts[1].in_doubt and not result.parts[0].in_doubt


async def test_acceptances_after_the_timeout_are_reported_as_late_copies(
    start_pool: StartPool,
) -> None:
    script = Script(hold_resps=True)  # both answers come only after both timeouts
    server, port = await start_scripted(script)
    async with server:
        pool, rec = await start_pool(("127.0.0.1", port), response_timeout=0.05, max_attempts=2)
        part = (await pool.submit([sms(receipt=False)], ref="m")).parts[0]
        assert part.outcome is Outcome.RETRY and part.in_doubt and part.attempts == 2
        assert len(script.held) == 2
        script.release()
        while len(rec.late) < 2:
            rec.late_seen.clear()
            await asyncio.wait_for(rec.late_seen.wait(), 5)
        assert script.submits == 2
        ids = ["1", "2"]  # the scripted SMSC's ids: its submit count in hex
        assert [(a.ref, a.part_index, a.message_id) for a in rec.late] == [
            ("m", 0, i) for i in ids
        ]


async def test_an_acceptance_with_an_unreadable_id_is_not_sent_again(
    start_pool: StartPool, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(broken_resps=1)
    server, port = await start_scripted(script)
    async with server:
        pool, rec = await start_pool(("127.0.0.1", port), response_timeout=0.3)
        part = (await asyncio.wait_for(pool.submit([sms()]), 5)).parts[0]
        assert part.outcome is Outcome.OK and part.attempts == 1 and not part.in_doubt
        assert part.message_id == "" and part.message_key is None
        assert script.submits == 1 and len(script.binds) == 1
        assert "ESME_RINVMSGID" in caplog.text
        assert (await pool.submit([sms()])).ok and script.submits == 2
        assert rec.states[-1].state is BindState.BOUND


async def test_unanswered_sends_have_their_own_resend_limit(start_pool: StartPool) -> None:
    script = Script(answer_submits=False)
    server, port = await start_scripted(script)
    async with server:
        pool, _ = await start_pool(
            ("127.0.0.1", port), response_timeout=0.05, max_attempts=3, max_unanswered_resends=1
        )
        part = (await pool.submit([sms()])).parts[0]
        assert part.outcome is Outcome.RETRY and part.in_doubt and part.attempts == 2
        assert script.submits == 2


async def test_answered_retries_are_not_limited_by_the_unanswered_resends(
    start_pool: StartPool,
) -> None:
    busy = CommandStatus.ESME_RSYSERR
    script = Script(submit_statuses=[busy, busy])
    server, port = await start_scripted(script)
    async with server:
        pool, _ = await start_pool(
            ("127.0.0.1", port), retry_delay=0.01, max_attempts=3, max_unanswered_resends=0
        )
        part = (await pool.submit([sms()])).parts[0]
        assert part.outcome is Outcome.OK and part.attempts == 3 and not part.in_doubt
