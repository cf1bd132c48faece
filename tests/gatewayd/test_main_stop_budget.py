"""SIGTERM within the budget: the default budget fits the unit's TimeoutStopSec, and a stop with
an SMSC that never answers and a callback endpoint that never answers ends within it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from config.settings import ShutdownSettings
from gatewayd import main
from smpp.sim.config import Latency, SimulatorConfig, SmscPersonality
from smpp.sim.simulator import Simulator, start_simulator
from tests.e2e.harness import (
    ACME_CLIENT,
    ACME_SECRET,
    AIRTEL,
    SAFARICOM,
    gateway_settings,
    personalities,
    seed_world,
)

UNIT = Path(main.__file__).resolve().parents[1] / "systemd" / "gatewayd.service"


def test_default_budget_fits_the_units_stop_timeout() -> None:
    found = re.search(r"^TimeoutStopSec=(\d+)$", UNIT.read_text(), re.MULTILINE)
    assert found is not None
    defaults = ShutdownSettings()
    budget = main.stop_budget(defaults)
    assert budget == (
        main.HTTP_STOP_BUDGET + defaults.drain_timeout + defaults.unbind_timeout
        + main.IDLE_GRACE + main.STOP_MARGIN
    )  # fmt: skip
    assert budget < int(found.group(1))


class Hanging:
    """A callback endpoint that takes the request and never answers."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.release.wait()
        return web.json_response({})


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    silent = SmscPersonality("safaricom", latency=Latency(fixed=3600.0))  # never answers
    simulator = await start_simulator(
        SimulatorConfig(smscs=tuple(personalities(safaricom=silent).values()))
    )
    yield simulator
    await simulator.close()


async def test_stop_with_a_silent_smsc_and_a_hanging_callback_is_within_budget(
    tmp_path: Path, sim: Simulator
) -> None:
    endpoint = Hanging()
    app = web.Application()
    app.router.add_post("/cb", endpoint.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = gateway_settings(sim, tmp_path).model_copy(
        update={"shutdown": ShutdownSettings(drain_timeout=1.0, unbind_timeout=1.0)}
    )
    daemon = main.Daemon(settings)
    await daemon.start()
    try:
        assert daemon.store is not None and daemon.server is not None
        await seed_world(daemon.store)
        await sim.wait_for_bind(3, timeout=5)
        async with aiohttp.ClientSession(base_url=daemon.server.url) as http:
            token = await _token(http)
            callback = f"http://127.0.0.1:{port}/cb"
            assert await _send(http, token, AIRTEL, callback) == 200  # delivered: callback
            assert await _send(http, token, SAFARICOM, None) == 200  # never answered
        await asyncio.wait_for(endpoint.arrived.wait(), 10)
        await sim.wait_for_submits(1, timeout=5, smsc="safaricom")
    finally:
        started = time.monotonic()
        await daemon.stop()
        elapsed = time.monotonic() - started
        endpoint.release.set()
        await runner.cleanup()
    assert elapsed <= main.stop_budget(settings.shutdown), elapsed
    # the drain (1 s: the submit is never answered) and the callbacks' 1 s for the hanging
    # POST overlap; one after the other they took 2 s and more
    assert elapsed < 1.8, elapsed


async def _token(http: aiohttp.ClientSession) -> str:
    body = {"grant_type": "client_credentials", "client_id": ACME_CLIENT,
            "client_secret": ACME_SECRET}  # fmt: skip
    async with http.post("/api/generate-token", json=body) as response:
        token: str = (await response.json())["access_token"]
        return token


async def _send(http: aiohttp.ClientSession, token: str, contact: str, cb: str | None) -> int:
    body = {"sender_name": "KIMISMS", "contact": contact, "message": "hi", "callback_url": cb}
    headers = {"Authorization": f"Bearer {token}"}
    async with http.post("/api/send-sms", json=body, headers=headers) as response:
        return response.status
