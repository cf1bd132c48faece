"""Top-up use-cases end to end: the real Daraja adapter against a fake Daraja on loopback,
callbacks POSTed back over HTTP, and each store (in-memory fake, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billing.topups import TIMEOUT_REASON
from gatewayd.adapters.daraja import DarajaClient, DarajaConfig
from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    Package,
    SenderType,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.topups import (
    CallbackOutcome,
    CallbackResult,
    PaymentUnavailable,
    TopUpNotFound,
    TopUpRejected,
    TopUps,
)
from gatewayd.store import open_store
from tests.fakes import daraja as fake
from tests.fakes.memory_store import MemoryStore
from tests.gatewayd.store.pg import fresh_schema

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
EXPIRY = timedelta(seconds=120)
PHONE = "254708374149"


class Clock:
    def __init__(self) -> None:
        self.now = T0


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    drop = None
    if request.param == "memory":
        opened: Any = MemoryStore()
    else:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path}/topups.db"
        else:
            url, drop = await fresh_schema(request.getfixturevalue("postgres_dsn"))
        opened = await open_store(url)
    await opened.migrate()
    await opened.create_account("acc1", "Acme", T0)
    await opened.create_account("acc2", "Other", T0)
    for sender_id, account, name, operator in [
        ("snd-saf", "acc1", "ACME", "safaricom"),
        ("snd-air", "acc1", "ACME", "airtel"),
        ("snd-other", "acc2", "OTHER", "safaricom"),
    ]:
        await opened.create_sender(
            sender_id, account, name, operator, SenderType.ALPHANUMERIC,
            CampaignType.TRANSACTIONAL, T0,
        )  # fmt: skip
    await opened.create_package(Package("pkg-saf", "Safaricom bulk", "safaricom", 35, 100, True))
    await opened.create_package(Package("pkg-air", "Airtel bulk", "airtel", 50, 100, True))
    await opened.create_package(Package("pkg-old", "Retired", "safaricom", 90, 1, False))
    yield opened
    await opened.close()
    if drop is not None:
        await drop()


@pytest.fixture
async def daraja_server() -> AsyncIterator[fake.FakeDaraja]:
    server = fake.FakeDaraja()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def callbacks(
    clock: Clock, topups_holder: dict[str, TopUps]
) -> AsyncIterator[tuple[str, list[CallbackResult]]]:
    """Our callback endpoint, as http_api would mount it: hand the body to the use-case."""
    results: list[CallbackResult] = []

    async def receive(request: web.Request) -> web.Response:
        results.append(await topups_holder["it"].handle_callback(await request.json(), clock.now))
        return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})

    app = web.Application()
    app.router.add_post("/mpesa/callback", receive)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("/mpesa/callback")), results
    await server.close()


@pytest.fixture
def topups_holder() -> dict[str, TopUps]:
    return {}


@pytest.fixture
async def topups(
    store: Any,
    daraja_server: fake.FakeDaraja,
    callbacks: tuple[str, list[CallbackResult]],
    topups_holder: dict[str, TopUps],
) -> AsyncIterator[TopUps]:
    config = DarajaConfig(
        consumer_key=fake.CONSUMER_KEY,
        consumer_secret=fake.CONSUMER_SECRET,
        shortcode=fake.SHORTCODE,
        passkey=fake.PASSKEY,
        callback_url=callbacks[0],
        base_url=daraja_server.base_url,
        timeout_s=5.0,
    )
    async with DarajaClient(config) as client:
        topups_holder["it"] = TopUps(store, client, expiry=EXPIRY)
        yield topups_holder["it"]


async def request(topups: TopUps, units: int = 1234, sender: str = "snd-saf") -> Any:
    package = "pkg-saf" if sender == "snd-saf" else "pkg-air"
    return await topups.request_mpesa("acc1", sender, package, units, "0708 374 149", T0)


async def assert_float(store: Any, sender: str, units: int) -> None:
    assert await store.balance(sender) == units
    assert await store.ledger_sum(sender) == units


# -- M-Pesa ------------------------------------------------------------------------------------


async def test_success_credits_the_float_once(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    assert topup.status is TopUpStatus.PENDING and topup.method is TopUpMethod.MPESA
    assert topup.amount_cents == 43_200  # 1234 × KES 0.35 = 431.90, asked as KES 432
    push = daraja_server.pushes[0]
    assert topup.checkout_request_id == push.checkout_request_id
    assert push.body["Amount"] == 432
    assert push.body["PhoneNumber"] == push.body["PartyA"] == PHONE
    assert push.body["Timestamp"] == "20261122050000"  # Nairobi time of T0
    assert push.body["AccountReference"] == topup.id[:12].upper()
    await assert_float(store, "snd-saf", 0)

    answer = await daraja_server.send_callback(push.checkout_request_id, 0)

    assert answer == {"ResultCode": 0, "ResultDesc": "Accepted"}
    result = callbacks[1][0]
    assert result.outcome is CallbackOutcome.CREDITED
    assert result.topup is not None and result.topup.status is TopUpStatus.COMPLETED
    settled = await store.get_topup(topup.id)
    assert (settled.mpesa_receipt, settled.result_code, settled.settled_by) == (
        "NLJ7RT61SV", 0, "mpesa",
    )  # fmt: skip
    await assert_float(store, "snd-saf", 1234)
    [entry] = await store.entries("snd-saf")
    assert (entry.kind, entry.units, entry.reference) == (LedgerKind.TOPUP, 1234, topup.id)


async def test_a_repeated_callback_credits_nothing_more(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    for _ in range(3):
        await daraja_server.send_callback(topup.checkout_request_id, 0)
    assert [r.outcome for r in callbacks[1]] == [
        CallbackOutcome.CREDITED, CallbackOutcome.DUPLICATE, CallbackOutcome.DUPLICATE,
    ]  # fmt: skip
    await assert_float(store, "snd-saf", 1234)
    assert len(await store.entries("snd-saf")) == 1


async def test_user_cancel_fails_the_top_up(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    await daraja_server.send_callback(topup.checkout_request_id, 1032)
    assert callbacks[1][0].outcome is CallbackOutcome.FAILED
    failed = await store.get_topup(topup.id)
    assert (failed.status, failed.result_code, failed.result_desc) == (
        TopUpStatus.FAILED, 1032, "Request cancelled by user",
    )  # fmt: skip
    await assert_float(store, "snd-saf", 0)


async def test_a_payment_reported_after_failure_is_not_credited_but_flagged(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    await daraja_server.send_callback(topup.checkout_request_id, 1032)
    await daraja_server.send_callback(topup.checkout_request_id, 0)
    late = callbacks[1][1]
    assert late.outcome is CallbackOutcome.DUPLICATE
    assert "NLJ7RT61SV" in late.review
    await assert_float(store, "snd-saf", 0)


async def test_no_callback_within_the_expiry_fails_the_top_up(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja
) -> None:
    topup = await request(topups)
    assert await topups.expire(T0 + EXPIRY - timedelta(seconds=1)) == []
    [expired] = await topups.expire(T0 + EXPIRY + timedelta(seconds=1))
    assert expired.changed and expired.topup.status is TopUpStatus.FAILED
    assert expired.topup.result_desc == TIMEOUT_REASON
    assert [q["CheckoutRequestID"] for q in daraja_server.queries] == [topup.checkout_request_id]
    await assert_float(store, "snd-saf", 0)
    assert await topups.expire(T0 + 2 * EXPIRY) == []


async def test_expiry_asks_daraja_first_and_credits_a_payment_whose_callback_was_lost(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja
) -> None:
    topup = await request(topups)
    daraja_server.settle(topup.checkout_request_id, 0)  # paid; the callback never arrives
    [settled] = await topups.expire(T0 + EXPIRY + timedelta(seconds=1))
    assert settled.topup.status is TopUpStatus.COMPLETED
    await assert_float(store, "snd-saf", 1234)


async def test_expiry_waits_out_a_daraja_outage_then_gives_up(
    store: Any, daraja_server: fake.FakeDaraja, topups: TopUps
) -> None:
    topup = await request(topups)
    daraja_server.query_status = 503
    patient = TopUps(store, topups._daraja, expiry=EXPIRY, give_up_after=timedelta(hours=1))
    assert [s.changed for s in await patient.expire(T0 + EXPIRY * 2)] == [False]
    assert (await store.get_topup(topup.id)).status is TopUpStatus.PENDING
    daraja_server.query_status = 200
    daraja_server.settle(topup.checkout_request_id, 0)  # Daraja is back: it was paid
    [paid] = await patient.expire(T0 + EXPIRY * 3)
    assert paid.topup.status is TopUpStatus.COMPLETED
    await assert_float(store, "snd-saf", 1234)

    other = await request(topups)
    daraja_server.query_status = 503
    assert not (await patient.expire(T0 + timedelta(minutes=59)))[0].changed
    [failed] = await patient.expire(T0 + timedelta(hours=1))
    assert failed.topup.id == other.id and failed.topup.status is TopUpStatus.FAILED


async def test_status_query_settles_a_pending_top_up_when_daraja_knows(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja
) -> None:
    topup = await request(topups)
    still = await topups.query(topup.id, T0 + timedelta(seconds=10))
    assert not still.changed and still.topup.status is TopUpStatus.PENDING
    daraja_server.settle(topup.checkout_request_id, 1037)
    done = await topups.query(topup.id, T0 + timedelta(seconds=20))
    assert done.changed and done.topup.status is TopUpStatus.FAILED
    assert done.topup.result_code == 1037
    again = await topups.query(topup.id, T0 + timedelta(seconds=30))
    assert not again.changed
    assert len(daraja_server.queries) == 2  # a settled top-up is not asked about again


async def test_a_callback_for_an_unknown_request_credits_nothing(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    await request(topups)
    stranger = fake.Push(
        {"Amount": 10, "PhoneNumber": PHONE, "CallBackURL": callbacks[0]}, "m-x", "ws_CO_unknown"
    )
    daraja_server.pushes.append(stranger)
    await daraja_server.send_callback("ws_CO_unknown", 0)
    result = callbacks[1][0]
    assert result.outcome is CallbackOutcome.UNKNOWN_REQUEST and result.topup is None
    assert "ws_CO_unknown" in result.detail
    assert "matches no top-up" in result.review
    await assert_float(store, "snd-saf", 0)


async def post_callback(url: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        assert response.status == 200


async def test_a_forged_payment_callback_credits_nothing(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    push = daraja_server.push(topup.checkout_request_id)
    forged = fake.callback_body(push, 0)  # Daraja itself still reports "being processed"
    await post_callback(callbacks[0], forged)
    assert callbacks[1][0].outcome is CallbackOutcome.UNCONFIRMED
    assert (await store.get_topup(topup.id)).status is TopUpStatus.PENDING
    daraja_server.settle(topup.checkout_request_id, 1032)  # the customer in fact cancelled
    await post_callback(callbacks[0], forged)
    refused = callbacks[1][1]
    assert refused.outcome is CallbackOutcome.FAILED
    assert "callback claimed payment NLJ7RT61SV but Daraja reports 1032" in refused.review
    await assert_float(store, "snd-saf", 0)


async def test_without_confirmation_a_callback_credits_directly(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja
) -> None:
    topup = await request(topups)
    push = daraja_server.push(topup.checkout_request_id)
    trusting = TopUps(store, confirm_payments=False)
    result = await trusting.handle_callback(fake.callback_body(push, 0), T0)
    assert result.outcome is CallbackOutcome.CREDITED
    assert daraja_server.queries == []
    await assert_float(store, "snd-saf", 1234)


async def test_a_malformed_callback_is_refused(topups: TopUps) -> None:
    result = await topups.handle_callback({"Body": {"stkCallback": {"ResultCode": 0}}}, T0)
    assert result.outcome is CallbackOutcome.MALFORMED and result.topup is None


async def test_a_short_payment_is_not_credited(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja, callbacks: Any
) -> None:
    topup = await request(topups)
    await daraja_server.send_callback(topup.checkout_request_id, 0, amount=1)
    assert callbacks[1][0].outcome is CallbackOutcome.FAILED
    assert callbacks[1][0].review == "paid 100 cents, expected 43200 cents"
    await assert_float(store, "snd-saf", 0)


async def test_a_push_daraja_refuses_fails_the_top_up_at_once(
    topups: TopUps, store: Any, daraja_server: fake.FakeDaraja
) -> None:
    daraja_server.push_status = 400
    with pytest.raises(PaymentUnavailable) as caught:
        await request(topups)
    assert "400.002.02 Bad Request - Invalid PhoneNumber" in str(caught.value)
    failed = caught.value.topup
    assert failed is not None and failed.status is TopUpStatus.FAILED
    assert (await store.get_topup(failed.id)).status is TopUpStatus.FAILED


@pytest.mark.parametrize(
    ("sender", "package", "units", "phone", "field", "reason"),
    [
        ("snd-air", "pkg-saf", 500, PHONE, "package_id", "is for safaricom sender IDs"),
        ("snd-saf", "pkg-saf", 99, PHONE, "units", "sells at least 100 units"),
        ("snd-saf", "pkg-old", 500, PHONE, "package_id", "no longer offered"),
        ("snd-saf", "pkg-none", 500, PHONE, "package_id", "Package not found"),
        ("snd-other", "pkg-saf", 500, PHONE, "sender_id", "Sender ID not found"),
        ("snd-none", "pkg-saf", 500, PHONE, "sender_id", "Sender ID not found"),
        ("snd-saf", "pkg-saf", 500, "12345", "phone", "9–13 digits"),
    ],
)
async def test_invalid_requests_name_the_field_and_store_nothing(
    topups: TopUps,
    store: Any,
    daraja_server: fake.FakeDaraja,
    sender: str,
    package: str,
    units: int,
    phone: str,
    field: str,
    reason: str,
) -> None:
    with pytest.raises(TopUpRejected) as caught:
        await topups.request_mpesa("acc1", sender, package, units, phone, T0)
    assert caught.value.field == field and reason in caught.value.reason
    assert await store.list_topups() == []
    assert daraja_server.pushes == []


async def test_mpesa_needs_a_daraja_port(store: Any) -> None:
    with pytest.raises(PaymentUnavailable, match="not configured"):
        await TopUps(store).request_mpesa("acc1", "snd-saf", "pkg-saf", 100, PHONE, T0)


# -- offline -----------------------------------------------------------------------------------


async def test_offline_top_up_waits_for_approval_and_credits_once(store: Any) -> None:
    topups = TopUps(store)
    topup = await topups.request_offline("acc1", "snd-air", "pkg-air", 1000, T0)
    assert (topup.status, topup.amount_cents, topup.method) == (
        TopUpStatus.PENDING, 50_000, TopUpMethod.OFFLINE,
    )  # fmt: skip
    await assert_float(store, "snd-air", 0)
    assert await topups.expire(T0 + 10 * EXPIRY) == []  # offline top-ups wait for a person

    approved = await topups.approve(topup.id, "alice", T0 + timedelta(hours=1))
    assert approved.changed and approved.topup.status is TopUpStatus.COMPLETED
    assert approved.topup.settled_by == "admin:alice"
    again = await topups.approve(topup.id, "bob", T0 + timedelta(hours=2))
    assert not again.changed and again.topup.settled_by == "admin:alice"
    await assert_float(store, "snd-air", 1000)
    [entry] = await store.entries("snd-air")
    assert (entry.actor, entry.reference, entry.units) == ("admin:alice", topup.id, 1000)


async def test_offline_reject_credits_nothing_and_is_final(store: Any) -> None:
    topups = TopUps(store)
    topup = await topups.request_offline("acc1", "snd-saf", "pkg-saf", 100, T0)
    rejected = await topups.reject(topup.id, "alice", "no transfer received", T0)
    assert rejected.topup.status is TopUpStatus.FAILED
    assert rejected.topup.result_desc == "no transfer received"
    assert not (await topups.approve(topup.id, "bob", T0)).changed
    await assert_float(store, "snd-saf", 0)


async def test_only_offline_top_ups_are_approved_and_unknown_ids_are_not_found(
    topups: TopUps,
) -> None:
    topup = await request(topups)
    with pytest.raises(TopUpRejected, match="only offline"):
        await topups.approve(topup.id, "alice", T0)
    with pytest.raises(TopUpNotFound):
        await topups.approve("nope", "alice", T0)
    with pytest.raises(TopUpNotFound):
        await topups.query("nope", T0)
