"""aiohttp HTTP API: Kimisms-compatible endpoints and the versioned API.

The composition root builds `ApiDeps` and calls `create_app`; nothing here opens a resource.
"""

from http_api.app import create_app
from http_api.deps import ApiDeps, ApiSettings, BindState, Readiness
from http_api.server import ApiServer, start_server

__all__ = [
    "ApiDeps",
    "ApiServer",
    "ApiSettings",
    "BindState",
    "Readiness",
    "create_app",
    "start_server",
]
