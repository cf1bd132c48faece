"""The TPS rules of `ThrottleRule` as small clock-free objects: `allow(now) -> bool`.

`now` is the loop time in seconds; the limiter never reads a clock, so tests drive it with
plain floats.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

from smpp.sim.config import ThrottleKind, ThrottleRule


class Limiter(Protocol):
    """Decides whether one more submit_sm fits the SMSC's TPS contract at `now`."""

    def allow(self, now: float) -> bool:
        """True (and counted) when the submit is accepted, False when it must be throttled."""
        ...


class Unlimited:
    """No TPS limit."""

    def allow(self, now: float) -> bool:
        """Always True."""
        return True


_EPSILON = 1e-6
"""Float rounding allowance: a submit exactly one span after another must not be refused."""


class SlidingWindow:
    """At most `limit` accepted submits in any half-open window (now - span, now].

    The window edge is moved 1 µs forward so that float rounding of loop times never turns
    "exactly one span later" into "inside the span"."""

    def __init__(self, limit: int, span: float = 1.0) -> None:
        self._limit = max(1, limit)
        self._span = span
        self._accepted: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Accept iff fewer than `limit` were accepted in (now - span, now]."""
        accepted = self._accepted
        edge = now - self._span + _EPSILON
        while accepted and accepted[0] <= edge:
            accepted.popleft()
        if len(accepted) >= self._limit:
            return False
        accepted.append(now)
        return True


class TokenBucket:
    """`burst` tokens refilled at `rate` per second; one token per accepted submit."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        """Take a token if one is there."""
        if self._last is not None and now > self._last:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        if self._last is None or now > self._last:
            self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def make_limiter(rule: ThrottleRule) -> Limiter:
    """The limiter that applies `rule`."""
    if rule.tps is None or rule.tps <= 0:
        return Unlimited()
    if rule.kind is ThrottleKind.BUCKET:
        burst = rule.burst if rule.burst is not None else max(1, math.floor(rule.tps / 10))
        return TokenBucket(rule.tps, burst)
    return SlidingWindow(math.floor(rule.tps))
