"""Per-bind counters for metrics: window occupancy, submits, answers and achieved TPS."""

from __future__ import annotations

from dataclasses import dataclass

from smpp.aio.config import BindRole
from smpp.aio.events import BindState


@dataclass(frozen=True, slots=True)
class BindStats:
    """A snapshot of one bind, for /metrics and /ready.

    `achieved_tps` is submit_sm written per second over the last full seconds (up to
    `RateMeter.SECONDS`); counters run from the pool's start across reconnects.
    """

    bind_id: str
    role: BindRole
    state: BindState
    window: int
    in_flight: int
    submits: int
    accepted: int
    throttled: int
    failed: int
    timeouts: int
    late_responses: int
    delivers: int
    connects: int
    achieved_tps: float

    @property
    def occupancy(self) -> float:
        """Share of the window in use (0..1)."""
        return self.in_flight / self.window if self.window else 0.0


class RateMeter:
    """Events per whole second of the loop clock, over the last `SECONDS` full seconds.

    `tick` costs one comparison and one addition in the common case.
    """

    SECONDS = 5
    __slots__ = ("_count", "_history", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._count = 0
        self._history: list[tuple[int, int]] = []

    def tick(self, now: float) -> None:
        """Count one event at `now`."""
        second = int(now)
        if second != self._second:
            self._roll(second)
        self._count += 1

    def _roll(self, second: int) -> None:
        if self._second >= 0:
            self._history.append((self._second, self._count))
            del self._history[: -self.SECONDS]
        self._second = second
        self._count = 0

    def rate(self, now: float) -> float:
        """Mean events per second over the last full seconds before `now` (0 if none)."""
        current = int(now)
        recent = [c for s, c in self._history if current - self.SECONDS <= s < current]
        if self._second < current and self._second >= current - self.SECONDS:
            recent.append(self._count)
        return sum(recent) / self.SECONDS if recent else 0.0
