"""Fixtures: a simulator on port 0 and pools bound to it, always stopped afterwards."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from smpp.aio import (
    BindPool,
    BindState,
    BindStateChanged,
    Inbound,
    LateAccept,
    PoolConfig,
    PoolHandlers,
)
from smpp.sim.config import SimulatorConfig, SmscPersonality
from smpp.sim.simulator import Simulator, start_simulator


@dataclass
class Recorder:
    """The daemon's side in these tests: records inbound messages and bind states."""

    inbound: list[Inbound] = field(default_factory=list)
    states: list[BindStateChanged] = field(default_factory=list)
    late: list[LateAccept] = field(default_factory=list)
    answer: int | None = None
    gate: asyncio.Event | None = None  # when set, the handler waits for it before answering
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    state_seen: asyncio.Event = field(default_factory=asyncio.Event)
    late_seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_deliver(self, inbound: Inbound) -> int | None:
        self.inbound.append(inbound)
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.answer

    def on_late_accept(self, event: LateAccept) -> None:
        self.late.append(event)
        self.late_seen.set()

    def on_bind_state(self, event: BindStateChanged) -> None:
        self.states.append(event)
        self.state_seen.set()

    async def wait_state(self, state: BindState, within: float = 5.0) -> BindStateChanged:
        """The first bind state event with `state` (seen before or after the call)."""

        async def first() -> BindStateChanged:
            while True:
                for event in self.states:
                    if event.state is state:
                        return event
                self.state_seen.clear()
                await self.state_seen.wait()

        return await asyncio.wait_for(first(), within)

    @property
    def handlers(self) -> PoolHandlers:
        return PoolHandlers(
            on_deliver=self.on_deliver,
            on_bind_state=self.on_bind_state,
            on_late_accept=self.on_late_accept,
        )


StartSim = Callable[..., Awaitable[Simulator]]
StartPool = Callable[..., Awaitable[tuple[BindPool, Recorder]]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """`await start_sim(**personality_fields)` → a one-SMSC simulator named "smsc"."""
    sims: list[Simulator] = []

    async def start(seed: int = 7, **fields: Any) -> Simulator:
        sim = await start_simulator(
            SimulatorConfig(smscs=(SmscPersonality("smsc", **fields),), seed=seed)
        )
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        await sim.close()


@pytest.fixture
async def start_pool() -> AsyncIterator[StartPool]:
    """`await start_pool(sim or (host, port), **config_fields)` → (a started pool, bound
    unless `bound=False`, and its Recorder)."""
    pools: list[BindPool] = []

    async def start(
        target: Simulator | tuple[str, int], bound: bool = True, **fields: Any
    ) -> tuple[BindPool, Recorder]:
        host, port = target if isinstance(target, tuple) else target.address()
        fields.setdefault("reconnect_min", 0.05)
        fields.setdefault("reconnect_max", 0.2)
        config = PoolConfig(
            name="smsc", host=host, port=port, system_id="gatewayd", password="secret", **fields
        )
        recorder = Recorder()
        pool = BindPool(config, recorder.handlers, rng=random.Random(1))
        pools.append(pool)
        await pool.start()
        if bound:
            await pool.wait_bound(within=5)
        return pool, recorder

    yield start
    for pool in pools:
        await pool.stop(drain_budget=0.5)
