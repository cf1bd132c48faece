"""The contract held in real time: 200 TPS for 10 s against an SMSC enforcing exactly 200.

The pace is checked where the pool controls it, on its own clock as it writes each submit_sm
(never more than the contract in any second), and at the SMSC (its slots and share); the
SMSC's throttle count is bounded, not zero, because the machine's scheduler, not the pool,
decides when the simulator reads (see the test's comments).

The simulator runs in its own process here, as an operator's SMSC would: sharing one event
loop would add the test's own stalls to the SMSC's clock.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest

from smpp.aio import BindPool
from smpp.sim import priority
from tests.smpp.aio.conftest import StartPool
from tests.smpp.aio.helpers import sms
from tests.smpp.aio.sim_process import SimProcess

TPS = 200
SECONDS = 10
SUBMIT_SM = 0x00000004


@pytest.fixture
def frozen_heap() -> Iterator[None]:
    """The heap a whole test run has built up, out of the collector's way: a full collection
    over it pauses this process longer than any stall the daemon, with its own small heap,
    sees, and the pacer cannot make up a pause without going over the SMSC's sliding second."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def ahead_of_neighbours() -> Iterator[None]:
    """The test's process at nice -10 while it holds the contract (where it may: root, as in
    CI): after a stall the pool sends what it owes at its caps, where only 6 ms stand between
    its clock and the SMSC's sliding second."""
    with priority.ahead_of_neighbours():
        yield


def watch_submits(pool: BindPool) -> list[float]:
    """The monotonic time of every submit_sm the pool writes from now on (one entry per
    PDU, at the moment its bytes are handed to the socket)."""
    times: list[float] = []
    for slot in pool._slots:
        assert slot.client is not None and slot.client.transport is not None
        transport: Any = slot.client.transport
        write = transport.write

        def counted(data: bytes, write: Any = write) -> None:
            now = time.monotonic()
            times.extend([now] * submits_in(bytes(data)))
            write(data)

        transport.write = counted
    return times


def submits_in(data: bytes) -> int:
    """How many submit_sm PDUs the written bytes hold (whole PDUs, as the session writes)."""
    count, at = 0, 0
    while at + 16 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        if int.from_bytes(data[at + 4 : at + 8], "big") == SUBMIT_SM:
            count += 1
        at += max(length, 16)
    return count


def max_in_a_second(times: list[float]) -> int:
    """The most submits in any half-open second [t, t + 1)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


@pytest.mark.slow
@pytest.mark.usefixtures("frozen_heap", "ahead_of_neighbours")
async def test_200_tps_held_for_10_s_within_the_contract(start_pool: StartPool) -> None:
    sim = await SimProcess.start(
        "--tps", str(TPS), "--throttle", "sliding", "--latency", "0.02",
        "--latency-jitter", "0.01", "--no-record-submits",
    )
    try:
        pool, _ = await start_pool(sim.address(), binds=2, window=20, tps=TPS)
        written = watch_submits(pool)
        loop = asyncio.get_running_loop()
        start = loop.time()
        futures = []
        while loop.time() < start + SECONDS + 0.5:
            await pool.wait_capacity()
            futures.append(pool.send([sms(receipt=False)]))
        results = await asyncio.gather(*futures)
        achieved = sum(s.achieved_tps for s in pool.stats())
        record = await sim.records()
    finally:
        await sim.close()
    # Every submit ends accepted (a throttled one is sent again), and on the pool's own clock
    # no second ever held more than the contract: that is the pacer's promise.
    assert all(r.ok for r in results)
    assert max_in_a_second(written) <= TPS
    # The SMSC's count can still differ now and then: the VM this runs on deschedules the
    # simulator for several milliseconds at times (bench/README.md), and a run of evenly
    # paced submits read late is stamped as if it came together, which a sliding second at
    # exactly the contract cannot absorb. Zero on a quiet machine; a few in a noisy hour.
    assert record["throttled"] <= TPS * SECONDS // 100, record["throttled"]
    slots = {int(k): v for k, v in record["slots"].items()}
    first = min(slots) + 1  # the first slot is partly before the first submit
    in_10_s = sum(slots.get(s, 0) for s in range(first, first + SECONDS * 10))
    assert TPS * SECONDS * 0.98 <= in_10_s <= TPS * SECONDS * 1.02
    assert record["max_slot"] <= TPS // 10 + 1
    assert TPS * 0.95 <= achieved <= TPS  # the pool's own meter, for metrics
