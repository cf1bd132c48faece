"""PostgreSQL backend (asyncpg): one writer connection with group commit, a pool for reads.

A batch is one transaction on the writer connection; each generic unit runs in a savepoint
(asyncpg nested `transaction()`), accepts are checked in order and written with one
binary COPY per table, so a batch costs a handful of round trips whatever its size.
Floats are locked (`FOR UPDATE`, in sender order) for the check, and the debit is guarded
twice: `UPDATE … WHERE balance >= $n` and a CHECK (balance >= 0).
Durability is PostgreSQL's own (synchronous_commit as the server is configured).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from gatewayd.service.ports import AlreadyExists, StoreError
from gatewayd.store.ops_messages import accept_many
from gatewayd.store.tx import COLUMNS, Row
from gatewayd.store.writer import AcceptUnit, Work

DOMAIN_ERRORS = (StoreError, ValueError)


@lru_cache(maxsize=16)
def _names(table: str) -> list[str]:
    return list(COLUMNS[table])


def _count(status: str) -> int:
    """Rows changed, from a command tag such as "UPDATE 3" or "INSERT 0 1"."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTx:
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        found: Sequence[Row] = await self._conn.fetch(sql, *args)
        return found

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        return _count(await self._conn.execute(sql, *args))

    async def insert_many(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """COPY (binary): the least server and client CPU per row of the ways measured
        (unnest arrays, executemany)."""
        if rows:
            await self._conn.copy_records_to_table(table, records=rows, columns=_names(table))

    def time(self, at: datetime | None) -> Any:
        return at

    def datetime(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    def any(self, n: int) -> str:
        return f"= ANY(${n})"

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)


class PgRunner:
    """Runs a batch of units in one transaction on its lane's writer connection."""

    def __init__(self, dsn: str, conns: list[asyncpg.Connection]) -> None:
        self._dsn = dsn
        self._conns = conns

    @classmethod
    async def connect(cls, dsn: str, lanes: int) -> PgRunner:
        return cls(dsn, [await asyncpg.connect(dsn) for _ in range(lanes)])

    def server_pids(self) -> list[int]:
        return [c.get_server_pid() for c in self._conns]

    async def run_batch(self, work: Sequence[Work], lane: int = 0) -> list[tuple[str, Any]]:
        if self._conns[lane].is_closed():  # the server restarted or the link dropped
            self._conns[lane] = await asyncpg.connect(self._dsn)
        conn = self._conns[lane]
        tx = PgTx(conn)
        out: list[tuple[str, Any]] = [("error", RuntimeError("not run"))] * len(work)
        async with conn.transaction():
            accepts = [i for i, w in enumerate(work) if isinstance(w, AcceptUnit)]
            if accepts:
                messages = [work[i].message for i in accepts]  # type: ignore[union-attr]
                for i, outcome in zip(accepts, await accept_many(tx, messages), strict=True):
                    out[i] = outcome
            for i, unit in enumerate(work):
                if isinstance(unit, AcceptUnit):
                    continue
                try:
                    async with conn.transaction():
                        out[i] = ("ok", await unit.run(tx))
                except DOMAIN_ERRORS as exc:
                    out[i] = ("error", exc)
        return out

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


def translate(exc: Exception) -> Exception:
    """A unique violation that slipped past the checks (another process won the race) is
    the domain's AlreadyExists."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return AlreadyExists(str(exc))
    return exc
