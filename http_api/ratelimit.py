"""Per-client request rate limit: a token bucket per API client, in memory.

Each client may make `per_minute` requests in a burst and then one every 60/per_minute
seconds (seed 001: 60/min). A refused request learns how many whole seconds until one more
is allowed, for `Retry-After`. The clock is a monotonic callable handed in, so tests step it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED = 50_000  # buckets kept before idle (full) ones are dropped


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`acquire(key)` → 0 when allowed, else the seconds to wait (at least 1)."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def acquire(self, key: str) -> int:
        """Take one token from `key`'s bucket; the whole seconds to wait when there is none."""
        if not self.enabled:
            return 0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))

    def _prune(self, now: float) -> None:
        if len(self._buckets) < MAX_TRACKED:
            return
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.at) * self._rate >= self.per_minute
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED:  # a flood of fresh keys: forget the oldest half
            for key in list(self._buckets)[: MAX_TRACKED // 2]:
                del self._buckets[key]
