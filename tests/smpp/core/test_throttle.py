"""TokenBucket pacing and the throttle Backoff."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.core.throttle import Backoff, TokenBucket


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 7.0, 50.0, 100.0, 333.0, 1000.0]),
    gaps=st.lists(st.floats(0.0, 0.02), min_size=50, max_size=400),
)
def test_no_100ms_slot_above_rate_over_10_plus_1(rate: float, gaps: list[float]) -> None:
    bucket = TokenBucket(rate)
    slots: Counter[int] = Counter()
    now = 5.0
    for gap in gaps:  # a caller polling at arbitrary times, taking all it may
        now += gap
        while bucket.take(now):
            slots[math.floor(now * 10)] += 1
    assert max(slots.values(), default=0) <= rate / 10 + 1


def test_waking_at_next_available_always_finds_the_token() -> None:
    bucket = TokenBucket(1000.0)
    now = 0.123
    taken = 0
    for _ in range(5000):
        if not bucket.take(now):
            now = bucket.next_available(now)
            assert bucket.take(now)
        taken += 1
    assert taken == 5000
    # 1 token at start, then 1000/s: 4999 more take 4.999 s
    assert now - 0.123 == pytest.approx(4.999, abs=1e-6)


def test_long_run_rate_is_the_rate() -> None:
    bucket = TokenBucket(200.0)
    now, taken = 0.0, 0
    while now < 10.0:
        now = bucket.next_available(now)
        if now >= 10.0:
            break
        assert bucket.take(now)
        taken += 1
    assert taken == pytest.approx(2000, abs=1)


def test_burst_saves_tokens_up_to_burst() -> None:
    bucket = TokenBucket(10.0, burst=5)
    assert sum(bucket.take(0.0) for _ in range(10)) == 5
    assert sum(bucket.take(100.0) for _ in range(10)) == 5


def test_clock_going_backwards_earns_nothing() -> None:
    bucket = TokenBucket(10.0)
    assert bucket.take(10.0)
    assert not bucket.take(9.0)
    assert not bucket.take(10.05)
    assert bucket.take(10.1)


def test_asking_about_the_future_grants_nothing_early() -> None:
    bucket = TokenBucket(10.0)
    assert bucket.take(0.0)
    assert bucket.next_available(5.0) == 5.0  # by then a token is there
    assert not bucket.take(0.05)  # but asking did not move the bucket's clock
    assert bucket.next_available(0.05) == pytest.approx(0.1)


def test_set_rate() -> None:
    bucket = TokenBucket(10.0)
    bucket.take(0.0)
    bucket.set_rate(100.0, 0.0)
    assert bucket.next_available(0.0) == pytest.approx(0.01)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (10, 0.5)])
def test_bad_parameters(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_backoff_grows_caps_and_recovers() -> None:
    b = Backoff(initial=1.0, maximum=5.0, factor=2.0, recovery=10.0)
    assert not b.active(0.0)
    assert b.trip(0.0) == 1.0
    assert b.trip(0.5) == 1.0  # same pause
    assert b.trip(1.0) == 3.0  # right after: doubled
    assert b.trip(3.0) == 7.0  # 4 s
    assert b.trip(7.0) == 12.0  # capped at 5 s
    assert b.level == 4
    assert b.trip(37.0) == 41.0  # 25 s calm = 2 recovery periods: level 4 -> 2, pause 4 s
    b2 = Backoff(initial=1.0, maximum=64.0, factor=2.0, recovery=10.0)
    for t in (0.0, 1.0, 3.0):
        b2.trip(t)
    assert b2.level == 3
    assert b2.trip(7.0 + 100.0) == 108.0  # long calm: back to the initial pause
