"""Store writes gathered per event-loop turn.

The items put in one turn of the event loop are handed to the store as one batch write (one
unit for the group-commit writer instead of one each); each caller gets its own item's outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")

# Per item, in order: its result, or the exception it alone met.
BatchWrite = Callable[[list[K]], Awaitable[Sequence[R | Exception]]]


class TurnBatch(Generic[K, R]):
    """`await put(item)` returns the item's result once `write` has recorded it, or raises the
    error that item met (or that the whole write met); `put_nowait(item)` gives the same as a
    future."""

    def __init__(self, write: BatchWrite[K, R], name: str) -> None:
        self._write = write
        self._name = name
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        self._writes: set[asyncio.Task[None]] = set()

    async def put(self, item: K) -> R:
        return await self.put_nowait(item)

    def put_nowait(self, item: K) -> asyncio.Future[R]:
        """`put` without a coroutine: the future `put` awaits (for callers that go on in a
        done callback instead of a task)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((item, future))
        return future

    async def settle(self) -> None:
        """Write what is pending now and wait for every write started so far to end (their
        errors stay with their items' futures)."""
        self._flush()
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        task = asyncio.create_task(self._run(pending), name=self._name)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _run(self, pending: list[tuple[K, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._write([item for item, _ in pending])
        except Exception as exc:
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(pending, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
