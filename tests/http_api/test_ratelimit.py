"""The token bucket alone: burst, refill, Retry-After arithmetic, bounded memory."""

from __future__ import annotations

import pytest

from http_api import ApiSettings, ratelimit
from http_api.ratelimit import RateLimiter
from tests.http_api.world import (
    CLIENT_A,
    Clock,
    World,
    post,
    serve,
)


def test_burst_then_one_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock.monotonic)
    assert [limiter.acquire("a") for _ in range(60)] == [0] * 60
    assert limiter.acquire("a") == 1
    clock.advance(1)
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") == 1


def test_off_when_zero() -> None:
    limiter = RateLimiter(0, Clock().monotonic)
    assert not limiter.enabled
    assert all(limiter.acquire("a") == 0 for _ in range(1000))


def test_memory_stays_bounded_under_a_flood_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 100)
    limiter = RateLimiter(60, Clock().monotonic)
    for n in range(1000):
        limiter.acquire(f"key-{n}")
    assert len(limiter._buckets) <= 100


async def test_token_endpoint_has_a_global_limit(world: World) -> None:
    """Unknown client ids each get a fresh bucket; the endpoint as a whole is capped too."""
    async with serve(world, ApiSettings(rate_limit_per_minute=1)) as client:
        statuses = []
        for n in range(6):
            body = {"grant_type": "client_credentials", "client_id": f"x{n}", "client_secret": "s"}
            statuses.append((await post(client, "/api/generate-token", body))[0])
        assert statuses == [400] * 5 + [429]
        body = {"grant_type": "client_credentials", "client_id": CLIENT_A, "client_secret": "s"}
        assert (await post(client, "/api/generate-token", body))[0] == 429
