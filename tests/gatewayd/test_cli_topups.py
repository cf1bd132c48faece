"""`gatewayd admin topup …` through TopUps: request (alias of create), query and expire against
the fake Daraja (served from a thread, since each command runs its own event loop)."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatewayd import cli
from gatewayd.service.model import Package, TopUpMethod, TopUpStatus
from tests.fakes import daraja as fake
from tests.fakes.memory_store import MemoryStore


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


def gw(store: MemoryStore, *argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), store_factory=lambda _s: store, stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def daraja() -> Iterator[fake.FakeDaraja]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = fake.FakeDaraja()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mpesa: str = "") -> None:
    path = tmp_path / "gatewayd.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n[log]\nformat = "console"\n{mpesa}')
    monkeypatch.setenv("GATEWAYD_CONFIG", str(path))


def mpesa_section(base_url: str) -> str:
    return (
        f'[mpesa]\nbase_url = "{base_url}"\nconsumer_key = "{fake.CONSUMER_KEY}"\n'
        f'consumer_secret = "{fake.CONSUMER_SECRET}"\nshortcode = "{fake.SHORTCODE}"\n'
        f'passkey = "{fake.PASSKEY}"\ncallback_url = "https://gw.example/api/mpesa/callback"\n'
        "stk_timeout = 120\n"
    )


def seeded() -> MemoryStore:
    store = MemoryStore()
    gw(store, "admin", "account", "create", "acme")
    gw(store, "admin", "sender", "create", "acme", "ACME", "--operator", "safaricom")
    asyncio.run(store.create_package(Package("pkg", "Bulk", "safaricom", 35, 100, True)))
    return store


def pending_mpesa(store: MemoryStore, topup_id: str, checkout: str, age: timedelta) -> None:
    async def create() -> None:
        sender = (await store.list_senders())[0]
        await store.create_topup(
            topup_id, sender.account_id, sender.id, "pkg", 1000, 35_000, TopUpMethod.MPESA,
            datetime.now(UTC) - age, phone="254708374149",
        )  # fmt: skip
        await store.set_topup_checkout(topup_id, checkout, f"m-{topup_id}")

    asyncio.run(create())


def test_request_is_the_offline_create_and_goes_through_the_package_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch)
    store = seeded()
    few = gw(store, "admin", "topup", "request", "ACME", "Bulk", "99")
    assert few.code == 1 and "package 'Bulk' sells at least 100 units" in few.err
    made = gw(store, "admin", "topup", "request", "ACME", "Bulk", "100")
    assert made.code == 0
    assert "100 units for ACME (KES 35.00), PENDING approval" in made.out
    [topup] = asyncio.run(store.list_topups())
    assert (topup.method, topup.status, topup.amount_cents) == (
        TopUpMethod.OFFLINE, TopUpStatus.PENDING, 3500,
    )  # fmt: skip
    rejected = gw(store, "admin", "topup", "reject", topup.id, "--reason", "no transfer")
    assert (rejected.code, rejected.out) == (0, f"top-up {topup.id} FAILED: no transfer\n")
    again = gw(store, "admin", "topup", "approve", topup.id)
    assert again.code == 1 and f"top-up {topup.id} is FAILED already" in again.err


def test_expire_and_query_need_mpesa_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, monkeypatch)
    store = seeded()
    run = gw(store, "admin", "topup", "expire")
    assert run.code == 1
    assert "`admin topup expire` asks Daraja about M-Pesa top-ups: configure [mpesa]" in run.err
    assert gw(store, "admin", "topup", "query", "x").code == 1


def test_expire_credits_a_paid_top_up_and_fails_an_unanswered_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, daraja: fake.FakeDaraja
) -> None:
    write_config(tmp_path, monkeypatch, mpesa_section(daraja.base_url))
    store = seeded()
    pending_mpesa(store, "paid", "ws_CO_paid", timedelta(minutes=11))
    pending_mpesa(store, "lost", "ws_CO_lost", timedelta(minutes=10))
    pending_mpesa(store, "young", "ws_CO_young", timedelta(seconds=5))
    daraja.pushes.append(fake.Push({"Amount": 350}, "m-paid", "ws_CO_paid", result_code=0))

    run = gw(store, "admin", "topup", "expire")

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "2 expired M-Pesa top-up(s) checked: 1 COMPLETED, 1 FAILED",
        "  paid COMPLETED",
        "  lost FAILED",
    ]
    statuses = {t.id: t.status for t in asyncio.run(store.list_topups())}
    assert statuses == {
        "paid": TopUpStatus.COMPLETED, "lost": TopUpStatus.FAILED, "young": TopUpStatus.PENDING,
    }  # fmt: skip
    sender = asyncio.run(store.list_senders())[0]
    assert asyncio.run(store.balance(sender.id)) == 1000
    assert gw(store, "admin", "topup", "expire", "--json").json() == []

    daraja.pushes.append(fake.Push({"Amount": 350}, "m-young", "ws_CO_young", result_code=1032))
    queried = gw(store, "admin", "topup", "query", "young")
    assert (queried.code, queried.out) == (0, "top-up young FAILED: Request cancelled by user\n")
    assert gw(store, "admin", "topup", "query", "nope").err.strip().endswith("no top-up 'nope'")
