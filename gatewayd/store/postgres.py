"""PostgreSQL backend (asyncpg): one writer connection with group commit, a pool for reads.

A batch is one transaction on the writer connection; each generic unit runs in a savepoint
(asyncpg nested `transaction()`); accepts are checked in order, then written by one statement
(`_ACCEPT`), so a batch of accepts costs four round trips (BEGIN, lock, write, COMMIT) whatever
its size: on this platform a socket send costs more than the SQL it carries.
Floats are locked (`FOR UPDATE`, in sender order) for the check, and the debit is guarded
twice: `UPDATE … WHERE balance >= $n` and a CHECK (balance >= 0).
Durability is PostgreSQL's own (synchronous_commit as the server is configured).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from gatewayd.service.model import IdempotentResponse, NewMessage
from gatewayd.service.ports import AlreadyExists, StoreError
from gatewayd.store.ops_messages import (
    Floats,
    accept_bulk,
    accept_many,
    decide,
    distinct,
    read_floats,
    read_kept,
)
from gatewayd.store.tx import Row
from gatewayd.store.writer import AcceptUnit, BulkAcceptUnit, Work

DOMAIN_ERRORS = (StoreError, ValueError)


# Every accepted message of a batch in one statement (one round trip): the message rows, the
# float debits guarded by `balance >= units`, then the parts and INITIATED events of the
# message rows and the debit entries. A debit that does not apply divides by zero: the
# statement, and so everything it wrote, is undone. Each entry's balance_after is the float
# the debit left plus the units of the same sender's later messages in the batch (sent in the
# row's balance_after): computed from the row the UPDATE returns, it is exact whatever another
# writer did to the float meanwhile, and the entries take their ids after the float's row
# lock, so ids follow the balances.
# Rows travel as arrays of the tables' own row types: asyncpg encodes a record field by field,
# where an array of scalars costs two Python-level ABC checks per string element.
_ACCEPT = """
WITH m AS (
    INSERT INTO messages (id, account_id, sender_id, sender_name, contact, operator, text,
        units, parts, encoding, priority, status, description, dispatch, callback_url,
        callback_on_sent, client_ref, created_at, updated_at, scheduled_at, attempts, in_doubt,
        smsc, refunded_units)
    SELECT id, account_id, sender_id, sender_name, contact, operator, text, units, parts,
        encoding, priority, status, description, dispatch, callback_url, callback_on_sent,
        client_ref, created_at, created_at, scheduled_at, attempts, in_doubt, smsc,
        refunded_units
    FROM unnest($1::messages[])
    RETURNING seq, parts, description, created_at
), debited AS (
    UPDATE floats AS f SET balance = f.balance - d.units
    FROM unnest($3::text[], $4::int8[]) AS d(sender_id, units)
    WHERE f.sender_id = d.sender_id AND f.balance >= d.units
    RETURNING f.sender_id, f.balance
), parts AS (
    INSERT INTO message_parts (message_seq, idx, total, status)
    SELECT m.seq, g.i, m.parts, 'pending' FROM m, generate_series(1, m.parts) AS g(i)
), events AS (
    INSERT INTO status_events (message_seq, status, description, at)
    SELECT seq, 'INITIATED', description, created_at FROM m
), ledger AS (
    INSERT INTO ledger_entries (account_id, sender_id, kind, units, balance_after, actor,
        reason, reference, created_at)
    SELECT l.account_id, l.sender_id, l.kind, l.units, d.balance + l.balance_after, l.actor,
        l.reason, l.reference, l.created_at
    FROM unnest($2::ledger_entries[]) WITH ORDINALITY AS l
    JOIN debited AS d ON d.sender_id = l.sender_id
    ORDER BY l.ordinality
)
SELECT 1 / (CASE WHEN count(*) = $5 THEN 1 ELSE 0 END) FROM debited
"""
# The same, also keeping the Idempotency-Key answers of the batch ($6, in the table's row type).
_ACCEPT_KEYED = _ACCEPT.replace(
    "), ledger AS (",
    "), keys AS (\n    INSERT INTO idempotency_keys SELECT * FROM unnest($6::idempotency_keys[])"
    "\n), ledger AS (",
)


def _rows(
    accepted: Sequence[tuple[NewMessage, int]],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The statement's $1 and $2: per message its `messages` row and its `ledger_entries` row,
    in the tables' column order (a migration adding a column to either extends these), ids
    left to the database; updated_at is the statement's (created_at), and balance_after
    carries the units of the sender's later messages."""
    later: dict[str, int] = {}
    for m, _ in accepted:
        later[m.sender_id] = later.get(m.sender_id, 0) + m.units
    messages: list[tuple[Any, ...]] = []
    entries: list[tuple[Any, ...]] = []
    for m, _ in accepted:
        after = later[m.sender_id] = later[m.sender_id] - m.units
        at = m.created_at
        messages.append((
            None, m.id, m.account_id, m.sender_id, m.sender_name, m.contact, m.operator,
            m.text, m.units, m.parts, m.encoding, m.priority, "INITIATED", m.description,
            "queued", m.callback_url, m.callback_on_sent, m.client_ref, at, None,
            m.scheduled_at, 0, 0, None, 0,
        ))  # fmt: skip
        entries.append((
            None, m.account_id, m.sender_id, "debit", -m.units, after, m.actor, "SMS sent",
            m.id, at,
        ))  # fmt: skip
    return messages, entries


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

    async def write_accepts(
        self,
        accepted: Sequence[tuple[NewMessage, int]],
        debits: Mapping[str, int],
        records: Sequence[IdempotentResponse] = (),
    ) -> None:
        """One statement (`_ACCEPT`); the float left after each message (`accepted`'s second
        item) is not sent: the statement computes it from the float it debits."""
        senders = sorted(debits)
        messages, entries = _rows(accepted)
        args: list[Any] = [messages, entries, senders, [debits[s] for s in senders], len(senders)]
        if not records:
            await self._conn.execute(_ACCEPT, *args)
            return
        keys = [
            (r.account_id, r.key, r.request_hash, r.status_code, r.body, r.created_at)
            for r in records
        ]
        await self._conn.execute(_ACCEPT_KEYED, *args, keys)

    def time(self, at: datetime | None) -> Any:
        return at

    def datetime(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value

    def any(self, n: int) -> str:
        return f"= ANY(${n})"

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def rowset(
        self, n: int, types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in types]
        return _unnest(n, tuple(types)), columns


@lru_cache(maxsize=64)
def _unnest(n: int, types: tuple[str, ...]) -> str:
    arrays = ", ".join(f"${n + i}::{t}[]" for i, t in enumerate(types))
    return f"SELECT * FROM unnest({arrays})"


async def _connect_writer(dsn: str) -> asyncpg.Connection:
    """A writer connection. Its statements are the same few, prepared once (asyncpg's cache);
    a generic plan spares the server re-planning the accept statement for every batch."""
    return await asyncpg.connect(dsn, server_settings={"plan_cache_mode": "force_generic_plan"})


class PgRunner:
    """Runs a batch of units in one transaction on its lane's writer connection."""

    def __init__(self, dsn: str, conns: list[asyncpg.Connection]) -> None:
        self._dsn = dsn
        self._conns = conns
        self._floats: Floats = {}  # balances as this writer last left them (see _fast_accepts)

    @classmethod
    async def connect(cls, dsn: str, lanes: int) -> PgRunner:
        return cls(dsn, [await _connect_writer(dsn) for _ in range(lanes)])

    def server_pids(self) -> list[int]:
        return [c.get_server_pid() for c in self._conns]

    async def run_batch(self, work: Sequence[Work], lane: int = 0) -> list[tuple[str, Any]]:
        if self._conns[lane].is_closed():  # the server restarted or the link dropped
            self._conns[lane] = await _connect_writer(self._dsn)
        conn = self._conns[lane]
        accepts_only = [w for w in work if isinstance(w, AcceptUnit)]
        if len(accepts_only) == len(work):
            fast = await self._fast_accepts(conn, accepts_only)
            if fast is not None:
                return fast
        self._floats.clear()  # other units may move floats; the locked path reads them afresh
        tx = PgTx(conn)
        out: list[tuple[str, Any]] = [("error", RuntimeError("not run"))] * len(work)
        async with conn.transaction():
            accepts = [i for i, w in enumerate(work) if isinstance(w, AcceptUnit)]
            if accepts:
                units: list[AcceptUnit] = [work[i] for i in accepts]  # type: ignore[misc]
                messages = [u.message for u in units]
                records = [u.idempotency for u in units]
                outcomes = await accept_many(tx, messages, records)
                for i, outcome in zip(accepts, outcomes, strict=True):
                    out[i] = outcome
            for i, unit in enumerate(work):
                if isinstance(unit, AcceptUnit):
                    continue
                try:
                    if isinstance(unit, BulkAcceptUnit):  # raises before it writes anything
                        out[i] = ("ok", await accept_bulk(tx, unit.messages, unit.idempotency))
                        continue
                    if not unit.savepoint:  # raises before it writes anything
                        out[i] = ("ok", await unit.run(tx))
                        continue
                    async with conn.transaction():
                        out[i] = ("ok", await unit.run(tx))
                except DOMAIN_ERRORS as exc:
                    out[i] = ("error", exc)
        return out

    async def _fast_accepts(
        self, conn: asyncpg.Connection, units: list[AcceptUnit]
    ) -> list[tuple[str, Any]] | None:
        """A batch of accepts in one round trip, without a lock: decide against the balances
        this writer last left (read them when unknown), then write; the statement's guarded
        debit (`balance >= units`) is what keeps a float from going negative, and it computes
        each ledger line's balance from the float it actually debited. None — take the locked
        path — when a guard fails (another process spent from the float: nothing is written)
        or when a message would be refused for want of float (the cached balance may be
        stale-low, e.g. after a top-up elsewhere): refusals are only ever made on fresh,
        locked balances. A batch with Idempotency-Keys reads the answers already kept for
        them first (one more round trip, for such batches only)."""
        tx = PgTx(conn)
        batch = [u.message for u in units]
        records = [u.idempotency for u in units]
        senders = distinct(m.sender_id for m in batch)
        missing = [s for s in senders if s not in self._floats]
        if missing:
            self._floats.update(await read_floats(tx, missing, lock=False))
        floats = {s: self._floats[s] for s in senders if s in self._floats}
        decision = decide(batch, floats, records, await read_kept(tx, records))
        if decision.refused:
            return None
        # What this batch will leave is known now: a batch decided on another lane meanwhile
        # builds on it. If this one fails, the other decided on a balance lower than the real
        # one, which can only make it refuse, and a refusal takes the locked path.
        self._floats.update(floats)
        if decision.accepted:
            try:
                await tx.write_accepts(decision.accepted, decision.debits, decision.records)
            except asyncpg.DivisionByZeroError:
                self._floats.clear()
                return None
            except Exception:
                self._floats.clear()
                raise
        return decision.out

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


def translate(exc: Exception) -> Exception:
    """A unique violation that slipped past the checks (another process won the race) is
    the domain's AlreadyExists."""
    if isinstance(exc, asyncpg.UniqueViolationError):
        return AlreadyExists(str(exc))
    return exc
