"""The callback sender against a real receiver on port 0: signature, retries, give-ups,
address screening, bounded concurrency and a draining stop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from gatewayd.metrics import DaemonMetrics
from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.model import CallbackJob, CallbackState
from gatewayd.workers.callbacks import (
    CallbackOutcome,
    CallbackSender,
    CallbackTuning,
    backoff_delay,
)
from tests.fakes.memory_store import MemoryStore
from tests.gatewayd.test_callbacks_world import (
    HANG,
    SECRET,
    FakeResolver,
    receiver,
    running,
    world,
)

DELIVERED = CallbackOutcome.DELIVERED
RETRY = CallbackOutcome.RETRY
GIVEN_UP = CallbackOutcome.GIVEN_UP


def client_verifies(headers: dict[str, str], body: bytes, now: float, secret: bytes) -> bool:
    """What a client does with a callback: recompute the HMAC over `<timestamp>.<raw body>`,
    compare in constant time, and refuse timestamps more than five minutes off."""
    timestamp = headers["X-Gatewayd-Timestamp"]
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    fresh = abs(now - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, headers["X-Gatewayd-Signature"])


async def test_delivered_first_time_with_a_signature_the_client_verifies() -> None:
    w = await world()
    metrics = DaemonMetrics()
    async with receiver() as recv:
        message_id = await w.delivered(recv.url())
        async with running(w.sender(metrics=metrics)):
            job, outcome = await w.next_outcome()
    assert outcome is DELIVERED
    [seen] = recv.seen
    assert json.loads(seen.body) == {
        "message_id": message_id,
        "contact": "254712345678",
        "status": "DELIVERED",
        "description": "Message delivered to handset",
        "provider": "Safaricom",
    }
    now = w.clock.now().timestamp()
    assert client_verifies(seen.headers, seen.body, now, SECRET)
    assert not client_verifies(
        seen.headers, seen.body.replace(b"DELIVERED", b"FAILED"), now, SECRET
    )
    assert not client_verifies(seen.headers, seen.body, now, b"another secret of 32 bytes......")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "gatewayd/0.1.0"
    assert seen.headers["X-Gatewayd-Callback-Id"] == str(job.id)
    assert seen.headers["X-Gatewayd-Attempt"] == "1"
    stored = await w.job(message_id)
    assert stored.state is CallbackState.DONE
    assert (
        metrics.registry.get_sample_value("gatewayd_callbacks_total", {"outcome": "delivered"}) == 1
    )


async def test_without_a_secret_the_post_goes_unsigned() -> None:
    w = await world()
    async with receiver() as recv:
        await w.failed(recv.url())
        async with running(w.sender(signing_secret=None)):
            assert (await w.next_outcome())[1] is DELIVERED
    [seen] = recv.seen
    assert "X-Gatewayd-Signature" not in seen.headers
    assert json.loads(seen.body)["status"] == "FAILED"


async def test_500_then_200_is_retried_after_the_backoff_and_done() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [500, 200]
        message_id = await w.failed(recv.url())
        sender = w.sender(backoff_base=2.0, backoff_max=60.0)
        async with running(sender):
            assert (await w.next_outcome())[1] is RETRY
            waiting = await w.job(message_id)
            assert waiting.state is CallbackState.PENDING
            assert waiting.last_error == "HTTP 500"
            delay = waiting.next_attempt_at - w.clock.now()
            assert timedelta(0) <= delay <= timedelta(seconds=2)
            w.clock.advance(delay.total_seconds() + 0.001)
            sender.wake()
            assert (await w.next_outcome())[1] is DELIVERED
    assert [s.headers["X-Gatewayd-Attempt"] for s in recv.seen] == ["1", "2"]
    assert len({s.headers["X-Gatewayd-Callback-Id"] for s in recv.seen}) == 1
    assert (await w.job(message_id)).state is CallbackState.DONE
    assert sender.counts == {RETRY: 1, DELIVERED: 1}


async def test_a_slow_endpoint_times_out_and_is_retried() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [HANG]
        message_id = await w.failed(recv.url())
        tuning = CallbackTuning(poll_interval=60.0, lease=5.0)
        async with running(w.sender(timeout=0.2, tuning=tuning)):
            assert (await w.next_outcome())[1] is RETRY
    job = await w.job(message_id)
    assert job.state is CallbackState.PENDING
    assert job.last_error == "timed out after 0.2 s"


async def test_retry_period_passed_gives_up_and_records_why() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [503]
        message_id = await w.failed(recv.url())
        w.clock.advance(3600 + 1)
        async with running(w.sender(retry_period=3600.0)):
            assert (await w.next_outcome())[1] is GIVEN_UP
    job = await w.job(message_id)
    assert job.state is CallbackState.GIVEN_UP
    assert job.last_error == "retry period passed; last error: HTTP 503"
    assert job.finished_at == w.clock.now()


async def test_the_last_retry_is_not_scheduled_past_the_retry_period() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [500]
        message_id = await w.failed(recv.url())
        w.clock.advance(3599)
        sender = w.sender(retry_period=3600.0, backoff_base=600.0, backoff_max=600.0)
        async with running(sender):
            assert (await w.next_outcome())[1] is RETRY
    job = await w.job(message_id)
    assert job.next_attempt_at <= job.event_at + timedelta(seconds=3600)


async def test_literal_private_target_is_given_up_without_a_request() -> None:
    w = await world()
    async with receiver() as recv:
        message_id = await w.failed(recv.url())
        async with running(w.sender(policy=CallbackPolicy())):
            assert (await w.next_outcome())[1] is GIVEN_UP
        assert recv.seen == []
    job = await w.job(message_id)
    assert job.state is CallbackState.GIVEN_UP
    assert job.last_error == "refused: Callback URL must not point to a loopback address"


async def test_urls_of_one_origin_are_posted_at_their_own_paths_and_each_judged_whole() -> None:
    """The policy judges an origin once; a later URL of it still meets the URL-wide checks."""
    w = await world()
    async with receiver() as recv:
        first = await w.delivered(recv.url("/hook?m=1"))
        second = await w.delivered(recv.url("/other/path?m=2#frag"))
        broken = await w.delivered(recv.url("/hook?m=\x7f3"))
        async with running(w.sender()):
            outcomes = sorted(o.value for o in await w.outcomes_of(3))
        assert sorted(seen.path for seen in recv.seen) == ["/hook", "/other/path"]
    assert outcomes == ["delivered", "delivered", "given_up"]
    assert (await w.job(first)).state is CallbackState.DONE
    assert (await w.job(second)).state is CallbackState.DONE
    job = await w.job(broken)
    assert job.state is CallbackState.GIVEN_UP
    assert job.last_error == "refused: Enter a valid URL."


async def test_a_name_resolving_to_a_private_address_is_refused_unless_allowed() -> None:
    w = await world()
    async with receiver() as recv:
        url = recv.url(host="hooks.example.com")
        refused_id = await w.failed(url)
        resolver = FakeResolver("127.0.0.1")
        async with running(w.sender(policy=CallbackPolicy(), resolver=resolver)):
            assert (await w.next_outcome())[1] is GIVEN_UP
        assert recv.seen == []
        assert resolver.asked == ["hooks.example.com"]
        refused = await w.job(refused_id)
        assert refused.last_error is not None
        assert "hooks.example.com resolves to 127.0.0.1" in refused.last_error

        allowed_id = await w.failed(url)
        async with running(w.sender(resolver=FakeResolver("127.0.0.1"))):
            assert (await w.next_outcome())[1] is DELIVERED
        assert len(recv.seen) == 1
        assert (await w.job(allowed_id)).state is CallbackState.DONE


async def test_many_jobs_are_sent_with_bounded_concurrency() -> None:
    w = await world()
    async with receiver() as recv:
        recv.gate.clear()
        ids = [await w.failed(recv.url()) for _ in range(40)]
        tuning = CallbackTuning(max_in_flight=8, batch_size=8, poll_interval=60.0)
        sender = w.sender(tuning=tuning)
        async with running(sender):
            await recv.wait_in_flight(8)
            jobs = [await w.job(i) for i in ids]
            assert sum(1 for j in jobs if j.attempts > 0) == 8  # claimed only with room
            assert sender.in_flight == 8
            recv.gate.set()
            assert await w.outcomes_of(40) == [DELIVERED] * 40
    assert recv.peak == 8
    assert len(recv.seen) == 40
    assert {(await w.job(i)).state for i in ids} == {CallbackState.DONE}


async def test_stop_lets_in_flight_posts_finish_and_claims_nothing_more() -> None:
    w = await world()
    async with receiver() as recv:
        recv.gate.clear()
        ids = [await w.failed(recv.url()) for _ in range(3)]
        sender = w.sender()
        task = asyncio.create_task(sender.run())
        await recv.wait_in_flight(3)
        stopping = asyncio.create_task(sender.stop(budget=5.0))
        late = await w.failed(recv.url())
        sender.wake()
        recv.gate.set()
        await asyncio.wait_for(stopping, 5)
        await asyncio.wait_for(task, 5)
    assert await w.outcomes_of(3) == [DELIVERED] * 3
    assert {(await w.job(i)).state for i in ids} == {CallbackState.DONE}
    assert (await w.job(late)).attempts == 0


async def test_stop_abandons_what_outlives_the_budget_to_the_lease() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [HANG]
        message_id = await w.failed(recv.url())
        sender = w.sender()
        task = asyncio.create_task(sender.run())
        await recv.wait_in_flight(1)
        await asyncio.wait_for(sender.stop(budget=0.05), 2)
        await asyncio.wait_for(task, 2)
    job = await w.job(message_id)
    assert (job.state, job.attempts) == (CallbackState.PENDING, 1)
    assert job.next_attempt_at == w.clock.now() + timedelta(seconds=60)  # the lease
    assert w.outcomes.empty()


async def test_a_failing_store_does_not_end_the_loop() -> None:
    w = await world()
    failed = asyncio.Event()
    real_claim = w.store.claim_callbacks

    async def flaky_claim(now: datetime, limit: int, lease: timedelta) -> Sequence[CallbackJob]:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("database is locked")
        return await real_claim(now, limit, lease)

    w.store.claim_callbacks = flaky_claim  # type: ignore[method-assign]
    async with receiver() as recv:
        await w.failed(recv.url())
        sender = w.sender()
        async with running(sender) as task:
            await asyncio.wait_for(failed.wait(), 5)
            sender.wake()  # after the failed claim, the next one succeeds
            assert (await w.next_outcome())[1] is DELIVERED
            assert not task.done()


async def test_a_host_that_keeps_failing_is_suspended_then_probed() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [500, 500]
        url = recv.url()
        host = f"127.0.0.1:{recv.port}"
        tuning = CallbackTuning(poll_interval=60.0, suspend_after=2, suspend_for=600.0)
        sender = w.sender(tuning=tuning, backoff_base=1.0, backoff_max=1.0)
        first, second = await w.failed(url), await w.failed(url)
        async with running(sender):
            assert await w.outcomes_of(2) == [RETRY, RETRY]
            until = sender.suspended_hosts()[host]
            assert until == w.clock.now() + timedelta(seconds=600)

            w.clock.advance(2)  # both due again, the host still suspended: no request
            sender.wake()
            assert await w.outcomes_of(2) == [CallbackOutcome.DEFERRED] * 2
            assert len(recv.seen) == 2
            assert (await w.job(first)).next_attempt_at >= until

            w.clock.advance(600 + 60)  # cool-down over: one probe goes, the other waits for it
            sender.wake()
            assert sorted(await w.outcomes_of(2)) == sorted([DELIVERED, CallbackOutcome.DEFERRED])
            assert sender.suspended_hosts() == {}  # the probe's success lifted the suspension
            assert len(recv.seen) == 3

            w.clock.advance(60)
            sender.wake()
            assert (await w.next_outcome())[1] is DELIVERED
    assert (await w.job(second)).state is CallbackState.DONE


async def test_a_suspended_host_can_be_resumed_by_hand() -> None:
    w = await world()
    async with receiver() as recv:
        recv.plan = [500]
        tuning = CallbackTuning(poll_interval=60.0, suspend_after=1, suspend_for=600.0)
        sender = w.sender(tuning=tuning, backoff_base=1.0, backoff_max=1.0)
        await w.failed(recv.url())
        async with running(sender):
            assert (await w.next_outcome())[1] is RETRY
            assert sender.resume(f"127.0.0.1:{recv.port}")
            assert not sender.resume(f"127.0.0.1:{recv.port}")
            w.clock.advance(2)
            sender.wake()
            assert (await w.next_outcome())[1] is DELIVERED


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    rng = random.Random(1)
    for attempt in range(1, 40):
        ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 2.0, 600.0, rng) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not pinned low


@pytest.mark.parametrize(
    ("kwargs", "tuning"),
    [
        ({"timeout": 0.0}, CallbackTuning()),
        ({"backoff_base": 10.0, "backoff_max": 5.0}, CallbackTuning()),
        ({"timeout": 5.0}, CallbackTuning(lease=5.0)),
        ({}, CallbackTuning(max_in_flight=0)),
    ],
)
async def test_settings_that_would_misbehave_are_refused(
    kwargs: dict[str, Any], tuning: CallbackTuning
) -> None:
    w = await world()
    with pytest.raises(ValueError):
        CallbackSender(
            w.store, w.clock.now, policy=CallbackPolicy(), signing_secret=SECRET,
            tuning=tuning, **kwargs,
        )  # fmt: skip


def gated_done(store: MemoryStore) -> asyncio.Event:
    """The store's `callbacks_done` held until the returned event is set."""
    gate = asyncio.Event()
    real_done = store.callbacks_done

    async def slow_done(jobs: Sequence[tuple[int, datetime]]) -> Sequence[Exception | None]:
        await gate.wait()
        return await real_done(jobs)

    store.callbacks_done = slow_done  # type: ignore[method-assign]
    return gate


async def test_a_slot_is_free_once_answered_while_the_done_write_waits() -> None:
    """A slow store holds back the record of a delivery, not the next POST; beyond four times
    max_in_flight unrecorded deliveries nothing more is claimed; at stop they are recorded."""
    w = await world()
    gate = gated_done(w.store)
    async with receiver() as recv:
        ids = [await w.failed(recv.url()) for _ in range(12)]
        tuning = CallbackTuning(max_in_flight=2, batch_size=2, poll_interval=60.0)
        sender = w.sender(tuning=tuning)
        task = asyncio.create_task(sender.run())
        assert await w.outcomes_of(8) == [DELIVERED] * 8  # 2 slots, 8 answered, none recorded
        await asyncio.sleep(0.2)  # room for a ninth claim, which must not come
        assert len(recv.seen) == 8 and sender.in_flight == 0
        assert {(await w.job(i)).state for i in ids[:8]} == {CallbackState.PENDING}
        gate.set()  # the store catches up: the rest go
        assert await w.outcomes_of(4) == [DELIVERED] * 4
        await asyncio.wait_for(sender.stop(budget=1.0), 5)
        await asyncio.wait_for(task, 5)
    assert {(await w.job(i)).state for i in ids} == {CallbackState.DONE}
    assert len(recv.seen) == 12


async def test_stop_waits_for_the_records_of_answered_deliveries() -> None:
    w = await world()
    gate = gated_done(w.store)
    async with receiver() as recv:
        message_id = await w.failed(recv.url())
        sender = w.sender()
        task = asyncio.create_task(sender.run())
        assert (await w.next_outcome())[1] is DELIVERED
        stopping = asyncio.create_task(sender.stop(budget=1.0))
        await asyncio.sleep(0.05)
        assert not stopping.done()  # the record is not written yet
        gate.set()
        await asyncio.wait_for(stopping, 5)
        await asyncio.wait_for(task, 5)
    assert (await w.job(message_id)).state is CallbackState.DONE
