"""The aiohttp application factory: routes, middlewares and per-app state.

`create_app(deps)` builds the app from what the composition root hands in (ApiDeps); it opens
nothing itself, so it serves equally under the daemon's AppRunner and a test server.
"""

from __future__ import annotations

from aiohttp import web

from http_api import handlers, ops, topups
from http_api.context import CONTEXT, ApiContext
from http_api.deps import ApiDeps


def create_app(deps: ApiDeps) -> web.Application:
    """The HTTP API application over `deps`."""
    ctx = ApiContext.build(deps)
    # aiohttp's own body cap sits above ours so that ours answers first, in JSON.
    app = web.Application(
        client_max_size=deps.settings.max_body_bytes + 1,
        # One middleware: the metrics count what the error handling answers (JSON errors).
        middlewares=[ctx.metrics.middleware(deps.settings.max_body_bytes)],
    )
    app[CONTEXT] = ctx
    app.router.add_post("/api/generate-token", handlers.generate_token)
    app.router.add_post("/api/send-sms", handlers.send_sms)
    app.router.add_post("/api/v1/messages/bulk", handlers.send_bulk)
    app.router.add_get("/api/v1/messages/{id}", handlers.get_message, allow_head=False)
    app.router.add_get("/api/v1/balance", handlers.get_balance, allow_head=False)
    app.router.add_get("/health", ops.health, allow_head=False)
    app.router.add_get("/ready", ops.ready, allow_head=False)
    app.router.add_get("/metrics", ops.metrics, allow_head=False)
    app.router.add_get("/api/openapi.json", ops.openapi, allow_head=False)
    if deps.topups is not None:
        app.router.add_get("/api/v1/packages", topups.list_packages, allow_head=False)
        app.router.add_post("/api/v1/topups", topups.create_topup)
        app.router.add_get("/api/v1/topups", topups.list_topups, allow_head=False)
        app.router.add_get("/api/v1/topups/{id}", topups.get_topup, allow_head=False)
        if deps.mpesa_callback_path is not None:
            app.router.add_post(deps.mpesa_callback_path, topups.mpesa_callback)
    return app
