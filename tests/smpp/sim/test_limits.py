"""The TPS rules, driven with plain float times."""

from __future__ import annotations

from smpp.sim.config import ThrottleKind, ThrottleRule
from smpp.sim.limits import SlidingWindow, TokenBucket, Unlimited, make_limiter


def test_sliding_window_holds_exactly_limit_in_any_second() -> None:
    limiter = SlidingWindow(3)
    assert [limiter.allow(t) for t in (0.0, 0.1, 0.2, 0.3)] == [True, True, True, False]
    # (t - 1, t] is half-open: the submit at 0.0 leaves the window exactly at 1.0
    assert limiter.allow(0.999) is False
    assert limiter.allow(1.0) is True
    assert limiter.allow(1.05) is False
    assert limiter.allow(1.1) is True


def test_throttled_submits_do_not_count() -> None:
    limiter = SlidingWindow(1)
    assert limiter.allow(0.0)
    assert not any(limiter.allow(0.5) for _ in range(100))
    assert limiter.allow(1.0)


def test_sliding_window_at_exactly_the_rate_never_throttles_a_perfect_pacer() -> None:
    limiter = SlidingWindow(200)
    assert all(limiter.allow(k * 0.005) for k in range(2000))


def test_token_bucket_forgives_a_burst_but_holds_the_rate() -> None:
    bucket = TokenBucket(rate=100, burst=10)
    assert sum(bucket.allow(0.0) for _ in range(50)) == 10
    accepted = sum(bucket.allow(1.0 + k * 0.001) for k in range(1000))  # 1 s at 1000/s
    assert 100 <= accepted <= 111


def test_make_limiter_follows_the_rule() -> None:
    assert isinstance(make_limiter(ThrottleRule()), Unlimited)
    assert isinstance(make_limiter(ThrottleRule(tps=5)), SlidingWindow)
    bucket = make_limiter(ThrottleRule(tps=100, kind=ThrottleKind.BUCKET))
    assert isinstance(bucket, TokenBucket)
    assert sum(bucket.allow(0.0) for _ in range(50)) == 10  # default burst tps/10
