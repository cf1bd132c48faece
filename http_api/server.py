"""Serving the app on a TCP socket: the piece the composition root starts and stops.

Access logging is off (structured logs come from the daemon; a line per request costs more CPU
than the request's own work at thousands per second) and the listen backlog is deep, so bursts
of hundreds of new connections queue instead of stalling.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web

DEFAULT_BACKLOG = 1024
DEFAULT_SHUTDOWN_TIMEOUT = 10.0


def url_of(host: str, port: int) -> str:
    """The API's base URL for a listening address (an IPv6 host in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(slots=True)
class ApiServer:
    """A running site: where it listens and how to stop it."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return url_of(self.host, self.port)

    async def stop(self, budget: float | None = None) -> None:
        """Stop accepting, let requests in progress finish (up to the shutdown timeout, or
        `budget` seconds)."""
        if budget is not None:  # aiohttp reads it from the runner at cleanup; no setter
            self.runner._shutdown_timeout = budget
        await self.runner.cleanup()


async def start_server(
    app: web.Application,
    host: str,
    port: int,
    *,
    backlog: int = DEFAULT_BACKLOG,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    sock: socket.socket | None = None,
) -> ApiServer:
    """Listen on host:port (0 picks a free port; the bound one is in the result), or serve
    on `sock`, a socket already listening (another process bound it)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None
        else web.TCPSite(runner, host, port, backlog=backlog)
    )  # fmt: skip
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    return ApiServer(runner, str(bound_host), int(bound_port))
