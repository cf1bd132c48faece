"""Lifecycle: sd_notify over a real datagram socket; real signals sent to this process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatewayd.lifecycle import Lifecycle, SdNotifier, Signals, watchdog_interval


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A stand-in for systemd: a bound datagram socket and its NOTIFY_SOCKET value."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield sock, path
    sock.close()


async def receive(sock: socket.socket) -> str:
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), 5)
    return data.decode()


async def test_ready_status_stopping_reach_the_manager(
    manager: tuple[socket.socket, str],
) -> None:
    sock, path = manager
    notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.ready("3 binds up")
    assert await receive(sock) == "READY=1\nSTATUS=3 binds up"
    notifier.status("draining\n2 in flight")
    assert await receive(sock) == "STATUS=draining 2 in flight"
    notifier.stopping()
    assert await receive(sock) == "STOPPING=1"
    notifier.extend_timeout(2.5)
    assert await receive(sock) == "EXTEND_TIMEOUT_USEC=2500000"
    notifier.close()


async def test_abstract_namespace_socket() -> None:
    name = f"gatewayd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        assert SdNotifier(f"@{name}").ready()
        assert await receive(sock) == "READY=1"
    finally:
        sock.close()


def test_without_a_manager_everything_is_a_no_op(tmp_path: Path) -> None:
    assert not SdNotifier.from_environ({}).ready()
    assert not SdNotifier("vsock:2:1234").ready()
    gone = SdNotifier(str(tmp_path / "missing"))
    assert gone.enabled and not gone.ready()  # nobody listening: not fatal


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
    ],
)
def test_watchdog_interval(env: dict[str, str], interval: float | None) -> None:
    assert watchdog_interval(env) == interval


async def test_watchdog_pings_while_running(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"}
    async with Lifecycle(environ=env, install_signals=False) as life:
        assert await receive(sock) == "WATCHDOG=1"
        assert await receive(sock) == "WATCHDOG=1"
        life.ready("up")
        messages = {await receive(sock) for _ in range(3)}
        assert "READY=1\nSTATUS=up" in messages


async def test_no_watchdog_unless_asked(manager: tuple[socket.socket, str]) -> None:
    sock, path = manager
    async with Lifecycle(environ={"NOTIFY_SOCKET": path}, install_signals=False) as life:
        life.status("hello")
        assert await receive(sock) == "STATUS=hello"
        await asyncio.sleep(0)  # give a (wrongly) started watchdog task its first turn
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


async def test_sighup_runs_the_reload_callback() -> None:
    reloaded = asyncio.Event()
    calls = []

    async def reload() -> None:
        calls.append("reload")
        reloaded.set()

    async with Lifecycle(on_reload=reload, environ={}) as life:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(reloaded.wait(), 5)
        await life.signals.reloads_done()
        assert not life.shutdown.is_set()
    assert calls == ["reload"]


async def test_sighup_during_a_reload_runs_it_once_more() -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    calls = 0

    async def reload() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()

    signals = Signals(reload)
    signals.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(started.wait(), 5)
        os.kill(os.getpid(), signal.SIGHUP)  # during the first: queued, not run alongside
        while not signals.reload_queued:  # until the handler has run
            await asyncio.sleep(0)
        signals._on_hup()  # a third before the first ends: coalesced with the second
        release.set()
        await asyncio.wait_for(signals.reloads_done(), 5)
    finally:
        signals.remove()
    assert calls == 2


async def test_a_failing_reload_is_not_fatal() -> None:
    called = asyncio.Event()

    def reload() -> None:
        called.set()
        raise RuntimeError("bad prefixes file")

    signals = Signals(reload)
    signals.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(called.wait(), 5)
        await signals.reloads_done()
    finally:
        signals.remove()
    assert not signals.shutdown.is_set()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_stop_signals_trigger_shutdown_then_force(sig: signal.Signals) -> None:
    async with Lifecycle(environ={}) as life:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(life.wait_for_shutdown(), 5)
        assert life.signals.received == sig
        assert not life.signals.force.is_set()
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(life.signals.force.wait(), 5)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


async def test_trigger_without_signals() -> None:
    signals = Signals()
    signals.trigger()
    await asyncio.wait_for(signals.wait(), 1)
    assert signals.received == signal.SIGTERM
