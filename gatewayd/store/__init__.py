"""SQL adapters for the service ports: SQLite and PostgreSQL, chosen by a store URL.

    store = await open_store("sqlite:///var/lib/gatewayd/gatewayd.db")
    store = await open_store("postgresql://gatewayd@db/gatewayd")
    await store.migrate()      # idempotent; `gatewayd migrate` calls this
    ...
    await store.close()        # drains the writer

`sqlite:///relative.db`, `sqlite:////absolute/path.db`; `?synchronous=full` trades throughput
for an fsync per batch (the default NORMAL is explained in `gatewayd.store.sqlite`).
`sqlite:///:memory:` is refused: the writer and the readers use separate connections.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from gatewayd.service.model import RefundPolicy
from gatewayd.store import postgres, sqlite
from gatewayd.store.ops_messages import Policy
from gatewayd.store.sql_store import SqlStore
from gatewayd.store.tx import Tx
from gatewayd.store.writer import GroupWriter

_SQLITE = "sqlite:///"
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL", "off": "OFF"}


async def open_store(
    url: str,
    *,
    refund_policy: RefundPolicy = RefundPolicy.NEVER,
    receipt_ttl: timedelta = timedelta(days=3),
    parked_ttl: timedelta = timedelta(days=1),
    max_batch: int = 512,
    lanes: int | None = None,
    pool_size: int = 4,
    final_checkpoint: bool = True,
) -> SqlStore:
    """Open the store the URL names (not migrated: call `migrate()`).

    refund_policy: when failed messages are refunded (RefundPolicy). receipt_ttl: how long a
    (smsc, message id) stays matchable; parked_ttl: how long a receipt that overtook its
    submit_sm_resp waits. max_batch: units per group commit; lanes: batches in flight at once
    (see GroupWriter), 1 by default on both: on SQLite a second lane's batch was checked and
    built on the writer thread while the event loop thread was busy with the first lane's
    callers, and the two fought for the GIL (1 lane: 10.9–13.1k accepts/s, 2 lanes:
    5.2–10.8k, interleaved runs); on PostgreSQL the lanes serialise on the float rows and pay
    the per-batch costs twice.
    pool_size: PostgreSQL readers. final_checkpoint: on SQLite, this process owns the file:
    it checkpoints the WAL every few batches and with a TRUNCATE checkpoint at close; False
    leaves every checkpoint to the process that owns it (the daemon's helper processes share
    its file and must not wait on its writer when stopping).
    """
    policy = Policy(refund_policy, receipt_ttl, parked_ttl)
    if url.startswith(_SQLITE):
        return await _open_sqlite(url, policy, max_batch, lanes or 1, final_checkpoint)
    if url.startswith(("postgresql://", "postgres://")):
        return await _open_postgres(url, policy, max_batch, lanes or 1, pool_size)
    raise ValueError(f"store url {url!r}: expected sqlite:///PATH or postgresql://…")


async def _open_sqlite(
    url: str, policy: Policy, max_batch: int, lanes: int, final_checkpoint: bool = True
) -> SqlStore:
    parts = urlsplit(url)
    path = url[len(_SQLITE) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ValueError(f"store url {url!r}: SQLite needs a file path (not :memory:)")
    mode = parse_qs(parts.query).get("synchronous", ["normal"])[0].lower()
    if mode not in _SYNCHRONOUS:
        raise ValueError(f"store url {url!r}: synchronous must be one of {sorted(_SYNCHRONOUS)}")
    runner = await sqlite.SqliteRunner.connect(path, _SYNCHRONOUS[mode], final_checkpoint)
    db, reader = await sqlite.open_reader(path)
    writer = GroupWriter(runner, max_batch=max_batch, lanes=lanes, translate=sqlite.translate)
    return SqlStore(writer, lambda: reader, policy, [db.close, runner.close])


async def _open_postgres(
    url: str, policy: Policy, max_batch: int, lanes: int, pool_size: int
) -> SqlStore:
    runner = await postgres.PgRunner.connect(url, lanes)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size)

    async def pool_read(op: Callable[[Tx], Coroutine[Any, Any, Any]]) -> Any:
        async with pool.acquire() as conn:
            return await op(postgres.PgTx(conn))

    writer = GroupWriter(runner, max_batch=max_batch, lanes=lanes, translate=postgres.translate)
    return SqlStore(writer, None, policy, [pool.close, runner.close], pool_read=pool_read)


__all__ = ["SqlStore", "open_store"]
