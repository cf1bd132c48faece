"""GET /api/v1/messages/{id} and /api/v1/balance: the owner sees them, nobody else does."""

from __future__ import annotations

import orjson
from aiohttp.test_utils import TestClient

from gatewayd.service.model import MessageStatus, StatusEvent
from tests.http_api.world import (
    CLIENT_B,
    SECRET_B,
    SEND,
    T0,
    World,
    bearer,
    post,
    token_for,
)


async def test_message_detail_with_timeline(world: World, client: TestClient, token: str) -> None:
    status, raw = await post(client, "/api/send-sms", SEND, **bearer(token))
    assert status == 200
    message_id = orjson.loads(raw)["message_id"]
    await world.store.append_event(
        StatusEvent(message_id, MessageStatus.SENT, "Sent to Safaricom", T0.replace(second=2))
    )
    response = await client.get(f"/api/v1/messages/{message_id}", headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert body["message_id"] == message_id
    assert body["contact"] == "254712345678"
    assert body["provider"] == "Safaricom"
    assert body["sender_name"] == "KIMISMS"
    assert (body["units"], body["parts"], body["encoding"]) == (1, 1, "gsm7")
    assert body["created_at"] == "2026-11-22T08:00:00Z"
    assert body["timeline"][0] == {
        "status": "INITIATED",
        "description": "Message queued for delivery",
        "timestamp": "2026-11-22T08:00:00Z",
    }
    assert body["timeline"][-1] == {
        "status": "SENT",
        "description": "Sent to Safaricom",
        "timestamp": "2026-11-22T08:00:02Z",
    }


async def test_other_account_gets_404_not_403(client: TestClient, token: str) -> None:
    _, raw = await post(client, "/api/send-sms", SEND, **bearer(token))
    message_id = orjson.loads(raw)["message_id"]
    token_b = await token_for(client, CLIENT_B, SECRET_B)
    response = await client.get(f"/api/v1/messages/{message_id}", headers=bearer(token_b))
    assert (response.status, await response.read()) == (404, b'{"detail":"Not found."}')
    unknown = await client.get("/api/v1/messages/does-not-exist", headers=bearer(token))
    assert (unknown.status, await unknown.read()) == (404, b'{"detail":"Not found."}')


async def test_account_b_cannot_spend_account_a_sender(world: World, client: TestClient) -> None:
    token_b = await token_for(client, CLIENT_B, SECRET_B)
    status, raw = await post(client, "/api/send-sms", SEND, **bearer(token_b))  # KIMISMS is A's
    assert (status, raw) == (400, b'{"sender_name":["Sender ID not found"]}')
    assert (await world.store.balances("acc-a"))["s-a-saf"] == 100
    status, _ = await post(
        client, "/api/send-sms", {**SEND, "sender_name": "BETA"}, **bearer(token_b)
    )
    assert status == 200
    assert await world.store.balances("acc-b") == {"s-b-saf": 49}


async def test_message_read_needs_a_token(client: TestClient) -> None:
    response = await client.get("/api/v1/messages/x")
    assert response.status == 401


async def test_balance(client: TestClient, token: str) -> None:
    await post(client, "/api/send-sms", SEND, **bearer(token))
    response = await client.get("/api/v1/balance", headers=bearer(token))
    assert response.status == 200
    assert await response.read() == (
        b'{"total":109,"senders":['
        b'{"sender_id":"s-a-air","sender_name":"KIMISMS","operator":"airtel",'
        b'"provider":"Airtel","units":0},'
        b'{"sender_id":"s-a-saf","sender_name":"KIMISMS","operator":"safaricom",'
        b'"provider":"Safaricom","units":99},'
        b'{"sender_id":"s-a-promo","sender_name":"PROMO","operator":"safaricom",'
        b'"provider":"Safaricom","units":10}],'
        b'"operators":{"safaricom":109,"airtel":0,"telkom":0}}'
    )


async def test_balance_shows_only_own_senders(client: TestClient) -> None:
    token_b = await token_for(client, CLIENT_B, SECRET_B)
    body = await (await client.get("/api/v1/balance", headers=bearer(token_b))).json()
    assert [s["sender_id"] for s in body["senders"]] == ["s-b-saf"]
    assert body["total"] == 50
