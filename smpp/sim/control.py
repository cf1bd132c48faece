"""The simulator's HTTP control port (loopback), for the CLI, the demo and curl.

    GET  /smscs                      {"safaricom": {"host": ..., "port": ..., "operator": ...}}
    GET  /records[?submits=N]        every SMSC's records as JSON (N latest submits included)
    POST /mo      {"smsc", "source", "dest", "text", "system_id"?, "wait"?}   → {"parts": n}
    POST /unbind  {"smsc"}           the SMSC sends unbind on its binds       → {"count": n}
    POST /drop    {"smsc"}           the SMSC cuts its connections            → {"count": n}

`wait` (default true) answers only once every part of the MO was acknowledged (504 if not
within 10 s). Errors are JSON ``{"error": "..."}`` with status 400 or 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from smpp.sim.simulator import Simulator

_SIM: web.AppKey[Simulator] = web.AppKey("simulator")
_MO_WAIT = 10.0


class ControlServer:
    """A running control listener."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self._runner = runner
        self.host = host
        self.port = port

    async def close(self) -> None:
        """Stop listening."""
        await self._runner.cleanup()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}')
    return data


async def _smscs(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    return web.json_response(
        {
            name: {"host": s.host, "port": s.port, "operator": s.personality.operator}
            for name, s in sim.smscs.items()
        }
    )


async def _records(request: web.Request) -> web.Response:
    try:
        submits = int(request.query.get("submits", "0"))
    except ValueError:
        return _error(400, "submits must be an integer")
    return web.json_response(request.app[_SIM].snapshot(with_submits=submits))


async def _mo(request: web.Request) -> web.Response:
    sim = request.app[_SIM]
    body = await _body(request)
    missing = [k for k in ("source", "dest", "text") if not isinstance(body.get(k), str)]
    if missing:
        return _error(400, f"missing or not a string: {', '.join(missing)}")
    smsc = body.get("smsc")
    if smsc is not None and smsc not in sim.smscs:
        return _error(404, f"no SMSC named {smsc!r}")
    wait = body.get("wait", True) is not False
    try:
        parts = await sim.inject_mo(
            smsc,
            body["source"],
            body["dest"],
            body["text"],
            system_id=body.get("system_id"),
            timeout=_MO_WAIT if wait else None,
        )
    except TimeoutError:
        return _error(504, "the MO was not acknowledged in time (is a receiver bound?)")
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response({"parts": parts})


async def _session_action(request: web.Request, action: str) -> web.Response:
    sim = request.app[_SIM]
    body = await _body(request)
    smsc = body.get("smsc")
    if smsc is not None and smsc not in sim.smscs:
        return _error(404, f"no SMSC named {smsc!r}")
    names = [smsc] if smsc is not None else list(sim.smscs)
    do = sim.unbind if action == "unbind" else sim.drop
    return web.json_response({"count": sum(do(name) for name in names)})


async def _unbind(request: web.Request) -> web.Response:
    return await _session_action(request, "unbind")


async def _drop(request: web.Request) -> web.Response:
    return await _session_action(request, "drop")


async def start_control(sim: Simulator, host: str, port: int) -> ControlServer:
    """Serve the control API for `sim` on host:port (0 = pick a port)."""
    app = web.Application()
    app[_SIM] = sim
    app.router.add_get("/smscs", _smscs)
    app.router.add_get("/records", _records)
    app.router.add_post("/mo", _mo)
    app.router.add_post("/unbind", _unbind)
    app.router.add_post("/drop", _drop)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    return ControlServer(runner, bound[0], bound[1])
