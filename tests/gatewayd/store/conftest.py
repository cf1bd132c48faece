"""The store contract suite runs every test against each backend: the in-memory fake,
SQLite (a file under tmp_path) and PostgreSQL (a fresh schema per test, dropped after)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gatewayd.service.model import CampaignType, LedgerKind, NewMessage, SenderType
from gatewayd.service.ports import Store
from gatewayd.store import open_store
from tests.fakes.memory_store import MemoryStore
from tests.gatewayd.store.pg import fresh_schema

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

StoreFactory = Callable[..., Awaitable[Store]]


def at(seconds: float) -> datetime:
    """T0 plus some seconds: tests pass the clock explicitly."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store_factory(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[StoreFactory]:
    """Opens stores of the backend under test (migrated); closes them and cleans up after."""
    opened: list[Store] = []
    cleanup: list[Callable[[], Awaitable[None]]] = []

    async def make(**options: Any) -> Store:
        if backend == "memory":
            store: Store = MemoryStore(**options)
        else:
            store = await _open_sql(backend, request, tmp_path, len(opened), cleanup, options)
        await store.migrate()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for step in cleanup:
        await step()


async def _open_sql(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Any,
    n: int,
    cleanup: list[Callable[[], Awaitable[None]]],
    options: dict[str, Any],
) -> Store:
    if backend == "sqlite":
        return await open_store(f"sqlite:///{tmp_path}/store{n}.db", **options)
    dsn = request.getfixturevalue("postgres_dsn")
    url, drop = await fresh_schema(dsn)
    cleanup.append(drop)
    return await open_store(url, **options)


@pytest.fixture
async def store(store_factory: StoreFactory) -> Store:
    return await store_factory()


async def seed(
    store: Store,
    *,
    account: str = "acc1",
    sender: str = "snd1",
    name: str = "KIMISMS",
    operator: str = "safaricom",
    units: int = 100,
) -> None:
    """An account with one sender ID holding `units` of float."""
    try:
        await store.get_account(account)
    except Exception:
        await store.create_account(account, f"Account {account}", T0)
    await store.create_sender(
        sender, account, name, operator, SenderType.ALPHANUMERIC, CampaignType.TRANSACTIONAL, T0
    )
    if units:
        await store.post_entry(sender, LedgerKind.TOPUP, units, "admin:test", "seed", "t0", T0)


def new_message(
    message_id: str,
    *,
    account: str = "acc1",
    sender: str = "snd1",
    units: int = 1,
    parts: int = 1,
    priority: int = 0,
    created: float = 0,
    callback_url: str | None = None,
    callback_on_sent: bool = False,
    scheduled_at: datetime | None = None,
    operator: str = "safaricom",
    contact: str = "254712345678",
) -> NewMessage:
    return NewMessage(
        id=message_id,
        account_id=account,
        sender_id=sender,
        sender_name="KIMISMS",
        contact=contact,
        operator=operator,
        text="Your OTP is 482910",
        units=units,
        parts=parts,
        encoding="gsm7",
        priority=priority,
        callback_url=callback_url,
        client_ref=None,
        actor="api:client1",
        created_at=at(created),
        scheduled_at=scheduled_at,
        callback_on_sent=callback_on_sent,
    )
