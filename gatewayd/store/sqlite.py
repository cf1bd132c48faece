"""SQLite backend: one writer thread with group commit, reads through aiosqlite.

Durability: WAL with `synchronous=NORMAL`. A commit is in the WAL before the caller is answered,
so a process crash (SIGKILL, OOM) loses nothing; a power loss or kernel panic may lose the last
transactions since the previous checkpoint's fsync. That is the trade Kannel makes too (its
store is flushed, never fsynced); `synchronous=FULL` (`?synchronous=full` in the URL) closes
the gap at the cost of one fsync per batch.

The writer owns a plain `sqlite3` connection on a dedicated thread and runs a whole batch of
units there in one hop (`tx.run_sync`): aiosqlite would cost a thread hop per statement, about
eight per accept. Reads go around the writer on an aiosqlite connection (WAL lets them run
while the writer commits).

Several processes write the same file (the daemon, its HTTP API and its callback sender:
gatewayd.children). SQLite lets one write at a time and makes the others poll with growing
sleeps (1, 2, 5 … 100 ms); against the daemon's back-to-back batches the poller kept losing
and its batches waited for seconds. Each write transaction therefore first takes an
exclusive `flock` on `<file>-writer.lock`: a waiting process sleeps in the kernel and is woken
when the holder commits, so writers take turns.

WAL checkpoints (copying the log back into the database, and its fsync) run on a third thread
with a connection of their own, every `CHECKPOINT_EVERY` batches, instead of inside whichever
commit crosses SQLite's automatic threshold: that commit's callers would otherwise wait for it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any

import aiosqlite
import orjson

from gatewayd.service.model import IdempotentResponse, NewMessage
from gatewayd.service.ports import AlreadyExists, StoreError
from gatewayd.store import rules
from gatewayd.store.ops_messages import accept_bulk, accept_many
from gatewayd.store.tx import Row, run_sync
from gatewayd.store.writer import AcceptUnit, BulkAcceptUnit, Work

DOMAIN_ERRORS = (StoreError, ValueError)
_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=512)
def _sql(text: str) -> str:
    """PostgreSQL `$n` placeholders to SQLite's numbered `?n`."""
    return _PLACEHOLDER.sub(r"?\1", text)


# Each insert is a head and one row's VALUES group; `_insert_many` writes many rows per
# statement. executemany would step once per row, and each step releases the GIL and must take
# it back from the event loop's thread, which holds it for up to the switch interval (5 ms)
# while it is busy: a batch of 64 accepts was up to 256 such hand-offs.
_INSERT_MESSAGE = (
    "INSERT INTO messages (seq, id, account_id, sender_id, sender_name, contact, operator, text,"
    " units, parts, encoding, priority, status, description, dispatch, callback_url,"
    " callback_on_sent, client_ref, created_at, updated_at, scheduled_at, attempts, in_doubt,"
    " smsc, refunded_units) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'INITIATED', ?, 'queued', ?, ?, ?, ?, ?, ?, 0, 0,"
    " NULL, 0)",
)
_INSERT_PART = (
    "INSERT INTO message_parts (message_seq, idx, total, status) VALUES ",
    "(?, ?, ?, 'pending')",
)
_INSERT_EVENT = (
    "INSERT INTO status_events (message_seq, status, description, at) VALUES ",
    "(?, 'INITIATED', ?, ?)",
)
_INSERT_DEBIT = (
    "INSERT INTO ledger_entries (account_id, sender_id, kind, units, balance_after, actor,"
    " reason, reference, created_at) VALUES ",
    "(?, ?, 'debit', ?, ?, ?, 'SMS sent', ?, ?)",
)
_INSERT_KEY = (
    "INSERT INTO idempotency_keys (account_id, key, request_hash, status_code, body, created_at)"
    " VALUES ",
    "(?, ?, ?, ?, ?, ?)",
)
_CHUNK = 64  # rows per statement at most; smaller chunks are powers of two (few texts to cache)


@lru_cache(maxsize=64)
def _values(insert: tuple[str, str], rows: int) -> str:
    head, group = insert
    return head + ", ".join([group] * rows)


def _insert_many(
    conn: sqlite3.Connection, insert: tuple[str, str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` in statements of up to `_CHUNK` rows (then 32, 16 … 1 for the rest)."""
    start, size = 0, _CHUNK
    while start < len(rows):
        while size > len(rows) - start:
            size //= 2
        chunk = rows[start : start + size]
        conn.execute(_values(insert, size), tuple(chain.from_iterable(chunk)))
        start += size


class _Common:
    dialect = "sqlite"

    def time(self, at: datetime | None) -> Any:
        return None if at is None else rules.to_us(at)

    def datetime(self, value: Any) -> datetime:
        return rules.from_us(int(value))

    def any(self, n: int) -> str:
        return f"IN (SELECT value FROM json_each(?{n}))"

    # JSON text for json_each (orjson: a twentieth of json.dumps's time; SQLite's JSON
    # functions take text, not the bytes orjson makes).
    def array(self, values: Sequence[Any]) -> Any:
        return orjson.dumps(list(values)).decode()

    def rowset(
        self, n: int, types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        """Rows as bound parameters of one VALUES list, padded with NULL rows to a power of
        two (few statement texts to prepare and cache) and cut back to the real rows by a
        LIMIT. A JSON array read through json_extract cost 1–2 µs more per row of six
        columns: each json_extract parses the row's text again. Beyond `_VALUES_ROWS` rows
        (SQLite's limit on parameters) the JSON source stays."""
        width, count = len(types), len(rows)
        if count > _VALUES_ROWS:
            return _json_rowset(n, width), [orjson.dumps(rows).decode()]
        size = 1 << (count - 1).bit_length() if count else 1
        args: list[Any] = list(chain.from_iterable(rows))
        args.extend([None] * (width * (size - count)))
        args.append(count)
        return _values_rowset(n, width, size), args


_VALUES_ROWS = 2048  # × columns (≤ 12 here) stays under SQLite's 32,766 parameters


@lru_cache(maxsize=256)
def _values_rowset(n: int, width: int, rows: int) -> str:
    """`SELECT * FROM (VALUES (?n, …), …) LIMIT ?k`: `rows` rows of `width` numbered
    parameters from `n`, then the number of rows to keep."""
    numbers = iter(range(n, n + width * rows))
    groups = ", ".join(
        "(" + ", ".join(f"?{next(numbers)}" for _ in range(width)) + ")" for _ in range(rows)
    )
    return f"SELECT * FROM (VALUES {groups}) LIMIT ?{n + width * rows}"


@lru_cache(maxsize=64)
def _json_rowset(n: int, width: int) -> str:
    columns = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(width))
    return f"SELECT {columns} FROM json_each(${n})"


class SqliteTx(_Common):
    """The writer's transaction: coroutines that never suspend, driven by `run_sync`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        return self._conn.execute(_sql(sql), args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._conn.execute(_sql(sql), args).fetchone()
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._conn.execute(_sql(sql), args).fetchone()
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        return self._conn.execute(_sql(sql), args).rowcount

    async def write_accepts(
        self,
        accepted: Sequence[tuple[NewMessage, int]],
        debits: Mapping[str, int],
        records: Sequence[IdempotentResponse] = (),
    ) -> None:
        """A few multi-row inserts per table (`_insert_many`). The writer holds the database
        lock, so the floats the checks saw are the floats, and message keys can continue from
        the largest without anyone else handing them out."""
        conn = self._conn
        first = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM messages").fetchone()[0]
        messages: list[tuple[Any, ...]] = []
        parts: list[tuple[int, int, int]] = []
        events: list[tuple[int, str, int]] = []
        entries: list[tuple[Any, ...]] = []
        for seq, (m, left) in enumerate(accepted, first):
            at = rules.to_us(m.created_at)
            scheduled = None if m.scheduled_at is None else rules.to_us(m.scheduled_at)
            messages.append((
                seq, m.id, m.account_id, m.sender_id, m.sender_name, m.contact, m.operator,
                m.text, m.units, m.parts, m.encoding, m.priority, m.description, m.callback_url,
                m.callback_on_sent, m.client_ref, at, at, scheduled,
            ))  # fmt: skip
            parts.extend((seq, i, m.parts) for i in range(1, m.parts + 1))
            events.append((seq, m.description, at))
            entries.append((m.account_id, m.sender_id, -m.units, left, m.actor, m.id, at))
        for sender_id, units in sorted(debits.items()):
            changed = conn.execute(
                "UPDATE floats SET balance = balance - ?2 WHERE sender_id = ?1 AND balance >= ?2",
                (sender_id, units),
            ).rowcount
            if changed != 1:  # the checks make this unreachable; never overdraw anyway
                raise RuntimeError(f"float of {sender_id} changed under the writer")
        _insert_many(conn, _INSERT_MESSAGE, messages)
        _insert_many(conn, _INSERT_PART, parts)
        _insert_many(conn, _INSERT_EVENT, events)
        _insert_many(conn, _INSERT_DEBIT, entries)
        if records:
            _insert_many(conn, _INSERT_KEY, [
                (r.account_id, r.key, r.request_hash, r.status_code, r.body,
                 rules.to_us(r.created_at))
                for r in records
            ])  # fmt: skip


class AioSqliteTx(_Common):
    """Reads on an aiosqlite connection (autocommit; each statement sees the last commit)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        return list(await self._db.execute_fetchall(_sql(sql), args))

    # One hop to aiosqlite's thread: a cursor's execute, fetchone and close were three, each
    # woken back through the event loop's self-pipe. Reads by key return a row or none.
    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        found = list(await self._db.execute_fetchall(_sql(sql), args))
        return found[0] if found else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        found = list(await self._db.execute_fetchall(_sql(sql), args))
        return found[0][0] if found else None

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._db.execute(_sql(sql), args) as cursor:
            return cursor.rowcount

    async def write_accepts(
        self,
        accepted: Sequence[tuple[NewMessage, int]],
        debits: Mapping[str, int],
        records: Sequence[IdempotentResponse] = (),
    ) -> None:
        raise RuntimeError("the read connection does not write")


CHECKPOINT_EVERY = 64  # batches between background WAL checkpoints


def _connect(path: str, synchronous: str) -> sqlite3.Connection:
    # The writer's statements differ by the row count of their multi-row parts (powers of
    # two): more than the default 128 prepared statements are kept, so none is re-prepared.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, cached_statements=512
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages of a busy day stay hot
    return conn


class WriterLock:
    """The exclusive `flock` every writer of one database file holds for its transaction (see
    the module's docstring). Taken on the writer thread, which sleeps in the kernel meanwhile
    (the interpreter lock is free); the kernel drops it if the process dies."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}-writer.lock"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class Checkpointer:
    """Passive WAL checkpoints on a thread and connection of their own, one at a time."""

    def __init__(self, path: str, synchronous: str, final: str = "TRUNCATE") -> None:
        self._final = final  # the checkpoint made at close
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gatewayd-sqlite-checkpoint")
        self._conn = self._executor.submit(_connect, path, synchronous).result()
        self._running: Future[None] | None = None

    def kick(self) -> None:
        """Start a checkpoint unless one is running (thread-safe; never blocks)."""
        if self._running is None or self._running.done():
            self._running = self._executor.submit(self._checkpoint, "PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def close(self) -> None:
        self._executor.submit(self._checkpoint, self._final).result()
        self._executor.submit(self._conn.close).result()
        self._executor.shutdown(wait=True)


class SqliteRunner:
    """Runs a batch of units in one `BEGIN IMMEDIATE … COMMIT` on the writer thread."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        checkpointer: Checkpointer | None,
        lock: WriterLock,
    ) -> None:
        self._executor = executor
        self._conn = conn
        self._lock = lock
        self._tx = SqliteTx(conn)
        self._checkpointer = checkpointer
        self._commits = 0

    @classmethod
    async def connect(
        cls, path: str, synchronous: str = "NORMAL", final_checkpoint: bool = True
    ) -> SqliteRunner:
        executor = ThreadPoolExecutor(1, thread_name_prefix="gatewayd-sqlite-writer")
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(executor, _connect, path, synchronous)
        await loop.run_in_executor(executor, conn.execute, "PRAGMA wal_autocheckpoint=0")
        # Checkpoints are the file's owner's (the daemon): another process writing the same
        # file (a helper process) leaves its frames to the owner's next one, so the same
        # pages are not copied back twice, by two threads.
        checkpointer = None
        if final_checkpoint:
            checkpointer = await loop.run_in_executor(
                None, Checkpointer, path, synchronous, "TRUNCATE"
            )
        return cls(executor, conn, checkpointer, WriterLock(path))

    async def run_batch(self, work: Sequence[Work], lane: int = 0) -> list[tuple[str, Any]]:
        """Lanes share the one writer thread: their batches queue there and run in turn."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    def _run(self, work: Sequence[Work]) -> list[tuple[str, Any]]:
        conn = self._conn
        self._lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = self._units(work)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._lock.release()
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and self._checkpointer is not None:
            self._checkpointer.kick()
        return out

    def _units(self, work: Sequence[Work]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [("error", RuntimeError("not run"))] * len(work)
        accepts = [i for i, w in enumerate(work) if isinstance(w, AcceptUnit)]
        if accepts:
            units: list[AcceptUnit] = [work[i] for i in accepts]  # type: ignore[misc]
            messages = [u.message for u in units]
            records = [u.idempotency for u in units]
            outcomes = run_sync(accept_many(self._tx, messages, records))
            for i, outcome in zip(accepts, outcomes, strict=True):
                out[i] = outcome
        for i, unit in enumerate(work):
            if isinstance(unit, AcceptUnit):
                continue
            if isinstance(unit, BulkAcceptUnit):  # raises its domain errors before writing
                try:
                    out[i] = (
                        "ok",
                        run_sync(accept_bulk(self._tx, unit.messages, unit.idempotency)),
                    )
                except DOMAIN_ERRORS as exc:
                    out[i] = ("error", exc)
                continue
            if not unit.savepoint:
                try:
                    out[i] = ("ok", run_sync(unit.run(self._tx)))
                except DOMAIN_ERRORS as exc:  # raised before it wrote anything
                    out[i] = ("error", exc)
                continue
            self._conn.execute("SAVEPOINT unit")
            try:
                out[i] = ("ok", run_sync(unit.run(self._tx)))
            except DOMAIN_ERRORS as exc:
                self._conn.execute("ROLLBACK TO unit")
                out[i] = ("error", exc)
            self._conn.execute("RELEASE unit")
        return out

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
        self._lock.close()
        if self._checkpointer is not None:
            await loop.run_in_executor(None, self._checkpointer.close)


async def open_reader(path: str) -> tuple[aiosqlite.Connection, AioSqliteTx]:
    db = await aiosqlite.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    await db.execute("PRAGMA busy_timeout=10000")
    await db.execute("PRAGMA query_only=ON")
    return db, AioSqliteTx(db)


def translate(exc: Exception) -> Exception:
    """A unique violation that slipped past the checks (another process won the race) is
    the domain's AlreadyExists."""
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
        return AlreadyExists(str(exc))
    return exc
