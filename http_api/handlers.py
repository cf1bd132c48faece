"""The API's handlers: parse → call a use-case → render, nothing else.

`/api/generate-token` and `/api/send-sms` are seed 001's endpoints byte for byte; the
`/api/v1/…` reads are the versioned API beside them. Domain refusals become 400 field errors
(`{"sender_name": ["Sender ID not found"]}`); another account's message is a 404, never a 403,
so ids of other tenants cannot be probed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import orjson
from aiohttp import web

from gatewayd.service.auth import Principal
from gatewayd.service.errors import InvalidCredentials, MessageNotFound, SendRejected
from gatewayd.service.messaging import BulkItem, BulkKey, BulkOutcome, IdempotencyKey
from gatewayd.service.model import Accepted
from http_api import render
from http_api.auth import authenticate, throttle
from http_api.context import ApiContext, context
from http_api.errors import JSON, NOT_FOUND, ApiError, detail_error, json_response
from http_api.idempotency import key_of, replay
from http_api.schemas import (
    BulkEntry,
    Payload,
    has_control_characters,
    parse_bulk_request,
    parse_send_request,
    parse_token_request,
    read_payload,
    with_basic_credentials,
)

BUSY = "The message queue is full. Retry later."
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def generate_token(request: web.Request) -> web.Response:
    """POST /api/generate-token: client credentials → a Bearer token (seed 001)."""
    ctx = context(request)
    payload = await read_payload(request, ctx.deps.settings.max_body_bytes)
    data = with_basic_credentials(payload.data, request.headers.get("Authorization", ""))
    form = parse_token_request(data)
    throttle(ctx, f"token:{form.client_id}")
    throttle(ctx, "token-endpoint", ctx.token_limiter)
    try:
        token, expires_in = await ctx.deps.auth.issue_token(
            form.client_id, form.client_secret, ctx.deps.clock()
        )
    except InvalidCredentials as exc:
        raise ApiError(400, {"credentials": [str(exc)]}) from None
    return json_response(render.token(token, expires_in), headers=_NO_STORE)


async def send_sms(request: web.Request) -> web.Response:
    """POST /api/send-sms: accept one message (seed 001), honouring Idempotency-Key."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    key = key_of(request)
    payload = await read_payload(request, ctx.deps.settings.max_body_bytes)
    if key is None:
        return await _send(ctx, principal, payload)
    digest = payload.digest()
    return await _keyed(
        ctx,
        principal,
        key,
        digest,
        lambda: _send(ctx, principal, payload, IdempotencyKey(key, digest, _answer)),
    )


async def _keyed(
    ctx: ApiContext,
    principal: Principal,
    key: str,
    digest: str,
    run: Callable[[], Awaitable[web.Response]],
) -> web.Response:
    """`run` under the request's Idempotency-Key (send-sms and bulk alike): the stored answer
    for a repeat, 409 for the same key with another body; replays are counted."""
    outcome = await ctx.idempotency.run(
        principal.account_id, key, digest, ctx.deps.clock(), run, handler_keeps=True
    )
    if outcome.headers.get("Idempotent-Replayed"):
        ctx.metrics.replays.inc()
    return outcome


async def _send(
    ctx: ApiContext,
    principal: Principal,
    payload: Payload,
    idempotency: IdempotencyKey | None = None,
) -> web.Response:
    form = parse_send_request(payload.data)
    _check_backpressure(ctx)
    try:
        message = await ctx.deps.messaging.send(
            principal.account_id,
            principal.actor,
            form.sender_name,
            form.contact,
            form.message,
            form.callback_url,
            limit=ctx.deps.settings.message_limit,
            priority=form.priority,
            client_ref=form.client_ref,
            now=ctx.deps.clock(),
            idempotency=idempotency,
        )
    except SendRejected as exc:
        ctx.metrics.rejected.labels(exc.code).inc()
        raise ApiError(400, {exc.field: exc.messages}) from None
    kept = message.record
    if idempotency is not None and kept is not None:
        if message.replayed:  # the key was answered meanwhile (another process, a retry)
            return replay(kept, idempotency.request_hash)
        ctx.metrics.count_accept(message.operator, message.units)
        return web.Response(body=kept.body, status=kept.status_code, content_type=JSON)
    ctx.metrics.count_accept(message.operator, message.units)
    return json_response(render.accepted(message))


def _answer(message: Accepted) -> tuple[int, bytes]:
    """send-sms's answer for an accepted message, as kept under its Idempotency-Key: the
    bytes `json_response` would send."""
    return 200, orjson.dumps(render.accepted(message))


async def send_bulk(request: web.Request) -> web.Response:
    """POST /api/v1/messages/bulk: many messages in one request and one store transaction,
    each checked as send-sms checks one; honours Idempotency-Key as send-sms does."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    key = key_of(request)
    limit = ctx.deps.settings.bulk_max_body_bytes
    payload = await read_payload(request.clone(client_max_size=limit + 1), limit)
    if key is None:
        return await _send_bulk(ctx, principal, payload)
    digest = payload.digest()
    return await _keyed(
        ctx, principal, key, digest, lambda: _send_bulk(ctx, principal, payload, (key, digest))
    )


async def _send_bulk(
    ctx: ApiContext,
    principal: Principal,
    payload: Payload,
    keyed: tuple[str, str] | None = None,
) -> web.Response:
    form = parse_bulk_request(payload.data, ctx.deps.settings.bulk_max_messages)
    _check_backpressure(ctx)
    entries = form.entries
    items = [
        BulkItem(e.contact or "", e.message, e.callback_url, e.client_ref)
        for e in entries
        if not e.errors
    ]
    outcomes: tuple[BulkOutcome, ...] = ()
    if items:
        key = None
        if keyed is not None:
            key = BulkKey(keyed[0], keyed[1], lambda done: _bulk_answer(entries, done))
        result = await ctx.deps.messaging.send_bulk(
            principal.account_id,
            principal.actor,
            form.sender_names,
            items,
            form.callback_url,
            limit=ctx.deps.settings.message_limit,
            priority=form.priority,
            now=ctx.deps.clock(),
            idempotency=key,
        )
        if result.replayed and result.record is not None:  # answered meanwhile
            return replay(result.record, keyed[1] if keyed else "")
        outcomes = result.outcomes
        for outcome in outcomes:
            if isinstance(outcome, Accepted):
                ctx.metrics.count_accept(outcome.operator, outcome.units)
            else:
                ctx.metrics.rejected.labels(outcome.code).inc()
        if result.record is not None:
            kept = result.record
            return web.Response(body=kept.body, status=kept.status_code, content_type=JSON)
    return json_response(render.bulk(entries, outcomes))


def _bulk_answer(entries: tuple[BulkEntry, ...], done: Sequence[BulkOutcome]) -> tuple[int, bytes]:
    """The bulk answer as kept under its Idempotency-Key: the bytes `json_response` sends."""
    return 200, orjson.dumps(render.bulk(entries, done))


def _check_backpressure(ctx: ApiContext) -> None:
    limit = ctx.deps.settings.max_queue_depth
    if not limit or ctx.deps.queue_depth is None:
        return
    if ctx.deps.queue_depth() > limit:
        ctx.metrics.busy.inc()
        retry = str(ctx.deps.settings.busy_retry_after)
        raise detail_error(503, BUSY, {"Retry-After": retry})


async def get_message(request: web.Request) -> web.Response:
    """GET /api/v1/messages/{id}: status, units, parts and timeline of the caller's message."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    message_id = request.match_info["id"]
    if has_control_characters(message_id):  # no id has one; PostgreSQL cannot even compare NUL
        raise detail_error(404, NOT_FOUND)
    try:
        message = await ctx.deps.messaging.get_message(principal.account_id, message_id)
    except MessageNotFound:
        raise detail_error(404, NOT_FOUND) from None
    return json_response(render.message_detail(message))


async def get_balance(request: web.Request) -> web.Response:
    """GET /api/v1/balance: the caller's float per sender ID and per operator."""
    ctx = context(request)
    principal = await authenticate(request, ctx)
    result = await ctx.deps.messaging.balances(principal.account_id)
    return json_response(render.balances(result))
