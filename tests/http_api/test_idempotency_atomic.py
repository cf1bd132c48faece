"""Idempotency-Key answers are kept by the accept itself, in the message's transaction: no
moment exists where the message is stored and its answer is not, so a retry never sends
twice, even when the lookup before the send missed the answer (another process, a restart)."""

from __future__ import annotations

import orjson
import pytest
from aiohttp.test_utils import TestClient

from tests.http_api.world import SEND, World, bearer, post

KEY = "0f9e8d7c-6b5a-4321-9876-fedcba987654"


def keyed(token: str) -> dict[str, str]:
    return {**bearer(token), "Idempotency-Key": KEY}


async def test_the_answer_is_kept_with_the_message_not_after_it(
    world: World, client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unused(response: object) -> object:
        raise AssertionError("send-sms keeps its answer through the accept")

    monkeypatch.setattr(world.store, "put_idempotent", unused)
    status, raw = await post(client, "/api/send-sms", SEND, **keyed(token))
    assert status == 200
    kept = await world.store.get_idempotent("acc-a", KEY)
    assert kept is not None and kept.body == raw and kept.status_code == 200


async def test_an_answer_the_lookup_missed_is_replayed_by_the_accept(
    world: World, client: TestClient, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = await post(client, "/api/send-sms", SEND, **keyed(token))

    async def missed(account_id: str, key: str) -> None:
        return None  # as if the first answer committed just after this lookup

    monkeypatch.setattr(world.store, "get_idempotent", missed)
    response = await client.post("/api/send-sms", json=SEND, headers=keyed(token))
    assert (response.status, await response.read()) == (200, first)
    assert response.headers["Idempotent-Replayed"] == "true"
    other = await client.post(
        "/api/send-sms", json={**SEND, "message": "another"}, headers=keyed(token)
    )
    assert other.status == 409
    assert await world.store.balance("s-a-saf") == 99  # debited once
    assert await world.store.queue_depth() == 1
    assert orjson.loads(first)["status"] == "INITIATED"
