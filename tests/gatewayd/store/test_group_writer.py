"""GroupWriter alone, over a scripted runner: batching, retries, lanes, close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from gatewayd.service.ports import NotFound
from gatewayd.store.tx import Tx
from gatewayd.store.writer import AcceptUnit, ClosedError, GroupWriter, Work
from tests.gatewayd.store.conftest import new_message


class ScriptedRunner:
    """Runs each unit's coroutine with tx=None; fails whole batches holding a poisoned unit."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.kinds: list[str] = []  # per batch: "accepts" or "others"
        self.short_answer = False
        self.during_first: Callable[[], None] | None = None

    async def run_batch(self, work: Sequence[Work], lane: int = 0) -> list[tuple[str, Any]]:
        self.batches.append(len(work))
        if self.during_first is not None:
            self.during_first()
            self.during_first = None
        kinds = {"accepts" if isinstance(unit, AcceptUnit) else "others" for unit in work}
        self.kinds.append("+".join(sorted(kinds)))
        await asyncio.sleep(0)  # a database round trip: other lanes run meanwhile
        out: list[tuple[str, Any]] = []
        for unit in work:
            if isinstance(unit, AcceptUnit):
                out.append(("ok", unit.message.id))
                continue
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


async def test_accepts_and_other_units_go_in_separate_batches_taken_in_turn() -> None:
    """An accept never waits inside a transaction for lifecycle work queued beside it; when
    both kinds keep arriving, neither waits for more than one batch of the other."""
    runner = ScriptedRunner()
    writer = GroupWriter(runner, lanes=1)
    arriving: list[asyncio.Future[Any]] = []

    def more_accepts() -> None:  # while the first batch runs, more accepts come in
        arriving.extend(asyncio.ensure_future(writer.accept(new_message(f"n{i}"))) for i in (1, 2))

    runner.during_first = more_accepts
    others = [writer.submit(value(i)) for i in range(3)]
    accepts = [writer.accept(new_message(f"m{i}")) for i in range(2)]
    assert await asyncio.gather(*others, *accepts) == [0, 1, 2, "m0", "m1"]
    assert [f.result() for f in await _all(arriving)] == ["n1", "n2"]
    # accepts first (their callers are HTTP clients), then the others that had waited a
    # batch, then the accepts that came meanwhile
    assert runner.kinds == ["accepts", "others", "accepts"]
    assert runner.batches == [2, 3, 2]
    await writer.close()


async def _all(futures: list[asyncio.Future[Any]]) -> list[asyncio.Future[Any]]:
    await asyncio.gather(*futures)
    return futures


async def test_close_finishes_both_kinds() -> None:
    runner = ScriptedRunner()
    writer = GroupWriter(runner, lanes=2)
    pending = [
        asyncio.ensure_future(writer.accept(new_message("m1"))),
        asyncio.ensure_future(writer.submit(value(1))),
    ]
    await asyncio.sleep(0)
    await writer.close()
    assert [p.result() for p in pending] == ["m1", 1]
    assert sorted(runner.kinds) == ["accepts", "others"]
