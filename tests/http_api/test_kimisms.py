"""Seed 001's two endpoints over real HTTP: bodies and status codes byte for byte."""

from __future__ import annotations

import base64

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http_api.world import (
    AIRTEL_NUMBER,
    CLIENT_A,
    SAFARICOM_NUMBER,
    SECRET_A,
    SEND,
    TELKOM_NUMBER,
    World,
    bearer,
    post,
)

# -- generate-token ----------------------------------------------------------------------


async def test_generate_token_shape(client: TestClient) -> None:
    response = await client.post(
        "/api/generate-token",
        json={"grant_type": "client_credentials", "client_id": CLIENT_A, "client_secret": SECRET_A},
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    raw = await response.read()
    body = orjson.loads(raw)
    assert list(body) == ["token_type", "access_token", "expires_in"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 2592000
    assert raw == (
        b'{"token_type":"Bearer","access_token":"'
        + body["access_token"].encode()
        + b'","expires_in":2592000}'
    )


async def test_generate_token_accepts_a_form_body(client: TestClient) -> None:
    response = await client.post(
        "/api/generate-token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_A, "client_secret": SECRET_A},
    )
    assert response.status == 200
    assert (await response.json())["token_type"] == "Bearer"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_generate_token_accepts_http_basic_client_credentials(client: TestClient) -> None:
    """RFC 6749 client_secret_basic, as OAuth libraries send it."""
    response = await client.post(
        "/api/generate-token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(CLIENT_A, SECRET_A)},
    )
    assert response.status == 200
    wrong = await client.post(
        "/api/generate-token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(CLIENT_A, "nope")},
    )
    assert (wrong.status, await wrong.read()) == (400, b'{"credentials":["Invalid credentials"]}')
    broken = await client.post(
        "/api/generate-token",
        json={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!"},
    )
    assert (broken.status, await broken.read()) == (400, b'{"detail":"Invalid basic header."}')


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_A, "client_secret": "nope"},
            b'{"credentials":["Invalid credentials"]}',
        ),
        (
            {"grant_type": "client_credentials", "client_id": "ghost", "client_secret": SECRET_A},
            b'{"credentials":["Invalid credentials"]}',
        ),
        (
            {"grant_type": "password", "client_id": CLIENT_A, "client_secret": SECRET_A},
            b'{"grant_type":["Must be client_credentials"]}',
        ),
        (
            {},
            b'{"grant_type":["This field is required."],"client_id":["This field is required."],'
            b'"client_secret":["This field is required."]}',
        ),
        (
            {"grant_type": "client_credentials", "client_id": "", "client_secret": ["x"]},
            b'{"client_id":["This field may not be blank."],'
            b'"client_secret":["Not a valid string."]}',
        ),
        (
            {"grant_type": None, "client_id": CLIENT_A, "client_secret": SECRET_A},
            b'{"grant_type":["This field may not be null."]}',
        ),
    ],
    ids=["wrong-secret", "unknown-client", "grant-type", "empty", "types", "null"],
)
async def test_generate_token_errors(client: TestClient, body: object, expected: bytes) -> None:
    assert await post(client, "/api/generate-token", body) == (400, expected)


# -- send-sms ------------------------------------------------------------------------------


async def test_send_sms_success_body(world: World, client: TestClient, token: str) -> None:
    status, raw = await post(client, "/api/send-sms", SEND, **bearer(token))
    assert status == 200
    assert raw == (
        b'{"message_id":"msg-0001","contact":"254712345678","status":"INITIATED",'
        b'"description":"Message queued for delivery","provider":"Safaricom"}'
    )
    assert await world.store.balance("s-a-saf") == 99


async def test_send_sms_normalises_contact_and_names_the_provider(
    client: TestClient, token: str
) -> None:
    body = {**SEND, "contact": "+254 733 123 456", "callback_url": None}
    status, raw = await post(client, "/api/send-sms", body, **bearer(token))
    assert status == 400  # Airtel sender has no float: refused, but routed to Airtel
    assert raw == b'{"sender_name":["Insufficient balance","needs 1 SMS unit, 0 available"]}'
    status, raw = await post(
        client, "/api/send-sms", {**SEND, "contact": 712345678}, **bearer(token)
    )
    assert status == 200
    assert orjson.loads(raw)["contact"] == SAFARICOM_NUMBER


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sender_name": "NOPE"}, b'{"sender_name":["Sender ID not found"]}'),
        ({"sender_name": "BETA"}, b'{"sender_name":["Sender ID not found"]}'),
        (
            {"contact": TELKOM_NUMBER},
            b'{"sender_name":["No matching sender",'
            b'"KIMISMS has no Sender ID on Telkom, the recipient\'s network"]}',
        ),
        (
            {"contact": AIRTEL_NUMBER},
            b'{"sender_name":["Insufficient balance","needs 1 SMS unit, 0 available"]}',
        ),
        (
            {"contact": "12345"},
            '{"contact":["Invalid number","must have 9–13 digits after cleaning, has 5"]}'.encode(),
        ),
        (
            {"message": "x" * 10_001},
            b'{"message":["Ensure this field has no more than 10000 characters."]}',
        ),
        (
            {"callback_url": "http://127.0.0.1/cb"},
            b'{"callback_url":["Callback URL must not point to a loopback address"]}',
        ),
        (
            {"callback_url": "ftp://x.example/cb"},
            b'{"callback_url":["Callback URL must use http or https"]}',
        ),
        (
            {"sender_name": "", "contact": True, "message": "   "},
            b'{"sender_name":["This field may not be blank."],"contact":["Not a valid string."],'
            b'"message":["This field may not be blank."]}',
        ),
    ],
    ids=[
        "unknown-sender",
        "other-accounts-sender",
        "no-matching-sender",
        "insufficient-balance",
        "invalid-number",
        "too-long",
        "loopback-callback",
        "ftp-callback",
        "field-types",
    ],
)
async def test_send_sms_refusals(
    world: World, client: TestClient, token: str, change: dict[str, object], expected: bytes
) -> None:
    status, raw = await post(client, "/api/send-sms", {**SEND, **change}, **bearer(token))
    assert (status, raw) == (400, expected)
    assert await world.store.queue_depth() == 0
    assert await world.store.balances("acc-b") == {"s-b-saf": 50}
    assert (await world.store.balances("acc-a"))["s-a-saf"] == 100


async def test_send_sms_missing_fields(client: TestClient, token: str) -> None:
    status, raw = await post(client, "/api/send-sms", {"callback_url": ""}, **bearer(token))
    assert status == 400
    assert raw == (
        b'{"sender_name":["This field is required."],"contact":["This field is required."],'
        b'"message":["This field is required."]}'
    )


async def test_send_sms_without_token(client: TestClient) -> None:
    response = await client.post("/api/send-sms", json=SEND)
    assert response.status == 401
    assert await response.read() == b'{"detail":"Authentication credentials were not provided."}'
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic Zm9vOmJhcg==", b'{"detail":"Authentication credentials were not provided."}'),
        ("Bearer", b'{"detail":"Invalid token header."}'),
        ("Bearer a b", b'{"detail":"Invalid token header."}'),
        ("Bearer not.a.jwt", b'{"detail":"Invalid token."}'),
    ],
)
async def test_send_sms_bad_authorization(client: TestClient, header: str, expected: bytes) -> None:
    response = await client.post("/api/send-sms", json=SEND, headers={"Authorization": header})
    assert (response.status, await response.read()) == (401, expected)


async def test_unicode_message_is_kept_verbatim(
    world: World, client: TestClient, token: str
) -> None:
    text = "  Karibu! Jambo 😀 \n"
    status, raw = await post(client, "/api/send-sms", {**SEND, "message": text}, **bearer(token))
    assert status == 200
    stored = await world.store.get_message(orjson.loads(raw)["message_id"])
    assert stored.text == text and stored.encoding == "ucs2"


async def test_priority_and_client_ref_extensions(
    world: World, client: TestClient, token: str
) -> None:
    body = {**SEND, "priority": "9", "client_ref": "order-77"}
    status, raw = await post(client, "/api/send-sms", body, **bearer(token))
    assert status == 200
    stored = await world.store.get_message(orjson.loads(raw)["message_id"])
    assert (stored.priority, stored.client_ref) == (9, "order-77")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (11, b'{"priority":["Ensure this value is less than or equal to 10."]}'),
        (-1, b'{"priority":["Ensure this value is greater than or equal to 0."]}'),
        ("high", b'{"priority":["A valid integer is required."]}'),
        (True, b'{"priority":["A valid integer is required."]}'),
        (1.5, b'{"priority":["A valid integer is required."]}'),
    ],
)
async def test_bad_priority(client: TestClient, token: str, value: object, expected: bytes) -> None:
    status, raw = await post(client, "/api/send-sms", {**SEND, "priority": value}, **bearer(token))
    assert (status, raw) == (400, expected)
