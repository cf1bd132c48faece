"""Smooth pacing of one SMSC's submits, shared by all its binds, and reconnect back-off.

`Pacer` spaces submits `1 / rate` apart instead of letting a bucket empty at the start of each
second (Kannel's 100-in-the-first-100-ms habit, which trips an SMSC that counts per 100 ms),
and makes up for sends that a late timer or a busy loop held back instead of losing them.
Two caps hold on every send, whatever the schedule owes: no `100 ms + slot_guard` holds more
than `limit / 10 + 1` submits and no `1 s + guard` more than `limit`; a third spreads made-up
sends over 5 ms ticks. The guards are room for the jitter between our clock and the SMSC's,
which stamps a submit when it reads it.

All of it is plain arithmetic on `now`; the pool owns the one timer.
"""

from __future__ import annotations

import math
import random
from collections import deque

_SLOT = 0.1  # the SMSC counts submits per 100 ms
_SECOND = 1.0  # ... and per (sliding) second
_TICK = 0.005  # made-up sends are spread: the contract's 10 ms share per 5 ms
_EPSILON = 1e-9  # float rounding of loop times; the SMSC's own edge allowance is 1 µs

DEFAULT_GUARD = 0.006
"""Seconds added to the one-second span: `limit` sends take at least 1.006 s. A little less
than the ``1 / pace_share - 1`` (7 ms at 0.993) the schedule keeps anyway: making up a stall
costs about a millisecond of the jitter an SMSC's sliding second forgives, not more."""

DEFAULT_SLOT_GUARD = 0.0005
"""Seconds added to the 100 ms span: `limit / 10 + 1` sends take at least 100.5 ms."""

DEFAULT_CATCH_UP = 0.5
"""Seconds of the schedule that may be owed and made up later (a longer stall is dropped)."""


class Pacer:
    """When the next submit of one SMSC may go out.

    `rate`: sends per second the pacer aims at over the long run (the contract times the pace
    share); `limit`: the contract itself. Four bounds decide when a send may go:

    - the schedule: send n has the point ``start + n / rate``. A send that goes out late
      (the timer fired late, the loop was busy, no bind had room) leaves its successors'
      points where they were, so the sends owed go out as soon as the caps let them: the
      long-run rate is `rate`, stalls included. At most `catch_up` seconds of the schedule
      are owed; a longer stall, a time with nothing to send (`idle`) or a throttle answer
      (`throttled`) is not made up.
    - the short cap: the send ``burst = floor(limit / 10) + 1`` sends back must be at least
      ``0.1 + slot_guard`` s old, so no 100 ms window holds more than `burst` sends.
    - the long cap: the send ``floor(limit)`` sends back must be at least ``1 + guard`` s old,
      so no sliding second holds more than `limit`, even if the SMSC's clock runs up to
      `guard` s apart from ours between the first and the last send of a second.
    - the tick cap: the send ``floor(limit / 100) + 1`` sends back must be at least 5 ms
      old, so sends owed are spread over the 100 ms instead of going in one lump. Every cap
      repeats the times of the sends it counts (a send the timer made late makes the send
      that many sends later late too), so a cap must leave more room over the schedule than
      a timer is late: with 10 ms ticks the room was a millisecond, about what epoll loses on
      each timer, and at 1,000 TPS a loop that fell behind stayed behind, 0.5-1 % of the rate
      lost for good; with 5 ms ticks it is 6 ms.

    Making up a stall needs room between the rate and the caps: ``limit / (1 + guard)`` and
    ``burst / (0.1 + slot_guard)`` per second must both exceed `rate` (at a pace share of 1
    the long cap binds on every send and nothing is made up). Sends owed are made up at the
    smaller of those two margins (at 200 TPS and the defaults, about 0.2 a second beyond the
    sends the window right after a stall has room for); meanwhile the caps bind, so the
    jitter the SMSC's count forgives shrinks from ``limit / rate - 1`` (on schedule) to
    `guard`. Only the SMSC's own clock can see that jitter: a throttle answer is the sign.
    """

    __slots__ = (
        "_idle",
        "_long",
        "_long_span",
        "_next",
        "_short",
        "_short_span",
        "_tick",
        "burst",
        "catch_up",
        "guard",
        "interval",
        "limit",
        "rate",
        "slot_guard",
    )

    def __init__(
        self,
        rate: float,
        limit: float | None = None,
        guard: float = DEFAULT_GUARD,
        *,
        slot_guard: float = DEFAULT_SLOT_GUARD,
        catch_up: float = DEFAULT_CATCH_UP,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if guard < 0 or slot_guard < 0 or catch_up < 0:
            raise ValueError("guard, slot_guard and catch_up must be >= 0")
        self.rate = rate
        self.limit = limit if limit is not None and limit >= rate else rate
        self.interval = 1.0 / rate
        self.guard = guard
        self.slot_guard = slot_guard
        self.catch_up = catch_up
        self.burst = math.floor(self.limit * _SLOT) + 1
        self._long_span = _SECOND + guard
        self._short_span = _SLOT + slot_guard
        long_size = max(1, math.floor(self.limit))
        self._next = -math.inf  # the next point of the schedule
        self._idle = True
        self._short: deque[float] = deque(maxlen=self.burst)
        self._long: deque[float] = deque(maxlen=long_size)
        self._tick: deque[float] = deque(maxlen=math.floor(self.limit * 0.01) + 1)

    def ready_at(self) -> float:
        """The earliest loop time the next send may go out."""
        at = self._next
        tick = self._tick
        if len(tick) == tick.maxlen:
            edge = tick[0] + _TICK
            at = max(at, edge)
        short = self._short
        if len(short) == short.maxlen:
            edge = short[0] + self._short_span
            at = max(at, edge)
        long = self._long
        if len(long) == long.maxlen:
            edge = long[0] + self._long_span
            at = max(at, edge)
        return at

    def take(self, now: float) -> bool:
        """Use one send at `now` if pace and caps allow it; False = wait until `ready_at()`."""
        if now + _EPSILON < self.ready_at():
            return False
        if self._idle:
            base = now
            self._idle = False
        else:
            earliest = now - self.catch_up
            base = self._next if self._next > earliest else earliest
        self._next = base + self.interval
        self._tick.append(now)
        self._short.append(now)
        self._long.append(now)
        return True

    def idle(self) -> None:
        """Nothing waits to be sent: the next send starts a fresh schedule (no credit for the
        time nothing was asked for). The caps keep counting the sends already made."""
        self._idle = True

    def throttled(self) -> None:
        """The SMSC refused a send for its rate: its clock ran further from ours than the
        guards allow. What the schedule owes is dropped rather than made up against it."""
        self._idle = True


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter: uniform [0, min(cap, base * 2**attempt)).

    `attempt` counts failures in a row from 0; the jitter keeps binds that fell together
    (an SMSC restart) from knocking again in step.
    """
    ceiling = min(cap, base * (2.0 ** min(attempt, 62)))
    return (rng or random).uniform(0.0, ceiling)
