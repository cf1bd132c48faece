"""Operations endpoints: /health, /ready, /metrics and the OpenAPI document.

/health says the process answers; /ready says it should get traffic (store reachable, intake
open), listing each SMPP bind with its state, which informs but does not decide: an operator
outage must not take the API out of a load balancer, because accepted messages wait queued.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from http_api.context import context
from http_api.deps import Readiness
from http_api.errors import json_response
from http_api.openapi import document

log = logging.getLogger(__name__)
READY_TIMEOUT = 2.0  # seconds a readiness probe may take before it counts as not ready


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    ctx = context(request)
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            report = await ctx.deps.readiness()
    except Exception as exc:
        log.warning("http.readiness_failed error=%r", exc)
        report = Readiness(store_ok=False, detail="readiness check failed")
    is_ready = report.store_ok and report.accepting
    body: dict[str, object] = {
        "status": "ready" if is_ready else "not ready",
        "store": "ok" if report.store_ok else "unreachable",
        "accepting": report.accepting,
        "binds": [{"name": b.name, "operator": b.operator, "state": b.state} for b in report.binds],
    }
    if report.detail:
        body["detail"] = report.detail
    return json_response(body, 200 if is_ready else 503)


async def metrics(request: web.Request) -> web.Response:
    deps = context(request).deps
    output = generate_latest(deps.registry)
    if deps.more_metrics is not None:
        output += await deps.more_metrics()
    response = web.Response(body=output)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def openapi(request: web.Request) -> web.Response:
    deps = context(request).deps
    return json_response(
        document(topups=deps.topups is not None, callback_path=deps.mpesa_callback_path)
    )
