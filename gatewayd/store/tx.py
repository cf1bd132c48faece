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

from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from gatewayd.service.model import IdempotentResponse, NewMessage

T = TypeVar("T")


class Row(Protocol):
    """A result row, by column name or position (both sqlite3.Row and asyncpg.Record)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Tx(Protocol):
    """A connection inside a transaction (or a read-only connection for reads)."""

    dialect: str  # "sqlite" | "postgres"

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def write_accepts(
        self,
        accepted: Sequence[tuple[NewMessage, int]],
        debits: Mapping[str, int],
        records: Sequence[IdempotentResponse] = (),
    ) -> None:
        """Write checked accepts at once: per (message, float left after it) the message row,
        its parts, its INITIATED event and its debit ledger entry; then debit each float by
        its total; and the Idempotency-Key answers `records`. Raises, writing nothing, if a
        float would go negative all the same (or a key is taken after all)."""
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

    def rowset(
        self, n: int, types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        """`rows` as a row source bound from `$n` on, for a multi-row write in one statement:
        a SELECT giving one row per item with its values in order (name the columns with
        `WITH v(a, b, …) AS (…)`), and the arguments to bind. `types` are the columns'
        PostgreSQL types (int8, int4, text, timestamptz); values are as `time` gives them.
        PostgreSQL reads them from one array per column (`unnest`), so the statement's text is
        the same whatever the number of rows; SQLite binds them in a VALUES list padded to a
        power of two rows (a few texts per statement, each prepared once)."""
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
