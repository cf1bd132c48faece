"""The callback sender in a process of its own (`[callbacks] process = "process"`): the daemon
writes the jobs, another process POSTs them, on SQLite and PostgreSQL; a dead sender process
is replaced with nothing lost, and one whose daemon died ends by itself."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path

from config.settings import Settings
from gatewayd.callback_process import CallbackProcess, wants_process
from gatewayd.store import open_store
from tests.e2e.harness import SAFARICOM, Gateway, running_gateway
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
    assert not _alive(pid)


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


async def test_a_sender_process_whose_daemon_died_ends_by_itself(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"state_dir": tmp_path, "store": {"url": f"sqlite:///{tmp_path / 'gatewayd.db'}"}}
    )
    store = await open_store(settings.store_url)
    await store.migrate()
    await store.close()
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


def test_process_is_the_choice_of_gatewayd_run_only_in_auto() -> None:
    auto = Settings()
    assert wants_process(auto, own_process=True)
    assert not wants_process(auto, own_process=False)
    inline = Settings.model_validate({"callbacks": {"process": "inline"}})
    assert not wants_process(inline, own_process=True)
    forced = Settings.model_validate({"callbacks": {"process": "process"}})
    assert wants_process(forced, own_process=False)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
