"""The group-commit writer: batching, isolation of failing units, draining on close."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gatewayd.service.model import LedgerKind
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound
from gatewayd.store import SqlStore, open_store
from gatewayd.store.migrations import MIGRATIONS
from gatewayd.store.tx import Tx
from gatewayd.store.writer import ClosedError
from tests.gatewayd.store.conftest import T0, StoreFactory, at, new_message, seed
from tests.gatewayd.store.pg import fresh_schema

pytestmark = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def _sql(store_factory: StoreFactory, **options: Any) -> SqlStore:
    store = await store_factory(**options)
    assert isinstance(store, SqlStore)
    return store


async def _insert_then(tx: Tx, account_id: str, error: Exception) -> None:
    await tx.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
        account_id, "doomed", tx.time(T0),
    )  # fmt: skip
    raise error


async def test_migrate_is_idempotent(store_factory: StoreFactory) -> None:
    store = await _sql(store_factory)  # the factory migrated it once
    assert await store.migrate() == 0
    versions = await store.writer.submit(
        lambda tx: tx.fetch("SELECT version FROM schema_migrations ORDER BY version")
    )
    assert [r["version"] for r in versions] == [m.version for m in MIGRATIONS]


async def test_domain_error_rolls_back_only_its_unit(store_factory: StoreFactory) -> None:
    store = await _sql(store_factory, lanes=1)
    await seed(store, units=1)
    batches = store.writer.batches
    results = await asyncio.gather(
        store.accept(new_message("m1")),
        store.writer.submit(lambda tx: _insert_then(tx, "ghost", NotFound("x"))),
        store.accept(new_message("m2")),
        store.create_account("acc9", "Nine", T0),
        return_exceptions=True,
    )
    assert store.writer.batches == batches + 2  # the accepts in one, the other two in another
    assert isinstance(results[1], NotFound)
    assert isinstance(results[2], InsufficientBalance)
    assert (await store.get_message("m1")).id == "m1"
    assert (await store.get_account("acc9")).name == "Nine"
    with pytest.raises(NotFound):
        await store.get_account("ghost")


async def test_failing_batch_is_retried_unit_by_unit(store_factory: StoreFactory) -> None:
    store = await _sql(store_factory)
    await seed(store, units=10)
    results = await asyncio.gather(
        store.accept(new_message("m1")),
        store.writer.submit(lambda tx: _insert_then(tx, "ghost", RuntimeError("bug"))),
        store.accept(new_message("m2")),
        store.post_entry("snd1", LedgerKind.TOPUP, 5, "admin:x", "cash", "T9", at(1)),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    assert [isinstance(r, BaseException) for r in results] == [False, True, False, False]
    assert await store.balance("snd1") == 13
    assert await store.ledger_sum("snd1") == 13
    with pytest.raises(NotFound):
        await store.get_account("ghost")
    await store.accept(new_message("m3"))  # the writer is still alive
    assert await store.balance("snd1") == 12


async def test_unique_violation_surfaces_as_already_exists(
    store_factory: StoreFactory,
) -> None:
    store = await _sql(store_factory)
    await store.create_account("acc1", "One", T0)

    async def raw_insert(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            "acc1", "Twice", tx.time(T0),
        )  # fmt: skip

    with pytest.raises(AlreadyExists):
        await store.writer.submit(raw_insert)


async def test_lanes_split_what_is_queued(store_factory: StoreFactory) -> None:
    store = await _sql(store_factory, lanes=2)
    await seed(store, units=100)
    batches = store.writer.batches
    accepted = await asyncio.gather(*(store.accept(new_message(f"m{i}")) for i in range(40)))
    assert len(accepted) == 40
    assert store.writer.batches - batches == 2  # 20 + 20, both lanes busy at once
    assert await store.balance("snd1") == 60


async def test_close_drains_queued_work(store_factory: StoreFactory) -> None:
    store = await _sql(store_factory)
    await seed(store, units=100)
    pending = [asyncio.ensure_future(store.accept(new_message(f"m{i}"))) for i in range(50)]
    await asyncio.sleep(0)  # one scheduling turn: every task has queued its unit
    await store.writer.close()
    assert all(p.done() and not p.exception() for p in pending)
    with pytest.raises(ClosedError):
        await store.accept(new_message("late"))
    assert await store.balance("snd1") == 50



async def _two_stores(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Any:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
        drop = None
    else:
        url, drop = await fresh_schema(request.getfixturevalue("postgres_dsn"))
    first = await open_store(url)
    await first.migrate()
    second = await open_store(url)
    return first, second, drop


async def test_two_writers_on_one_database_keep_floats_exact(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    """Another process (an admin command, a second daemon) moving a float between this
    writer's batches: stale balances must never decide an accept or a ledger line."""
    first, second, drop = await _two_stores(backend, tmp_path, request)
    try:
        await seed(first, units=2)
        await first.accept(new_message("m1"))  # first now knows the float: 1 left
        await second.post_entry("snd1", LedgerKind.TOPUP, 5, "admin:x", "cash", "T2", at(1))
        await first.accept(new_message("m2"))  # stale-low cache: 1, really 6
        await second.post_entry("snd1", LedgerKind.DEBIT, -5, "api:c", "sms", "x", at(2))
        with pytest.raises(InsufficientBalance):  # stale-high cache: 5, really 0
            await first.accept(new_message("m3"))
        await second.post_entry("snd1", LedgerKind.TOPUP, 1, "admin:x", "cash", "T3", at(3))
        await first.accept(new_message("m4"))  # leaves 0 in what first knows
        await second.post_entry("snd1", LedgerKind.TOPUP, 1, "admin:x", "cash", "T4", at(4))
        await first.accept(new_message("m5"))  # refused by the cache (0), accepted for real
        assert await first.balance("snd1") == 0
        entries = await first.entries("snd1")
        assert await first.ledger_sum("snd1") == 0
        running = 0
        for entry in entries:  # every balance_after is the true running sum
            running += entry.units
            assert entry.balance_after == running
    finally:
        await first.close()
        await second.close()
        if drop is not None:
            await drop()
