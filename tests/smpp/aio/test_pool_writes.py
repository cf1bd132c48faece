"""Paced submits handed over together reach the socket together (`BindPool.hold_writes`)."""

from __future__ import annotations

import asyncio
from typing import Any

from smpp.aio import BindPool
from smpp.sim.simulator import Simulator
from tests.smpp.aio.conftest import StartPool, StartSim
from tests.smpp.aio.helpers import sms


def count_writes(pool: BindPool) -> list[bytes]:
    """The bytes of every write the pool's one bind makes from now on."""
    client = pool._slots[0].client  # the one bind's connection
    assert client is not None and client.transport is not None
    transport: Any = client.transport
    writes: list[bytes] = []
    write = transport.write

    def counted(data: bytes) -> None:
        writes.append(bytes(data))
        write(data)

    transport.write = counted
    return writes


async def paced_pool(
    start_sim: StartSim, start_pool: StartPool
) -> tuple[Simulator, BindPool, list[bytes]]:
    """A bound pool under a TPS limit it never reaches (so the pacer writes each send at
    once), and the writes of its bind from now on."""
    sim = await start_sim()
    pool, _ = await start_pool(sim, tps=100_000.0, window=100)
    return sim, pool, count_writes(pool)


async def test_a_held_batch_of_paced_submits_is_one_write(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim, pool, writes = await paced_pool(start_sim, start_pool)
    with pool.hold_writes():
        futures = [pool.send([sms(dest=f"2547{i:08d}", receipt=False)]) for i in range(20)]
        assert writes == []  # nothing written while held
    assert len(writes) == 1
    results = await asyncio.gather(*futures)
    assert all(r.ok for r in results)
    assert sim.records().accepted == 20


async def test_without_a_hold_each_paced_send_is_written_at_once(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    _, pool, writes = await paced_pool(start_sim, start_pool)
    futures = [pool.send([sms(dest=f"2547{i:08d}", receipt=False)]) for i in range(5)]
    assert len(writes) == 5  # the moment the pacer counted is the moment it is written
    assert all(r.ok for r in await asyncio.gather(*futures))


async def test_nested_holds_write_when_the_outermost_ends(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    _, pool, writes = await paced_pool(start_sim, start_pool)
    with pool.hold_writes():
        first = pool.send([sms(dest="254700000001", receipt=False)])
        with pool.hold_writes():
            second = pool.send([sms(dest="254700000002", receipt=False)])
        assert writes == []
    assert len(writes) == 1
    assert (await first).ok and (await second).ok
