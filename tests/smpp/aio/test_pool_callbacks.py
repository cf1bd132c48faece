"""A daemon callback that raises is logged; the bind stays up and the message still ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import smpp.aio.pool as pool_module
from smpp.aio import BindState, Inbound, LateAccept, Outcome, PartResult
from smpp.aio.inbound import read_inbound
from smpp.core.status import CommandStatus
from smpp.sim.config import Latency
from tests.smpp.aio.conftest import StartPool, StartSim
from tests.smpp.aio.helpers import long_sms, sms
from tests.smpp.aio.scripted import Script, start_scripted

TEXT = "Habari! " * 50  # 3 GSM parts


def _raising(seen: list[PartResult]) -> Callable[[PartResult], None]:
    def on_part(result: PartResult) -> None:
        seen.append(result)
        raise RuntimeError("store is down")

    return on_part


async def test_a_raising_on_part_leaves_the_bind_up_and_the_message_resolved(
    start_sim: StartSim, start_pool: StartPool, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim)
    seen: list[PartResult] = []
    one = await asyncio.wait_for(pool.send([sms()], ref="one", on_part=_raising(seen)), 5)
    long = await asyncio.wait_for(
        pool.send(long_sms(TEXT, 5), ref="long", on_part=_raising(seen)), 5
    )
    assert one.ok and long.ok and len(long.parts) == 3
    assert [r.part_index for r in seen] == [0, 0, 1, 2]
    assert rec.states[-1].state is BindState.BOUND
    assert not [e for e in rec.states if e.state is BindState.DISCONNECTED]
    assert (await pool.submit([sms()])).ok
    assert len(sim.records().binds) == 1
    assert "on_part failed" in caplog.text


async def test_a_raising_on_part_for_a_failed_message_still_resolves_it(
    start_pool: StartPool,
) -> None:
    script = Script(submit_statuses=[0, CommandStatus.ESME_RINVDSTADR])
    server, port = await start_scripted(script)
    async with server:
        pool, rec = await start_pool(("127.0.0.1", port))
        seen: list[PartResult] = []
        result = await asyncio.wait_for(pool.send(long_sms(TEXT, 6), on_part=_raising(seen)), 5)
        outcomes = [Outcome.OK, Outcome.PERMANENT, Outcome.NOT_SENT]
        assert [p.outcome for p in result.parts] == outcomes
        assert [r.outcome for r in seen] == outcomes
        assert rec.states[-1].state is BindState.BOUND
        assert len(script.binds) == 1


async def test_a_raising_late_accept_handler_leaves_the_bind_up(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(latency=Latency(fixed=0.15))
    pool, rec = await start_pool(sim, response_timeout=0.05, max_attempts=2)
    calls: list[LateAccept] = []

    def on_late_accept(event: LateAccept) -> None:
        calls.append(event)
        rec.late_seen.set()
        raise RuntimeError("metrics are down")

    object.__setattr__(pool.handlers, "on_late_accept", on_late_accept)
    part = (await pool.submit([sms(receipt=False)], ref="m")).parts[0]
    assert part.outcome is Outcome.RETRY
    while len(calls) < 2:
        rec.late_seen.clear()
        await asyncio.wait_for(rec.late_seen.wait(), 5)
    assert rec.states[-1].state is BindState.BOUND
    assert len(sim.records().binds) == 1


async def test_an_unreadable_deliver_is_answered_with_a_temporary_error(
    start_sim: StartSim, start_pool: StartPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def broken_once(*args: Any) -> Inbound:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bug")
        return read_inbound(*args)

    monkeypatch.setattr(pool_module, "read_inbound", broken_once)
    sim = await start_sim()
    _, rec = await start_pool(sim)
    await sim.inject_mo(None, "254712345678", "KIMISMS", "hello")  # acked on its second send
    assert len(calls) == 2 and len(rec.inbound) == 1
    assert rec.states[-1].state is BindState.BOUND
    assert len(sim.records().binds) == 1
