"""/health, /ready, /metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp.test_utils import TestClient, TestServer

from http_api import BindState, Readiness, create_app, ops
from tests.http_api.world import SEND, World, bearer, post


async def test_health(client: TestClient) -> None:
    response = await client.get("/health")
    assert (response.status, await response.read()) == (200, b'{"status":"ok"}')


async def test_ready_lists_binds(client: TestClient) -> None:
    response = await client.get("/ready")
    assert response.status == 200
    assert await response.read() == (
        b'{"status":"ready","store":"ok","accepting":true,'
        b'"binds":[{"name":"safaricom-1","operator":"safaricom","state":"bound"}]}'
    )


async def test_ready_with_binds_down_is_still_ready(world: World, client: TestClient) -> None:
    """An operator outage must not take the API out of rotation: messages wait queued."""
    world.readiness = Readiness(True, (BindState("airtel-1", "airtel", "connecting"),))
    assert (await client.get("/ready")).status == 200


async def test_not_ready_when_store_unreachable_or_draining(
    world: World, client: TestClient
) -> None:
    world.readiness = Readiness(store_ok=False, detail="database is locked")
    response = await client.get("/ready")
    assert response.status == 503
    assert await response.read() == (
        b'{"status":"not ready","store":"unreachable","accepting":true,"binds":[],'
        b'"detail":"database is locked"}'
    )
    world.readiness = Readiness(store_ok=True, accepting=False)
    assert (await client.get("/ready")).status == 503


async def test_ready_when_the_probe_itself_fails(world: World) -> None:
    async def broken() -> Readiness:
        raise ConnectionError("store gone")

    app = create_app(dataclasses.replace(world.deps(), readiness=broken))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/ready")
        assert response.status == 503
        assert (await response.json())["detail"] == "readiness check failed"


async def test_metrics_count_requests_and_accepts(client: TestClient, token: str) -> None:
    await post(client, "/api/send-sms", SEND, **bearer(token))
    await post(client, "/api/send-sms", {**SEND, "sender_name": "NOPE"}, **bearer(token))
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert (
        'gatewayd_http_requests_total{method="POST",route="/api/send-sms",status="200"} 1.0' in text
    )
    assert (
        'gatewayd_http_requests_total{method="POST",route="/api/send-sms",status="400"} 1.0' in text
    )
    assert 'gatewayd_api_messages_accepted_total{operator="safaricom"} 1.0' in text
    assert 'gatewayd_api_units_debited_total{operator="safaricom"} 1.0' in text
    assert 'gatewayd_api_sends_rejected_total{reason="sender_not_found"} 1.0' in text


async def test_metrics_labels_stay_bounded(client: TestClient) -> None:
    for path in ("/a", "/b", "/c"):
        await client.get(path)
    for method in ("DELETE", "PROPFIND"):
        response = await client.request(method, "/api/send-sms")
        assert response.status == 405
    text = await (await client.get("/metrics")).text()
    assert 'method="GET",route="unmatched",status="404"} 3.0' in text
    assert 'method="DELETE",route="unmatched",status="405"} 1.0' in text
    assert 'method="OTHER",route="unmatched",status="405"} 1.0' in text


async def test_openapi_describes_every_route(world: World, client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    assert client.app is not None
    served = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.resource is not None
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented
    send = doc["paths"]["/api/send-sms"]["post"]
    assert set(send["responses"]) >= {"200", "400", "401", "409", "429", "503"}
    assert doc["components"]["schemas"]["Accepted"]["required"] == [
        "message_id",
        "contact",
        "status",
        "description",
        "provider",
    ]


async def test_ready_when_the_probe_hangs(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "READY_TIMEOUT", 0.01)
    never = asyncio.Event()

    async def hanging() -> Readiness:
        await never.wait()
        raise AssertionError("unreachable")

    app = create_app(dataclasses.replace(world.deps(), readiness=hanging))
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/ready")
        assert response.status == 503
