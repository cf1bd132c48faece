"""Smooth pacing of one SMSC's submits, shared by all its binds, and reconnect back-off.

`Pacer` spaces submits `1 / rate` apart instead of letting a bucket empty at the start of each
second (Kannel's 100-in-the-first-100-ms habit, which trips an SMSC that counts per 100 ms).
Each send takes a point on a schedule `1 / rate` apart and goes out a little after it at
most: a late timer keeps the schedule (the lateness is made up at once), while a longer gap
is never saved up into a burst, so no 100 ms holds more than `limit / 10 + 1` submits. A ring
of the last `floor(limit)` send times also keeps any `1 s + guard` span at or under `limit`
on our clock, so an SMSC that counts a sliding second sees no more than its limit even when
our sends arrive with some jitter.

Both are plain arithmetic on `now`; the pool owns the one timer.
"""

from __future__ import annotations

import math
import random
from collections import deque

_SLOT = 0.1  # the SMSC counts submits per 100 ms
_EPSILON = 1e-6
_TIMER_GRAIN = 0.001  # epoll waits whole milliseconds


class Pacer:
    """When the next submit of one SMSC may go out.

    `rate`: sends per second the pacer aims at (the contract times its pace share);
    `limit`: the contract itself. Each send takes the next point of a schedule `1 / rate`
    apart and may go out from `early` before its point to `tolerance` after it: the loop's
    timers fire up to a millisecond late (epoll rounds its timeout up), so the pool arms its
    timer `early` and a late fire still finds its point; a longer gap is not saved up. Points
    are at least `1 / rate` apart and each send is within that margin of its point, so any
    span T holds at most ``ceil((T + early + tolerance) * rate)`` sends; the margin is the
    largest that keeps every 100 ms at or under ``limit / 10 + 1`` (one interval, plus what
    the pace share leaves). A ring of the last ``floor(limit)`` send times also keeps every
    `1 s + guard` at or under `limit`, for an SMSC that counts a sliding second.
    """

    __slots__ = (
        "_next",
        "_recent",
        "_span",
        "early",
        "interval",
        "limit",
        "rate",
        "tolerance",
    )

    def __init__(self, rate: float, limit: float | None = None, guard: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.limit = limit if limit is not None and limit >= rate else rate
        self.interval = 1.0 / rate
        margin = max(self.interval, (self.limit * _SLOT + 1) / rate - _SLOT) - _EPSILON
        self.early = min(margin / 2, _TIMER_GRAIN / 2)
        self.tolerance = margin - self.early
        # By default the guard is the slack the pace share leaves (10 ms a second at 99 %).
        self._span = 1.0 + (self.limit / rate - 1.0 if guard is None else guard)
        self._next = -math.inf
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(self.limit)))

    def ready_at(self) -> float:
        """The earliest loop time the next send may go out."""
        recent = self._recent
        at = self._next - self.early
        if len(recent) == recent.maxlen:
            ring = recent[0] + self._span
            return ring if ring > at else at
        return at

    def take(self, now: float) -> bool:
        """Use one send at `now` if the pace allows it; False = wait until `ready_at()`."""
        if now < self.ready_at():
            return False
        earliest = now - self.tolerance
        base = self._next if self._next >= earliest else earliest
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
