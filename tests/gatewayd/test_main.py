"""The composition root on its own terms: start-up with an SMSC down, SIGHUP reload of binds
and prefixes (unchanged binds stay up), sd_notify READY/STOPPING, in-doubt policy FAIL."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from config.loader import load_settings
from config.settings import Settings
from gatewayd import demo as demo_module
from gatewayd import lifecycle, main
from gatewayd.links import submit_outcome
from gatewayd.service.model import MessageStatus, NewMessage
from gatewayd.store import open_store
from gatewayd.workers.binds import SubmitOutcome
from smpp.aio import Outcome, PartResult
from smpp.core.status import StatusClass
from smpp.sim.config import SimulatorConfig
from smpp.sim.simulator import Simulator, start_simulator
from tests.e2e.harness import AIRTEL, SAFARICOM, TELKOM, personalities, seed_world
from tests.e2e.process import seed, write_config


@contextlib.asynccontextmanager
async def daemon_running(
    settings: Settings, config_path: Path | None = None, *, seeded: bool = False
) -> AsyncIterator[main.Daemon]:
    stop = asyncio.Event()
    started: asyncio.Future[main.Daemon] = asyncio.get_running_loop().create_future()

    async def on_start(daemon: main.Daemon) -> None:
        assert daemon.store is not None
        if not seeded:
            await seed_world(daemon.store)
        started.set_result(daemon)

    task = asyncio.create_task(
        main.run(settings, shutdown_trigger=stop.wait, config_path=config_path, started=on_start)
    )
    try:
        await asyncio.wait({task, started}, timeout=15, return_when="FIRST_COMPLETED")
        if task.done():
            task.result()
        yield started.result()
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_smsc_outage_does_not_fail_start_up(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "state_dir": tmp_path,
            "http": {"listen": "127.0.0.1:0", "max_queue_depth": 1, "busy_retry_after": 7},
            "auth": {"signing_keys": {"t": "k" * 40}},
            "smsc": [
                {
                    "name": "safaricom-1",
                    "operator": "safaricom",
                    "host": "127.0.0.1",
                    "port": closed_port(),
                    "system_id": "gatewayd",
                    "reconnect_min": 0.05,
                    "reconnect_max": 0.2,
                    "lenient_receipts": True,
                    "status_overrides": {"0x400": "throttle", 1025: "permanent"},
                    "max_unanswered_resends": 0,
                }
            ],
        }
    )
    async with daemon_running(settings) as daemon, aiohttp.ClientSession() as http:
        config = daemon.links["safaricom-1"].pool.config  # what the [[smsc]] table became
        assert config.lenient_receipts is True
        assert dict(config.status_overrides) == {
            0x400: StatusClass.THROTTLE, 0x401: StatusClass.PERMANENT,
        }  # fmt: skip
        assert config.max_unanswered_resends == 0
        assert daemon.server is not None
        async with http.get(f"{daemon.server.url}/ready") as response:
            body = await response.json()
        assert response.status == 200  # queued messages wait: the API stays in service
        assert [b["state"] for b in body["binds"]] != ["bound"]
        assert "safaricom-1 0/1" in daemon.status_line()
        for _ in range(2):  # accepted and queued while the SMSC is down
            assert (await send(daemon, SAFARICOM))[0] == 200
        async with asyncio.timeout(5):
            while "queued: 2" not in daemon.status_line():  # the sampler's next reading
                await asyncio.sleep(0.05)
        status, _ = await send(daemon, SAFARICOM)
        assert status == 503  # backpressure: the queue is deeper than [http] max_queue_depth


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = await start_simulator(SimulatorConfig(smscs=tuple(personalities().values())))
    yield simulator
    await simulator.close()


async def test_sighup_reload_keeps_unchanged_binds_and_swaps_prefixes(
    tmp_path: Path, sim: Simulator
) -> None:
    prefixes = tmp_path / "prefixes.toml"
    shipped = Path(main.__file__).resolve().parents[1] / "config" / "prefixes_ke.toml"
    prefixes.write_text(shipped.read_text())
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    text = config.read_text() + f'\n[routing]\nprefixes_file = "{prefixes}"\n'
    config.write_text(text)
    async with daemon_running(load_settings(config), config) as daemon:
        await sim.wait_for_bind(3, timeout=5)
        kept = daemon.links["safaricom-1"]
        status, _ = await send(daemon, AIRTEL)
        assert status == 200
        # airtel's window changes, telkom goes away, the prefix table loses Airtel's ranges
        config.write_text(_edit(text))
        prefixes.write_text('version = "small"\n[safaricom]\nprefixes = ["0700-0729"]\n')
        await daemon.reload()
        assert daemon.links["safaricom-1"] is kept
        assert set(daemon.links) == {"safaricom-1", "airtel-1"}
        assert daemon.links["airtel-1"].pool.config.window == 7
        await sim.wait_for_unbind(2, timeout=5)  # the old airtel bind and telkom's
        assert len(sim.records("safaricom").binds) == 1  # never re-bound
        await sim.wait_for_bind(1, timeout=5, smsc="airtel")
        status, body = await send(daemon, AIRTEL)
        assert (status, body["contact"][0]) == (400, "Invalid number")
        status, _ = await send(daemon, SAFARICOM)
        assert status == 200


async def test_a_network_whose_table_was_removed_is_refused_while_its_link_drains(
    tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    text = config.read_text()
    async with daemon_running(load_settings(config), config) as daemon:
        await sim.wait_for_bind(3, timeout=5)
        status, body = await send(daemon, TELKOM)  # served: routed to its sender ID, no float
        assert (status, body["sender_name"][0]) == (400, "Insufficient balance")
        draining, release = asyncio.Event(), asyncio.Event()
        telkom = daemon.links["telkom-1"]
        stop = telkom.stop

        async def slow_stop(*args: object) -> None:
            draining.set()
            await release.wait()
            await stop(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(telkom, "stop", slow_stop)
        config.write_text(_edit(text))
        reload = asyncio.ensure_future(daemon.reload())
        await asyncio.wait_for(draining.wait(), 5)
        status, body = await send(daemon, TELKOM)  # the old link is still draining
        assert (status, body["sender_name"][0]) == (400, "No matching sender")
        release.set()
        await asyncio.wait_for(reload, 10)
        assert "telkom-1" not in daemon.links


def _edit(text: str) -> str:
    """airtel-1 gets window 7; the telkom-1 table is dropped."""
    head, _, telkom = text.partition('[[smsc]]\nname = "telkom-1"')
    routing = telkom[telkom.index("[routing]") :] if "[routing]" in telkom else ""
    airtel_at = head.index('name = "airtel-1"')
    window_at = head.index("window = 10", airtel_at)
    head = head[:window_at] + "window = 7" + head[window_at + len("window = 10") :]
    return head + routing


async def send(daemon: main.Daemon, contact: str) -> tuple[int, dict[str, list[str]]]:
    assert daemon.server is not None
    async with aiohttp.ClientSession() as http:
        body = {"grant_type": "client_credentials", "client_id": "acme-client",
                "client_secret": "acme-secret-0123456789"}  # fmt: skip
        async with http.post(f"{daemon.server.url}/api/generate-token", json=body) as r:
            token = (await r.json())["access_token"]
        send_body = {"sender_name": "KIMISMS", "contact": contact, "message": "hi"}
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(
            f"{daemon.server.url}/api/send-sms", json=send_body, headers=headers
        ) as r:
            return r.status, await r.json()


async def test_sd_notify_ready_then_stopping(
    tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    try:
        async with daemon_running(load_settings(config)):
            first = listener.recv(4096).decode()
            assert "READY=1" in first and "STATUS=binds:" in first
        seen = []
        with contextlib.suppress(BlockingIOError):
            while True:
                seen.append(listener.recv(4096).decode())
        assert any("STOPPING=1" in m for m in seen)
    finally:
        listener.close()


async def test_in_doubt_policy_fail_fails_without_resending(tmp_path: Path, sim: Simulator) -> None:
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    config.write_text(
        config.read_text().replace("[store]\n", '[store]\nin_doubt_policy = "fail"\n', 1)
    )
    settings = load_settings(config)
    assert settings.store.in_doubt_policy == "fail"
    await seed(tmp_path)
    store = await open_store(settings.store_url)
    now = datetime.now(UTC)
    await store.accept(
        NewMessage(
            id="left-submitting", account_id="acme", sender_id="acme-kim-saf",
            sender_name="KIMISMS", contact=SAFARICOM, operator="safaricom", text="hi",
            units=1, parts=1, encoding="gsm7", priority=0, callback_url=None,
            client_ref=None, actor="test", created_at=now,
        )
    )  # fmt: skip
    assert len(await store.claim_queued("safaricom", 10, now, "safaricom-1")) == 1
    await store.close()  # as a crash would leave it: SUBMITTING

    async with daemon_running(settings, seeded=True) as daemon:
        assert daemon.in_doubt == 1
        assert daemon.store is not None
        message = await daemon.store.get_message("left-submitting")
        assert message.status is MessageStatus.FAILED and message.in_doubt == 1
        assert "In doubt" in message.timeline[-1].description
    assert sim.records("safaricom").submit_count == 0


async def test_gatewayd_sim_serves_the_configured_smscs() -> None:
    settings = Settings.model_validate(
        {
            "sim": {
                "smsc": [
                    {"name": "saf", "operator": "safaricom", "listen": "127.0.0.1:0"},
                    {"name": "air", "operator": "airtel", "listen": "127.0.0.1:0", "tps": 5},
                ]
            }
        }
    )
    config = demo_module.sim_config(settings)
    assert [p.name for p in config.smscs] == ["saf", "air"]
    assert config.smscs[1].throttle.tps == 5
    stop = asyncio.Event()
    task = asyncio.create_task(demo_module.sim(settings, shutdown_trigger=stop.wait))
    await asyncio.sleep(0)  # let it start listening; stopping must still be clean
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0


@pytest.mark.parametrize(
    ("outcome", "in_doubt", "expected"),
    [
        (Outcome.OK, False, SubmitOutcome.ACCEPTED),
        (Outcome.OK, True, SubmitOutcome.ACCEPTED),  # answered after a resend: it is sent
        (Outcome.PERMANENT, False, SubmitOutcome.REJECTED),
        (Outcome.THROTTLE, False, SubmitOutcome.NOT_SENT),
        (Outcome.RETRY, False, SubmitOutcome.NOT_SENT),
        (Outcome.RETRY, True, SubmitOutcome.UNANSWERED),  # a write went unanswered
        (Outcome.NOT_SENT, False, SubmitOutcome.NOT_SENT),
        (Outcome.IN_DOUBT, True, SubmitOutcome.UNANSWERED),
    ],
)
def test_pool_outcomes_map_onto_what_the_message_becomes(
    outcome: Outcome, in_doubt: bool, expected: SubmitOutcome
) -> None:
    assert submit_outcome(PartResult(0, outcome, in_doubt=in_doubt)) is expected


def test_choose_event_loop_names_and_installs_the_loop() -> None:
    before = asyncio.get_event_loop_policy()
    try:
        assert lifecycle.choose_event_loop("asyncio") == "asyncio"
        assert lifecycle.choose_event_loop("uvloop") == "uvloop"
        loop = asyncio.new_event_loop()
        assert type(loop).__module__.startswith("uvloop")
        loop.close()
        with pytest.raises(ValueError, match="GATEWAYD_EVENT_LOOP"):
            lifecycle.choose_event_loop("trio")
    finally:
        asyncio.set_event_loop_policy(before)


async def test_reload_requeues_in_doubt_what_a_changed_smsc_left_unanswered(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    text = config.read_text()
    async with daemon_running(load_settings(config), config) as daemon:
        await sim.wait_for_bind(3, timeout=5)
        store = daemon.store
        assert store is not None
        old = daemon.links["airtel-1"]
        old.dispatcher.stop_claiming()  # the claim below is then the only one
        assert old.task is not None
        await old.task
        now = datetime.now(UTC)
        await store.accept(
            NewMessage(
                id="left-on-airtel", account_id="acme", sender_id="acme-kim-air",
                sender_name="KIMISMS", contact=AIRTEL, operator="airtel", text="hi",
                units=1, parts=1, encoding="gsm7", priority=0, callback_url=None,
                client_ref=None, actor="test", created_at=now,
            )
        )  # fmt: skip
        # as a submit the SMSC never answered leaves it when its link stops: SUBMITTING
        assert len(await store.claim_queued("airtel", 10, now, "airtel-1")) == 1
        config.write_text(_edit(text))  # airtel-1's window changes: its link is replaced
        await daemon.reload()
        assert daemon.links["airtel-1"] is not old
        message = await store.get_message("left-on-airtel")
        assert message.in_doubt == 1
        assert daemon.metrics.in_doubt.labels("resend")._value.get() == 1
        await sim.wait_for_submits(1, timeout=5, smsc="airtel")  # the new link resends it


async def test_a_failed_reload_still_tells_systemd_it_is_ready(tmp_path: Path) -> None:
    config = tmp_path / "gatewayd.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[auth.signing_keys]\nt = "{"k" * 40}"\n')
    daemon = main.Daemon(load_settings(config), config_path=config)
    config.write_text("[http]\nrate_limit_per_minute = 'lots'\n")  # a bad edit, then SIGHUP
    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    notifier = main.SdNotifier(str(path))
    try:
        with pytest.raises(Exception, match="rate_limit_per_minute"):
            await main.reload_reporting(daemon, notifier)
        first, second = listener.recv(4096).decode(), listener.recv(4096).decode()
    finally:
        notifier.close()
        listener.close()
    assert first.startswith("RELOADING=1")
    assert second.startswith("READY=1\nSTATUS=reload failed: ")
    assert "rate_limit_per_minute" in second


async def test_reload_rotates_signing_keys_and_a_removed_keys_tokens_get_401(
    tmp_path: Path, sim: Simulator
) -> None:
    config = write_config(sim, tmp_path, window=10, tps=100.0)
    old_keys = '[auth.signing_keys]\ne2e = "' + "k" * 40 + '"\n'
    text = config.read_text()
    assert old_keys in text
    config.write_text(
        text.replace(old_keys, old_keys + 'k2 = "' + "n" * 40 + '"\n')
        .replace("[auth]\n", '[auth]\nactive_kid = "e2e"\n', 1)
    )
    async with daemon_running(load_settings(config), config) as daemon:
        assert daemon.server is not None
        async with aiohttp.ClientSession(base_url=daemon.server.url) as http:
            old_token = await _token(http)
            assert await _balance_status(http, old_token) == 200
            # rotation: k2 signs, e2e is still accepted
            config.write_text(config.read_text().replace('active_kid = "e2e"', 'active_kid = "k2"'))
            await daemon.reload()
            new_token = await _token(http)
            assert await _balance_status(http, old_token) == 200
            assert await _balance_status(http, new_token) == 200
            # the old key is removed: its tokens are refused, the new key's are not
            rotated = config.read_text().replace('e2e = "' + "k" * 40 + '"\n', "")
            config.write_text(rotated)
            await daemon.reload()
            assert await _balance_status(http, old_token) == 401
            assert await _balance_status(http, new_token) == 200


async def _token(http: aiohttp.ClientSession) -> str:
    body = {"grant_type": "client_credentials", "client_id": "acme-client",
            "client_secret": "acme-secret-0123456789"}  # fmt: skip
    async with http.post("/api/generate-token", json=body) as response:
        assert response.status == 200
        token: str = (await response.json())["access_token"]
        return token


async def _balance_status(http: aiohttp.ClientSession, token: str) -> int:
    async with http.get("/api/v1/balance", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status
