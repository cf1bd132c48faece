"""Top-ups over HTTP: packages, offline and M-Pesa top-ups, and Daraja's callback.

The app runs over the in-memory store on a loopback port; M-Pesa goes through the real
DarajaClient to the fake Daraja (tests/fakes/daraja.py), which POSTs its callbacks back to the
app's callback route, so the whole round trip is HTTP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from billing.mpesa import StkPushAccepted, StkResult
from gatewayd.adapters.daraja import DarajaClient, DarajaConfig
from gatewayd.admin import Admin, AdminError
from gatewayd.service.model import Package, TopUpStatus
from gatewayd.service.topups import TopUps
from http_api import create_app
from http_api.topup_access import AccountTopUps
from tests.fakes import daraja as fake
from tests.http_api.world import (
    CLIENT_A,
    CLIENT_B,
    SECRET_A,
    SECRET_B,
    World,
    bearer,
    build_world,
    token_for,
)

CALLBACK_PATH = "/api/mpesa/callback/s3cret"
PHONE = "254708374149"


class LateDaraja:
    """The Daraja port, forwarding to a client made once the app's callback URL is known."""

    client: DarajaClient | None = None

    async def stk_push(
        self, *, amount_kes: int, phone: str, account_reference: str, description: str,
        now: datetime,
    ) -> StkPushAccepted:  # fmt: skip
        assert self.client is not None
        return await self.client.stk_push(
            amount_kes=amount_kes, phone=phone, account_reference=account_reference,
            description=description, now=now,
        )  # fmt: skip

    async def stk_query(self, checkout_request_id: str, *, now: datetime) -> StkResult | None:
        assert self.client is not None
        return await self.client.stk_query(checkout_request_id, now=now)


@dataclass
class Env:
    world: World
    client: TestClient
    daraja: fake.FakeDaraja
    token_a: str
    token_b: str

    @property
    def store(self) -> Any:
        return self.world.store

    def admin(self) -> Admin:
        return Admin(
            self.store,
            actor="wanjiru",
            hash_secret=lambda s: s,
            new_credentials=lambda: ("c", "s"),
            clock=self.world.clock.now,
        )

    async def post(self, body: object, token: str | None = None, **headers: str) -> Any:
        response = await self.client.post(
            "/api/v1/topups", json=body, headers={**bearer(token or self.token_a), **headers}
        )
        return response.status, orjson.loads(await response.read())

    async def get(self, path: str, token: str | None = None) -> Any:
        response = await self.client.get(path, headers=bearer(token or self.token_a))
        return response.status, orjson.loads(await response.read())

    async def callback(self, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(
            CALLBACK_PATH, data=body, headers={"Content-Type": "application/json"}
        )
        return response.status, await response.read()

    async def units(self, sender_id: str, token: str | None = None) -> int:
        _, body = await self.get("/api/v1/balance", token)
        return {s["sender_id"]: s["units"] for s in body["senders"]}[sender_id]


async def make_env(
    *, mpesa: bool = True, callback_path: str | None = CALLBACK_PATH
) -> AsyncIterator[Env]:
    world = await build_world()
    for package in (
        Package("pkg-saf", "Safaricom bulk", "safaricom", 35, 100, True),
        Package("pkg-air", "Airtel bulk", "airtel", 50, 100, True),
        Package("pkg-old", "Retired", "safaricom", 90, 1, False),
    ):
        await world.store.create_package(package)
    daraja = fake.FakeDaraja()
    await daraja.start()
    late = LateDaraja()
    ids = iter(f"topup{n:04d}" for n in range(1, 1000))
    topups = TopUps(
        world.store, late if mpesa else None, expiry=timedelta(minutes=2),
        new_id=lambda: next(ids),
    )  # fmt: skip
    deps = dataclasses.replace(
        world.deps(), topups=AccountTopUps(topups, world.store), mpesa_callback_path=callback_path
    )
    async with TestClient(TestServer(create_app(deps), host="127.0.0.1", port=0)) as client:
        config = DarajaConfig(
            consumer_key=fake.CONSUMER_KEY, consumer_secret=fake.CONSUMER_SECRET,
            shortcode=fake.SHORTCODE, passkey=fake.PASSKEY,
            callback_url=str(client.make_url(CALLBACK_PATH)), base_url=daraja.base_url,
            timeout_s=5.0,
        )  # fmt: skip
        async with DarajaClient(config) as late.client:
            yield Env(
                world,
                client,
                daraja,
                await token_for(client, CLIENT_A, SECRET_A),
                await token_for(client, CLIENT_B, SECRET_B),
            )
    await daraja.close()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for made in make_env():
        yield made


MPESA = {
    "sender_name": "KIMISMS", "operator": "safaricom", "package_id": "pkg-saf",
    "units": 1234, "method": "mpesa", "phone": "0708 374 149",
}  # fmt: skip
OFFLINE = {"sender_id": "s-a-air", "package_id": "pkg-air", "units": 1000, "method": "offline"}


# -- packages ----------------------------------------------------------------------------------


async def test_packages_on_sale_with_exact_rates(env: Env) -> None:
    status, body = await env.get("/api/v1/packages")
    assert status == 200
    assert body == {
        "count": 2,
        "results": [
            {"id": "pkg-air", "name": "Airtel bulk", "operator": "airtel", "provider": "Airtel",
             "rate_kes": "0.50", "rate_cents": 50, "min_units": 100},
            {"id": "pkg-saf", "name": "Safaricom bulk", "operator": "safaricom",
             "provider": "Safaricom", "rate_kes": "0.35", "rate_cents": 35, "min_units": 100},
        ],
    }  # fmt: skip
    status, body = await env.get("/api/v1/packages?operator=safaricom")
    assert [p["id"] for p in body["results"]] == ["pkg-saf"]
    assert await env.get("/api/v1/packages?operator=orange") == (
        400, {"operator": ['"orange" is not a valid choice.']},
    )  # fmt: skip
    response = await env.client.get("/api/v1/packages")
    assert response.status == 401


# -- offline -----------------------------------------------------------------------------------


async def test_offline_top_up_is_credited_once_when_an_admin_approves(env: Env) -> None:
    status, body = await env.post(OFFLINE)
    assert status == 201
    assert body == {
        "id": "topup0001", "status": "PENDING", "method": "offline", "sender_id": "s-a-air",
        "package_id": "pkg-air", "units": 1000, "amount_kes": "500.00", "amount_cents": 50_000,
        "phone": None, "checkout_request_id": None, "mpesa_receipt": None, "result_code": None,
        "description": None, "created_at": "2026-11-22T08:00:00Z", "settled_at": None,
    }  # fmt: skip
    assert await env.units("s-a-air") == 0

    admin = env.admin()
    approved = await admin.approve_topup("topup0001")
    assert approved.status is TopUpStatus.COMPLETED
    assert await env.units("s-a-air") == 1000
    with pytest.raises(AdminError, match="is COMPLETED already"):
        await admin.approve_topup("topup0001")
    assert await env.units("s-a-air") == 1000
    assert await env.store.ledger_sum("s-a-air") == 1000

    status, body = await env.get("/api/v1/topups/topup0001")
    assert (status, body["status"], body["description"]) == (200, "COMPLETED", "Approved")


async def test_offline_top_up_rejected_credits_nothing(env: Env) -> None:
    await env.post(OFFLINE)
    await env.admin().reject_topup("topup0001", "no transfer seen")
    _, body = await env.get("/api/v1/topups/topup0001")
    assert (body["status"], body["description"]) == ("FAILED", "no transfer seen")
    assert await env.units("s-a-air") == 0


# -- M-Pesa ------------------------------------------------------------------------------------


async def test_mpesa_top_up_completes_once_even_when_the_callback_repeats(env: Env) -> None:
    status, body = await env.post(MPESA)
    assert status == 201
    push = env.daraja.pushes[0]
    assert (body["status"], body["method"], body["units"]) == ("PENDING", "mpesa", 1234)
    assert (body["amount_kes"], body["amount_cents"]) == ("432.00", 43_200)  # KES 431.90 up
    assert body["checkout_request_id"] == push.checkout_request_id
    assert body["phone"] == PHONE and push.body["Amount"] == 432
    assert push.body["CallBackURL"].endswith(CALLBACK_PATH)
    assert await env.units("s-a-saf") == 100

    for _ in range(2):  # Daraja POSTs to our callback route
        answer = await env.daraja.send_callback(push.checkout_request_id, 0)
        assert answer == {"ResultCode": 0, "ResultDesc": "Accepted"}

    status, body = await env.get(f"/api/v1/topups/{body['id']}")
    assert (status, body["status"], body["mpesa_receipt"]) == (200, "COMPLETED", "NLJ7RT61SV")
    assert await env.units("s-a-saf") == 100 + 1234
    assert await env.store.ledger_sum("s-a-saf") == 100 + 1234
    metrics = await (await env.client.get("/metrics")).text()
    assert 'gatewayd_mpesa_callbacks_total{outcome="credited"} 1.0' in metrics
    assert 'gatewayd_mpesa_callbacks_total{outcome="duplicate"} 1.0' in metrics
    assert 'gatewayd_api_topups_created_total{method="mpesa"} 1.0' in metrics


async def test_user_cancel_fails_the_top_up_and_credits_nothing(env: Env) -> None:
    _, body = await env.post(MPESA)
    await env.daraja.send_callback(body["checkout_request_id"], 1032)
    _, body = await env.get(f"/api/v1/topups/{body['id']}")
    assert (body["status"], body["result_code"], body["description"]) == (
        "FAILED", 1032, "Request cancelled by user",
    )  # fmt: skip
    assert await env.units("s-a-saf") == 100


async def test_refresh_asks_daraja_about_a_pending_top_up(env: Env) -> None:
    _, created = await env.post(MPESA)
    path = f"/api/v1/topups/{created['id']}"
    _, body = await env.get(path + "?refresh=1")
    assert body["status"] == "PENDING"  # Daraja: still being processed
    env.daraja.settle(created["checkout_request_id"], 1037)  # the callback never comes
    _, body = await env.get(path)
    assert body["status"] == "PENDING" and len(env.daraja.queries) == 1
    _, body = await env.get(path + "?refresh=1")
    assert (body["status"], body["result_code"]) == ("FAILED", 1037)
    assert await env.get(path + "?refresh=maybe") == (400, {"refresh": ["Must be 1 or 0."]})


@pytest.mark.parametrize(
    ("push_status", "why"),
    [
        (503, "Daraja answered 400.002.02: Bad Request - Invalid PhoneNumber"),
        (400, "400.002.02 Bad Request - Invalid PhoneNumber"),
    ],
)
async def test_daraja_refusing_the_push_is_a_503_and_leaves_nothing_pending(
    env: Env, push_status: int, why: str
) -> None:
    env.daraja.push_status = push_status
    response = await env.client.post("/api/v1/topups", json=MPESA, headers=bearer(env.token_a))
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    body = orjson.loads(await response.read())
    assert body["detail"] == (
        f"M-Pesa did not take the request: {why}. "
        "The top-up has FAILED and nothing was charged; try again later."
    )
    assert (body["topup"]["id"], body["topup"]["status"]) == ("topup0001", "FAILED")
    assert [t.status for t in await env.store.list_topups("acc-a")] == [TopUpStatus.FAILED]
    assert await env.units("s-a-saf") == 100


async def test_mpesa_not_configured_is_a_field_error_and_there_is_no_callback_route() -> None:
    async for env in make_env(mpesa=False, callback_path=None):
        assert (await env.client.post(CALLBACK_PATH, data=b"{}")).status == 404
        doc = await (await env.client.get("/api/openapi.json")).json()
        assert CALLBACK_PATH not in doc["paths"] and "/api/v1/topups" in doc["paths"]
        assert await env.post(MPESA) == (
            400, {"method": ["M-Pesa top-ups are not available on this gateway."]},
        )  # fmt: skip
        assert await env.store.list_topups() == []
        assert (await env.post(OFFLINE))[0] == 201


async def test_an_idempotency_key_sends_one_push(env: Env) -> None:
    first = await env.post(MPESA, **{"Idempotency-Key": "k1"})
    again = await env.post(MPESA, **{"Idempotency-Key": "k1"})
    assert first == again and first[0] == 201
    assert len(env.daraja.pushes) == 1


# -- validation and tenants --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"units": 99}, {"units": ["package 'Safaricom bulk' sells at least 100 units"]}),
        ({"units": "ten"}, {"units": ["A valid integer is required."]}),
        ({"phone": "12345"}, {"phone": ["must have 9–13 digits after cleaning, has 5"]}),
        ({"phone": None}, {"phone": ["This field is required."]}),
        ({"method": "cash"}, {"method": ['"cash" is not a valid choice.']}),
        ({"package_id": "pkg-air"}, {"package_id": [
            "package 'Airtel bulk' is for airtel sender IDs, KIMISMS is on safaricom"]}),
        ({"package_id": "pkg-old"}, {"package_id": ["Package is no longer offered"]}),
        ({"sender_name": "BETA"}, {"sender_name": ["Sender ID not found"]}),
        ({"sender_name": None, "sender_id": "s-b-saf"}, {"sender_id": ["Sender ID not found"]}),
        ({"operator": None}, {"operator": [
            "Required: KIMISMS is on several operators (airtel, safaricom)"]}),
    ],
)  # fmt: skip
async def test_bad_requests_name_the_field_and_store_nothing(
    env: Env, change: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    body = {k: v for k, v in {**MPESA, **change}.items() if v is not None}
    assert await env.post(body) == (400, errors)
    assert await env.store.list_topups() == [] and env.daraja.pushes == []


async def test_missing_fields_are_all_reported(env: Env) -> None:
    assert await env.post({}) == (
        400,
        {
            "sender_id": ["Give sender_id, or sender_name (with operator when the name is on "
                          "several)."],
            "package_id": ["This field is required."],
            "units": ["This field is required."],
            "method": ["This field is required."],
        },
    )  # fmt: skip


async def test_another_account_cannot_see_or_pay_into_the_top_up(env: Env) -> None:
    _, created = await env.post(MPESA)
    _, offline = await env.post(OFFLINE)
    for topup in (created, offline):
        for suffix in ("", "?refresh=1"):
            assert await env.get(f"/api/v1/topups/{topup['id']}{suffix}", env.token_b) == (
                404, {"detail": "Not found."},
            )  # fmt: skip
    assert await env.get("/api/v1/topups", env.token_b) == (200, {"count": 0, "results": []})
    status, _ = await env.post({**OFFLINE, "sender_id": "s-a-air"}, env.token_b)
    assert status == 400
    assert len(env.daraja.queries) == 0
    assert await env.get("/api/v1/topups/nope") == (404, {"detail": "Not found."})


async def test_listing_is_newest_first_and_filters(env: Env) -> None:
    await env.post(OFFLINE)
    env.world.clock.advance(60)
    await env.post(MPESA)
    _, body = await env.get("/api/v1/topups")
    assert [t["id"] for t in body["results"]] == ["topup0002", "topup0001"]
    _, body = await env.get("/api/v1/topups?status=pending&limit=1")
    assert (body["count"], [t["id"] for t in body["results"]]) == (2, ["topup0002"])
    assert (await env.get("/api/v1/topups?status=lost"))[0] == 400
    assert (await env.get("/api/v1/topups?limit=0"))[0] == 400


# -- the callback route ------------------------------------------------------------------------

ACCEPTED = b'{"ResultCode":0,"ResultDesc":"Accepted"}'


async def test_unknown_checkout_request_is_acknowledged_and_credits_nothing(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.post(MPESA)
    stranger = fake.Push({"Amount": 432, "PhoneNumber": PHONE}, "m-x", "ws_CO_unknown")
    body = orjson.dumps(fake.callback_body(stranger, 0))
    assert await env.callback(body) == (200, ACCEPTED)
    assert await env.units("s-a-saf") == 100
    assert [t.status for t in await env.store.list_topups()] == [TopUpStatus.PENDING]
    assert "mpesa.callback_review outcome=unknown_request" in caplog.text
    assert "matches no top-up" in caplog.text


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"Body": 1}',
        b'{"Body": {"stkCallback": {"ResultCode": 0}}}',
        b'{"Body": {"stkCallback": {"ResultCode": "x", "CheckoutRequestID": "c"}}}',
        b'{"Body": {"stkCallback": {"MerchantRequestID": "m", "CheckoutRequestID": "c", '
        b'"ResultCode": 0, "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": '
        b'"Infinity"}, {"Name": "MpesaReceiptNumber", "Value": "R"}, '
        b'{"Name": "PhoneNumber", "Value": 1}]}}}}',
        "\u00e9\u00e9".encode("latin-1"),
    ],
)
async def test_garbage_callbacks_are_acknowledged_never_a_500(env: Env, garbage: bytes) -> None:
    _, created = await env.post(MPESA)
    assert await env.callback(garbage) == (200, ACCEPTED)
    assert await env.units("s-a-saf") == 100
    _, body = await env.get(f"/api/v1/topups/{created['id']}")
    assert body["status"] == "PENDING"


async def test_an_oversize_callback_is_refused_unread(env: Env) -> None:
    status, body = await env.callback(b" " * (16 * 1024 + 1))
    assert (status, orjson.loads(body)) == (
        413, {"detail": "Request body is too large (at most 16384 bytes)."},
    )  # fmt: skip


async def test_a_forged_paid_callback_credits_nothing(env: Env) -> None:
    _, created = await env.post(MPESA)
    forged = fake.callback_body(env.daraja.push(created["checkout_request_id"]), 0)
    assert await env.callback(orjson.dumps(forged)) == (200, ACCEPTED)
    _, body = await env.get(f"/api/v1/topups/{created['id']}")
    assert body["status"] == "PENDING"  # Daraja's status query does not confirm it
    assert await env.units("s-a-saf") == 100


# -- the document ------------------------------------------------------------------------------


async def test_openapi_lists_the_top_up_routes_at_the_configured_callback_path(env: Env) -> None:
    response = await env.client.get("/api/openapi.json")
    doc = await response.json()
    assert env.client.app is not None
    served = {
        (route.resource.canonical, route.method.lower())
        for route in env.client.app.router.routes()
        if route.resource is not None
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    assert doc["paths"][CALLBACK_PATH]["post"]["security"] == []
    assert {"201", "400", "503"} <= set(doc["paths"]["/api/v1/topups"]["post"]["responses"])
