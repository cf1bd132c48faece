"""Fixtures of the HTTP API tests: a populated world, a served app, a token for account A."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from tests.http_api.world import CLIENT_A, SECRET_A, World, build_world, serve, token_for


@pytest.fixture
async def world() -> World:
    return await build_world()


@pytest.fixture
async def client(world: World) -> AsyncIterator[TestClient]:
    async with serve(world) as client:
        yield client


@pytest.fixture
async def token(client: TestClient) -> str:
    return await token_for(client, CLIENT_A, SECRET_A)
