"""One writer task per store, with group commit.

Callers hand the writer a unit of work and await its result. The writer takes everything
queued (up to `max_batch`) and runs it in one transaction, so under load one commit covers
many units: that is what makes durable accepts cheap (DESIGN.md, libraries.md §5).

- A unit failing with a domain error (`StoreError`, `ValueError`) fails alone: the backend
  runs each generic unit inside a savepoint, and batched accepts are checked in order before
  anything is written.
- A batch failing for any other reason (a constraint, a lost connection, a bug) is rolled back
  and its units are retried one per transaction, so one bad unit cannot fail its neighbours.
- Accepts (single and bulk) and the other units (claims, submits, receipts, callbacks, admin
  writes) go in separate transactions; when both kinds wait, the writer takes them in turn.
  An accept's caller is an HTTP client waiting for its answer, and a mixed batch made it wait
  for the lifecycle work too (about four fifths of a mixed batch's time). In interleaved
  end-to-end runs the single-message rate rose by about a tenth (median of three pairs, within
  the spread of a 2-core VM) at no more CPU per message.
- `close()` stops intake, lets the queue drain, then returns.

A caller cancelled while its unit is in a running batch gets CancelledError, but the unit may
still commit (as with any database call cancelled in flight).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from gatewayd.service.model import IdempotentResponse, NewMessage
from gatewayd.service.ports import AcceptedMany, BulkIdempotency
from gatewayd.store.tx import Tx

T = TypeVar("T")


@dataclass(slots=True)
class Unit(Generic[T]):
    """A generic unit of work: an operation on the writer's transaction."""

    run: Callable[[Tx], Coroutine[Any, Any, T]]
    future: asyncio.Future[T] = field(default_factory=lambda: _loop().create_future())
    # False: `run` raises its domain errors before it writes anything, so the backend runs it
    # without a savepoint of its own (three statements per unit on SQLite).
    savepoint: bool = True


@dataclass(slots=True)
class AcceptUnit:
    """An accept: batched with the other accepts of its transaction (ops_messages.accept_many),
    with the Idempotency-Key answer to keep in the same transaction, if any."""

    message: NewMessage
    idempotency: IdempotentResponse | None = None
    future: asyncio.Future[Any] = field(default_factory=lambda: _loop().create_future())


@dataclass(slots=True)
class BulkAcceptUnit:
    """Many messages of one request accepted together (ops_messages.accept_bulk): one unit,
    checked and written with a few multi-row statements, in the transaction of its batch."""

    messages: Sequence[NewMessage]
    idempotency: BulkIdempotency | None = None
    future: asyncio.Future[Any] = field(default_factory=lambda: _loop().create_future())


Work = Unit[Any] | AcceptUnit | BulkAcceptUnit


class BatchRunner(Protocol):
    """A backend's way to run a list of units in one transaction.

    Returns, per unit in order, ("ok", value) or ("error", domain exception). Raises when the
    transaction as a whole failed (nothing of it was committed). `lane` says which writer lane
    asks; lanes run at the same time, so a backend gives each its own connection or serialises
    them.
    """

    async def run_batch(self, work: Sequence[Work], lane: int) -> list[tuple[str, Any]]: ...


class ClosedError(RuntimeError):
    """The store was closed; no more writes are taken."""


class GroupWriter:
    """Feeds queued units to a `BatchRunner`, many per transaction, on `lanes` batches at once.

    With two lanes one batch can be committing while the next is being gathered and prepared,
    so the event loop's share of the work (waking callers, building rows) overlaps the
    database's instead of alternating with it. A lane that wakes takes its share of what is
    queued of one kind, accepts or the rest (split evenly with the lanes still idle), up to
    `max_batch`.
    """

    def __init__(
        self,
        runner: BatchRunner,
        *,
        max_batch: int = 512,
        lanes: int = 2,
        translate: Callable[[Exception], Exception] = lambda exc: exc,
    ) -> None:
        self._runner = runner
        self._translate = translate
        self._max_batch = max_batch
        self._accepts: deque[Work] = deque()
        self._others: deque[Work] = deque()
        self._took_accepts = False  # the kind of the last batch taken
        self._wake = asyncio.Event()
        self._closed = False
        self._idle = lanes
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._loop(lane), name=f"store-writer-{lane}") for lane in range(lanes)
        ]
        self.batches = 0  # counters for the benchmark and metrics
        self.units = 0

    async def submit(
        self, run: Callable[[Tx], Coroutine[Any, Any, T]], *, savepoint: bool = True
    ) -> T:
        """Run `run(tx)` in the next transaction; its result once committed. `savepoint=False`
        only for an operation that raises its domain errors before writing (see `Unit`)."""
        unit: Unit[T] = Unit(run, savepoint=savepoint)
        self._put(unit, self._others)
        return await unit.future

    async def accept(
        self, message: NewMessage, idempotency: IdempotentResponse | None = None
    ) -> Any:
        unit = AcceptUnit(message, idempotency)
        self._put(unit, self._accepts)
        return await unit.future

    async def accept_many(
        self, messages: Sequence[NewMessage], idempotency: BulkIdempotency | None = None
    ) -> AcceptedMany:
        unit = BulkAcceptUnit(messages, idempotency)
        self._put(unit, self._accepts)
        result: AcceptedMany = await unit.future
        return result

    def _put(self, unit: Work, queue: deque[Work]) -> None:
        if self._closed:
            raise ClosedError("store is closed")
        queue.append(unit)
        self._wake.set()

    async def close(self) -> None:
        """Take no more work, finish what is queued, stop."""
        self._closed = True
        self._wake.set()
        await asyncio.gather(*self._tasks)

    async def _loop(self, lane: int) -> None:
        while True:
            if not self._accepts and not self._others:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            self._idle -= 1
            batch = self._take()
            try:
                await self._run(batch, lane)
            except Exception as exc:  # never leave a caller waiting, never lose the lane
                for unit in batch:
                    if not unit.future.done():
                        unit.future.set_exception(exc)
            self._idle += 1

    def _take(self) -> list[Work]:
        """This lane's share of one kind: the kind not taken last time when both wait."""
        accepts = bool(self._accepts) and (not self._others or not self._took_accepts)
        self._took_accepts = accepts
        queue = self._accepts if accepts else self._others
        share = min(-(-len(queue) // (self._idle + 1)), self._max_batch)
        return [queue.popleft() for _ in range(share)]

    async def _run(self, batch: list[Work], lane: int) -> None:
        live = [w for w in batch if not w.future.cancelled()]
        if not live:
            return
        self.batches += 1
        self.units += len(live)
        try:
            outcomes = await self._runner.run_batch(live, lane)
        except Exception:
            if len(live) == 1:
                await self._run_alone(live[0], lane)
                return
            for unit in live:  # one bad unit must not fail the others
                await self._run_alone(unit, lane)
            return
        _settle(live, outcomes)

    async def _run_alone(self, unit: Work, lane: int) -> None:
        try:
            outcomes = await self._runner.run_batch([unit], lane)
        except Exception as exc:
            if not unit.future.done():
                unit.future.set_exception(self._translate(exc))
            return
        _settle([unit], outcomes)


def _settle(units: Sequence[Work], outcomes: Sequence[tuple[str, Any]]) -> None:
    for unit, (kind, value) in zip(units, outcomes, strict=True):
        if unit.future.done():
            continue
        if kind == "ok":
            unit.future.set_result(value)
        else:
            unit.future.set_exception(value)


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
