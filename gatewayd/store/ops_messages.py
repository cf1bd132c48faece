"""Message operations written once for both backends: accept (batched), read, list, claim.

The lifecycle after the claim (submit results, receipts, failures, in-doubt recovery) lives
in `ops_lifecycle.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gatewayd.service.model import (
    Accepted,
    IdempotentResponse,
    Message,
    MessagePage,
    MessagePart,
    MessageStatus,
    NewMessage,
    RefundPolicy,
    StatusEvent,
)
from gatewayd.service.ports import (
    AcceptedMany,
    AcceptOutcome,
    AlreadyExists,
    BulkIdempotency,
    InsufficientBalance,
    NotFound,
    StoreError,
)
from gatewayd.store import rows, rules
from gatewayd.store.tx import Row, Tx


@dataclass(frozen=True, slots=True)
class Policy:
    """The store's settings that change what an operation does."""

    refund_policy: RefundPolicy = RefundPolicy.NEVER
    receipt_ttl: timedelta = timedelta(days=3)
    parked_ttl: timedelta = timedelta(days=1)


Floats = dict[str, tuple[str, int]]  # sender id → (account id, balance)


Records = Sequence[IdempotentResponse | None]  # per message: its Idempotency-Key answer
Kept = dict[tuple[str, str], IdempotentResponse]  # (account id, key) → the answer kept


@dataclass(slots=True)
class Decision:
    """What an accept batch comes to: per message its outcome (("ok", None) accepted,
    ("ok", IdempotentResponse) a replay of the answer kept for its key, or ("error", exc)),
    the accepted ones with the float each leaves, the total debit per sender and the
    Idempotency-Key answers to write with them."""

    out: list[tuple[str, Any]]
    accepted: list[tuple[NewMessage, int]]
    debits: dict[str, int]
    refused: bool  # some message was refused for want of float
    records: list[IdempotentResponse]


def decide(
    batch: Sequence[NewMessage],
    floats: Floats,
    records: Records = (),
    kept: Kept | None = None,
    *,
    prefix: bool = False,
) -> Decision:
    """Check each message in order against the floats (updated in place as it goes).

    A message whose key already has an answer (`kept`: stored before, or written by an earlier
    message of this batch) is not checked and writes nothing: it replays that answer.
    `prefix` (one request's messages): once a sender's float falls short, that sender's later
    messages are refused as well, even ones it could still cover."""
    taken: set[str] = set()
    short: set[str] = set()  # senders whose float fell short (with `prefix`)
    kept = {} if kept is None else kept
    decision = Decision([], [], {}, False, [])
    for n, message in enumerate(batch):
        record = records[n] if records else None
        if record is not None:
            stored = kept.get((record.account_id, record.key))
            if stored is not None:
                decision.out.append(("ok", stored))
                continue
        try:
            if message.sender_id in short:
                left = floats[message.sender_id][1]
                raise InsufficientBalance(message.sender_id, message.units, left)
            _check(message, floats, taken)
        except StoreError as exc:
            decision.out.append(("error", exc))
            if isinstance(exc, InsufficientBalance):
                decision.refused = True
                if prefix:
                    short.add(message.sender_id)
            continue
        taken.add(message.id)
        account_id, available = floats[message.sender_id]
        left = available - message.units
        floats[message.sender_id] = (account_id, left)
        debits = decision.debits
        debits[message.sender_id] = debits.get(message.sender_id, 0) + message.units
        decision.accepted.append((message, left))
        decision.out.append(("ok", None))  # the caller answers with `Accepted(message)`
        if record is not None:
            kept[(record.account_id, record.key)] = record
            decision.records.append(record)
    return decision


async def accept_many(
    tx: Tx, batch: Sequence[NewMessage], records: Records = ()
) -> list[tuple[str, Any]]:
    """Accept messages in order inside one transaction: per message ("ok", None), ("ok",
    the answer kept for its Idempotency-Key) or ("error", domain error). The floats are
    locked and every check is made first, in order (the float seen by each message is what
    the earlier ones left); then the backend writes all the accepted messages, and the
    answers for their keys, at once (`Tx.write_accepts`).

    A message id already stored is not looked up beforehand (ids are fresh UUIDs; the lookup
    cost a round trip per batch): the primary key refuses it, the batch fails, and the
    writer's unit-by-unit retry reports AlreadyExists for that message alone."""
    floats = await read_floats(tx, distinct(m.sender_id for m in batch), lock=True)
    decision = decide(batch, floats, records, await read_kept(tx, records))
    if decision.accepted:
        await tx.write_accepts(decision.accepted, decision.debits, decision.records)
    return decision.out


async def accept_bulk(
    tx: Tx, batch: Sequence[NewMessage], idempotency: BulkIdempotency | None
) -> AcceptedMany:
    """One request's messages (`Store.accept_many`): the answer kept for its key replayed, or
    the floats locked, every message checked in order (`decide` with `prefix`), then the
    accepted ones and the answer rendered from all the outcomes written at once. Raises
    (ValueError) only before writing anything."""
    if not batch:
        return AcceptedMany(())
    account_id = batch[0].account_id
    if any(m.account_id != account_id for m in batch) or (
        idempotency is not None and idempotency.account_id != account_id
    ):
        raise ValueError("the messages of one accept_many belong to one account")
    if idempotency is not None:
        stored = await tx.fetchrow(
            "SELECT * FROM idempotency_keys WHERE account_id = $1 AND key = $2",
            idempotency.account_id, idempotency.key,
        )  # fmt: skip
        if stored is not None:
            return AcceptedMany((), rows.idempotent(tx, stored), True)
    floats = await read_floats(tx, distinct(m.sender_id for m in batch), lock=True)
    decision = decide(batch, floats, prefix=True)
    outcomes: tuple[AcceptOutcome, ...] = tuple(
        Accepted(m) if kind == "ok" else value
        for m, (kind, value) in zip(batch, decision.out, strict=True)
    )
    if not decision.accepted:
        return AcceptedMany(outcomes)
    record = None if idempotency is None else idempotency.record(outcomes)
    await tx.write_accepts(decision.accepted, decision.debits, [record] if record else [])
    return AcceptedMany(outcomes, record)


async def read_kept(tx: Tx, records: Records) -> Kept:
    """The answers already stored for the batch's Idempotency-Keys (none read when the batch
    has no key). The primary key (account_id, key) serves the lookup."""
    wanted = {(r.account_id, r.key) for r in records if r is not None}
    if not wanted:
        return {}
    found = await tx.fetch(
        f"SELECT * FROM idempotency_keys WHERE account_id {tx.any(1)} AND key {tx.any(2)}",
        tx.array(distinct(a for a, _ in wanted)), tx.array(distinct(k for _, k in wanted)),
    )  # fmt: skip
    kept = (rows.idempotent(tx, r) for r in found)
    return {(r.account_id, r.key): r for r in kept if (r.account_id, r.key) in wanted}


def check_record(message: NewMessage, record: IdempotentResponse) -> None:
    """An Idempotency-Key answer belongs to the account that sends the message."""
    if record.account_id != message.account_id:
        raise ValueError(
            f"idempotency record of account {record.account_id!r}"
            f" for a message of {message.account_id!r}"
        )


def distinct(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


async def read_floats(tx: Tx, sender_ids: list[str], *, lock: bool) -> Floats:
    """The senders' accounts and balances; `lock` takes the float rows (PostgreSQL) for the
    rest of the transaction (SQLite's writer holds the whole database already)."""
    lock_ = " FOR UPDATE OF f" if lock and tx.dialect == "postgres" else ""
    found = await tx.fetch(
        "SELECT s.id, s.account_id, f.balance FROM senders s JOIN floats f ON f.sender_id = s.id"
        f" WHERE s.id {tx.any(1)} ORDER BY s.id{lock_}",
        tx.array(sender_ids),
    )
    return {r["id"]: (r["account_id"], int(r["balance"])) for r in found}


def _check(message: NewMessage, floats: dict[str, tuple[str, int]], taken: set[str]) -> None:
    owner = floats.get(message.sender_id)
    if owner is None or owner[0] != message.account_id:
        raise NotFound(f"sender {message.sender_id}")
    if message.id in taken:
        raise AlreadyExists(f"message {message.id}")
    if owner[1] < message.units:
        raise InsufficientBalance(message.sender_id, message.units, owner[1])


async def load_message(tx: Tx, message_id: str, account_id: str | None = None) -> Message:
    """A message with its timeline and parts; NotFound also for another account's."""
    row = await tx.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    if row is None or (account_id is not None and row["account_id"] != account_id):
        raise NotFound(f"message {message_id}")
    return await with_children(tx, row)


async def with_children(tx: Tx, row: Row) -> Message:
    """The message of a stored row, with its timeline and parts."""
    seq, message_id = row["seq"], row["id"]
    events = await tx.fetch("SELECT * FROM status_events WHERE message_seq = $1 ORDER BY id", seq)
    parts = await tx.fetch("SELECT * FROM message_parts WHERE message_seq = $1 ORDER BY idx", seq)
    return rows.message(
        tx,
        row,
        tuple(rows.event(tx, message_id, e) for e in events),
        tuple(rows.part(message_id, p) for p in parts),
    )


async def list_messages(
    tx: Tx,
    account_id: str,
    *,
    status: MessageStatus | None,
    sender_id: str | None,
    contact: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> MessagePage:
    where = ["account_id = $1"]
    args: list[Any] = [account_id]

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.replace("?", f"${len(args)}"))

    if status is not None:
        add("status = ?", status.value)
    if sender_id is not None:
        add("sender_id = ?", sender_id)
    if contact is not None:
        add("contact = ?", contact)
    if since is not None:
        add("created_at >= ?", tx.time(since))
    if until is not None:
        add("created_at < ?", tx.time(until))
    if cursor is not None:
        at, last_id = rules.decode_cursor(cursor)
        add("(created_at < ?", tx.time(at))
        args.append(last_id)
        where[-1] += f" OR (created_at = ${len(args) - 1} AND id < ${len(args)}))"
    args.append(limit + 1)
    found = await tx.fetch(
        f"SELECT * FROM messages WHERE {' AND '.join(where)}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}",
        *args,
    )
    items = tuple(rows.message(tx, r) for r in found[:limit])
    more = len(found) > limit
    next_cursor = rules.encode_cursor(items[-1].created_at, items[-1].id) if more else None
    return MessagePage(items, next_cursor)


async def claim_queued(
    tx: Tx, operator: str, limit: int, now: datetime, smsc: str
) -> list[Message]:
    """Durably mark due queued messages SUBMITTING, highest priority then oldest first."""
    skip = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    found = await tx.fetch(
        "SELECT seq FROM messages WHERE operator = $1 AND dispatch = 'queued'"
        " AND (scheduled_at IS NULL OR scheduled_at <= $2)"
        f" ORDER BY priority DESC, created_at, id LIMIT $3{skip}",
        operator, tx.time(now), limit,
    )  # fmt: skip
    seqs = [int(r[0]) for r in found]
    if not seqs:
        return []
    claimed = await tx.fetch(  # the rows as updated: no second read of the messages
        "UPDATE messages SET dispatch = 'submitting', smsc = $2, attempts = attempts + 1,"
        f" updated_at = $3 WHERE seq {tx.any(1)} RETURNING {_CLAIMED}",
        tx.array(seqs), smsc, tx.time(now),
    )  # fmt: skip
    await tx.execute(
        f"UPDATE message_parts SET status = 'submitting' WHERE message_seq {tx.any(1)}"
        " AND status = 'pending'",
        tx.array(seqs),
    )
    return await _with_parts(tx, seqs, {int(r[0]): r for r in claimed})


# The columns a claim returns, read by position (`_claimed`): a name lookup in a SQLite row
# compares the name with each column's in turn, about 0.25 µs a column.
_CLAIMED = (
    "seq, id, account_id, sender_id, sender_name, contact, operator, text, units, parts,"
    " encoding, priority, status, description, dispatch, callback_url, client_ref,"
    " created_at, updated_at, attempts, in_doubt, smsc, scheduled_at, refunded_units,"
    " callback_on_sent"
)
_PARTS = "message_seq, idx, total, status, smsc, smsc_message_id, error"


def _claimed(tx: Tx, r: Row, parts: tuple[MessagePart, ...]) -> Message:
    """A `Message` (no timeline) of a row of `_CLAIMED` columns."""
    scheduled = r[22]
    return Message(
        id=r[1], account_id=r[2], sender_id=r[3], sender_name=r[4], contact=r[5],
        operator=r[6], text=r[7], units=int(r[8]), parts=int(r[9]), encoding=r[10],
        priority=int(r[11]), status=rows.MESSAGE_STATUS[r[12]], description=r[13],
        dispatch=rows.DISPATCH_STATE[r[14]], callback_url=r[15], client_ref=r[16],
        created_at=tx.datetime(r[17]), updated_at=tx.datetime(r[18]), attempts=int(r[19]),
        in_doubt=int(r[20]), smsc=r[21], part_list=parts,
        scheduled_at=None if scheduled is None else tx.datetime(scheduled),
        refunded_units=int(r[23]), callback_on_sent=bool(r[24]),
    )  # fmt: skip


async def _with_parts(tx: Tx, seqs: list[int], found: dict[int, Row]) -> list[Message]:
    """The messages of rows `found` with their parts (no timeline), in the order of `seqs`."""
    parts: dict[int, list[MessagePart]] = {}
    for r in await tx.fetch(
        f"SELECT {_PARTS} FROM message_parts WHERE message_seq {tx.any(1)}"
        " ORDER BY message_seq, idx",
        tx.array(seqs),
    ):
        seq = int(r[0])
        parts.setdefault(seq, []).append(
            MessagePart(
                found[seq][1], int(r[1]), int(r[2]), rows.PART_STATUS[r[3]], r[4], r[5], r[6]
            )
        )
    return [_claimed(tx, found[s], tuple(parts.get(s, ()))) for s in seqs]


async def queue_depth(tx: Tx, operator: str | None) -> int:
    if operator is None:
        value = await tx.fetchval("SELECT COUNT(*) FROM messages WHERE dispatch = 'queued'")
    else:
        value = await tx.fetchval(
            "SELECT COUNT(*) FROM messages WHERE operator = $1 AND dispatch = 'queued'", operator
        )
    return int(value)


async def append_event(tx: Tx, event: StatusEvent) -> None:
    seq = await tx.fetchval("SELECT seq FROM messages WHERE id = $1", event.message_id)
    if seq is None:
        raise NotFound(f"message {event.message_id}")
    await insert_event(tx, int(seq), event)


async def insert_event(tx: Tx, seq: int, event: StatusEvent) -> None:
    await tx.execute(
        "INSERT INTO status_events (message_seq, status, description, at, part)"
        " VALUES ($1, $2, $3, $4, $5)",
        seq, event.status.value, event.description, tx.time(event.at), event.part,
    )  # fmt: skip
