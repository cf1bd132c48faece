"""Top-up endpoints: packages, top-ups of the caller's sender IDs, and Daraja's callback.

The account endpoints take the same Bearer tokens as send-sms and see only the caller's own
sender IDs and top-ups (another account's is a 404). Creating an M-Pesa top-up sends the STK
push before answering: 201 with the PENDING top-up and its CheckoutRequestID, or 503 when
Daraja did not take the push, in which case the top-up is already FAILED (nothing is left
PENDING that could not complete) and the body carries it.

The callback route (`ApiDeps.mpesa_callback_path`) takes no Bearer token: Daraja calls it. It
always answers 200 `{"ResultCode": 0, "ResultDesc": "Accepted"}` once it has read the body,
including for a body that is not an STK callback, for an unknown CheckoutRequestID and for a
failure on our side: Daraja documents no meaning for other answers to an STK callback, and
nothing depends on its retries, because the use-case credits once however often a callback
comes and the expiry sweep asks Daraja's status query about every top-up still PENDING. Each
outcome is logged; the ones a person should look at (`review`) as warnings. Only a body above
CALLBACK_MAX_BYTES is refused (413), unread.
"""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from gatewayd.service.auth import Principal
from gatewayd.service.topups import (
    CallbackOutcome,
    CallbackResult,
    PaymentUnavailable,
    TopUpNotFound,
    TopUpRejected,
)
from http_api import render_topups as render
from http_api.auth import authenticate
from http_api.context import ApiContext, context
from http_api.errors import NOT_FOUND, ApiError, detail_error, json_response, too_large
from http_api.idempotency import key_of
from http_api.schemas import (
    Fields,
    Payload,
    has_control_characters,
    parse_operator,
    parse_topup_request,
    parse_topup_status,
    read_payload,
)
from http_api.topup_access import AccountTopUps

log = logging.getLogger(__name__)

CALLBACK_MAX_BYTES = 16 * 1024  # an STK callback is well under 1 KiB
CALLBACK_ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
MPESA_NOT_OFFERED = "M-Pesa top-ups are not available on this gateway."
LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 500
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")


def _service(ctx: ApiContext) -> AccountTopUps:
    topups = ctx.deps.topups
    if topups is None:  # the routes are only mounted with a service; kept for type narrowing
        raise detail_error(404, NOT_FOUND)
    return topups


async def list_packages(request: web.Request) -> web.Response:
    """GET /api/v1/packages[?operator=]: the packages on sale."""
    ctx = context(request)
    await authenticate(request, ctx)
    operator = parse_operator(request.query.get("operator"))
    packages = await _service(ctx).packages(operator)
    return json_response({"count": len(packages), "results": [render.package(p) for p in packages]})


async def create_topup(request: web.Request) -> web.Response:
    """POST /api/v1/topups: buy units of a package for one sender ID; honours Idempotency-Key
    (a retried request does not send a second STK push)."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    key = key_of(request)
    payload = await read_payload(request, ctx.deps.settings.max_body_bytes)
    if key is None:
        return await _create(ctx, principal, payload)
    return await ctx.idempotency.run(
        principal.account_id,
        key,
        payload.digest(),
        ctx.deps.clock(),
        lambda: _create(ctx, principal, payload),
    )


async def _create(ctx: ApiContext, principal: Principal, payload: Payload) -> web.Response:
    form = parse_topup_request(payload.data)
    try:
        topup = await _service(ctx).request(principal.account_id, form, ctx.deps.clock())
    except TopUpRejected as exc:
        raise ApiError(400, {exc.field: exc.messages}) from None
    except PaymentUnavailable as exc:
        if exc.topup is None:
            raise ApiError(400, {"method": [MPESA_NOT_OFFERED]}) from None
        ctx.metrics.push_failures.inc()
        log.warning(
            "http.topup_push_failed topup=%s account=%s reason=%s",
            exc.topup.id, principal.account_id, exc,
        )  # fmt: skip
        body = {
            "detail": f"{exc}. The top-up has FAILED and nothing was charged; try again later.",
            "topup": render.topup(exc.topup),
        }
        retry = {"Retry-After": str(ctx.deps.settings.busy_retry_after)}
        raise ApiError(503, body, retry) from None
    ctx.metrics.topups.labels(topup.method.value).inc()
    return json_response(render.topup(topup), 201)


async def get_topup(request: web.Request) -> web.Response:
    """GET /api/v1/topups/{id}[?refresh=1]: the caller's top-up; with refresh, a PENDING
    M-Pesa top-up is first asked about through Daraja's status query."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    refresh = _flag(request.query.get("refresh"), "refresh")
    topups = _service(ctx)
    topup_id = request.match_info["id"]
    if has_control_characters(topup_id):  # no id has one; PostgreSQL cannot even compare NUL
        raise detail_error(404, NOT_FOUND)
    try:
        if refresh:
            topup = await topups.refresh(principal.account_id, topup_id, ctx.deps.clock())
        else:
            topup = await topups.get(principal.account_id, topup_id)
    except TopUpNotFound:
        raise detail_error(404, NOT_FOUND) from None
    return json_response(render.topup(topup))


async def list_topups(request: web.Request) -> web.Response:
    """GET /api/v1/topups[?status=&limit=]: the caller's top-ups, newest first."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    status = parse_topup_status(request.query.get("status"))
    fields = Fields(request.query)
    limit = fields.optional_int("limit", LIST_LIMIT_DEFAULT, low=1, high=LIST_LIMIT_MAX)
    fields.check()
    topups = await _service(ctx).list(principal.account_id, status)
    return json_response(
        {"count": len(topups), "results": [render.topup(t) for t in topups[:limit]]}
    )


async def mpesa_callback(request: web.Request) -> web.Response:
    """POST <mpesa_callback_path>: Daraja's STK callback (no Bearer token; see the module)."""
    ctx = context(request)
    if request.content_length is not None and request.content_length > CALLBACK_MAX_BYTES:
        raise too_large(CALLBACK_MAX_BYTES)
    try:
        raw = await request.read()  # bounded by the app's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise too_large(CALLBACK_MAX_BYTES) from None
    if len(raw) > CALLBACK_MAX_BYTES:
        raise too_large(CALLBACK_MAX_BYTES)
    body: object
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None  # not JSON: the use-case reports it as malformed
    try:
        result = await _service(ctx).callback(body, ctx.deps.clock())
    except Exception:
        ctx.metrics.mpesa_callbacks.labels("error").inc()
        log.exception("mpesa.callback_failed remote=%s bytes=%d", request.remote, len(raw))
    else:
        ctx.metrics.mpesa_callbacks.labels(result.outcome.value).inc()
        if result.review:
            ctx.metrics.mpesa_reviews.inc()
        _log_callback(result, request.remote)
    return json_response(CALLBACK_ACCEPTED)


def _log_callback(result: CallbackResult, remote: str | None) -> None:
    topup_id = result.topup.id if result.topup else None
    quiet = result.outcome in (
        CallbackOutcome.CREDITED, CallbackOutcome.FAILED, CallbackOutcome.DUPLICATE,
    )  # fmt: skip
    level = logging.INFO if quiet else logging.WARNING
    log.log(
        level,
        "mpesa.callback outcome=%s topup=%s remote=%s detail=%s",
        result.outcome.value, topup_id, remote, result.detail,
    )  # fmt: skip
    if result.review:
        log.warning(
            "mpesa.callback_review outcome=%s topup=%s review=%s",
            result.outcome.value, topup_id, result.review,
        )  # fmt: skip


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ApiError(400, {name: ["Must be 1 or 0."]})
