"""After the claim: submit results, receipts, failures and in-doubt recovery.

Every change of a message's public status goes through `_move`, which in the same
transaction appends the timeline event, writes the callback outbox row when the message asked
for one, and refunds per the policy. The state machine itself is `rules.py`.

The hot operations (`record_submit`, `record_receipt`) read the message and all its parts in
one statement (`_Loaded`), decide in Python, and write only what changed: a part, the message
row once, the event, the outbox row. They raise their domain errors before writing anything,
so the writer runs them without a savepoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gatewayd.service.model import (
    InDoubtPolicy,
    LedgerKind,
    Message,
    MessagePart,
    MessageStatus,
    PartStatus,
    ReceiptOutcome,
    ReceiptResult,
    StatusEvent,
)
from gatewayd.service.ports import NotFound, StoreError
from gatewayd.store import ops_ledger, rows, rules
from gatewayd.store.ops_messages import Policy, insert_event, load_message, with_children
from gatewayd.store.tx import Row, Tx

_MOVE_TEXT = {MessageStatus.SENT: rules.DESC_SENT, MessageStatus.DELIVERED: rules.DESC_DELIVERED}

# The message row and every part of it, one result row per part (the message's columns
# repeated): one statement instead of a row read, a part read and a read of all the parts.
_PARTS = (
    "p.idx AS p_idx, p.total AS p_total, p.status AS p_status, p.smsc AS p_smsc,"
    " p.smsc_message_id AS p_smsc_message_id, p.error AS p_error"
)
_SELECT = f"SELECT m.*, {_PARTS}"
# Where no `Message` is built, only the columns the state machine and `_move` read: the text,
# names and times of all 25 cost about a third of the statement.
_SELECT_STATE = (
    "SELECT m.seq, m.id, m.account_id, m.sender_id, m.contact, m.operator, m.units, m.parts,"
    " m.status, m.dispatch, m.callback_url, m.callback_on_sent, m.refunded_units, "
    + _PARTS
)
_JOIN = " FROM messages m JOIN message_parts p ON p.message_seq = m.seq"
_BY_ID = f"{_SELECT_STATE}{_JOIN} WHERE m.id = $1"
_BY_SEQ = f"{_SELECT_STATE}{_JOIN} WHERE m.seq = $1"
_BY_RECEIPT = (
    f"{_SELECT}, r.part AS r_part, r.expires_at AS r_expires_at FROM receipt_map r"
    " JOIN messages m ON m.seq = r.message_seq JOIN message_parts p ON p.message_seq = m.seq"
    " WHERE r.smsc = $1 AND r.smsc_message_id = $2"
)
_ORDER = " ORDER BY p.idx"
_LOCK = " FOR UPDATE OF m"  # PostgreSQL: the message row is this transaction's until it ends


class _Part:
    __slots__ = ("error", "idx", "smsc", "smsc_message_id", "status", "total")

    def __init__(self, r: Row) -> None:
        self.idx = int(r["p_idx"])
        self.total = int(r["p_total"])
        self.status = rows.PART_STATUS[r["p_status"]]
        self.smsc: str | None = r["p_smsc"]
        self.smsc_message_id: str | None = r["p_smsc_message_id"]
        self.error: str | None = r["p_error"]


class _Loaded:
    """A message row (a dict: the writes below update it) and its parts by index."""

    __slots__ = ("parts", "row", "seq")

    def __init__(self, found: Sequence[Row]) -> None:
        first: Any = found[0]
        self.row: dict[str, Any] = dict(zip(first.keys(), first, strict=True))
        self.seq = int(self.row["seq"])
        self.parts = {p.idx: p for p in map(_Part, found)}

    def part(self, idx: int) -> _Part:
        found = self.parts.get(idx)
        if found is None:
            raise NotFound(f"message {self.row['id']} part {idx}")
        return found

    def message(self, tx: Tx, timeline: tuple[StatusEvent, ...]) -> Message:
        """Only for a row read with all the message's columns (`_SELECT`)."""
        message_id = self.row["id"]
        parts = tuple(
            MessagePart(message_id, p.idx, p.total, p.status, p.smsc, p.smsc_message_id, p.error)
            for p in self.parts.values()
        )
        return rows.message(tx, self.row, timeline, parts)


async def _load(tx: Tx, sql: str, *args: Any) -> _Loaded | None:
    lock = _LOCK if tx.dialect == "postgres" else ""
    found = await tx.fetch(f"{sql}{_ORDER}{lock}", *args)
    return _Loaded(found) if found else None


async def _load_id(tx: Tx, message_id: str) -> _Loaded:
    loaded = await _load(tx, _BY_ID, message_id)
    if loaded is None:
        raise NotFound(f"message {message_id}")
    return loaded


async def record_submit(
    tx: Tx,
    policy: Policy,
    message_id: str,
    part: int,
    smsc: str,
    smsc_message_id: str,
    now: datetime,
) -> None:
    m = await _load_id(tx, message_id)
    p = m.part(part)
    if p.status not in rules.FINAL_PART:
        p.status = PartStatus.SENT
    p.smsc, p.smsc_message_id = smsc, smsc_message_id
    await _write_part(tx, m, p)
    await tx.execute(
        "INSERT INTO receipt_map (smsc, smsc_message_id, message_seq, part, expires_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (smsc, smsc_message_id) DO UPDATE SET"
        " message_seq = excluded.message_seq, part = excluded.part,"
        " expires_at = excluded.expires_at",
        smsc, smsc_message_id, m.seq, part, tx.time(now + policy.receipt_ttl),
    )  # fmt: skip
    await _settle(tx, policy, m, now, rules.DESC_SENT)
    parked = await tx.fetchrow(
        "DELETE FROM parked_receipts WHERE smsc = $1 AND smsc_message_id = $2"
        " RETURNING status, description, expires_at",
        smsc, smsc_message_id,
    )  # fmt: skip
    if parked is not None and tx.datetime(parked["expires_at"]) > now:
        receipt = MessageStatus(parked["status"])
        await _apply_receipt(tx, policy, m, p, receipt, parked["description"], now)


async def record_submits(
    tx: Tx, policy: Policy, submits: Sequence[tuple[str, int, str, str, datetime]]
) -> list[Exception | None]:
    """`record_submit` for each tuple in order; a domain error is that tuple's outcome alone
    (`record_submit` raises those before it writes anything)."""
    outcomes: list[Exception | None] = []
    for message_id, part, smsc, smsc_message_id, now in submits:
        try:
            await record_submit(tx, policy, message_id, part, smsc, smsc_message_id, now)
        except (StoreError, ValueError) as exc:
            outcomes.append(exc)
        else:
            outcomes.append(None)
    return outcomes


async def record_submit_failure(
    tx: Tx, policy: Policy, message_id: str, part: int, description: str, now: datetime
) -> None:
    m = await _load_id(tx, message_id)
    p = m.part(part)
    if p.status not in rules.FINAL_PART:
        p.status, p.error = PartStatus.FAILED, description
        await _write_part(tx, m, p)
    await _settle(tx, policy, m, now, description)


async def requeue(
    tx: Tx, message_id: str, now: datetime, not_before: datetime | None, in_doubt: bool
) -> None:
    lock = " FOR UPDATE" if tx.dialect == "postgres" else ""
    row = await tx.fetchrow(f"SELECT seq, dispatch FROM messages WHERE id = $1{lock}", message_id)
    if row is None:
        raise NotFound(f"message {message_id}")
    if row["dispatch"] == "submitting":
        if in_doubt:
            await tx.execute(
                "UPDATE messages SET in_doubt = in_doubt + 1 WHERE seq = $1", int(row["seq"])
            )
        await _requeue(tx, int(row["seq"]), now, not_before)


async def submitting_on(tx: Tx, smsc: str, before: datetime) -> list[str]:
    rows = await tx.fetch(
        "SELECT id FROM messages WHERE dispatch = 'submitting' AND smsc = $1"
        " AND updated_at < $2 ORDER BY created_at, id",
        smsc, tx.time(before),
    )  # fmt: skip
    return [str(r["id"]) for r in rows]


async def _requeue(tx: Tx, seq: int, now: datetime, not_before: datetime | None) -> None:
    await tx.execute(
        "UPDATE message_parts SET status = 'pending'"
        " WHERE message_seq = $1 AND status = 'submitting'",
        seq,
    )
    await tx.execute(
        "UPDATE messages SET dispatch = 'queued', scheduled_at = COALESCE($2, scheduled_at),"
        " updated_at = $3 WHERE seq = $1",
        seq, tx.time(not_before), tx.time(now),
    )  # fmt: skip


async def fail_message(
    tx: Tx, policy: Policy, message_id: str, description: str, now: datetime
) -> Message:
    m = await _load_id(tx, message_id)
    if MessageStatus(m.row["status"]) not in rules.FINAL_MESSAGE:
        await _move(tx, policy, m, MessageStatus.FAILED, description, now)
    return await load_message(tx, message_id)


async def record_receipts(
    tx: Tx, policy: Policy, receipts: Sequence[tuple[str, str, MessageStatus, str, datetime]]
) -> list[ReceiptResult | Exception]:
    """`record_receipt` for each tuple in order; a domain error is that tuple's outcome alone
    (`record_receipt` raises those before it writes anything)."""
    outcomes: list[ReceiptResult | Exception] = []
    for smsc, smsc_message_id, status, description, now in receipts:
        try:
            outcomes.append(
                await record_receipt(tx, policy, smsc, smsc_message_id, status, description, now)
            )
        except (StoreError, ValueError) as exc:
            outcomes.append(exc)
    return outcomes


async def record_receipt(
    tx: Tx,
    policy: Policy,
    smsc: str,
    smsc_message_id: str,
    status: MessageStatus,
    description: str,
    now: datetime,
) -> ReceiptResult:
    m = await _load(tx, _BY_RECEIPT, smsc, smsc_message_id)
    if m is None or tx.datetime(m.row["r_expires_at"]) <= now:
        await tx.execute(
            "INSERT INTO parked_receipts (smsc, smsc_message_id, status, description,"
            " received_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (smsc, smsc_message_id) DO NOTHING",
            smsc, smsc_message_id, status.value, description, tx.time(now),
            tx.time(now + policy.parked_ttl),
        )  # fmt: skip
        return ReceiptResult(ReceiptOutcome.PARKED)
    before = m.row["status"]
    p = m.part(int(m.row["r_part"]))
    outcome = await _apply_receipt(tx, policy, m, p, status, description, now)
    message = m.message(tx, await _timeline(tx, m))
    return ReceiptResult(outcome, message, message.status.value != before)


async def _apply_receipt(
    tx: Tx,
    policy: Policy,
    m: _Loaded,
    p: _Part,
    status: MessageStatus,
    description: str,
    now: datetime,
) -> ReceiptOutcome:
    new, outcome = rules.part_after_receipt(p.status, status)
    if outcome is not ReceiptOutcome.APPLIED:
        return outcome
    p.status, p.error = new, description if new is PartStatus.FAILED else None
    await _write_part(tx, m, p)
    if int(m.row["parts"]) > 1:
        await insert_event(tx, m.seq, StatusEvent("", status, description, now, p.idx))
    await _settle(tx, policy, m, now, description)
    return outcome


async def recover_in_doubt(
    tx: Tx, policy: Policy, now: datetime, in_doubt: InDoubtPolicy
) -> list[Message]:
    found = await tx.fetch(
        "SELECT seq FROM messages WHERE dispatch = 'submitting'"
        " AND status NOT IN ('DELIVERED', 'FAILED') ORDER BY created_at, id"
    )
    seqs = [int(r["seq"]) for r in found]
    for seq in seqs:
        await tx.execute(
            "UPDATE messages SET in_doubt = in_doubt + 1, updated_at = $2 WHERE seq = $1",
            seq, tx.time(now),
        )  # fmt: skip
        m = await _load(tx, _BY_SEQ, seq)
        assert m is not None, f"message seq {seq} vanished inside its transaction"
        if in_doubt is InDoubtPolicy.FAIL:
            await _move(
                tx, policy, m, MessageStatus.FAILED, rules.DESC_IN_DOUBT_FAIL, now,
                refundable=False,
            )  # fmt: skip
        else:
            status = MessageStatus(m.row["status"])
            event = StatusEvent(m.row["id"], status, rules.DESC_IN_DOUBT_RESEND, now)
            await insert_event(tx, seq, event)
            await _requeue(tx, seq, now, None)
    out = []
    for seq in seqs:
        row = await tx.fetchrow("SELECT * FROM messages WHERE seq = $1", seq)
        assert row is not None
        out.append(await with_children(tx, row))
    return out


async def purge_expired(tx: Tx, now: datetime) -> int:
    at = tx.time(now)
    mapped = await tx.execute("DELETE FROM receipt_map WHERE expires_at <= $1", at)
    parked = await tx.execute("DELETE FROM parked_receipts WHERE expires_at <= $1", at)
    return mapped + parked


# -- the state machine ---------------------------------------------------------------------


async def _settle(tx: Tx, policy: Policy, m: _Loaded, now: datetime, text: str) -> None:
    """Derive the message's status from its parts; move it when that changed. Every part
    answered: the message leaves the dispatch (in the move's UPDATE when there is one)."""
    parts = [p.status for p in m.parts.values()]
    done = m.row["dispatch"] != "done" and all(p in rules.ANSWERED_PART for p in parts)
    current = rows.MESSAGE_STATUS[m.row["status"]]
    new = rules.message_status(current, parts)
    if new is not current:
        await _move(tx, policy, m, new, _MOVE_TEXT.get(new, text), now, done=done)
    elif done:
        at = tx.time(now)
        await tx.execute(
            "UPDATE messages SET dispatch = 'done', updated_at = $2 WHERE seq = $1", m.seq, at
        )
        m.row["dispatch"], m.row["updated_at"] = "done", at


async def _move(
    tx: Tx,
    policy: Policy,
    m: _Loaded,
    status: MessageStatus,
    description: str,
    now: datetime,
    *,
    refundable: bool = True,
    done: bool = False,
) -> None:
    """Set the public status; event, outbox row and refund in the same transaction."""
    row = m.row
    message_id, refunded = row["id"], int(row["refunded_units"])
    if status is MessageStatus.FAILED and refundable:
        ids = [p.smsc_message_id for p in m.parts.values()]
        if rules.refund_due(policy.refund_policy, ids, refunded):
            await ops_ledger.post(
                tx, row["sender_id"], LedgerKind.REFUND, int(row["units"]), "system",
                rules.REFUND_REASON, message_id, now,
            )  # fmt: skip
            refunded = int(row["units"])
    done = done or status in rules.FINAL_MESSAGE
    at = tx.time(now)
    await tx.execute(
        "UPDATE messages SET status = $2, description = $3, updated_at = $4,"
        " refunded_units = $5, dispatch = CASE WHEN $6 THEN 'done' ELSE dispatch END"
        " WHERE seq = $1",
        m.seq, status.value, description, at, refunded, done,
    )  # fmt: skip
    row.update(status=status.value, description=description, updated_at=at)
    row["refunded_units"] = refunded
    if done:
        row["dispatch"] = "done"
    await insert_event(tx, m.seq, StatusEvent(message_id, status, description, now))
    url = row["callback_url"]
    if rules.wants_callback(status, url, bool(row["callback_on_sent"])):
        await tx.execute(
            "INSERT INTO callback_outbox (message_id, account_id, url, contact, operator, status,"
            " description, event_at, state, attempts, next_attempt_at, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $8, $8)",
            message_id, row["account_id"], url, row["contact"], row["operator"], status.value,
            description, at,
        )  # fmt: skip


async def _write_part(tx: Tx, m: _Loaded, p: _Part) -> None:
    await tx.execute(
        "UPDATE message_parts SET status = $3, smsc = $4, smsc_message_id = $5, error = $6"
        " WHERE message_seq = $1 AND idx = $2",
        m.seq, p.idx, p.status.value, p.smsc, p.smsc_message_id, p.error,
    )  # fmt: skip


async def _timeline(tx: Tx, m: _Loaded) -> tuple[StatusEvent, ...]:
    found = await tx.fetch(
        "SELECT status, description, at, part FROM status_events WHERE message_seq = $1"
        " ORDER BY id",
        m.seq,
    )
    message_id = m.row["id"]
    return tuple(rows.event(tx, message_id, e) for e in found)
