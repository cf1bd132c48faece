"""Smooth pacing of one SMSC's submits, shared by all its binds, and reconnect back-off.

`Pacer` spaces submits `1 / rate` apart instead of letting a bucket empty at the start of each
second (Kannel's 100-in-the-first-100-ms habit, which trips an SMSC that counts per 100 ms).
Each send has a slot on a schedule `1 / rate` apart; a send less than one interval late (a
timer fired a millisecond late) keeps the schedule, so lateness is not lost, while a longer
gap restarts it, so idle time is never saved up into a burst: any 100 ms holds at most
`ceil(rate / 10 + 1)` submits. A ring of the last `floor(limit)` send times also keeps any
`1 s + guard` span at or under the contract `limit` on our clock, so an SMSC that counts a
sliding second sees no more than its limit even when our sends arrive with some jitter.

Both are plain arithmetic on `now`; the pool owns the one timer.
"""

from __future__ import annotations

import math
import random
from collections import deque


class Pacer:
    """When the next submit of one SMSC may go out.

    `rate`: sends per second the pacer aims at (the contract times its pace share);
    `limit`: the contract itself, never exceeded in any `1 s + guard` span of our clock.
    """

    __slots__ = ("_next", "_recent", "_span", "guard", "interval", "limit", "rate")

    def __init__(self, rate: float, limit: float | None = None, guard: float = 0.003) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.limit = limit if limit is not None else rate
        self.interval = 1.0 / rate
        self.guard = guard
        self._span = 1.0 + guard
        self._next = -math.inf
        size = max(1, math.floor(self.limit))
        self._recent: deque[float] = deque(maxlen=size)

    def ready_at(self) -> float:
        """The earliest loop time the next send may go out."""
        recent = self._recent
        if len(recent) == recent.maxlen:
            return max(self._next, recent[0] + self._span)
        return self._next

    def take(self, now: float) -> bool:
        """Use one send at `now` if the pace allows it; False = wait until `ready_at()`."""
        if now < self.ready_at():
            return False
        # A send less than one interval late keeps the schedule (the next one is not pushed
        # back); after a longer gap the schedule restarts at `now`, so idle time is not saved.
        base = self._next if self._next >= now - self.interval else now
        self._next = base + self.interval
        self._recent.append(now)
        return True


def backoff_delay(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential back-off with full jitter: uniform [0, min(cap, base * 2**attempt)).

    `attempt` counts failures in a row from 0; the jitter keeps binds that fell together
    (an SMSC restart) from knocking again in step.
    """
    ceiling = min(cap, base * (2.0 ** min(attempt, 62)))
    return (rng or random).uniform(0.0, ceiling)
