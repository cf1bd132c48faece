"""The pacer's promises, checked on simulated clocks (no real time)."""

from __future__ import annotations

import bisect
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.aio.pacing import Pacer, backoff_delay


def run(pacer: Pacer, lateness: list[float], until: float) -> list[float]:
    """Fire at each `ready_at()` plus the next lateness, taking all that the pace allows."""
    now, sends, i = 0.0, [], 0
    while now < until:
        now = max(now, pacer.ready_at()) + lateness[i % len(lateness)]
        i += 1
        while pacer.take(now):
            sends.append(now)
    return sends


def max_in_span(sends: list[float], span: float) -> int:
    return max(bisect.bisect_left(sends, t + span) - i for i, t in enumerate(sends))


@settings(max_examples=40, deadline=None)
@given(
    limit=st.sampled_from([10, 100, 200, 1000]),
    share=st.sampled_from([0.99, 0.995, 1.0]),
    lateness=st.lists(st.floats(0, 0.02), min_size=1, max_size=50),
)
def test_no_100_ms_above_a_tenth_plus_one_and_no_second_above_the_limit(
    limit: int, share: float, lateness: list[float]
) -> None:
    sends = run(Pacer(limit * share, limit), lateness, 3.0)
    slots: dict[int, int] = {}
    for t in sends:
        slots[int(t * 10)] = slots.get(int(t * 10), 0) + 1
    assert max(slots.values()) <= limit // 10 + 1
    assert max_in_span(sends, 0.1) <= limit // 10 + 1
    assert max_in_span(sends, 1.0) <= limit


def test_late_timers_lose_nothing_while_within_the_tolerance() -> None:
    pacer = Pacer(990, 1000)
    sends = run(pacer, [0.0015, 0.0002, 0.001], 10.0)
    assert len(sends) >= 0.998 * 990 * 10


def test_idle_time_is_not_saved_up() -> None:
    pacer = Pacer(100, 100)
    assert pacer.take(0.0)
    now = 5.0  # long idle
    burst = 0
    while pacer.take(now):
        burst += 1
    assert burst <= 2


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(3)
    for attempt in range(12):
        cap = min(60.0, 1.0 * 2**attempt)
        delays = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= d < cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range
