"""Idempotency-Key: replays are byte-identical and free; reuse with another body is a 409."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http_api.world import CLIENT_B, SECRET_B, SEND, World, bearer, post, token_for

KEY = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def keyed(token: str, key: str = KEY) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": key}


async def test_same_key_same_body_replays_the_first_answer(
    world: World, client: TestClient, token: str
) -> None:
    first = await client.post("/api/send-sms", json=SEND, headers=keyed(token))
    first_raw = await first.read()
    second = await client.post("/api/send-sms", json=SEND, headers=keyed(token))
    assert (second.status, await second.read()) == (first.status, first_raw) == (200, first_raw)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await world.store.balance("s-a-saf") == 99  # debited once
    assert await world.store.queue_depth() == 1


async def test_key_order_and_spacing_do_not_make_another_body(
    world: World, client: TestClient, token: str
) -> None:
    await post(client, "/api/send-sms", SEND, **keyed(token))
    reordered = orjson.dumps(dict(reversed(list(SEND.items())))) + b"  "
    response = await client.post(
        "/api/send-sms",
        data=reordered,
        headers={**keyed(token), "Content-Type": "application/json"},
    )
    assert response.status == 200 and response.headers["Idempotent-Replayed"] == "true"


async def test_same_key_other_body_is_a_conflict(
    world: World, client: TestClient, token: str
) -> None:
    await post(client, "/api/send-sms", SEND, **keyed(token))
    status, raw = await post(client, "/api/send-sms", {**SEND, "message": "other"}, **keyed(token))
    assert status == 409
    assert raw == b'{"detail":"Idempotency-Key was already used with a different request."}'
    assert await world.store.balance("s-a-saf") == 99


async def test_keys_are_scoped_per_account(world: World, client: TestClient, token: str) -> None:
    await post(client, "/api/send-sms", SEND, **keyed(token))
    token_b = await token_for(client, CLIENT_B, SECRET_B)
    status, raw = await post(
        client, "/api/send-sms", {**SEND, "sender_name": "BETA"}, **keyed(token_b)
    )
    assert status == 200
    assert orjson.loads(raw)["message_id"] == "msg-0002"
    assert await world.store.balance("s-b-saf") == 49


async def test_refusals_are_not_stored(world: World, client: TestClient, token: str) -> None:
    status, _ = await post(client, "/api/send-sms", {**SEND, "sender_name": "NOPE"}, **keyed(token))
    assert status == 400
    status, _ = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert status == 200  # the key was not used up by the refusal


async def test_concurrent_retries_send_once(world: World, client: TestClient, token: str) -> None:
    results = await asyncio.gather(
        *(post(client, "/api/send-sms", SEND, **keyed(token)) for _ in range(5))
    )
    assert {r for r in results} == {results[0]}
    assert results[0][0] == 200
    assert await world.store.queue_depth() == 1
    assert await world.store.balance("s-a-saf") == 99


async def test_key_expires_after_24_hours(world: World, client: TestClient, token: str) -> None:
    _, first = await post(client, "/api/send-sms", SEND, **keyed(token))
    world.clock.advance(24 * 3600 - 1)
    _, replay = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert replay == first
    world.clock.advance(2)
    _, fresh = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert orjson.loads(fresh)["message_id"] != orjson.loads(first)["message_id"]
    _, again = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert again == fresh  # the new answer is kept for the next 24 hours


async def test_malformed_key(client: TestClient, token: str) -> None:
    for key in ("", "x" * 256, "naïve"):
        response = await client.post("/api/send-sms", json=SEND, headers=keyed(token, key))
        assert response.status == 400
        assert await response.read() == (
            b'{"detail":"Idempotency-Key must be 1 to 255 printable ASCII characters."}'
        )


async def test_answer_is_returned_even_if_keeping_it_fails(
    world: World, client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(response: object) -> object:
        raise ConnectionError("store went away")

    monkeypatch.setattr(world.store, "put_idempotent", broken)
    status, raw = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert status == 200
    assert orjson.loads(raw)["status"] == "INITIATED"
