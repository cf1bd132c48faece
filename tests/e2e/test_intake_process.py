"""The HTTP API in a process of its own (`[http] process`, "auto" under `gatewayd run`): the
API's process accepts, the daemon's dispatchers send; /ready and /metrics carry the daemon's
side; a killed API process is replaced on the same socket; SIGHUP reaches it; it never
outlives its daemon."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from config.settings import Settings
from gatewayd.intake_process import wants_intake_process
from gatewayd.service.model import MessageStatus
from smpp.sim.config import SimulatorConfig
from smpp.sim.simulator import Simulator, start_simulator
from tests.e2e.harness import AIRTEL, SAFARICOM, personalities
from tests.e2e.process import (
    DaemonProcess,
    alive,
    opened_store,
    seed,
    send_many,
    start_daemon,
    token,
    write_config,
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = await start_simulator(SimulatorConfig(smscs=tuple(personalities().values())))
    yield simulator
    await simulator.close()


def _children(pid: int) -> dict[int, str]:
    """pid → command line of the processes whose parent is `pid`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found[int(entry)] = command
    return found


def _intake_pid(daemon: DaemonProcess) -> int:
    [pid] = [p for p, c in _children(daemon.proc.pid).items() if "gatewayd.intake_child" in c]
    return pid


@contextlib.asynccontextmanager
async def _running(config: Path) -> AsyncIterator[DaemonProcess]:
    """`gatewayd run` on `config` (its store seeded), stopped with SIGTERM afterwards, which
    must end it with 0 unless the test killed it."""
    await seed(config.parent)
    daemon = await start_daemon(config)
    try:
        yield daemon
    finally:
        if daemon.proc.returncode is None:
            daemon.proc.send_signal(signal.SIGTERM)
            assert await daemon.exit_code(15) == 0, daemon.tail()


async def _wait_sent(tmp_path: Path, message_ids: list[str], timeout: float = 15.0) -> None:
    """Until the SMSC has each message (SENT, or already DELIVERED by its receipt)."""
    async with opened_store(tmp_path) as store, asyncio.timeout(timeout):
        for message_id in message_ids:
            while (await store.get_message(message_id)).status not in _SENT:
                await asyncio.sleep(0.05)


_SENT = {MessageStatus.SENT, MessageStatus.DELIVERED}


async def test_the_api_process_accepts_and_the_daemon_sends(
    tmp_path: Path, sim: Simulator
) -> None:
    async with _running(write_config(sim, tmp_path, window=10, tps=100.0)) as daemon:
        intake = _intake_pid(daemon)
        texts = [f"via the API process {n}" for n in range(20)]
        ids = await send_many(daemon.url, SAFARICOM, texts)
        await _wait_sent(tmp_path, ids)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{daemon.url}/ready") as response:
                ready = await response.json()
            async with http.get(f"{daemon.url}/metrics") as response:
                metrics = await response.text()
        assert response.status == 200
        assert ready["status"] == "ready" and ready["store"] == "ok"
        assert {b["name"]: b["state"] for b in ready["binds"]}["safaricom-1/trx0"] == "bound"
        # the API's own counters and the daemon's, in one exposition
        assert 'gatewayd_api_messages_accepted_total{operator="safaricom"} 20.0' in metrics
        assert 'gatewayd_smpp_submits_total{' in metrics
        assert _intake_pid(daemon) == intake  # the same process served everything
    assert not alive(intake)


async def test_a_killed_api_process_is_replaced_on_the_same_socket(
    tmp_path: Path, sim: Simulator
) -> None:
    async with _running(write_config(sim, tmp_path, window=10, tps=100.0)) as daemon:
        first = _intake_pid(daemon)
        os.kill(first, signal.SIGKILL)
        await daemon.wait_event("intake_process_exited")
        # the daemon keeps the listening socket: connections wait in its backlog meanwhile
        ids = await send_many(daemon.url, SAFARICOM, ["after the API process died"])
        await _wait_sent(tmp_path, ids)
        assert _intake_pid(daemon) != first
        assert daemon.proc.returncode is None


async def test_sighup_reaches_the_api_process(tmp_path: Path, sim: Simulator) -> None:
    """The prefix table and the signing keys of the reloaded file apply to the API's process."""
    prefixes = tmp_path / "prefixes.toml"
    shipped = Path(__file__).resolve().parents[2] / "config" / "prefixes_ke.toml"
    prefixes.write_text(shipped.read_text())
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    config.write_text(config.read_text() + f'\n[routing]\nprefixes_file = "{prefixes}"\n')
    async with _running(config) as daemon:
        assert len(await send_many(daemon.url, AIRTEL, ["before the reload"])) == 1
        async with aiohttp.ClientSession() as http:
            old_token = await token(http, daemon.url)
        prefixes.write_text('version = "small"\n[safaricom]\nprefixes = ["0700-0729"]\n')
        rotated = config.read_text().replace(f'e2e = "{"k" * 40}"', f'e2e2 = "{"j" * 40}"')
        assert rotated != config.read_text()
        config.write_text(rotated)  # the key "e2e" is gone: its tokens must be refused
        daemon.proc.send_signal(signal.SIGHUP)
        await daemon.wait_event("intake_reloaded")
        body = {"sender_name": "KIMISMS", "contact": AIRTEL, "message": "after"}
        async with aiohttp.ClientSession() as http:
            stale = {"Authorization": f"Bearer {old_token}"}
            async with http.post(f"{daemon.url}/api/send-sms", json=body, headers=stale) as r:
                assert r.status == 401
            headers = {"Authorization": f"Bearer {await token(http, daemon.url)}"}
            async with http.post(f"{daemon.url}/api/send-sms", json=body, headers=headers) as r:
                assert r.status == 400
                assert (await r.json())["contact"][0] == "Invalid number"


async def test_the_api_process_ends_when_its_daemon_is_killed(
    tmp_path: Path, sim: Simulator
) -> None:
    async with _running(write_config(sim, tmp_path, window=10, tps=100.0)) as daemon:
        intake = _intake_pid(daemon)
        daemon.proc.kill()
        await daemon.proc.wait()
    async with asyncio.timeout(10):
        while alive(intake):
            await asyncio.sleep(0.05)


def test_a_process_of_its_own_is_the_choice_of_gatewayd_run_only_in_auto() -> None:
    auto = Settings()
    assert wants_intake_process(auto, own_process=True)
    assert not wants_intake_process(auto, own_process=False)
    inline = Settings.model_validate({"http": {"process": "inline"}})
    assert not wants_intake_process(inline, own_process=True)
    forced = Settings.model_validate({"http": {"process": "process"}})
    assert wants_intake_process(forced, own_process=False)
