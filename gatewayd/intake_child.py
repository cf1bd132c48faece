"""`python -m gatewayd.intake_child CONTROL_FD LISTEN_FD`: the HTTP API's own process.

Started by the daemon (`gatewayd.intake_process`, which says why and what crosses the
socket): it builds the API as the daemon would in its own loop (the same builders of
`gatewayd.main`), on its own connection to the store, serves it on the inherited listening
socket, and asks the daemon over CONTROL_FD for what only the daemon knows (bind states, its
metrics). It stops when told, or within a second when the daemon's end closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import sys
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from config.settings import Settings
from gatewayd import main as daemon_main
from gatewayd.children import close_helper, ignore_stop_signals, open_helper_store, read_exactly
from gatewayd.intake_process import frame, read_frame
from gatewayd.lifecycle import choose_event_loop, settle_gc
from gatewayd.logs import configure, get_logger
from gatewayd.service.auth import AuthService
from gatewayd.service.model import Accepted
from http_api import Readiness, create_app
from http_api.server import start_server
from routing import PrefixTableHolder

log = get_logger("gatewayd.intake_child")

ASK_TIMEOUT = 2.0  # seconds the daemon has to answer /ready's or /metrics' question
ORPHAN_BUDGET = 1.0  # seconds requests in progress get once the daemon is gone


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not all(a.isdigit() for a in args):
        print("usage: python -m gatewayd.intake_child CONTROL_FD LISTEN_FD (started by "
              "gatewayd run)", file=sys.stderr)  # fmt: skip
        return 2
    ignore_stop_signals()  # the daemon's to act on (gatewayd.children)
    control = socket.socket(fileno=int(args[0]))
    listener = socket.socket(fileno=int(args[1]))
    settings = _read_settings(control)
    configure(settings.log.level, settings.log.format)
    choose_event_loop()
    return asyncio.run(_serve(settings, control, listener))


def _read_settings(sock: socket.socket) -> Settings:
    head = read_exactly(sock, 4)
    kind, settings = pickle.loads(read_exactly(sock, int.from_bytes(head, "big")))
    if kind != "settings" or not isinstance(settings, Settings):
        raise TypeError("expected the daemon's settings first")
    return settings


_AVAILABLE = (
    b"# HELP gatewayd_daemon_metrics_available Whether this scrape holds the daemon's metrics"
    b" (0: the daemon did not answer the API process in time).\n"
    b"# TYPE gatewayd_daemon_metrics_available gauge\n"
    b"gatewayd_daemon_metrics_available %d\n"
)


class _Daemon:
    """The daemon as the API's process sees it: answers, the queue depth, wake-ups, the stop."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.depth = 0
        self.stop = asyncio.Event()
        self.budget = daemon_main.HTTP_STOP_BUDGET
        self._questions: dict[int, asyncio.Future[Any]] = {}
        self._asked = 0
        self._accepted: set[str] = set()

    def accepted(self, message: Accepted) -> None:
        """Tell the daemon which operators got messages, once per loop turn."""
        if not self._accepted:
            asyncio.get_running_loop().call_soon(self._tell_accepted)
        self._accepted.add(message.operator)

    def _tell_accepted(self) -> None:
        operators, self._accepted = tuple(self._accepted), set()
        self.send(("accepted", operators))

    async def readiness(self) -> Readiness:
        answer = await self._ask("ready")
        if not isinstance(answer, Readiness):
            raise TypeError("the daemon's readiness answer")
        return answer

    async def metrics(self) -> bytes:
        """The daemon's metrics, then whether they are there: a daemon that does not answer
        in time (busy with a reload, stopping) leaves a scrape with the API's own metrics and
        `gatewayd_daemon_metrics_available 0`, not a failed scrape."""
        try:
            answer = await self._ask("metrics")
        except TimeoutError:
            log.warning("daemon_metrics_missing", waited=ASK_TIMEOUT)
            return _AVAILABLE % 0
        return (answer if isinstance(answer, bytes) else b"") + _AVAILABLE % 1

    async def _ask(self, what: str) -> Any:
        self._asked += 1
        number = self._asked
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._questions[number] = future
        try:
            self.send(("ask", number, what))
            return await asyncio.wait_for(future, ASK_TIMEOUT)
        finally:
            self._questions.pop(number, None)

    def send(self, message: tuple[Any, ...]) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(message))

    async def listen(self, reader: asyncio.StreamReader, api: _Api) -> None:
        """What the daemon says, until its stop or its end closing (then a stop of
        ORPHAN_BUDGET: nobody dispatches what is accepted until a daemon starts again)."""
        try:
            while True:
                message = await read_frame(reader)
                kind = message[0]
                if kind == "depth":
                    self.depth = int(message[1])
                elif kind == "answer":
                    future = self._questions.get(message[1])
                    if future is not None and not future.done():
                        future.set_result(message[2])
                elif kind == "reload":
                    api.reload(message[1])  # never raises: a bad file keeps what runs
                elif kind == "stop":
                    self.budget = max(0.0, float(message[1]))
                    self.stop.set()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        log.warning("intake_process_orphaned", reason="the daemon's socket closed")
        self.budget = min(self.budget, ORPHAN_BUDGET)
        self.stop.set()


class _Api:
    """The API's parts that follow a reload: the settings, the prefix table, the keys."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefixes = PrefixTableHolder(daemon_main.load_prefixes(settings))
        self.served = daemon_main.ServedOperators(lambda: self.settings)
        self.auth: AuthService | None = None

    def reload(self, fresh: Settings) -> None:
        """As the daemon's reload (which read the same files a moment ago); a file that does
        not load now keeps the running configuration, as there."""
        try:
            table = daemon_main.load_prefixes(fresh)
        except Exception:
            log.exception("intake_reload_failed")
            return
        self.prefixes.replace(table)
        if self.auth is not None:
            daemon_main.rotate_keys(self.auth, fresh)
        self.settings = fresh
        log.info("intake_reloaded", prefixes=table.version)


async def _serve(settings: Settings, control: socket.socket, listener: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    store = await open_helper_store(settings)
    reader, writer = await asyncio.open_unix_connection(sock=control, limit=1 << 22)
    daemon = _Daemon(writer)
    api = _Api(settings)
    opt_outs = daemon_main.opt_outs_for(settings, store)
    messaging = daemon_main.messaging_service(
        settings, store, api.prefixes, opt_outs, daemon.accepted, api.served
    )
    api.auth = daemon_main.auth_service(settings, store)
    topups, daraja = daemon_main.topups_for(settings, store)
    deps = daemon_main.api_deps(
        settings, store, messaging, api.auth, topups, readiness=daemon.readiness,
        registry=CollectorRegistry(), queue_depth=lambda: daemon.depth,
        clock=daemon_main.utc_now, more_metrics=daemon.metrics,
    )  # fmt: skip
    listening = loop.create_task(daemon.listen(reader, api), name="listen")
    server = await start_server(
        create_app(deps), "", 0, sock=listener, shutdown_timeout=daemon_main.HTTP_STOP_BUDGET
    )
    settle_gc()  # as the daemon does once started: this process is the API's alone
    daemon.send(("ready", os.getpid()))
    try:
        await daemon.stop.wait()
    finally:
        await server.stop(daemon.budget)
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        if daraja is not None:
            await daraja.close()
        await close_helper(writer, store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
