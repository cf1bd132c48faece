"""The daemon's helper processes (the callback sender, the HTTP intake), kept running.

Each helper is `python -m <module> FD [FD …]`: the first descriptor is its end of a
socketpair with the daemon, the others whatever the helper needs from the daemon (the HTTP
intake's listening socket). A `ChildProcess` starts one, talks to it until its end of the
socket closes, reaps it, and starts another after a back-off (0.5 s doubling to 30 s, reset
once one has run for 10 s), until `stop()`. If the supervision itself is cancelled (a stop cut
short), the helper is killed and reaped, never left behind.

A helper starts with SIGTERM, SIGINT and SIGHUP blocked (a signal mask survives fork and
exec) and ignores them once it runs (`ignore_stop_signals`): systemd signals the unit's whole
control group and Ctrl-C the whole process group, and a helper that ended on its own would
be started again by a daemon that has not begun to stop. The daemon stops it in its own
order; if the daemon dies, the socket closes and the helper ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence

from config.settings import Settings
from gatewayd.logs import get_logger
from gatewayd.service.model import RefundPolicy
from gatewayd.service.ports import Store
from gatewayd.store import open_store

log = get_logger("gatewayd.children")

RESTART_MIN, RESTART_MAX = 0.5, 30.0  # seconds before a dead helper is started again
STABLE_AFTER = 10.0  # seconds a helper must have run for its back-off to start over
STOP_MARGIN = 2.0  # seconds past its budget a stopping helper gets before SIGKILL
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)  # the daemon's, not a helper's


async def open_helper_store(settings: Settings) -> Store:
    """A helper's own connection to the daemon's store: the daemon migrated it before
    starting the helper and owns the file (its WAL checkpoints are the daemon's to make, and
    a helper stopping must not wait on the daemon's writer for one)."""
    return await open_store(
        settings.store_url,
        refund_policy=RefundPolicy(settings.store.refund_policy),
        final_checkpoint=False,
    )


async def close_helper(writer: asyncio.StreamWriter, store: Store) -> None:
    """A helper's last words to the daemon written out (unless the daemon is gone), then its
    socket and its store connection closed."""
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()
    await store.close()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes from a blocking socket (a helper reading what the daemon sends first)."""
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the daemon closed the socket before its first message was read")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def ignore_stop_signals() -> None:
    """In a helper, first thing: ignore the daemon's signals (which also discards one held
    since the spawn) and unblock them."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class ChildProcess:
    """One helper process, seen from the daemon: `run()` until `stop()`.

    Subclasses say what to send first (`_greet`), how to read what the helper says
    (`_converse`, until its end closes) and how to tell it to stop (`_send_stop`)."""

    module = ""  # the helper's module, run with -m
    name = "child_process"  # the prefix of its log events

    def __init__(
        self,
        budget: float,
        *,
        restart_min: float = RESTART_MIN,
        restart_max: float = RESTART_MAX,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self._restart_min = restart_min
        self._restart_max = restart_max
        self._pass_fds = tuple(pass_fds)
        self._writer: asyncio.StreamWriter | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False
        self._budget = budget  # seconds a stop lets the helper finish its work
        self.ready = asyncio.Event()  # set while a helper runs and has said so
        self.started = 0  # helpers started so far
        self.exit_codes: list[int | None] = []  # of the helpers that ended, in order

    @property
    def pid(self) -> int | None:
        """The running helper's pid (None between helpers)."""
        return self._proc.pid if self._proc is not None else None

    async def run(self) -> None:
        """Keep one helper running until `stop()`; never raises for its deaths. If this task
        is cancelled (a stop cut short), the helper is killed, not left."""
        if self._running:
            raise RuntimeError(f"{type(self).__name__}.run() is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        failures = 0
        try:
            while not self._stopping.is_set():
                began = loop.time()
                try:
                    code = await self._run_once()
                except Exception:  # a bug of ours must not end the supervision
                    log.exception(f"{self.name}_failed")
                    code = None
                if self._stopping.is_set():
                    break
                failures = 1 if loop.time() - began >= STABLE_AFTER else failures + 1
                delay = min(self._restart_max, self._restart_min * 2 ** (failures - 1))
                log.error(f"{self.name}_exited", code=code, restart_in=round(delay, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            self._kill_left_over()
            self._finished.set()

    async def stop(self, budget: float | None = None) -> None:
        """Stop the helper, letting it finish its work for `budget` seconds (the one given at
        construction when None); SIGKILL when it has not ended STOP_MARGIN seconds after
        that. A helper starting meanwhile is told as soon as it can be."""
        self._stopping.set()
        if budget is not None:
            self._budget = float(budget)
        if not self._running:
            return
        self._send_stop()
        wait = self._budget + STOP_MARGIN
        try:
            await asyncio.wait_for(asyncio.shield(self._finished.wait()), wait)
        except TimeoutError:
            proc = self._proc
            if proc is not None:
                log.warning(f"{self.name}_killed", pid=proc.pid, after=wait)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await self._finished.wait()

    # -- what a subclass says ---------------------------------------------------------------

    def _greet(self, writer: asyncio.StreamWriter) -> None:
        """What the helper reads first (its settings)."""
        raise NotImplementedError

    async def _converse(self, reader: asyncio.StreamReader) -> None:
        """Read what the helper says until its end closes."""
        raise NotImplementedError

    def _send_stop(self) -> None:
        """Tell the running helper to stop within `self._budget` seconds."""
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(data)

    # -- one helper -------------------------------------------------------------------------

    async def _run_once(self) -> int | None:
        ours, theirs = socket.socketpair()
        # Forking a big process takes milliseconds: not on the loop's thread. A cancel that
        # comes meanwhile still waits for the spawn, so that `run()` kills and reaps the child.
        spawning = asyncio.ensure_future(asyncio.to_thread(self._spawn, theirs.fileno()))
        try:
            proc = await asyncio.shield(spawning)
        except BaseException:
            ours.close()
            with contextlib.suppress(Exception):
                self._proc = await spawning
            raise
        finally:
            theirs.close()
        self._proc = proc
        self.started += 1
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 22)
        except BaseException:
            ours.close()
            raise
        self._greet(writer)
        self._writer = writer
        if self._stopping.is_set():  # stop() came while the process was being started
            self._send_stop()
        log.info(f"{self.name}_started", pid=proc.pid)
        try:
            await self._converse(reader)
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):  # a reset, garbage
            log.exception(f"{self.name}_unreadable", pid=proc.pid)
        finally:
            self._writer = None
            self.ready.clear()
            writer.close()
        code = await asyncio.to_thread(proc.wait)
        self._proc = None
        self.exit_codes.append(code)
        return code

    def _kill_left_over(self) -> None:
        """The helper of a supervision that ended early (cancelled): killed and reaped, so
        that none outlives its daemon nor stays a zombie."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        log.warning(f"{self.name}_killed", pid=proc.pid, after="cancelled")
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.exit_codes.append(proc.wait(timeout=1.0))  # SIGKILL: a few milliseconds

    def _spawn(self, fd: int) -> subprocess.Popen[bytes]:
        """The child starts with the stop signals blocked, so one that reaches it while it
        imports is held until it ignores them, which discards it, instead of ending it. This
        runs on a worker thread: blocking them there leaves the daemon's main thread to take
        its own."""
        fds = (fd, *self._pass_fds)
        command = [sys.executable, "-m", self.module, *map(str, fds)]
        before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            return subprocess.Popen(command, pass_fds=fds, stdin=subprocess.DEVNULL)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
