"""The one transaction interface the store's operations are written against.

Every operation (accept, record a receipt, settle a top-up …) is written once, as an
`async def op(tx, …)`, and runs on both backends:

- PostgreSQL: `tx` wraps an asyncpg connection; the operation is awaited on the event loop.
- SQLite: `tx` wraps a plain `sqlite3` connection whose methods are coroutines that never
  suspend, and the writer thread drives the operation to completion with `run_sync`, so a
  whole group-commit batch costs one hop to the thread instead of one per statement.

SQL is written with PostgreSQL's `$n` placeholders; the SQLite side rewrites them to `?n`.
Times are aware datetimes at this interface: SQLite keeps them as integer microseconds
since the epoch (sortable, compact), PostgreSQL as timestamptz.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

T = TypeVar("T")



class Row(Protocol):
    """A result row, by column name (both sqlite3.Row and asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Tx(Protocol):
    """A connection inside a transaction (or a read-only connection for reads)."""

    dialect: str  # "sqlite" | "postgres"

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def insert_many(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows holding every column of `table` in schema order (see `COLUMNS`)."""
        ...

    def time(self, at: datetime | None) -> Any:
        """A datetime as this backend stores it."""
        ...

    def datetime(self, value: Any) -> datetime:
        """A stored time back to an aware UTC datetime."""
        ...

    def any(self, n: int) -> str:
        """SQL matching a column against the list bound at `$n`: `= ANY($n)` or SQLite's
        `IN (SELECT value FROM json_each(?n))`."""
        ...

    def array(self, values: Sequence[Any]) -> Any:
        """A list (of strings or integers) as the parameter `any` expects."""
        ...


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a SQLite operation) to its end, synchronously.

    An operation that awaits anything but the SQLite transaction would suspend here; that is a
    programming error and raises rather than blocking the writer thread.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a SQLite unit of work awaited something other than its transaction")


COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "messages": (
        ("id", "text"),
        ("account_id", "text"),
        ("sender_id", "text"),
        ("sender_name", "text"),
        ("contact", "text"),
        ("operator", "text"),
        ("text", "text"),
        ("units", "int8"),
        ("parts", "int4"),
        ("encoding", "text"),
        ("priority", "int4"),
        ("status", "text"),
        ("description", "text"),
        ("dispatch", "text"),
        ("callback_url", "text"),
        ("callback_on_sent", "bool"),
        ("client_ref", "text"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
        ("scheduled_at", "timestamptz"),
        ("attempts", "int4"),
        ("in_doubt", "int4"),
        ("smsc", "text"),
        ("refunded_units", "int8"),
    ),
    "message_parts": (
        ("message_id", "text"),
        ("idx", "int4"),
        ("total", "int4"),
        ("status", "text"),
        ("smsc", "text"),
        ("smsc_message_id", "text"),
        ("error", "text"),
    ),
    "ledger_entries": (
        ("account_id", "text"),
        ("sender_id", "text"),
        ("kind", "text"),
        ("units", "int8"),
        ("balance_after", "int8"),
        ("actor", "text"),
        ("reason", "text"),
        ("reference", "text"),
        ("created_at", "timestamptz"),
    ),
    "status_events": (
        ("message_id", "text"),
        ("status", "text"),
        ("description", "text"),
        ("at", "timestamptz"),
        ("part", "int4"),
    ),
}
