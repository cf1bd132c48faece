"""The real daemon (`gatewayd.main.run`) on loopback against the simulator, for end-to-end tests.

Everything listens on port 0; the store is a SQLite file in the test's tmp_path. The world:

- account "acme": API client ACME_CLIENT; sender KIMISMS on Safaricom (100 units), on Airtel
  (100 units) and on Telkom (no float); sender SAFONLY on Safaricom only (100 units);
- account "beta": API client BETA_CLIENT; sender BETA on Safaricom (50 units).

The simulated SMSCs: safaricom answers hex ids and writes decimal ids in receipts; airtel and
telkom decimal. Each test may hand in its own personalities (throttling, receipt mixes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from config.settings import Settings
from gatewayd import main
from gatewayd.service.auth import ScryptParams, hash_secret
from gatewayd.service.model import CampaignType, LedgerKind, SenderType
from gatewayd.service.ports import Store
from smpp.sim.config import IdFormat, ReceiptPolicy, SimulatorConfig, SmscPersonality
from smpp.sim.simulator import Simulator, start_simulator

SIGNING_SECRET = "e2e-callback-secret-0123456789"
ACME_CLIENT, ACME_SECRET = "acme-client", "acme-secret-0123456789"
BETA_CLIENT, BETA_SECRET = "beta-client", "beta-secret-0123456789"
SAFARICOM, AIRTEL, TELKOM = "254712345678", "254733123456", "254771234567"
FAST_HASH = ScryptParams(n=2**8)
ID_FORMATS = {"safaricom": "resp_hex_receipt_decimal", "airtel": "decimal", "telkom": "decimal"}


def personalities(**overrides: SmscPersonality) -> dict[str, SmscPersonality]:
    """One SMSC per operator, quick receipts, all delivered unless overridden."""
    quick = ReceiptPolicy(delay_min=0.0, delay_max=0.02)
    base = {
        "safaricom": SmscPersonality(
            "safaricom",
            message_id_format=IdFormat.HEX,
            receipts=replace(quick, id_format=IdFormat.DECIMAL),
        ),
        "airtel": SmscPersonality("airtel", message_id_format=IdFormat.DECIMAL, receipts=quick),
        "telkom": SmscPersonality("telkom", message_id_format=IdFormat.DECIMAL, receipts=quick),
    }
    base.update(overrides)
    return base


def gateway_settings(
    sim: Simulator,
    state_dir: Path,
    *,
    http_port: int = 0,
    store_url: str | None = None,
    callback_process: str = "auto",
    **smsc_overrides: Any,
) -> Settings:
    """Settings for the daemon against `sim`'s SMSCs."""
    smscs = [
        {
            "name": f"{name}-1",
            "operator": name,
            "host": smsc.host,
            "port": smsc.port,
            "system_id": "gatewayd",
            "password": "secret",
            "window": 20,
            "tps": 1000.0,
            "id_format": ID_FORMATS[name],
            "reconnect_min": 0.05,
            "reconnect_max": 0.5,
            "response_timeout": 2.0,
            **smsc_overrides,
        }
        for name, smsc in sim.smscs.items()
    ]
    return Settings.model_validate(
        {
            "state_dir": state_dir,
            "http": {"listen": f"127.0.0.1:{http_port}", "rate_limit_per_minute": 0},
            "store": {"url": store_url or f"sqlite:///{state_dir / 'gatewayd.db'}"},
            "auth": {"signing_keys": {"e2e": "k" * 40}},
            "callbacks": {
                "allow_loopback_targets": True,
                "signing_secret": SIGNING_SECRET,
                "backoff_base": 0.05,
                "backoff_max": 0.2,
                "process": callback_process,
            },
            "smsc": smscs,
            "shutdown": {"drain_timeout": 2.0, "unbind_timeout": 1.0},
        }
    )


async def seed_world(store: Store) -> None:
    """The accounts, clients, senders and floats of the module docstring."""
    now = datetime.now(UTC)
    for account in ("acme", "beta"):
        await store.create_account(account, account.upper(), now)
    await store.create_api_client("acme", ACME_CLIENT, hash_secret(ACME_SECRET, FAST_HASH), now)
    await store.create_api_client("beta", BETA_CLIENT, hash_secret(BETA_SECRET, FAST_HASH), now)
    senders = [
        ("acme-kim-saf", "acme", "KIMISMS", "safaricom", 100),
        ("acme-kim-air", "acme", "KIMISMS", "airtel", 100),
        ("acme-kim-tel", "acme", "KIMISMS", "telkom", 0),
        ("acme-safonly", "acme", "SAFONLY", "safaricom", 100),
        ("beta-saf", "beta", "BETA", "safaricom", 50),
    ]
    for sender_id, account, name, operator, units in senders:
        await store.create_sender(
            sender_id, account, name, operator, SenderType.ALPHANUMERIC,
            CampaignType.TRANSACTIONAL, now,
        )  # fmt: skip
        if units:
            await store.post_entry(sender_id, LedgerKind.TOPUP, units, "test", "seed", "t", now)


@dataclass
class CallbackSink:
    """A loopback HTTP server that keeps every callback POST it receives."""

    received: list[tuple[Mapping[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self._arrived.set()
        return web.json_response({"ok": True})

    async def wait_for(self, message_id: str, status: str, timeout: float = 10.0) -> Any:
        """The first callback about `message_id` with `status`, its signature checked."""
        async with asyncio.timeout(timeout):
            while True:
                for headers, body in self.received:
                    data = json.loads(body)
                    if data.get("message_id") == message_id and data.get("status") == status:
                        check_signature(headers, body)
                        return data
                self._arrived.clear()
                await self._arrived.wait()


def check_signature(headers: Mapping[str, str], body: bytes) -> None:
    """X-Gatewayd-Signature is HMAC-SHA256 over "<timestamp>.<body>" with the shared secret."""
    timestamp = headers["X-Gatewayd-Timestamp"]
    expected = hmac.new(
        SIGNING_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Gatewayd-Signature"] == f"sha256={expected}"


@dataclass
class Gateway:
    """A running daemon, its simulator, an HTTP session and the callback sink."""

    sim: Simulator
    daemon: main.Daemon
    url: str
    http: aiohttp.ClientSession
    sink: CallbackSink
    tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, client_id: str = ACME_CLIENT, secret: str = ACME_SECRET) -> str:
        if client_id not in self.tokens:
            body = {"grant_type": "client_credentials", "client_id": client_id,
                    "client_secret": secret}  # fmt: skip
            async with self.http.post(f"{self.url}/api/generate-token", json=body) as r:
                assert r.status == 200, await r.text()
                self.tokens[client_id] = (await r.json())["access_token"]
        return self.tokens[client_id]

    async def send(
        self, contact: str, text: str, *, sender: str = "KIMISMS", token: str | None = None,
        callback: bool = True, headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:  # fmt: skip
        body: dict[str, Any] = {"sender_name": sender, "contact": contact, "message": text}
        if callback:
            body["callback_url"] = self.sink.url
        auth = {"Authorization": f"Bearer {token or await self.token()}", **(headers or {})}
        async with self.http.post(f"{self.url}/api/send-sms", json=body, headers=auth) as r:
            return r.status, await r.json()

    async def get(self, message_id: str, token: str | None = None) -> tuple[int, Any]:
        auth = {"Authorization": f"Bearer {token or await self.token()}"}
        async with self.http.get(f"{self.url}/api/v1/messages/{message_id}", headers=auth) as r:
            return r.status, await r.json()

    async def wait_status(
        self, message_id: str, statuses: tuple[str, ...] = ("DELIVERED", "FAILED"),
        timeout: float = 10.0,
    ) -> Any:  # fmt: skip
        """GET the message until its status is one of `statuses` (bounded polling: the API
        has no push for this, the callback test awaits the callback instead)."""
        async with asyncio.timeout(timeout):
            while True:
                status, body = await self.get(message_id)
                assert status == 200, body
                if body["status"] in statuses:
                    return body
                await asyncio.sleep(0.02)

    async def balance(self, sender_id: str) -> int:
        assert self.daemon.store is not None
        return await self.daemon.store.balance(sender_id)


@contextlib.asynccontextmanager
async def running_gateway(
    tmp_path: Path,
    smscs: Mapping[str, SmscPersonality] | None = None,
    *,
    store_url: str | None = None,
    callback_process: str = "auto",
    **smsc_overrides: Any,
) -> AsyncIterator[Gateway]:
    """Simulator + daemon + callback sink, all on loopback; stopped cleanly on exit."""
    sim = await start_simulator(SimulatorConfig(smscs=tuple((smscs or personalities()).values())))
    sink = CallbackSink()
    app = web.Application()
    app.router.add_post("/callback", sink.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    stop = asyncio.Event()
    started: asyncio.Future[main.Daemon] = asyncio.get_running_loop().create_future()

    async def on_start(daemon: main.Daemon) -> None:
        assert daemon.store is not None
        await seed_world(daemon.store)
        started.set_result(daemon)

    settings = gateway_settings(
        sim, tmp_path, store_url=store_url, callback_process=callback_process, **smsc_overrides
    )
    task = asyncio.create_task(main.run(settings, shutdown_trigger=stop.wait, started=on_start))
    try:
        done, _ = await asyncio.wait({task, started}, timeout=15, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        daemon = started.result()
        await sim.wait_for_bind(len(sim.smscs), timeout=5)
        assert daemon.server is not None
        async with aiohttp.ClientSession() as http:
            yield Gateway(sim, daemon, daemon.server.url, http, sink)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        await runner.cleanup()
        await sim.close()
