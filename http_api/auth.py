"""Bearer authentication and the per-client rate limit, as the protected handlers call them.

401 bodies follow seed 001 (`{"detail": "Authentication credentials were not provided."}`)
and carry `WWW-Authenticate: Bearer`, as RFC 6750 asks. 429 bodies use DRF's throttle words
and `Retry-After` in whole seconds.
"""

from __future__ import annotations

from aiohttp import web

from gatewayd.service.auth import Principal
from gatewayd.service.errors import InvalidToken
from http_api.context import ApiContext
from http_api.errors import NOT_PROVIDED, ApiError, detail_error
from http_api.ratelimit import RateLimiter

_CHALLENGE = 'Bearer realm="api"'


def bearer_token(request: web.Request) -> str:
    """The token of `Authorization: Bearer …`; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise detail_error(401, NOT_PROVIDED, {"WWW-Authenticate": _CHALLENGE})
    token = token.strip()
    if not token or " " in token:
        raise _invalid("Invalid token header.")
    return token


async def authenticate(request: web.Request, ctx: ApiContext) -> Principal:
    """The caller's principal, after the rate limit of its client is checked."""
    token = bearer_token(request)
    try:
        principal = await ctx.deps.auth.authenticate(token, ctx.deps.clock())
    except InvalidToken as exc:
        raise _invalid(str(exc)) from None
    throttle(ctx, f"client:{principal.client_id}")
    return principal


def throttle(ctx: ApiContext, key: str, limiter: RateLimiter | None = None) -> None:
    """429 with Retry-After when `key` has used up its requests for now."""
    wait = (limiter or ctx.limiter).acquire(key)
    if wait:
        ctx.metrics.throttled.inc()
        unit = "second" if wait == 1 else "seconds"
        raise detail_error(
            429,
            f"Request was throttled. Expected available in {wait} {unit}.",
            {"Retry-After": str(wait)},
        )


def _invalid(text: str) -> ApiError:
    return detail_error(401, text, {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
