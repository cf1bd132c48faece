"""Rate limit, backpressure, body limits and malformed input: always a clear 4xx, never a 500."""

from __future__ import annotations

import jwt
import orjson
import pytest
from aiohttp.test_utils import TestClient

from gatewayd.service.auth import SigningKeys
from http_api import ApiSettings
from tests.http_api.world import (
    CLIENT_A,
    CLIENT_B,
    KEY_1,
    KEY_2,
    SECRET_A,
    SECRET_B,
    SEND,
    World,
    bearer,
    build_world,
    post,
    serve,
    token_for,
)


async def test_rate_limit_answers_429_with_retry_after(world: World) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=3)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        for _ in range(3):
            assert (await client.get("/api/v1/balance", headers=bearer(token))).status == 200
        refused = await client.get("/api/v1/balance", headers=bearer(token))
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "20"
        assert await refused.read() == (
            b'{"detail":"Request was throttled. Expected available in 20 seconds."}'
        )
        world.clock.advance(20)
        assert (await client.get("/api/v1/balance", headers=bearer(token))).status == 200


async def test_rate_limit_is_per_client(world: World) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=1)) as client:
        token_a = await token_for(client, CLIENT_A, SECRET_A)
        token_b = await token_for(client, CLIENT_B, SECRET_B)
        assert (await client.get("/api/v1/balance", headers=bearer(token_a))).status == 200
        assert (await client.get("/api/v1/balance", headers=bearer(token_a))).status == 429
        assert (await client.get("/api/v1/balance", headers=bearer(token_b))).status == 200


async def test_rate_limit_zero_is_off(world: World) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=0)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        for _ in range(100):
            assert (await client.get("/api/v1/balance", headers=bearer(token))).status == 200


async def test_token_requests_are_limited_per_client_id(world: World) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=2)) as client:
        body = {"grant_type": "client_credentials", "client_id": CLIENT_A, "client_secret": "x"}
        assert (await post(client, "/api/generate-token", body))[0] == 400
        assert (await post(client, "/api/generate-token", body))[0] == 400
        status, raw = await post(client, "/api/generate-token", body)
        assert status == 429
        assert raw == b'{"detail":"Request was throttled. Expected available in 30 seconds."}'


async def test_backpressure_answers_503(world: World) -> None:
    async with serve(world, ApiSettings(max_queue_depth=10, busy_retry_after=7)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        world.queue = 11
        response = await client.post("/api/send-sms", json=SEND, headers=bearer(token))
        assert response.status == 503
        assert response.headers["Retry-After"] == "7"
        assert await response.read() == b'{"detail":"The message queue is full. Retry later."}'
        assert await world.store.queue_depth() == 0
        world.queue = 10
        assert (await client.post("/api/send-sms", json=SEND, headers=bearer(token))).status == 200


async def test_oversize_body_is_413(world: World) -> None:
    async with serve(world, ApiSettings(max_body_bytes=2048)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        big = {**SEND, "message": "x" * 4000}
        status, raw = await post(client, "/api/send-sms", big, **bearer(token))
        assert (status, raw) == (
            413,
            b'{"detail":"Request body is too large (at most 2048 bytes)."}',
        )


async def test_oversize_chunked_body_is_413(world: World) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 1024

    async with serve(world, ApiSettings(max_body_bytes=2048)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        response = await client.post(
            "/api/send-sms",
            data=chunks(),
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert response.status == 413
        assert (await response.json())["detail"].startswith("Request body is too large")


@pytest.mark.parametrize(
    ("data", "content_type", "status", "expected"),
    [
        (
            b'{"sender_name": "KIMISMS",',
            "application/json",
            400,
            b'{"detail":"JSON parse error - unexpected end of data: line 1 column 27 (char 26)"}',
        ),
        (
            b"[1, 2]",
            "application/json",
            400,
            b'{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}',
        ),
        (
            b"null",
            "application/json",
            400,
            b'{"non_field_errors":["Invalid data. Expected a dictionary, but got null."]}',
        ),
        (
            b"hello",
            "text/plain",
            415,
            b'{"detail":"Unsupported media type \\"text/plain\\" in request."}',
        ),
        (
            b'"\\ud800"',
            "application/json",
            400,
            b'{"detail":"JSON parse error - no low surrogate in string: line 1 column 2 (char 1)"}',
        ),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400, None),
    ],
    ids=["truncated", "list", "null", "text-plain", "lone-surrogate", "form-not-utf8"],
)
async def test_malformed_bodies(
    client: TestClient,
    token: str,
    data: bytes,
    content_type: str,
    status: int,
    expected: bytes | None,
) -> None:
    response = await client.post(
        "/api/send-sms", data=data, headers={**bearer(token), "Content-Type": content_type}
    )
    assert response.status == status
    raw = await response.read()
    if expected is not None:
        assert raw == expected


async def test_form_body_on_send_sms(client: TestClient, token: str) -> None:
    response = await client.post("/api/send-sms", data=SEND, headers=bearer(token))
    assert response.status == 200


async def test_missing_content_type_is_read_as_json(client: TestClient, token: str) -> None:
    response = await client.post("/api/send-sms", data=orjson.dumps(SEND), headers=bearer(token))
    assert response.status == 200


async def test_unknown_route_and_wrong_method_are_json(client: TestClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert (missing.status, await missing.read()) == (404, b'{"detail":"Not found."}')
    wrong = await client.get("/api/send-sms")
    assert wrong.status == 405
    assert await wrong.read() == b'{"detail":"Method \\"GET\\" not allowed."}'
    assert wrong.headers["Allow"] == "POST"


async def test_expired_token_is_401(world: World, client: TestClient, token: str) -> None:
    world.clock.advance(2_592_000)
    response = await client.get("/api/v1/balance", headers=bearer(token))
    assert response.status == 401
    assert await response.read() == b'{"detail":"Token has expired."}'
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


async def test_unknown_kid_and_rotated_keys() -> None:
    old = await build_world()
    async with serve(old) as client:
        old_token = await token_for(client, CLIENT_A, SECRET_A)
    rotated = await build_world(keys=SigningKeys("k2", {"k1": KEY_1, "k2": KEY_2}))
    async with serve(rotated) as client:
        # a token signed before the rotation still works; a new one is signed with k2
        assert (await client.get("/api/v1/balance", headers=bearer(old_token))).status == 200
        new_token = await token_for(client, CLIENT_A, SECRET_A)
        assert jwt.get_unverified_header(new_token)["kid"] == "k2"
        forged = jwt.encode(
            {"sub": CLIENT_A, "acc": "acc-b", "exp": 2**40, "iss": "gatewayd"},
            KEY_2,
            headers={"kid": "k9"},
        )
        response = await client.get("/api/v1/balance", headers=bearer(forged))
        assert (response.status, await response.read()) == (401, b'{"detail":"Invalid token."}')
    retired = await build_world(keys=SigningKeys("k2", {"k2": KEY_2}))
    async with serve(retired) as client:
        response = await client.get("/api/v1/balance", headers=bearer(old_token))
        assert (response.status, await response.read()) == (401, b'{"detail":"Invalid token."}')


async def test_token_for_another_account_is_refused(client: TestClient) -> None:
    """A well-signed token whose account does not own the client is not honoured."""
    forged = jwt.encode(
        {"sub": CLIENT_A, "acc": "acc-b", "exp": 2**40, "iss": "gatewayd"},
        KEY_1,
        headers={"kid": "k1"},
    )
    response = await client.get("/api/v1/balance", headers=bearer(forged))
    assert response.status == 401


ODD_VALUES: list[object] = [None, True, 0, -1, 1.5, "", " ", [], {}, "x" * 300, "\u0000", "😀"]


@pytest.mark.parametrize("field", ["sender_name", "contact", "message", "callback_url"])
async def test_odd_values_never_500(world: World, field: str) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=0)) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        for value in ODD_VALUES:
            status, raw = await post(
                client, "/api/send-sms", {**SEND, field: value}, **bearer(token)
            )
            assert status in (200, 400), (field, value, status, raw)
