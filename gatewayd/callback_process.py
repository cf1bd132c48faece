"""The callback sender, in the daemon's event loop or in a process of its own.

Why a process of its own: the daemon is bound by one interpreter lock. A delivery callback
(claim from the outbox, build and sign the body, one HTTP exchange with the client's endpoint,
record it done) costs about as much of it as the HTTP accept or the SMPP side of a message,
and it competes with the SMPP pacing loop for the same thread. In a process of its own it
runs on the other core, and a client's slow or chatty endpoint never delays a submit_sm.
The outbox is the hand-over: the daemon writes each job in the transaction that moves its
message, the sender's process claims due jobs under a lease (on PostgreSQL `FOR UPDATE SKIP
LOCKED`, on SQLite the file's write lock) and records what came of them, so nothing crosses
between the processes but a wake-up, a stop and outcome counts:

- daemon → sender, over a socketpair: first the pickled `Settings` (8-byte length first),
  then lines: ``w`` (a job was written: look at the outbox now) and ``s <seconds>`` (stop,
  letting POSTs in flight finish for that long);
- sender → daemon: JSON lines, ``{"ready": true}`` once it runs and ``{"outcomes": {...}}``
  with the jobs handled since the last line (the daemon's `gatewayd_callbacks` metric).

The sender's process ends when the daemon tells it to (letting its POSTs finish for the
budget it is given, `[shutdown] unbind_timeout` by default) and when the socket closes
without a stop (the daemon died: a sender nobody can wake or stop must not outlive it; it
then stops within 1 s). It ignores SIGTERM, SIGINT and SIGHUP: systemd signals the unit's
whole control group and Ctrl-C the whole process group, and the daemon stops it in its own
order. If it dies, the daemon logs it and starts another after a back-off (0.5 s doubling to
30 s); if the daemon's supervision is cut short (a second SIGTERM), the process is killed.
Either side may die at any moment: a job is in the outbox until it is recorded done, and a
claimed one is claimed again after its lease.

`[callbacks] process` chooses: ``process``, ``inline`` or ``auto`` (a process of its own for
`gatewayd run` from the command line; inline when the daemon runs inside another program's
event loop, as the tests do, whose fake clocks a second process would not share).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import socket
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from gatewayd.children import (
    RESTART_MAX,
    RESTART_MIN,
    ChildProcess,
    close_helper,
    ignore_stop_signals,
    open_helper_store,
    read_exactly,
)
from gatewayd.lifecycle import choose_event_loop, settle_gc
from gatewayd.logs import configure, get_logger
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.model import CallbackJob
from gatewayd.service.ports import CallbackOutbox
from gatewayd.workers.callbacks import CallbackOutcome, CallbackSender, OutcomeHook

log = get_logger("gatewayd.callback_process")

Clock = Callable[[], datetime]
REPORT_PERIOD = 0.5  # seconds between outcome reports to the daemon
_LENGTH = 8  # bytes of the settings' length prefix


def _utc_now() -> datetime:
    return datetime.now(UTC)


def callback_policy(settings: Settings) -> CallbackPolicy:
    """Which callback targets [callbacks] allows beyond public addresses."""
    cb = settings.callbacks
    return CallbackPolicy.from_flags(
        allow_loopback=cb.allow_loopback_targets, allow_private=cb.allow_private_targets
    )


def build_sender(
    settings: Settings,
    outbox: CallbackOutbox,
    clock: Clock,
    *,
    metrics: DaemonMetrics | None = None,
    on_outcome: OutcomeHook | None = None,
) -> CallbackSender:
    """The callback sender over `outbox`, per [callbacks]."""
    cb = settings.callbacks
    secret = cb.signing_secret.get_secret_value() if cb.signing_secret is not None else None
    return CallbackSender(
        outbox,
        clock,
        policy=callback_policy(settings),
        signing_secret=secret,
        timeout=cb.timeout,
        retry_period=cb.retry_period,
        backoff_base=cb.backoff_base,
        backoff_max=cb.backoff_max,
        metrics=metrics,
        on_outcome=on_outcome,
    )


def wants_process(settings: Settings, own_process: bool) -> bool:
    """Whether the sender runs in a process of its own (`[callbacks] process`)."""
    choice = settings.callbacks.process
    return choice == "process" or (choice == "auto" and own_process)


# -- the daemon's side ------------------------------------------------------------------------


class CallbackProcess(ChildProcess):
    """The sender's process, seen from the daemon: `run()` until `stop()`, `wake()` when a job
    was written. The same three calls as a `CallbackSender`, so the daemon drives either."""

    module = "gatewayd.callback_process"
    name = "callback_process"

    def __init__(
        self,
        settings: Settings,
        metrics: DaemonMetrics | None = None,
        *,
        restart_min: float = RESTART_MIN,
        restart_max: float = RESTART_MAX,
    ) -> None:
        super().__init__(
            settings.shutdown.unbind_timeout, restart_min=restart_min, restart_max=restart_max
        )
        self._settings = settings
        self._metrics = metrics
        self._wake_pending = False
        self.counts: Counter[str] = Counter()  # outcomes reported, by CallbackOutcome value

    def wake(self) -> None:
        """A job was written: the sender looks at the outbox now (one line per loop turn)."""
        if self._writer is None or self._wake_pending:
            return
        self._wake_pending = True
        asyncio.get_running_loop().call_soon(self._send_wake)

    def _greet(self, writer: asyncio.StreamWriter) -> None:
        blob = pickle.dumps(self._settings)
        writer.write(len(blob).to_bytes(_LENGTH, "big") + blob)

    async def _converse(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():  # until the sender's end closes
            self._on_line(line)

    def _on_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
            outcomes = dict(message.get("outcomes") or {})
            counts = {str(k): int(v) for k, v in outcomes.items()}
        except (ValueError, TypeError, AttributeError):
            log.warning("callback_process_said", line=line[:200].decode(errors="replace"))
            return
        if message.get("ready"):
            self.ready.set()
        for outcome, count in counts.items():
            self.counts[outcome] += count
            if self._metrics is not None:
                self._metrics.callbacks.labels(outcome).inc(count)

    def _send_stop(self) -> None:
        self._send(b"s %r\n" % self._budget)

    def _send_wake(self) -> None:
        self._wake_pending = False
        self._send(b"w\n")


# -- the sender's side --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gatewayd.callback_process FD`: the sender, told what to do over socket FD."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m gatewayd.callback_process FD (started by gatewayd run)",
              file=sys.stderr)  # fmt: skip
        return 2
    # A reload is the daemon's business; so is a stop: systemd signals the unit's whole
    # control group and Ctrl-C the whole process group, and a sender that ended on its own
    # would be started again by a daemon that has not begun to stop. The daemon stops it in
    # its own order; if the daemon dies, its socket closes and the sender stops within 1 s.
    ignore_stop_signals()
    sock = socket.socket(fileno=int(args[0]))
    settings = _read_settings(sock)
    configure(settings.log.level, settings.log.format)
    choose_event_loop()
    return asyncio.run(_serve(settings, sock))


def _read_settings(sock: socket.socket) -> Settings:
    size = int.from_bytes(read_exactly(sock, _LENGTH), "big")
    settings = pickle.loads(read_exactly(sock, size))  # the daemon's own bytes, on its socket
    if not isinstance(settings, Settings):
        raise TypeError("expected the daemon's Settings")
    return settings


class _Child:
    """The sender's process at run time: its sender, the socket to the daemon, the stop."""

    def __init__(self, settings: Settings, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.outcomes: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.budget: float = settings.shutdown.unbind_timeout

    def count(self, _job: CallbackJob, outcome: CallbackOutcome) -> None:
        self.outcomes[outcome.value] += 1

    def report(self) -> None:
        if self.outcomes and not self.writer.is_closing():
            self.writer.write(_json_line({"outcomes": dict(self.outcomes)}))
            self.outcomes.clear()

    async def reports(self) -> None:
        while True:
            await asyncio.sleep(REPORT_PERIOD)
            self.report()

    async def listen(self, reader: asyncio.StreamReader, sender: CallbackSender) -> None:
        """Wake-ups and the stop from the daemon; its end closing is a stop too (budget 1 s:
        nobody waits for the answers any more than for a crash's)."""
        try:
            while line := await reader.readline():
                if line.startswith(b"w"):
                    sender.wake()
                elif line.startswith(b"s"):
                    with contextlib.suppress(ValueError):  # else the default budget
                        self.budget = max(0.0, float(line[1:].strip()))
                    self.stop.set()
                    return
        except (ConnectionError, ValueError):
            pass
        log.warning("callback_process_orphaned", reason="the daemon's socket closed")
        self.budget = min(self.budget, 1.0)
        self.stop.set()


def _json_line(value: dict[str, Any]) -> bytes:
    """One line of the sender's reports."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


async def _serve(settings: Settings, sock: socket.socket) -> int:
    loop = asyncio.get_running_loop()
    store = await open_helper_store(settings)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    child = _Child(settings, writer)
    sender = build_sender(settings, store, _utc_now, on_outcome=child.count)
    running = loop.create_task(sender.run(), name="callbacks")
    helpers: list[asyncio.Task[Any]] = [
        loop.create_task(child.listen(reader, sender), name="listen"),
        loop.create_task(child.reports(), name="reports"),
    ]
    settle_gc()  # as the daemon does once started: this process is the sender's alone
    writer.write(_json_line({"ready": True, "pid": os.getpid()}))
    stopped = loop.create_task(child.stop.wait(), name="stopped")
    helpers.append(stopped)
    try:
        await asyncio.wait([running, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            await sender.stop(child.budget)
        await running
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        child.report()
        await close_helper(writer, store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
