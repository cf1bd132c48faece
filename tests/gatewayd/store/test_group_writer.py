"""GroupWriter alone, over a scripted runner: batching, retries, lanes, close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from gatewayd.service.ports import NotFound
from gatewayd.store.tx import Tx
from gatewayd.store.writer import ClosedError, GroupWriter, Work


class ScriptedRunner:
    """Runs each unit's coroutine with tx=None; fails whole batches holding a poisoned unit."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.short_answer = False

    async def run_batch(self, work: Sequence[Work], lane: int = 0) -> list[tuple[str, Any]]:
        self.batches.append(len(work))
        await asyncio.sleep(0)  # a database round trip: other lanes run meanwhile
        out: list[tuple[str, Any]] = []
        for unit in work:
            try:
                out.append(("ok", await unit.run(None)))  # type: ignore[union-attr,arg-type]
            except NotFound as exc:
                out.append(("error", exc))
        if self.short_answer:
            return out[:-1]
        return out


def value(v: Any) -> Any:
    async def run(tx: Tx) -> Any:
        if v == "poison":
            raise RuntimeError("poisoned")
        if v == "missing":
            raise NotFound("missing")
        return v

    return run


async def test_batches_what_is_queued_and_isolates_failures() -> None:
    runner = ScriptedRunner()
    writer = GroupWriter(runner, lanes=1)
    results = await asyncio.gather(
        *(writer.submit(value(v)) for v in [1, "missing", "poison", 4]), return_exceptions=True
    )
    assert results[0] == 1 and results[3] == 4
    assert isinstance(results[1], NotFound)
    assert isinstance(results[2], RuntimeError)
    assert runner.batches[0] == 4  # one batch, then unit by unit after it failed
    assert runner.batches[1:] == [1, 1, 1, 1]
    await writer.close()


async def test_two_lanes_share_the_queue() -> None:
    runner = ScriptedRunner()
    writer = GroupWriter(runner, lanes=2)
    assert await asyncio.gather(*(writer.submit(value(i)) for i in range(10))) == list(range(10))
    assert sorted(runner.batches) == [5, 5]
    await writer.close()


async def test_a_broken_answer_fails_its_batch_not_the_lane() -> None:
    runner = ScriptedRunner()
    writer = GroupWriter(runner, lanes=1)
    runner.short_answer = True
    with pytest.raises(ValueError):
        await writer.submit(value(1))
    runner.short_answer = False
    assert await writer.submit(value(2)) == 2
    await writer.close()
    with pytest.raises(ClosedError):
        await writer.submit(value(3))
