"""POST /api/v1/messages/bulk: many messages in one request, each checked as send-sms checks
one, accepted in one store transaction; request-level problems are a 4xx with nothing stored."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gatewayd.service.model import CampaignType, LedgerKind, SenderType
from http_api import ApiSettings
from tests.http_api.world import (
    AIRTEL_NUMBER,
    CLIENT_B,
    SAFARICOM_NUMBER,
    SECRET_B,
    SEND,
    T0,
    TELKOM_NUMBER,
    UNALLOCATED_NUMBER,
    UNROUTED_NUMBER,
    World,
    bearer,
    post,
    serve,
    token_for,
)

BULK = "/api/v1/messages/bulk"
QUEUED = "Message queued for delivery"
LONG_GSM = "x" * 161  # two units


def msg(contact: str = SAFARICOM_NUMBER, text: str = "Hello", **more: Any) -> dict[str, Any]:
    return {"contact": contact, "message": text, **more}


async def bulk(
    client: TestClient, token: str, body: object, **headers: str
) -> tuple[int, dict[str, Any]]:
    status, raw = await post(client, BULK, body, **bearer(token), **headers)
    return status, orjson.loads(raw)


async def stored(world: World) -> int:
    return int(await world.store.queue_depth())


async def test_mixed_valid_and_invalid_messages(
    client: TestClient, token: str, world: World
) -> None:
    body = {
        "sender_name": "KIMISMS",
        "callback_url": "https://yourapp.com/callback",
        "messages": [
            msg(client_ref="a-1"),
            msg("2547123", client_ref="a-2"),
            msg(text="   "),
            msg(UNALLOCATED_NUMBER),
            msg(client_ref="r" * 65),
            msg(
                "0712 345 678", "Second", client_ref="a-6", callback_url="https://other.example/cb"
            ),
        ],
    }
    status, answer = await bulk(client, token, body)
    assert status == 200
    assert (answer["accepted"], answer["rejected"], answer["units"]) == (2, 4, 2)
    first, bad_number, blank, unallocated, long_ref, last = answer["messages"]
    assert first == {
        "index": 0,
        "client_ref": "a-1",
        "contact": SAFARICOM_NUMBER,
        "message_id": first["message_id"],
        "status": "INITIATED",
        "description": QUEUED,
        "provider": "Safaricom",
    }
    assert list(first) == ["index", "client_ref", "contact", "message_id", "status",
                           "description", "provider"]  # fmt: skip
    assert bad_number["status"] == "REJECTED" and bad_number["index"] == 1
    assert bad_number["client_ref"] == "a-2" and bad_number["contact"] == "2547123"
    assert list(bad_number["errors"]) == ["contact"]
    assert blank["errors"] == {"message": ["This field may not be blank."]}
    assert unallocated["errors"]["contact"][0] == "Invalid number"
    assert long_ref["errors"] == {
        "client_ref": ["Ensure this field has no more than 64 characters."]
    }
    assert last["index"] == 5 and last["contact"] == SAFARICOM_NUMBER
    assert await stored(world) == 2
    assert await world.store.balance("s-a-saf") == 98 == await world.store.ledger_sum("s-a-saf")
    kept = await world.store.get_message(last["message_id"])
    assert (kept.client_ref, kept.callback_url) == ("a-6", "https://other.example/cb")
    kept = await world.store.get_message(first["message_id"])
    assert (kept.client_ref, kept.callback_url) == ("a-1", "https://yourapp.com/callback")
    detail = await client.get(f"/api/v1/messages/{first['message_id']}", headers=bearer(token))
    assert (await detail.json())["client_ref"] == "a-1"


@pytest.mark.parametrize(
    "fields",
    [
        {"contact": "2547123"},
        {"contact": UNALLOCATED_NUMBER},
        {"contact": UNROUTED_NUMBER},
        {"contact": AIRTEL_NUMBER},  # KIMISMS on Airtel has no float
        {"contact": TELKOM_NUMBER},  # no KIMISMS on Telkom
        {"contact": ""},
        {"contact": ["x"]},
        {"message": ""},
        {"message": "\x00bad"},
        {"message": "é" * 10_001},
        {"callback_url": "ftp://example.com/x"},
        {"callback_url": "http://127.0.0.1/x"},
        {"sender_name": "NOPE"},
    ],
)
async def test_each_refusal_is_send_smss(
    client: TestClient, token: str, world: World, fields: dict[str, Any]
) -> None:
    single = {**SEND, **fields}
    status, raw = await post(client, "/api/send-sms", single, **bearer(token))
    assert status == 400
    item = {k: v for k, v in single.items() if k in ("contact", "message", "callback_url")}
    status, answer = await bulk(
        client, token, {"sender_name": single["sender_name"], "messages": [item, msg()]}
    )
    assert status == 200
    refused, accepted = answer["messages"]
    assert refused["status"] == "REJECTED" and refused["errors"] == orjson.loads(raw)
    assert accepted["status"] == "INITIATED" or single["sender_name"] == "NOPE"


async def test_the_float_running_out_part_way(client: TestClient, token: str, world: World) -> None:
    messages = [msg(text=LONG_GSM, client_ref=f"m{i}") for i in range(52)]  # 2 units each
    messages.insert(3, msg(AIRTEL_NUMBER))  # Airtel's float is empty from the start
    messages.append(msg(text="one unit"))  # after the shortfall: refused too
    status, answer = await bulk(client, token, {"sender_name": "KIMISMS", "messages": messages})
    assert status == 200
    assert (answer["accepted"], answer["rejected"], answer["units"]) == (50, 4, 100)
    results = answer["messages"]
    assert [r["index"] for r in results] == list(range(54))
    assert results[3]["errors"] == {
        "sender_name": ["Insufficient balance", "needs 1 SMS unit, 0 available"]
    }
    assert all(r["status"] == "INITIATED" for r in results[:3] + results[4:51])
    for refused in results[51:]:
        assert refused["status"] == "REJECTED"
        assert refused["errors"]["sender_name"][0] == "Insufficient balance"
    assert results[53]["errors"]["sender_name"][1] == "needs 1 SMS unit, 0 available"
    assert await world.store.balance("s-a-saf") == 0 == await world.store.ledger_sum("s-a-saf")
    assert await stored(world) == 50


async def test_several_sender_names_pick_each_recipients_operator(
    client: TestClient, token: str, world: World
) -> None:
    store = world.store
    await store.create_sender("s-a-tel", "acc-a", "TELCO", "telkom", SenderType.ALPHANUMERIC,
                              CampaignType.TRANSACTIONAL, T0)  # fmt: skip
    await store.post_entry("s-a-tel", LedgerKind.TOPUP, 5, "test", "seed", "t1", T0)
    await store.post_entry("s-a-air", LedgerKind.TOPUP, 5, "test", "seed", "t2", T0)
    body = {
        "sender_name": ["KIMISMS", "TELCO"],
        "messages": [
            msg(SAFARICOM_NUMBER),
            msg(AIRTEL_NUMBER),
            msg(TELKOM_NUMBER),
            msg(UNROUTED_NUMBER),
        ],
    }
    status, answer = await bulk(client, token, body)
    assert status == 200
    saf, air, tel, unrouted = answer["messages"]
    assert [saf["provider"], air["provider"], tel["provider"]] == ["Safaricom", "Airtel", "Telkom"]
    senders = [(await store.get_message(m["message_id"])).sender_id for m in (saf, air, tel)]
    assert senders == ["s-a-saf", "s-a-air", "s-a-tel"]
    assert unrouted["errors"]["sender_name"][0] == "No matching sender"
    # A name that does not exist beside one that does: the pool is the one that does.
    _, answer = await bulk(client, token, {"sender_name": ["NOPE", "TELCO"],
                                           "messages": [msg(TELKOM_NUMBER), msg()]})  # fmt: skip
    assert answer["messages"][0]["status"] == "INITIATED"
    assert answer["messages"][1]["errors"]["sender_name"][0] == "No matching sender"
    _, answer = await bulk(client, token, {"sender_name": ["NOPE", "NADA"], "messages": [msg()]})
    assert answer["messages"][0]["errors"] == {"sender_name": ["Sender ID not found"]}


async def test_idempotency_key_replays_and_conflicts(
    client: TestClient, token: str, world: World
) -> None:
    body = {"sender_name": "KIMISMS", "messages": [msg(), msg("123"), msg(AIRTEL_NUMBER)]}
    first = await client.post(BULK, json=body, headers={**bearer(token), "Idempotency-Key": "k1"})
    first_body = await first.read()
    again = await client.post(BULK, json=body, headers={**bearer(token), "Idempotency-Key": "k1"})
    assert again.status == 200 and await again.read() == first_body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await stored(world) == 1
    assert await world.store.balance("s-a-saf") == 99
    other = {**body, "messages": [msg(text="other")]}
    conflict = await client.post(
        BULK, json=other, headers={**bearer(token), "Idempotency-Key": "k1"}
    )
    assert conflict.status == 409
    assert await stored(world) == 1
    kept = await world.store.get_idempotent("acc-a", "k1")
    assert kept is not None and kept.body == first_body


async def test_a_key_keeps_nothing_when_nothing_was_accepted(
    client: TestClient, token: str, world: World
) -> None:
    headers = {**bearer(token), "Idempotency-Key": "k2"}
    refused = {"sender_name": "KIMISMS", "messages": [msg(AIRTEL_NUMBER)]}
    response = await client.post(BULK, json=refused, headers=headers)
    assert (await response.json())["accepted"] == 0
    assert await world.store.get_idempotent("acc-a", "k2") is None
    await world.store.post_entry("s-a-air", LedgerKind.TOPUP, 1, "test", "cash", "t3", T0)
    response = await client.post(BULK, json=refused, headers=headers)
    assert (await response.json())["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"sender_name": "KIMISMS"}, {"messages": ["This field is required."]}),
        ({"sender_name": "KIMISMS", "messages": []}, {"messages": ["This list may not be empty."]}),
        (
            {"sender_name": "KIMISMS", "messages": "x"},
            {"messages": ['Expected a list of items but got type "str".']},
        ),
        (
            {"sender_name": "KIMISMS", "messages": [msg(), "x"]},
            {"messages": {"1": ["Invalid data. Expected a dictionary, but got str."]}},
        ),
        (
            {"sender_name": "KIMISMS", "messages": [msg()] * 4},
            {"messages": ["Ensure this field has no more than 3 elements."]},
        ),
        ({"messages": [msg()]}, {"sender_name": ["This field is required."]}),
        (
            {"sender_name": [], "messages": [msg()]},
            {"sender_name": ["This list may not be empty."]},
        ),
        ({"sender_name": {"a": 1}, "messages": [msg()]}, {"sender_name": ["Not a valid string."]}),
        (
            {"sender_name": ["KIMISMS", 7.5, None], "messages": [msg()]},
            {"sender_name": ["Item 2: This field may not be null."]},
        ),
        (
            {"sender_name": "KIMISMS", "priority": 11, "messages": [msg()]},
            {"priority": ["Ensure this value is less than or equal to 10."]},
        ),
        (
            {"sender_name": "KIMISMS", "callback_url": [], "messages": [msg()]},
            {"callback_url": ["Not a valid string."]},
        ),
    ],
)
async def test_request_level_problems_are_400_and_store_nothing(
    world: World, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    async with serve(world, ApiSettings(bulk_max_messages=3)) as client:
        token = await token_for(client, "client-a", "secret-a-0123456789")
        status, answer = await bulk(client, token, body)
    assert (status, answer) == (400, errors)
    assert await stored(world) == 0


async def test_bad_json_auth_media_type_and_size(world: World) -> None:
    settings = ApiSettings(max_body_bytes=1024, bulk_max_body_bytes=4096)
    async with serve(world, settings) as client:
        token = await token_for(client, "client-a", "secret-a-0123456789")
        headers = {**bearer(token), "Content-Type": "application/json"}
        broken = await client.post(BULK, data=b'{"messages": [', headers=headers)
        assert broken.status == 400 and "JSON parse error" in (await broken.json())["detail"]
        listed = await client.post(BULK, data=b"[1]", headers=headers)
        assert listed.status == 400
        anonymous = await client.post(BULK, json={"sender_name": "KIMISMS", "messages": [msg()]})
        assert anonymous.status == 401
        # Above the other routes' limit, within the bulk route's own.
        fits = {"sender_name": "KIMISMS", "messages": [msg(text="y" * 150)] * 20}
        assert 1024 < len(orjson.dumps(fits)) <= 4096
        assert (await client.post(BULK, json=fits, headers=bearer(token))).status == 200
        too_big = {"sender_name": "KIMISMS", "messages": [msg(text="y" * 150)] * 30}
        refused = await client.post(BULK, json=too_big, headers=bearer(token))
        assert refused.status == 413
        assert await refused.json() == {"detail": "Request body is too large (at most 4096 bytes)."}
        sms = await client.post("/api/send-sms", json={**SEND, "message": "y" * 2000},
                                headers=bearer(token))  # fmt: skip
        assert sms.status == 413
    assert await stored(world) == 20


async def test_the_rate_limit_counts_one_request(world: World) -> None:
    async with serve(world, ApiSettings(rate_limit_per_minute=2)) as client:
        token = await token_for(client, "client-a", "secret-a-0123456789")
        body = {"sender_name": "KIMISMS", "messages": [msg()] * 10}
        assert (await bulk(client, token, body))[0] == 200
        assert (await bulk(client, token, body))[0] == 200
        status, answer = await bulk(client, token, body)
        assert status == 429 and "throttled" in answer["detail"]
    assert await stored(world) == 20


async def test_a_deep_queue_answers_503(world: World) -> None:
    async with serve(world, ApiSettings(max_queue_depth=10, busy_retry_after=7)) as client:
        token = await token_for(client, "client-a", "secret-a-0123456789")
        world.queue = 11
        response = await client.post(
            BULK, json={"sender_name": "KIMISMS", "messages": [msg()]}, headers=bearer(token)
        )
        assert response.status == 503 and response.headers["Retry-After"] == "7"
    assert await stored(world) == 0


async def test_tenants_are_isolated(client: TestClient, token: str, world: World) -> None:
    token_b = await token_for(client, CLIENT_B, SECRET_B)
    _, answer = await bulk(client, token_b, {"sender_name": "KIMISMS", "messages": [msg()]})
    assert answer["messages"][0]["errors"] == {"sender_name": ["Sender ID not found"]}
    _, answer = await bulk(client, token_b, {"sender_name": ["BETA"], "messages": [msg()] * 2})
    assert answer["accepted"] == 2
    assert await world.store.balance("s-b-saf") == 48
    assert await world.store.balance("s-a-saf") == 100
    theirs = answer["messages"][0]["message_id"]
    assert (await client.get(f"/api/v1/messages/{theirs}", headers=bearer(token))).status == 404
    # The same Idempotency-Key in two accounts is two keys.
    body = {"sender_name": "BETA", "messages": [msg()]}
    first = await client.post(BULK, json=body, headers={**bearer(token_b), "Idempotency-Key": "k"})
    mine = await client.post(BULK, json={"sender_name": "KIMISMS", "messages": [msg()]},
                             headers={**bearer(token), "Idempotency-Key": "k"})  # fmt: skip
    assert first.status == mine.status == 200
    assert "Idempotent-Replayed" not in mine.headers
