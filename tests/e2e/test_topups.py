"""Float top-ups through the real daemon: M-Pesa STK push against a fake Daraja, its callback,
the expiry timer, and offline top-ups on a gateway without `[mpesa]`.

The daemon (`gatewayd.main.run`) listens on loopback port 0 with a SQLite store; `[mpesa]
base_url` points at the fake Daraja (port 0). Daraja only calls back on https, so
`callback_url` is a public https address and `daraja_calls_back` plays the TLS terminator in
front of the daemon: it POSTs the callback the fake Daraja built for the push to the daemon's
own address, on the path of the CallBackURL the push carried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from config.settings import Settings
from gatewayd import main
from gatewayd.service.model import Package
from tests.e2e.harness import ACME_CLIENT, ACME_SECRET, seed_world
from tests.fakes.daraja import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSKEY,
    SHORTCODE,
    FakeDaraja,
    callback_body,
)

CALLBACK_URL = "https://gw.example.co.ke/hooks/mpesa/stk"
SENDER = "acme-kim-saf"  # 100 units in the e2e world
PACKAGE = Package("pkg-saf", "Safaricom bulk", "safaricom", 35, 10, True)
PHONE = "0712345678"


@dataclass
class Daemon:
    """A running daemon with an HTTP session and an acme token."""

    daemon: main.Daemon
    url: str
    http: aiohttp.ClientSession
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def request_topup(self, method: str = "mpesa", units: int = 100) -> tuple[int, Any]:
        body = {"sender_id": SENDER, "package_id": PACKAGE.id, "units": units, "method": method}
        if method == "mpesa":
            body["phone"] = PHONE
        async with self.http.post(f"{self.url}/api/v1/topups", json=body, headers=self.auth) as r:
            return r.status, await r.json()

    async def topup(self, topup_id: str) -> Any:
        async with self.http.get(f"{self.url}/api/v1/topups/{topup_id}", headers=self.auth) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def wait_settled(self, topup_id: str, timeout: float = 10.0) -> Any:
        """GET the top-up until it leaves PENDING (the API has no push for top-ups)."""
        async with asyncio.timeout(timeout):
            while (topup := await self.topup(topup_id))["status"] == "PENDING":
                await asyncio.sleep(0.05)
        return topup

    async def balance(self) -> int:
        assert self.daemon.store is not None
        return await self.daemon.store.balance(SENDER)

    async def daraja_calls_back(self, daraja: FakeDaraja, checkout: str, code: int) -> Any:
        """Daraja's callback for `checkout` with `code`, through the TLS terminator."""
        push = daraja.settle(checkout, code)
        assert push.body["CallBackURL"] == CALLBACK_URL
        path = urlsplit(push.body["CallBackURL"]).path
        body = callback_body(push, code)
        async with self.http.post(f"{self.url}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()


def settings(state_dir: Path, daraja: FakeDaraja | None, stk_timeout: float) -> Settings:
    """No SMSC (top-ups need none); `[mpesa]` on the fake Daraja when one is given."""
    values: dict[str, Any] = {
        "state_dir": state_dir,
        "http": {"listen": "127.0.0.1:0", "rate_limit_per_minute": 0},
        "store": {"url": f"sqlite:///{state_dir / 'gatewayd.db'}"},
        "auth": {"signing_keys": {"e2e": "k" * 40}},
        "shutdown": {"drain_timeout": 1.0, "unbind_timeout": 1.0},
    }
    if daraja is not None:
        values["mpesa"] = {
            "base_url": daraja.base_url,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "shortcode": SHORTCODE,
            "passkey": PASSKEY,
            "callback_url": CALLBACK_URL,
            "stk_timeout": stk_timeout,
        }
    return Settings.model_validate(values)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, daraja: FakeDaraja | None, *, stk_timeout: float = 120.0
) -> AsyncIterator[Daemon]:
    """The daemon with the e2e world and one Safaricom package; stopped cleanly on exit."""
    stop = asyncio.Event()
    started: asyncio.Future[main.Daemon] = asyncio.get_running_loop().create_future()

    async def on_start(daemon: main.Daemon) -> None:
        assert daemon.store is not None
        await seed_world(daemon.store)
        await daemon.store.create_package(PACKAGE)
        started.set_result(daemon)

    config = settings(tmp_path, daraja, stk_timeout)
    task = asyncio.create_task(main.run(config, shutdown_trigger=stop.wait, started=on_start))
    try:
        waiting: set[asyncio.Future[Any]] = {task, started}
        done, _ = await asyncio.wait(waiting, timeout=15, return_when="FIRST_COMPLETED")
        if task in done:
            task.result()
        daemon = started.result()
        assert daemon.server is not None
        async with aiohttp.ClientSession() as http:
            body = {"grant_type": "client_credentials", "client_id": ACME_CLIENT,
                    "client_secret": ACME_SECRET}  # fmt: skip
            async with http.post(f"{daemon.server.url}/api/generate-token", json=body) as r:
                assert r.status == 200, await r.text()
                token = (await r.json())["access_token"]
            yield Daemon(daemon, daemon.server.url, http, token)
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


@contextlib.asynccontextmanager
async def fake_daraja() -> AsyncIterator[FakeDaraja]:
    daraja = FakeDaraja()
    await daraja.start()
    try:
        yield daraja
    finally:
        await daraja.close()


async def test_mpesa_topup_completes_on_its_callback_and_credits_once(tmp_path: Path) -> None:
    async with fake_daraja() as daraja, running(tmp_path, daraja) as gw:
        status, topup = await gw.request_topup()
        assert status == 201, topup
        assert topup["status"] == "PENDING" and topup["amount_kes"] == "35.00"
        (push,) = daraja.pushes
        assert topup["checkout_request_id"] == push.checkout_request_id
        assert push.body["PhoneNumber"] == "254712345678" and push.body["Amount"] == 35

        answers = [await gw.daraja_calls_back(daraja, push.checkout_request_id, 0)]
        answers += await asyncio.gather(
            *(gw.daraja_calls_back(daraja, push.checkout_request_id, 0) for _ in range(3))
        )
        assert all(a == {"ResultCode": 0, "ResultDesc": "Accepted"} for a in answers)

        done = await gw.topup(topup["id"])
        assert done["status"] == "COMPLETED" and done["mpesa_receipt"] == "NLJ7RT61SV"
        assert await gw.balance() == 100 + 100  # the seeded float plus this top-up, once
        assert daraja.queries  # the "paid" callback was confirmed with Daraja first


async def test_mpesa_topup_cancelled_by_the_customer_fails(tmp_path: Path) -> None:
    async with fake_daraja() as daraja, running(tmp_path, daraja) as gw:
        status, topup = await gw.request_topup()
        assert status == 201, topup
        await gw.daraja_calls_back(daraja, topup["checkout_request_id"], 1032)
        failed = await gw.topup(topup["id"])
        assert failed["status"] == "FAILED" and failed["result_code"] == 1032
        assert await gw.balance() == 100


async def test_the_expiry_timer_fails_a_topup_with_no_callback(tmp_path: Path) -> None:
    async with fake_daraja() as daraja, running(tmp_path, daraja, stk_timeout=0.2) as gw:
        status, topup = await gw.request_topup()
        assert status == 201, topup
        failed = await gw.wait_settled(topup["id"])
        assert failed["status"] == "FAILED"
        assert [q["CheckoutRequestID"] for q in daraja.queries] == [topup["checkout_request_id"]]
        # Paid after all, once it had failed: flagged for a person, never credited.
        await gw.daraja_calls_back(daraja, topup["checkout_request_id"], 0)
        assert (await gw.topup(topup["id"]))["status"] == "FAILED"
        assert await gw.balance() == 100


async def test_without_mpesa_offline_topups_work_and_no_callback_is_taken(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, None) as gw:
        status, topup = await gw.request_topup("offline")
        assert status == 201 and topup["status"] == "PENDING", topup
        status, refused = await gw.request_topup("mpesa")
        assert status == 400 and "method" in refused
        body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0}}}
        for path in ("/api/mpesa/callback", urlsplit(CALLBACK_URL).path):
            async with gw.http.post(f"{gw.url}{path}", json=body) as r:
                assert r.status in (404, 405)
        assert gw.daemon.daraja is None
        assert await gw.balance() == 100
