"""Fixtures: a simulator factory on port 0 that is always closed, and a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from smpp.sim.config import SimulatorConfig, SmscPersonality
from smpp.sim.simulator import Simulator, start_simulator
from tests.smpp.sim.client import RawEsme, connect

StartSim = Callable[..., Awaitable[Simulator]]
Connect = Callable[..., Awaitable[RawEsme]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """`await start_sim(**personality_fields)` → a one-SMSC simulator named "smsc"."""
    sims: list[Simulator] = []

    async def start(*personalities: SmscPersonality, seed: int = 7, **fields: object) -> Simulator:
        smscs = personalities or (SmscPersonality("smsc", **fields),)  # type: ignore[arg-type]
        sim = await start_simulator(SimulatorConfig(smscs=smscs, seed=seed))
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        await sim.close()


@pytest.fixture
async def esme() -> AsyncIterator[Connect]:
    """`await esme(sim, smsc=None, auto_ack=True)` → a connected RawEsme, closed afterwards."""
    clients: list[RawEsme] = []

    async def make(sim: Simulator, smsc: str | None = None, auto_ack: bool = True) -> RawEsme:
        client = await connect(*sim.address(smsc), auto_ack=auto_ack)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
