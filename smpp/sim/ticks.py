"""Batched timers: many due items, one `loop.call_at` per millisecond tick that has any.

Scheduling one timer (or task) per message costs a heap entry and a handle each; at tens of
thousands of messages a second that is most of the simulator's time. Items due within the
same tick share one timer and are handed to the handler as a list, in the order scheduled.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TickScheduler(Generic[T]):
    """Calls `handler(items)` for items whose due time has come, batched per tick."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        handler: Callable[[list[T]], None],
        resolution: float = 0.001,
    ) -> None:
        self._loop = loop
        self._handler = handler
        self._resolution = resolution
        self._buckets: dict[int, list[T]] = {}
        self._handles: dict[int, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets.values())

    def at(self, when: float, item: T) -> None:
        """Hand `item` to the handler at loop time `when` (rounded up to the tick)."""
        tick = math.ceil(when / self._resolution)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = []
            self._handles[tick] = self._loop.call_at(tick * self._resolution, self._fire, tick)
        bucket.append(item)

    def _fire(self, tick: int) -> None:
        self._handles.pop(tick, None)
        items = self._buckets.pop(tick, None)
        if items:
            self._handler(items)

    def cancel(self) -> list[T]:
        """Stop every timer; return the items that were still due, in tick order."""
        for handle in self._handles.values():
            handle.cancel()
        left = [item for tick in sorted(self._buckets) for item in self._buckets[tick]]
        self._handles.clear()
        self._buckets.clear()
        return left
