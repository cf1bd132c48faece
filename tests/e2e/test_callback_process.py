"""The callback sender in a process of its own (`[callbacks] process = "process"`): the daemon
writes the jobs, another process POSTs them, on SQLite and PostgreSQL; a dead sender process
is replaced with nothing lost, and one whose daemon died ends by itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from config.settings import Settings
from gatewayd.callback_process import CallbackProcess, wants_process
from gatewayd.store import open_store
from tests.e2e.harness import SAFARICOM, Gateway, running_gateway
from tests.e2e.process import alive
from tests.gatewayd.store.pg import fresh_schema


def _sender(gw: Gateway) -> CallbackProcess:
    sender = gw.daemon.callbacks
    assert isinstance(sender, CallbackProcess)
    return sender


async def _delivered_counted(sender: CallbackProcess, n: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while sender.counts["delivered"] < n:
            await asyncio.sleep(0.05)  # the counts come in the sender's 0.5 s reports


async def test_callbacks_come_from_another_process_signed_and_counted(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, callback_process="process") as gw:
        sender = _sender(gw)
        await asyncio.wait_for(sender.ready.wait(), 10)
        assert sender.pid is not None and sender.pid != os.getpid()
        ids = []
        for text in ("first", "second"):
            status, sent = await gw.send(SAFARICOM, text)
            assert status == 200, sent
            ids.append(sent["message_id"])
        for message_id in ids:
            payload = await gw.sink.wait_for(message_id, "DELIVERED")  # signature checked
            assert payload["provider"] == "Safaricom"
        await _delivered_counted(sender, 2)
        async with gw.http.get(f"{gw.url}/metrics") as response:
            metrics = await response.text()
        assert 'gatewayd_callbacks_total{outcome="delivered"} 2.0' in metrics
        pid = sender.pid
    assert sender.pid is None  # stopped with the daemon
    assert not alive(pid)


async def test_a_killed_sender_process_is_replaced_and_its_jobs_still_go(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, callback_process="process") as gw:
        sender = _sender(gw)
        await asyncio.wait_for(sender.ready.wait(), 10)
        first = sender.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _, sent = await gw.send(SAFARICOM, "sent while the sender is down")  # job waits
        payload = await gw.sink.wait_for(sent["message_id"], "DELIVERED", timeout=15)
        assert payload["contact"] == SAFARICOM
        assert sender.started == 2 and sender.pid not in (None, first)


async def test_callbacks_from_another_process_on_postgresql(
    tmp_path: Path, postgres_dsn: str
) -> None:
    url, drop = await fresh_schema(postgres_dsn)
    try:
        async with running_gateway(tmp_path, store_url=url, callback_process="process") as gw:
            _, sent = await gw.send(SAFARICOM, "PostgreSQL outbox, other process")
            await gw.sink.wait_for(sent["message_id"], "DELIVERED")
            await _delivered_counted(_sender(gw), 1)
    finally:
        await drop()


async def _migrated(tmp_path: Path) -> Settings:
    """Settings for a sender process alone: a migrated SQLite file, nothing in it."""
    settings = Settings.model_validate(
        {"state_dir": tmp_path, "store": {"url": f"sqlite:///{tmp_path / 'gatewayd.db'}"}}
    )
    store = await open_store(settings.store_url)
    await store.migrate()
    await store.close()
    return settings


async def test_a_sender_process_whose_daemon_died_ends_by_itself(tmp_path: Path) -> None:
    settings = await _migrated(tmp_path)
    ours, theirs = socket.socketpair()
    child = subprocess.Popen(
        [sys.executable, "-m", "gatewayd.callback_process", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        stdout=subprocess.PIPE,
    )
    theirs.close()
    blob = pickle.dumps(settings)
    ours.sendall(len(blob).to_bytes(8, "big") + blob)
    ours.settimeout(15)
    assert b'"ready":true' in ours.recv(4096)
    ours.close()  # as when the daemon is killed: its end of the socket closes
    assert await asyncio.to_thread(child.wait, 15) == 0
    assert child.stdout is not None
    assert b"callback_process_orphaned" in child.stdout.read()


async def test_a_stop_while_the_process_starts_reaches_it_once_it_listens(
    tmp_path: Path,
) -> None:
    sender = CallbackProcess(await _migrated(tmp_path))
    running = asyncio.create_task(sender.run())
    await asyncio.sleep(0)  # run() is spawning: no socket to tell yet
    began = asyncio.get_running_loop().time()
    await asyncio.wait_for(sender.stop(5.0), 15)
    await asyncio.wait_for(running, 5)
    assert sender.exit_codes == [0]  # it stopped when told, not killed
    assert asyncio.get_running_loop().time() - began < 5.0
    assert sender.started == 1


async def test_sigterm_to_the_sender_process_alone_is_ignored(tmp_path: Path) -> None:
    """systemd and Ctrl-C signal every process of the unit or terminal at once: the sender
    waits for its daemon's stop instead of ending early (and being started again)."""
    sender = CallbackProcess(await _migrated(tmp_path))
    running = asyncio.create_task(sender.run())
    try:
        await asyncio.wait_for(sender.ready.wait(), 15)
        pid = sender.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGINT)
        sender.wake()  # the socket still works both ways after the signals
        await asyncio.sleep(0.3)
        assert sender.pid == pid and sender.exit_codes == []
    finally:
        await asyncio.wait_for(sender.stop(2.0), 10)
        await asyncio.wait_for(running, 5)
    assert sender.exit_codes == [0]


async def test_a_stop_during_the_restart_back_off_starts_no_other(tmp_path: Path) -> None:
    sender = CallbackProcess(await _migrated(tmp_path), restart_min=30.0)
    running = asyncio.create_task(sender.run())
    await asyncio.wait_for(sender.ready.wait(), 15)
    assert sender.pid is not None
    os.kill(sender.pid, signal.SIGKILL)
    async with asyncio.timeout(10):
        while not sender.exit_codes:  # reaped: now in its 30 s back-off
            await asyncio.sleep(0.02)
    await asyncio.wait_for(sender.stop(1.0), 5)
    await asyncio.wait_for(running, 5)
    assert sender.exit_codes == [-signal.SIGKILL] and sender.started == 1


async def test_a_cancelled_supervision_kills_its_sender_process(tmp_path: Path) -> None:
    sender = CallbackProcess(await _migrated(tmp_path))
    running = asyncio.create_task(sender.run())
    await asyncio.wait_for(sender.ready.wait(), 15)
    pid = sender.pid
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert not alive(pid)
    assert sender.exit_codes == [-signal.SIGKILL]


async def test_a_sigterm_while_the_sender_process_imports_is_ignored_too(
    tmp_path: Path,
) -> None:
    """The signal comes before the child has got to ignoring it: the mask it was started with
    holds it until then."""
    sender = CallbackProcess(await _migrated(tmp_path))
    running = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(15):
            while sender.pid is None:
                await asyncio.sleep(0.001)
        pid = sender.pid
        os.kill(pid, signal.SIGTERM)  # milliseconds after the fork: still importing
        os.kill(pid, signal.SIGHUP)
        await asyncio.wait_for(sender.ready.wait(), 15)
        assert sender.pid == pid and sender.exit_codes == []
    finally:
        await asyncio.wait_for(sender.stop(2.0), 10)
        await asyncio.wait_for(running, 5)
    assert sender.exit_codes == [0]


async def test_a_supervision_cancelled_while_spawning_still_reaps_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = CallbackProcess(await _migrated(tmp_path))
    spawn = CallbackProcess._spawn
    entered, pids = threading.Event(), []

    def slow_spawn(self: CallbackProcess, fd: int) -> subprocess.Popen[bytes]:
        entered.set()
        time.sleep(0.3)  # the cancel comes in the middle of the spawn
        proc = spawn(self, fd)
        pids.append(proc.pid)
        return proc

    monkeypatch.setattr(CallbackProcess, "_spawn", slow_spawn)
    running = asyncio.create_task(sender.run())
    assert await asyncio.to_thread(entered.wait, 5)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, 10)
    assert len(pids) == 1 and not alive(pids[0])
    assert sender.exit_codes == [-signal.SIGKILL]  # killed and reaped, not left a zombie


def test_process_is_the_choice_of_gatewayd_run_only_in_auto() -> None:
    auto = Settings()
    assert wants_process(auto, own_process=True)
    assert not wants_process(auto, own_process=False)
    inline = Settings.model_validate({"callbacks": {"process": "inline"}})
    assert not wants_process(inline, own_process=True)
    forced = Settings.model_validate({"callbacks": {"process": "process"}})
    assert wants_process(forced, own_process=False)
