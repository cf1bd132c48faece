"""The HTTP API in a process of its own, on the socket the daemon listens on.

Why: the daemon is bound by one interpreter lock, and HTTP (aiohttp, authentication, the
checks of a send, the accept) takes about a third of it; the SMPP side (claims, submits,
receipts, the store's lifecycle writes) waits for that lock behind it. In a process of its own
the API runs on another core, and under load the two sides no longer take turns.

The daemon opens the listening socket (so a restarted API process, or a slow start, never
refuses a connection: the kernel queues them) and hands it to the child with its end of a
socketpair (`gatewayd.children`). The child (`gatewayd.intake_child`) opens the store itself
and serves the whole API: it accepts messages in its own transactions, which is all the
daemon needs, since the dispatchers claim from the durable queue. What the API needs of the
daemon crosses the socket, as length-prefixed pickles of tuples (both ends are ours):

- daemon → child: ``("settings", Settings)`` first; ``("depth", n)`` the queue depth every
  second (the API's 503 when it is deeper than [http] max_queue_depth); ``("reload",
  Settings)`` on SIGHUP (prefix table, signing keys, which networks are served);
  ``("answer", n, value)``; ``("stop", seconds)`` (stop accepting, let requests in progress
  finish that long).
- child → daemon: ``("ready", pid)`` once it listens; ``("accepted", operators)`` when it
  accepted messages for them (the daemon wakes those dispatchers instead of waiting for their
  poll); ``("ask", n, "ready" | "metrics")``: /ready's bind states and store check, and the
  daemon's metrics for /metrics (served after the API's own).

When the daemon dies, the socket closes: the child stops accepting and ends within a second.
`[http] process` chooses: ``process``, ``inline`` or ``auto`` (a process of its own for
`gatewayd run` from the command line; inline when the daemon runs inside another program's
event loop, as the tests and the demo do).
"""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from config.settings import Settings
from gatewayd.children import RESTART_MAX, RESTART_MIN, ChildProcess
from gatewayd.logs import get_logger
from http_api import Readiness

log = get_logger("gatewayd.intake_process")

_HEAD = 4  # bytes of a frame's length
MAX_FRAME = 1 << 26  # a frame longer than this is garbage, not a message


def frame(value: Any) -> bytes:
    """One message on the socket: its length, then its pickle."""
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return len(blob).to_bytes(_HEAD, "big") + blob


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; IncompleteReadError once the other end has closed."""
    size = int.from_bytes(await reader.readexactly(_HEAD), "big")
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    return pickle.loads(await reader.readexactly(size))  # our own process's bytes


def wants_intake_process(settings: Settings, own_process: bool) -> bool:
    """Whether the API runs in a process of its own (`[http] process`)."""
    choice = settings.http.process
    return choice == "process" or (choice == "auto" and own_process)


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The API's listening socket, opened by the daemon and inherited by the child: on the
    first address `host` resolves to (an IP address is its own)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.create_server(address[:2], family=family, backlog=backlog)
    sock.set_inheritable(True)
    return sock


class IntakeProcess(ChildProcess):
    """The API's process, seen from the daemon: `run()` until `stop()`."""

    module = "gatewayd.intake_child"
    name = "intake_process"

    def __init__(
        self,
        settings: Settings,
        sock: socket.socket,
        *,
        budget: float,
        readiness: Callable[[], Awaitable[Readiness]],
        metrics: Callable[[], bytes],
        on_accepted: Callable[[str], None],
        restart_min: float = RESTART_MIN,
        restart_max: float = RESTART_MAX,
    ) -> None:
        super().__init__(
            budget, restart_min=restart_min, restart_max=restart_max, pass_fds=(sock.fileno(),)
        )
        self._settings = settings
        self._readiness = readiness
        self._metrics = metrics
        self._on_accepted = on_accepted
        self._depth: int | None = None
        self._answering: set[asyncio.Task[None]] = set()

    def queue_depth(self, depth: int) -> None:
        """The queue's depth now (the API answers 503 above its limit)."""
        if depth != self._depth:
            self._depth = depth
            self._send(frame(("depth", depth)))

    def reload(self, settings: Settings) -> None:
        """SIGHUP: the API takes the new configuration's prefixes, keys and networks."""
        self._settings = settings
        self._send(frame(("reload", settings)))

    def _greet(self, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(("settings", self._settings)))
        if self._depth is not None:
            writer.write(frame(("depth", self._depth)))

    async def _converse(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                message = await read_frame(reader)
            except asyncio.IncompleteReadError:  # the child's end closed
                return
            self._on_frame(message)

    def _on_frame(self, message: Any) -> None:
        kind = message[0] if isinstance(message, tuple) and message else None
        if kind == "accepted":
            for operator in message[1]:
                self._on_accepted(operator)
        elif kind == "ready":
            self.ready.set()
        elif kind == "ask":
            task = asyncio.get_running_loop().create_task(self._answer(message[1], message[2]))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        else:
            log.warning("intake_process_said", message=repr(message)[:200])

    async def _answer(self, number: int, what: str) -> None:
        value: Any
        try:
            value = await self._readiness() if what == "ready" else self._metrics()
        except Exception as exc:  # the child's probe reports it; the daemon goes on
            log.warning("intake_question_failed", what=what, error=repr(exc))
            failed = Readiness(store_ok=False, detail="readiness check failed")
            value = failed if what == "ready" else b""
        self._send(frame(("answer", number, value)))

    def _send_stop(self) -> None:
        self._send(frame(("stop", self._budget)))
