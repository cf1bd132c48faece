"""Migration 4 on the SQL backends: the callback outbox is listed by the message's integer key.

Jobs written before it (no message_seq) get their message's key from the migration, so a
message's callbacks stay listed across the upgrade, beside those written after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gatewayd.service.model import CallbackState, MessageStatus
from gatewayd.store import SqlStore, migrations, open_store
from gatewayd.store.tx import Tx
from tests.gatewayd.store.conftest import at, new_message, seed
from tests.gatewayd.store.pg import fresh_schema

URL = "https://client.example/cb"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/upgrade.db"
        return
    url, drop = await fresh_schema(request.getfixturevalue("postgres_dsn"))
    yield url
    await drop()


async def _opened(url: str) -> SqlStore:
    store = await open_store(url)
    assert isinstance(store, SqlStore)
    return store


async def _old_job(tx: Tx) -> None:
    """A DELIVERED callback job of message m-old as version 3 of the schema wrote it."""
    await tx.execute(
        "INSERT INTO callback_outbox (message_id, account_id, url, contact, operator, status,"
        " description, event_at, state, attempts, next_attempt_at, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $8, $8)",
        "m-old", "acc1", URL, "254712345678", "safaricom", "DELIVERED", "DELIVRD",
        tx.time(at(3)),
    )  # fmt: skip


async def test_migration_4_keeps_older_jobs_listed_by_message(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as before:
        before.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
        old = await _opened(sql_url)
        try:
            assert await old.migrate() == 3
            await seed(old)
            await old.accept(new_message("m-old", callback_url=URL))
            await old.writer.submit(_old_job)
        finally:
            await old.close()
    store = await _opened(sql_url)
    try:
        assert await store.migrate() == len(migrations.MIGRATIONS) - 3
        [job] = await store.list_callbacks("m-old")
        assert (job.message_id, job.status, job.state) == (
            "m-old", MessageStatus.DELIVERED, CallbackState.PENDING,
        )  # fmt: skip
        await store.accept(new_message("m-new", callback_url=URL, created=1))
        await store.claim_queued("safaricom", 1, at(1), "smsc-a")
        await store.record_submit("m-new", 1, "smsc-a", "x-new", at(2))
        await store.record_receipt("smsc-a", "x-new", MessageStatus.DELIVERED, "DELIVRD", at(4))
        [new] = await store.list_callbacks("m-new")
        assert new.status is MessageStatus.DELIVERED and new.id > job.id
        assert [j.message_id for j in await store.list_callbacks("m-old")] == ["m-old"]
        claimed = await store.claim_callbacks(at(5), 10, timedelta(seconds=60))
        assert [c.id for c in claimed] == [job.id, new.id]
    finally:
        await store.close()
