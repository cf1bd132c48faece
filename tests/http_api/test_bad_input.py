"""Odd input gets a 400 naming the field, never a 500, on every store (PRODUCT.md "What users
must never see"): integers like "--3" or "²", and control characters (PostgreSQL cannot store
NUL, so there it used to reach the database and fail). The fuzz suite runs over the fake; these
fixed cases run over the fake, SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gatewayd.service.model import Package
from gatewayd.service.topups import TopUps
from gatewayd.store import open_store
from http_api import create_app
from http_api.topup_access import AccountTopUps
from tests.gatewayd.store.pg import fresh_schema
from tests.http_api.world import CLIENT_A, SECRET_A, SEND, bearer, build_world, token_for

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TOPUP = {"sender_id": "s-a-saf", "package_id": "pkg-saf", "units": 100, "method": "offline"}
TOKEN_BODY = {
    "grant_type": "client_credentials",
    "client_id": CLIENT_A,
    "client_secret": SECRET_A,
}


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TestClient]:
    """The app with top-ups over a populated world on the backend under test."""
    cleanup: list[Callable[[], Awaitable[None]]] = []
    store: Any = None
    if request.param == "sqlite":
        store = await open_store(f"sqlite:///{tmp_path / 'gatewayd.db'}")
    elif request.param == "postgres":
        url, drop = await fresh_schema(request.getfixturevalue("postgres_dsn"))
        cleanup.append(drop)
        store = await open_store(url)
    if store is not None:
        await store.migrate()
    world = await build_world(store=store)
    await world.store.create_package(Package("pkg-saf", "Bulk", "safaricom", 35, 100, True))
    topups = TopUps(world.store, None, expiry=timedelta(minutes=2), new_id=lambda: "topup-1")
    deps = dataclasses.replace(world.deps(), topups=AccountTopUps(topups, world.store))
    try:
        async with TestClient(TestServer(create_app(deps))) as test_client:
            yield test_client
    finally:
        if store is not None:
            await store.close()
        for step in cleanup:
            await step()


async def _post(client: TestClient, path: str, body: object) -> tuple[int, Any]:
    headers = (
        {} if path == "/api/generate-token" else bearer(await token_for(client, CLIENT_A, SECRET_A))
    )
    response = await client.post(path, json=body, headers=headers)
    return response.status, orjson.loads(await response.read())


@pytest.mark.parametrize("value", ["--3", "²", "٣", "1_0", "3" * 40, "- 3", "\x00"])
async def test_priority_not_an_integer_is_400(client: TestClient, value: str) -> None:
    status, body = await _post(client, "/api/send-sms", {**SEND, "priority": value})
    assert (status, body) == (400, {"priority": ["A valid integer is required."]})


@pytest.mark.parametrize("value", ["--3", "²", "\x00"])
async def test_topup_units_not_an_integer_is_400(client: TestClient, value: str) -> None:
    status, body = await _post(client, "/api/v1/topups", {**TOPUP, "units": value})
    assert (status, body) == (400, {"units": ["A valid integer is required."]})


async def test_integer_strings_still_taken(client: TestClient) -> None:
    status, _ = await _post(client, "/api/send-sms", {**SEND, "priority": " 7 "})
    assert status == 200
    status, body = await _post(client, "/api/send-sms", {**SEND, "priority": "-3"})
    assert (status, body) == (
        400,
        {"priority": ["Ensure this value is greater than or equal to 0."]},
    )


@pytest.mark.parametrize(
    "field", ["sender_name", "contact", "message", "callback_url", "client_ref"]
)
@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x7f", "\x85"])
async def test_control_character_in_send_field_is_400(
    client: TestClient, field: str, bad: str
) -> None:
    status, body = await _post(client, "/api/send-sms", {**SEND, field: f"ab{bad}cd"})
    assert (status, body) == (400, {field: ["Control characters are not allowed."]})


@pytest.mark.parametrize("field", ["client_id", "client_secret", "grant_type"])
async def test_nul_in_token_request_is_400(client: TestClient, field: str) -> None:
    status, body = await _post(client, "/api/generate-token", {**TOKEN_BODY, field: "a\x00b"})
    assert (status, body) == (400, {field: ["Control characters are not allowed."]})


@pytest.mark.parametrize("field", ["sender_id", "package_id"])
async def test_nul_in_topup_field_is_400(client: TestClient, field: str) -> None:
    status, body = await _post(client, "/api/v1/topups", {**TOPUP, field: "a\x00b"})
    assert (status, body) == (400, {field: ["Control characters are not allowed."]})


async def test_message_keeps_newline_tab_and_carriage_return(client: TestClient) -> None:
    text = "Line one\r\nLine\ttwo"
    status, sent = await _post(client, "/api/send-sms", {**SEND, "message": text})
    assert status == 200
    token = await token_for(client, CLIENT_A, SECRET_A)
    response = await client.get(f"/api/v1/messages/{sent['message_id']}", headers=bearer(token))
    assert response.status == 200


@pytest.mark.parametrize("path", ["/api/v1/messages/a%00b", "/api/v1/topups/a%00b"])
async def test_nul_in_path_id_is_404(client: TestClient, path: str) -> None:
    token = await token_for(client, CLIENT_A, SECRET_A)
    response = await client.get(path, headers=bearer(token))
    assert response.status == 404
