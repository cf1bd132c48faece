"""The per-application state handlers reach through `request.app[CONTEXT]`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from http_api.deps import ApiDeps
from http_api.idempotency import Idempotency
from http_api.metrics import ApiMetrics
from http_api.ratelimit import RateLimiter

TOKEN_ENDPOINT_FACTOR = 5
"""The token endpoint as a whole may take this many times one client's rate: every attempt
costs a deliberately slow hash, and unknown client ids would otherwise each get a fresh bucket."""


@dataclass(frozen=True, slots=True)
class ApiContext:
    deps: ApiDeps
    limiter: RateLimiter
    token_limiter: RateLimiter
    idempotency: Idempotency
    metrics: ApiMetrics

    @classmethod
    def build(cls, deps: ApiDeps) -> ApiContext:
        settings = deps.settings
        return cls(
            deps=deps,
            limiter=RateLimiter(settings.rate_limit_per_minute, deps.monotonic),
            token_limiter=RateLimiter(
                settings.rate_limit_per_minute * TOKEN_ENDPOINT_FACTOR, deps.monotonic
            ),
            idempotency=Idempotency(
                deps.idempotency, timedelta(seconds=settings.idempotency_ttl_seconds)
            ),
            metrics=ApiMetrics(deps.registry),
        )


CONTEXT = web.AppKey("gatewayd_api_context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
