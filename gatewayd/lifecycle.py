"""Process lifecycle: signals to one shutdown trigger, reload on SIGHUP, and sd_notify.

SIGTERM or SIGINT set `shutdown` (a second one sets `force`, to cut a drain short); SIGHUP runs
the reload callback (one at a time; a SIGHUP during a reload runs it once more afterwards).

sd_notify is spoken directly (datagrams to $NOTIFY_SOCKET, `@` for the abstract namespace), so
there is no dependency on libsystemd; without $NOTIFY_SOCKET every call is a no-op. When systemd
sets $WATCHDOG_USEC, WATCHDOG=1 is sent at half that period from a task on the event loop, so a
blocked loop stops the pings and systemd restarts the unit.

`choose_event_loop` picks the loop a process of the daemon's runs on (the daemon's and its
callback process's alike).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import inspect
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

from gatewayd.logs import get_logger

ReloadCallback = Callable[[], Awaitable[None] | None]
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = get_logger("gatewayd.lifecycle")

LOOP_ENV = "GATEWAYD_EVENT_LOOP"  # auto (uvloop when importable) | uvloop | asyncio


def choose_event_loop(choice: str | None = None) -> str:
    """Install the event loop policy `choice` (default: $GATEWAYD_EVENT_LOOP, else auto) asks
    for and name the loop the next `asyncio.run` will get. Call it before any loop runs."""
    wanted = (choice or os.environ.get(LOOP_ENV) or "auto").strip().lower()
    if wanted not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"{LOOP_ENV} must be auto, uvloop or asyncio, not {wanted!r}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if wanted == "uvloop":
            raise
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


class SdNotifier:
    """Sends sd_notify state lines to the service manager; silent when there is none."""

    def __init__(self, address: str | None) -> None:
        self._address = _socket_address(address)
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SdNotifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send `KEY=value` fields in one datagram; False when nothing could be sent."""
        if self._address is None or not fields:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        payload = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            self._sock.sendto(payload, self._address)
        except OSError as exc:  # the manager went away or its queue is full: never fatal
            log.debug("sd_notify_failed", error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        return self.send("RELOADING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start or stop (EXTEND_TIMEOUT_USEC), e.g. while draining."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str | None) -> tuple[str, ...]:
    return (f"STATUS={text}",) if text else ()


def _socket_address(address: str | None) -> str | None:
    if not address:
        return None
    if address.startswith("@"):
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    return None  # vsock: and other transports are not spoken here


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None when not asked for
    (unset, invalid, or $WATCHDOG_PID names another process)."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


async def run_watchdog(notifier: SdNotifier, interval: float) -> None:
    """Ping the watchdog every `interval` seconds until cancelled."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


class Signals:
    """SIGTERM/SIGINT → `shutdown` (then `force`); SIGHUP → the reload callback."""

    def __init__(self, on_reload: ReloadCallback | None = None) -> None:
        self.shutdown = asyncio.Event()
        self.force = asyncio.Event()
        self.received: signal.Signals | None = None
        self._on_reload = on_reload
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Handle the signals on the running loop (call from the main thread)."""
        self._loop = asyncio.get_running_loop()
        for sig in SHUTDOWN_SIGNALS:
            self._loop.add_signal_handler(sig, self._on_stop, sig)
        self._loop.add_signal_handler(signal.SIGHUP, self._on_hup)

    def remove(self) -> None:
        """Give the signals back to their default handling."""
        if self._loop is None:
            return
        for sig in (*SHUTDOWN_SIGNALS, signal.SIGHUP):
            self._loop.remove_signal_handler(sig)
        self._loop = None

    def trigger(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """What a stop signal does, callable directly (tests, an admin endpoint)."""
        self._on_stop(sig)

    async def wait(self) -> None:
        """Return once a shutdown was asked for: usable as `main.run`'s shutdown trigger."""
        await self.shutdown.wait()

    async def reloads_done(self) -> None:
        """Wait for the running reload (and one queued after it), if any."""
        while self._reload_task is not None:
            await asyncio.shield(self._reload_task)

    @property
    def reload_queued(self) -> bool:
        """A SIGHUP arrived during a reload: the callback runs once more when it ends."""
        return self._reload_again

    def _on_stop(self, sig: signal.Signals) -> None:
        if self.shutdown.is_set():
            log.warning("shutdown_forced", signal=sig.name)
            self.force.set()
            return
        log.info("shutdown_requested", signal=sig.name)
        self.received = sig
        self.shutdown.set()

    def _on_hup(self) -> None:
        if self._on_reload is None:
            log.info("reload_ignored", reason="no reload callback")
            return
        if self._reload_task is not None:
            self._reload_again = True
            return
        self._reload_task = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        assert self._on_reload is not None
        try:
            while True:
                self._reload_again = False
                log.info("reload_started")
                try:
                    result = self._on_reload()
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # a bad reload keeps the running configuration
                    log.exception("reload_failed")
                else:
                    log.info("reload_done")
                if not self._reload_again:
                    return
        finally:
            self._reload_task = None


class Lifecycle:
    """Signals, sd_notify and the watchdog for one run of the daemon.

    async with Lifecycle(on_reload=reload) as life:
        ...start...; life.ready("3/3 binds up")
        await life.wait_for_shutdown(); life.stopping(); ...drain...
    """

    def __init__(
        self,
        on_reload: ReloadCallback | None = None,
        *,
        notifier: SdNotifier | None = None,
        environ: Mapping[str, str] | None = None,
        install_signals: bool = True,
    ) -> None:
        self.notifier = notifier if notifier is not None else SdNotifier.from_environ(environ)
        self.signals = Signals(on_reload)
        self._watchdog_interval = watchdog_interval(environ)
        self._watchdog: asyncio.Task[None] | None = None
        self._install_signals = install_signals

    async def __aenter__(self) -> Lifecycle:
        if self._install_signals:
            self.signals.install()
        if self._watchdog_interval is not None and self.notifier.enabled:
            self._watchdog = asyncio.get_running_loop().create_task(
                run_watchdog(self.notifier, self._watchdog_interval)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        self.signals.remove()
        self.notifier.close()

    @property
    def shutdown(self) -> asyncio.Event:
        return self.signals.shutdown

    async def wait_for_shutdown(self) -> None:
        await self.signals.wait()

    def ready(self, status: str | None = None) -> None:
        self.notifier.ready(status)

    def stopping(self, status: str | None = None) -> None:
        self.notifier.stopping(status)

    def status(self, text: str) -> None:
        self.notifier.status(text)


GC_THRESHOLDS = (10_000, 20, 20)
"""gc thresholds once started: a young collection every 10,000 net allocations instead of
every 700 (each walks what is young and still alive, about the same few thousand objects in
flight whatever the threshold, so fewer collections cost less), an older one every 20 younger
ones instead of 10."""


def settle_gc() -> None:
    """Freeze the objects start-up made (they live as long as the process: walking them in
    every full collection is pure cost) and widen the collector's thresholds."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
