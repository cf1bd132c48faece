"""The callback sink in a child process: counts delivery callbacks per message, answers 200.

The bench puts its own message number in each callback URL (`?i=N`), so both gateways are
counted the same way and a message called back twice is seen:

- gatewayd: `POST /g?i=N` with seed 000's JSON payload; final when its status is DELIVERED or
  FAILED; the X-Gatewayd-Signature HMAC is checked (a bad one is counted, still answered 200);
- Kannel: `GET /k?i=N&s=%d` (its dlr-url); final when the DLR type is 1 (delivered),
  2 (failed) or 16 (SMSC reject).

Commands on the pipe: ("reset", n) starts a run of n messages; ("stats", with_finals) -> figures
(with the per-message final counts when asked);
("stop",) ends the process.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import hmac
import resource
import time
from multiprocessing.connection import Connection
from typing import Any

import orjson
from aiohttp import web

GATEWAYD_FINAL = frozenset({"DELIVERED", "FAILED"})
KANNEL_FINAL = frozenset({"1", "2", "16"})
KANNEL_DELIVERED = "1"


class Counts:
    """Callbacks of one run."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.finals = array.array("H", bytes(2 * n))  # final callbacks per message
        self.first_final = array.array("d", bytes(8 * n))  # monotonic time of the first
        self.callbacks = 0
        self.non_final = 0
        self.unknown = 0
        self.bad_signature = 0
        self.delivered = 0
        self.failed = 0
        self.with_final = 0
        self.duplicated = 0
        self.connections: set[object] = set()  # peer (host, port) of each callback
        self.first_at: float | None = None
        self.last_at: float | None = None

    def final(self, i: int, delivered: bool) -> None:
        now = time.monotonic()
        if self.finals[i] == 0:
            self.with_final += 1
            self.first_final[i] = now
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
        else:
            self.duplicated += 1
        self.finals[i] = min(self.finals[i] + 1, 65535)
        if delivered:
            self.delivered += 1
        else:
            self.failed += 1

    def figures(self, with_finals: bool) -> dict[str, Any]:
        return {
            "callbacks": self.callbacks,
            "non_final": self.non_final,
            "unknown": self.unknown,
            "bad_signature": self.bad_signature,
            "delivered": self.delivered,
            "failed": self.failed,
            "with_final": self.with_final,
            "duplicated": self.duplicated,
            "connections": len(self.connections),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "finals": self.finals.tobytes() if with_finals else None,
        }


class Sink:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.counts = Counts(0)

    def _index(self, request: web.Request) -> int | None:
        try:
            i = int(request.query["i"])
        except (KeyError, ValueError):
            return None
        return i if 0 <= i < self.counts.n else None

    async def gatewayd(self, request: web.Request) -> web.Response:
        body = await request.read()
        counts = self.counts
        counts.callbacks += 1
        counts.connections.add(request.transport and request.transport.get_extra_info("peername"))
        i = self._index(request)
        signature = request.headers.get("X-Gatewayd-Signature", "")
        stamp = request.headers.get("X-Gatewayd-Timestamp", "")
        mac = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, f"sha256={mac}"):
            counts.bad_signature += 1
        try:
            status = str(orjson.loads(body).get("status", "")).upper()
        except (orjson.JSONDecodeError, AttributeError):
            status = ""
        if i is None:
            counts.unknown += 1
        elif status in GATEWAYD_FINAL:
            counts.final(i, status == "DELIVERED")
        else:
            counts.non_final += 1
        return web.Response(text="ok")

    async def kannel(self, request: web.Request) -> web.Response:
        counts = self.counts
        counts.callbacks += 1
        counts.connections.add(request.transport and request.transport.get_extra_info("peername"))
        i = self._index(request)
        status = request.query.get("s", "")
        if i is None:
            counts.unknown += 1
        elif status in KANNEL_FINAL:
            counts.final(i, status == KANNEL_DELIVERED)
        else:
            counts.non_final += 1
        return web.Response(text="ok")


def serve(pipe: Connection, secret: bytes) -> None:
    """Child process entry: serve on 127.0.0.1 (port picked) until ("stop",)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sink = Sink(secret)
        app = web.Application()
        app.router.add_post("/g", sink.gatewayd)
        app.router.add_get("/k", sink.kannel)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        pipe.send(port)
        try:
            while True:
                command = await loop.run_in_executor(None, pipe.recv)
                kind = command[0]
                if kind == "reset":
                    sink.counts = Counts(command[1])
                    pipe.send(None)
                elif kind == "stats":
                    pipe.send(sink.counts.figures(len(command) > 1 and command[1]))
                elif kind == "cpu":
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    pipe.send(usage.ru_utime + usage.ru_stime)
                else:
                    pipe.send(None)
                    break
        finally:
            await runner.cleanup()

    asyncio.run(main())
