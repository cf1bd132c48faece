"""Rate limiting for SMPP binds: a token bucket for pacing and a back-off for throttle errors.

`TokenBucket(rate, burst)` paces submits. With ``burst=1`` (the default) no interval of
length T ever holds more than ``1 + rate * T`` takes, so no 100 ms slot carries more than
``rate/10 + 1`` submits: the SMSC sees an even flow, not a burst at the start of each second.
One bucket may be shared by every bind to the same SMSC (it holds no reference to a session).

`Backoff` is the pause after ESME_RTHROTTLED / ESME_RMSGQFUL: ``initial`` seconds the first
time, multiplied by ``factor`` each time throttling returns soon after a pause (up to
``maximum``), and stepping back down one level per ``recovery`` seconds without throttling.

Both take `now` (seconds, any monotonic origin) and never read a clock.
"""

from __future__ import annotations

import math

_EPSILON = 1e-9  # float slack so that waking at next_available() always finds the token


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved; one token per submit."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None

    def _tokens_at(self, now: float) -> float:
        """Tokens at `now`, without changing anything (a `now` before the last take earns
        nothing: the clock never runs backwards for the bucket)."""
        last = self._last
        if last is None or now <= last:
            return self._tokens
        return min(self.burst, self._tokens + (now - last) * self.rate)

    def take(self, now: float) -> bool:
        """Take one token if there is one; False (and nothing taken) otherwise."""
        tokens = self._tokens_at(now)
        if self._last is None or now > self._last:
            self._last = now
        self._tokens = tokens
        if tokens >= 1.0 - _EPSILON:
            self._tokens = tokens - 1.0
            return True
        return False

    def available(self, now: float) -> float:
        """Tokens available at `now` (may be fractional). Asking changes nothing."""
        return self._tokens_at(now)

    def next_available(self, now: float) -> float:
        """The earliest time at or after `now` when `take` will succeed. Asking changes
        nothing, so it may be asked about a future `now`."""
        tokens = self._tokens_at(now)
        if tokens >= 1.0 - _EPSILON:
            return now
        return now + (1.0 - tokens) / self.rate

    def set_rate(self, rate: float, now: float) -> None:
        """Change the rate from `now` on (tokens earned so far are kept)."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self._tokens = self._tokens_at(now)
        if self._last is None or now > self._last:
            self._last = now
        self.rate = float(rate)


class Backoff:
    """The growing, then recovering, pause after throttle errors."""

    __slots__ = ("_level", "factor", "initial", "maximum", "recovery", "until")

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 16.0,
        factor: float = 2.0,
        recovery: float = 30.0,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {initial}, {maximum}")
        if not factor >= 1 or not recovery > 0:
            raise ValueError(f"need factor >= 1 and recovery > 0, got {factor}, {recovery}")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.recovery = recovery
        self.until = -math.inf
        self._level = 0

    @property
    def level(self) -> int:
        """0 when calm; n after n throttle episodes close together."""
        return self._level

    def active(self, now: float) -> bool:
        """True while the pause lasts."""
        return now < self.until

    def trip(self, now: float) -> float:
        """A throttle error arrived at `now`; returns the end of the pause.

        Errors during a pause belong to it (they answer PDUs sent before it) and do not
        lengthen it.
        """
        if now < self.until:
            return self.until
        if self._level:
            calm = (now - self.until) // self.recovery
            self._level = max(0, self._level - int(calm))
        pause = min(self.maximum, self.initial * self.factor**self._level)
        self._level += 1
        self.until = now + pause
        return self.until
