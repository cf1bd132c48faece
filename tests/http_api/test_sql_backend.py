"""The API's main flows over the real SQLite store, not only the fake: accept with its debit,
read back with the timeline, idempotent replay kept by the store, balances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from gatewayd.store import open_store
from tests.http_api.world import (
    CLIENT_A,
    CLIENT_B,
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


@pytest.fixture
async def sql_world(tmp_path: Path) -> AsyncIterator[World]:
    store = await open_store(f"sqlite:///{tmp_path / 'gatewayd.db'}")
    await store.migrate()
    try:
        yield await build_world(store=store)
    finally:
        await store.close()


async def test_send_read_replay_and_balance_on_sqlite(sql_world: World) -> None:
    async with serve(sql_world) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        headers = {**bearer(token), "Idempotency-Key": "k-1"}
        status, first = await post(client, "/api/send-sms", SEND, **headers)
        assert status == 200
        status, again = await post(client, "/api/send-sms", SEND, **headers)
        assert (status, again) == (200, first)
        status, _ = await post(client, "/api/send-sms", {**SEND, "message": "x"}, **headers)
        assert status == 409

        message_id = orjson.loads(first)["message_id"]
        detail = await (
            await client.get(f"/api/v1/messages/{message_id}", headers=bearer(token))
        ).json()
        assert detail["status"] == "INITIATED" and detail["units"] == 1
        assert [e["status"] for e in detail["timeline"]] == ["INITIATED"]

        balance = await (await client.get("/api/v1/balance", headers=bearer(token))).json()
        assert balance["operators"]["safaricom"] == 109

        status, raw = await post(
            client, "/api/send-sms", {**SEND, "sender_name": "NOPE"}, **bearer(token)
        )
        assert (status, raw) == (400, b'{"sender_name":["Sender ID not found"]}')

        token_b = await token_for(client, CLIENT_B, SECRET_B)
        other = await client.get(f"/api/v1/messages/{message_id}", headers=bearer(token_b))
        assert other.status == 404
        assert (
            await sql_world.store.ledger_sum("s-a-saf")
            == await sql_world.store.balance("s-a-saf")
            == 99
        )


async def test_bulk_send_replay_and_float_on_sqlite(sql_world: World) -> None:
    async with serve(sql_world) as client:
        token = await token_for(client, CLIENT_A, SECRET_A)
        headers = {**bearer(token), "Idempotency-Key": "bulk-1"}
        messages = [{"contact": "254712345678", "message": "x" * 161, "client_ref": f"r{i}"}
                    for i in range(60)]  # fmt: skip
        body = {"sender_name": "KIMISMS", "messages": messages}
        status, first = await post(client, "/api/v1/messages/bulk", body, **headers)
        assert status == 200
        answer = orjson.loads(first)
        assert (answer["accepted"], answer["rejected"], answer["units"]) == (50, 10, 100)
        status, again = await post(client, "/api/v1/messages/bulk", body, **headers)
        assert (status, again) == (200, first)
        assert await sql_world.store.balance("s-a-saf") == 0
        assert await sql_world.store.ledger_sum("s-a-saf") == 0
        assert await sql_world.store.queue_depth("safaricom") == 50
        message_id = answer["messages"][7]["message_id"]
        detail = await (
            await client.get(f"/api/v1/messages/{message_id}", headers=bearer(token))
        ).json()
        assert detail["client_ref"] == "r7" and detail["units"] == 2
