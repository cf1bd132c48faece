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
    DispatchState,
    LedgerKind,
    Message,
    MessagePage,
    MessagePart,
    MessageStatus,
    NewMessage,
    PartStatus,
    RefundPolicy,
    StatusEvent,
)
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound, StoreError
from gatewayd.store import rows, rules
from gatewayd.store.tx import Tx


@dataclass(frozen=True, slots=True)
class Policy:
    """The store's settings that change what an operation does."""

    refund_policy: RefundPolicy = RefundPolicy.NEVER
    receipt_ttl: timedelta = timedelta(days=3)
    parked_ttl: timedelta = timedelta(days=1)


class _Batch:
    """The rows an accept batch writes, collected in order, inserted once per table."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.parts: list[tuple[Any, ...]] = []
        self.entries: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.debits: dict[str, int] = {}


async def accept_many(tx: Tx, batch: Sequence[NewMessage]) -> list[tuple[str, Any]]:
    """Accept messages in order inside one transaction: per message ("ok", Message) or
    ("error", domain error). Checks come first and in order (the float seen by each message
    is what the earlier ones left), then every table gets one multi-row insert."""
    floats = await _lock_floats(tx, _distinct(m.sender_id for m in batch))
    taken = {
        r["id"]
        for r in await tx.fetch(
            f"SELECT id FROM messages WHERE id {tx.any(1)}", tx.array([m.id for m in batch])
        )
    }
    out: list[tuple[str, Any]] = []
    rows_ = _Batch()
    for message in batch:
        try:
            _check(message, floats, taken)
        except StoreError as exc:
            out.append(("error", exc))
            continue
        taken.add(message.id)
        account_id, available = floats[message.sender_id]
        floats[message.sender_id] = (account_id, available - message.units)
        rows_.debits[message.sender_id] = rows_.debits.get(message.sender_id, 0) + message.units
        _collect(tx, message, available - message.units, rows_)
        out.append(("ok", accepted(message)))
    await _write(tx, rows_)
    return out


def _distinct(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


async def _lock_floats(tx: Tx, sender_ids: list[str]) -> dict[str, tuple[str, int]]:
    lock = " FOR UPDATE OF f" if tx.dialect == "postgres" else ""
    found = await tx.fetch(
        "SELECT s.id, s.account_id, f.balance FROM senders s JOIN floats f ON f.sender_id = s.id"
        f" WHERE s.id {tx.any(1)} ORDER BY s.id{lock}",
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


def _collect(tx: Tx, m: NewMessage, balance_after: int, out: _Batch) -> None:
    at = tx.time(m.created_at)
    out.messages.append((
        m.id, m.account_id, m.sender_id, m.sender_name, m.contact, m.operator, m.text, m.units,
        m.parts, m.encoding, m.priority, MessageStatus.INITIATED.value, m.description,
        DispatchState.QUEUED.value, m.callback_url, m.callback_on_sent, m.client_ref, at, at,
        tx.time(m.scheduled_at), 0, 0, None, 0,
    ))  # fmt: skip
    out.parts.extend(
        (m.id, i, m.parts, PartStatus.PENDING.value, None, None, None)
        for i in range(1, m.parts + 1)
    )
    out.entries.append((
        m.account_id, m.sender_id, LedgerKind.DEBIT.value, -m.units, balance_after, m.actor,
        "SMS sent", m.id, at,
    ))  # fmt: skip
    out.events.append((m.id, MessageStatus.INITIATED.value, m.description, at, None))


async def _write(tx: Tx, batch: _Batch) -> None:
    if not batch.messages:
        return
    for sender_id, units in sorted(batch.debits.items()):
        changed = await tx.execute(
            "UPDATE floats SET balance = balance - $2 WHERE sender_id = $1 AND balance >= $2",
            sender_id, units,
        )  # fmt: skip
        if changed != 1:  # the checks above make this unreachable; never overdraw anyway
            raise RuntimeError(f"float of {sender_id} changed under the writer")
    await tx.insert_many("messages", batch.messages)
    await tx.insert_many("message_parts", batch.parts)
    await tx.insert_many("ledger_entries", batch.entries)
    await tx.insert_many("status_events", batch.events)


def accepted(m: NewMessage) -> Message:
    """The stored message as `accept` returns it, without reading it back."""
    return Message(
        id=m.id, account_id=m.account_id, sender_id=m.sender_id, sender_name=m.sender_name,
        contact=m.contact, operator=m.operator, text=m.text, units=m.units, parts=m.parts,
        encoding=m.encoding, priority=m.priority, status=MessageStatus.INITIATED,
        description=m.description, dispatch=DispatchState.QUEUED, callback_url=m.callback_url,
        client_ref=m.client_ref, created_at=m.created_at, updated_at=m.created_at,
        timeline=(StatusEvent(m.id, MessageStatus.INITIATED, m.description, m.created_at),),
        part_list=tuple(
            MessagePart(m.id, i, m.parts, PartStatus.PENDING) for i in range(1, m.parts + 1)
        ),
        scheduled_at=m.scheduled_at, callback_on_sent=m.callback_on_sent,
    )  # fmt: skip


async def load_message(tx: Tx, message_id: str, account_id: str | None = None) -> Message:
    """A message with its timeline and parts; NotFound also for another account's."""
    row = await tx.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    if row is None or (account_id is not None and row["account_id"] != account_id):
        raise NotFound(f"message {message_id}")
    events = await tx.fetch(
        "SELECT * FROM status_events WHERE message_id = $1 ORDER BY id", message_id
    )
    parts = await tx.fetch(
        "SELECT * FROM message_parts WHERE message_id = $1 ORDER BY idx", message_id
    )
    return rows.message(
        tx, row, tuple(rows.event(tx, e) for e in events), tuple(rows.part(p) for p in parts)
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
        "SELECT id FROM messages WHERE operator = $1 AND dispatch = 'queued'"
        " AND (scheduled_at IS NULL OR scheduled_at <= $2)"
        f" ORDER BY priority DESC, created_at, id LIMIT $3{skip}",
        operator, tx.time(now), limit,
    )  # fmt: skip
    ids = [r["id"] for r in found]
    if not ids:
        return []
    await tx.execute(
        "UPDATE messages SET dispatch = 'submitting', smsc = $2, attempts = attempts + 1,"
        f" updated_at = $3 WHERE id {tx.any(1)}",
        tx.array(ids), smsc, tx.time(now),
    )  # fmt: skip
    await tx.execute(
        f"UPDATE message_parts SET status = 'submitting' WHERE message_id {tx.any(1)}"
        " AND status = 'pending'",
        tx.array(ids),
    )
    return await load_many(tx, ids)


async def load_many(tx: Tx, ids: list[str]) -> list[Message]:
    """Messages with their parts (no timeline), in the order of `ids`."""
    found = {
        r["id"]: r
        for r in await tx.fetch(f"SELECT * FROM messages WHERE id {tx.any(1)}", tx.array(ids))
    }
    parts: dict[str, list[MessagePart]] = {}
    for r in await tx.fetch(
        f"SELECT * FROM message_parts WHERE message_id {tx.any(1)} ORDER BY message_id, idx",
        tx.array(ids),
    ):
        parts.setdefault(r["message_id"], []).append(rows.part(r))
    return [rows.message(tx, found[i], (), tuple(parts.get(i, ()))) for i in ids]


async def queue_depth(tx: Tx, operator: str | None) -> int:
    if operator is None:
        value = await tx.fetchval("SELECT COUNT(*) FROM messages WHERE dispatch = 'queued'")
    else:
        value = await tx.fetchval(
            "SELECT COUNT(*) FROM messages WHERE operator = $1 AND dispatch = 'queued'", operator
        )
    return int(value)


async def append_event(tx: Tx, event: StatusEvent) -> None:
    if not await tx.fetchval("SELECT 1 FROM messages WHERE id = $1", event.message_id):
        raise NotFound(f"message {event.message_id}")
    await insert_event(tx, event)


async def insert_event(tx: Tx, event: StatusEvent) -> None:
    await tx.execute(
        "INSERT INTO status_events (message_id, status, description, at, part)"
        " VALUES ($1, $2, $3, $4, $5)",
        event.message_id, event.status.value, event.description, tx.time(event.at), event.part,
    )  # fmt: skip
