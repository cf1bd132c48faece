"""A stop that comes while a bind is still connecting ends within its budget."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from smpp.aio import BindPool, BindState, PoolConfig
from tests.smpp.aio.conftest import Recorder, StartSim


def _pool(port: int, recorder: Recorder) -> BindPool:
    config = PoolConfig(
        name="smsc", host="127.0.0.1", port=port, system_id="gatewayd", password="secret",
        reconnect_min=0.05, reconnect_max=0.2, unbind_timeout=0.5,
    )  # fmt: skip
    return BindPool(config, recorder.handlers, rng=random.Random(1))


def _slow_connect(monkeypatch: pytest.MonkeyPatch, delay: float) -> asyncio.Event:
    """Make the loop's connects take `delay` s; the event is set when the first one starts."""
    loop = asyncio.get_running_loop()
    connect = loop.create_connection
    started = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        started.set()
        await asyncio.sleep(delay)
        return await connect(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", slow)
    return started


@pytest.mark.parametrize("delay", [0.3, 30.0])
async def test_stop_during_a_slow_connect_returns_within_its_budget(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch, delay: float
) -> None:
    sim = await start_sim()
    started = _slow_connect(monkeypatch, delay)
    recorder = Recorder()
    pool = _pool(sim.address()[1], recorder)
    await pool.start()
    await asyncio.wait_for(started.wait(), 5)
    report = await asyncio.wait_for(pool.stop(drain_budget=1.0), 3.0)
    assert report.drained and not report.in_doubt and not report.not_sent
    assert report.unbound == ()
    assert recorder.states[-1].state is BindState.STOPPED
