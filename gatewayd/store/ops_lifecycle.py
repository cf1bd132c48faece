"""After the claim: submit results, receipts, failures and in-doubt recovery.

Every change of a message's public status goes through `_move`, which in the same
transaction appends the timeline event, writes the callback outbox row when the message asked
for one, and refunds per the policy. The state machine itself is `rules.py`.
"""

from __future__ import annotations

from datetime import datetime

from gatewayd.service.model import (
    InDoubtPolicy,
    LedgerKind,
    Message,
    MessageStatus,
    PartStatus,
    ReceiptOutcome,
    ReceiptResult,
    StatusEvent,
)
from gatewayd.service.ports import NotFound
from gatewayd.store import ops_ledger, rules
from gatewayd.store.ops_messages import Policy, insert_event, load_message, with_children
from gatewayd.store.tx import Row, Tx

_MOVE_TEXT = {MessageStatus.SENT: rules.DESC_SENT, MessageStatus.DELIVERED: rules.DESC_DELIVERED}


async def record_submit(
    tx: Tx,
    policy: Policy,
    message_id: str,
    part: int,
    smsc: str,
    smsc_message_id: str,
    now: datetime,
) -> None:
    seq = int((await _message_row(tx, message_id))["seq"])
    current = await _part_status(tx, seq, message_id, part)
    status = current if current in rules.FINAL_PART else PartStatus.SENT
    await tx.execute(
        "UPDATE message_parts SET status = $3, smsc = $4, smsc_message_id = $5"
        " WHERE message_seq = $1 AND idx = $2",
        seq, part, status.value, smsc, smsc_message_id,
    )  # fmt: skip
    await tx.execute(
        "INSERT INTO receipt_map (smsc, smsc_message_id, message_seq, part, expires_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (smsc, smsc_message_id) DO UPDATE SET"
        " message_seq = excluded.message_seq, part = excluded.part,"
        " expires_at = excluded.expires_at",
        smsc, smsc_message_id, seq, part, tx.time(now + policy.receipt_ttl),
    )  # fmt: skip
    await _settle(tx, policy, seq, now, rules.DESC_SENT)
    parked = await tx.fetchrow(
        "DELETE FROM parked_receipts WHERE smsc = $1 AND smsc_message_id = $2"
        " RETURNING status, description, expires_at",
        smsc, smsc_message_id,
    )  # fmt: skip
    if parked is not None and tx.datetime(parked["expires_at"]) > now:
        receipt = MessageStatus(parked["status"])
        await _apply_receipt(tx, policy, seq, part, receipt, parked["description"], now)


async def record_submit_failure(
    tx: Tx, policy: Policy, message_id: str, part: int, description: str, now: datetime
) -> None:
    seq = int((await _message_row(tx, message_id))["seq"])
    if await _part_status(tx, seq, message_id, part) not in rules.FINAL_PART:
        await tx.execute(
            "UPDATE message_parts SET status = 'failed', error = $3"
            " WHERE message_seq = $1 AND idx = $2",
            seq, part, description,
        )  # fmt: skip
    await _settle(tx, policy, seq, now, description)


async def requeue(tx: Tx, message_id: str, now: datetime, not_before: datetime | None) -> None:
    row = await _message_row(tx, message_id)
    if row["dispatch"] == "submitting":
        await _requeue(tx, int(row["seq"]), now, not_before)


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
    row = await _message_row(tx, message_id)
    if MessageStatus(row["status"]) not in rules.FINAL_MESSAGE:
        await _move(tx, policy, row, MessageStatus.FAILED, description, now)
    return await load_message(tx, message_id)


async def record_receipt(
    tx: Tx,
    policy: Policy,
    smsc: str,
    smsc_message_id: str,
    status: MessageStatus,
    description: str,
    now: datetime,
) -> ReceiptResult:
    mapped = await tx.fetchrow(
        "SELECT message_seq, part, expires_at FROM receipt_map"
        " WHERE smsc = $1 AND smsc_message_id = $2",
        smsc, smsc_message_id,
    )  # fmt: skip
    if mapped is None or tx.datetime(mapped["expires_at"]) <= now:
        await tx.execute(
            "INSERT INTO parked_receipts (smsc, smsc_message_id, status, description,"
            " received_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (smsc, smsc_message_id) DO NOTHING",
            smsc, smsc_message_id, status.value, description, tx.time(now),
            tx.time(now + policy.parked_ttl),
        )  # fmt: skip
        return ReceiptResult(ReceiptOutcome.PARKED)
    seq = int(mapped["message_seq"])
    before = await tx.fetchval("SELECT status FROM messages WHERE seq = $1", seq)
    outcome = await _apply_receipt(
        tx, policy, seq, int(mapped["part"]), status, description, now
    )
    message = await with_children(tx, await _row_by_seq(tx, seq))
    return ReceiptResult(outcome, message, message.status.value != before)


async def _apply_receipt(
    tx: Tx,
    policy: Policy,
    seq: int,
    part: int,
    status: MessageStatus,
    description: str,
    now: datetime,
) -> ReceiptOutcome:
    current = await _part_status(tx, seq, str(seq), part)
    new, outcome = rules.part_after_receipt(current, status)
    if outcome is not ReceiptOutcome.APPLIED:
        return outcome
    error = description if new is PartStatus.FAILED else None
    await tx.execute(
        "UPDATE message_parts SET status = $3, error = $4 WHERE message_seq = $1 AND idx = $2",
        seq, part, new.value, error,
    )  # fmt: skip
    if await tx.fetchval("SELECT parts FROM messages WHERE seq = $1", seq) > 1:
        await insert_event(tx, seq, StatusEvent("", status, description, now, part))
    await _settle(tx, policy, seq, now, description)
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
        row = await _row_by_seq(tx, seq)
        if in_doubt is InDoubtPolicy.FAIL:
            await _move(
                tx, policy, row, MessageStatus.FAILED, rules.DESC_IN_DOUBT_FAIL, now,
                refundable=False,
            )  # fmt: skip
        else:
            status = MessageStatus(row["status"])
            event = StatusEvent(row["id"], status, rules.DESC_IN_DOUBT_RESEND, now)
            await insert_event(tx, seq, event)
            await _requeue(tx, seq, now, None)
    return [await with_children(tx, await _row_by_seq(tx, seq)) for seq in seqs]


async def purge_expired(tx: Tx, now: datetime) -> int:
    at = tx.time(now)
    mapped = await tx.execute("DELETE FROM receipt_map WHERE expires_at <= $1", at)
    parked = await tx.execute("DELETE FROM parked_receipts WHERE expires_at <= $1", at)
    return mapped + parked


# -- the state machine ---------------------------------------------------------------------


async def _settle(tx: Tx, policy: Policy, seq: int, now: datetime, text: str) -> None:
    """Derive the message's status from its parts; move it when that changed."""
    row = await _row_by_seq(tx, seq)
    parts = [
        PartStatus(r["status"])
        for r in await tx.fetch("SELECT status FROM message_parts WHERE message_seq = $1", seq)
    ]
    if row["dispatch"] != "done" and all(p in rules.ANSWERED_PART for p in parts):
        await tx.execute(
            "UPDATE messages SET dispatch = 'done', updated_at = $2 WHERE seq = $1",
            seq, tx.time(now),
        )  # fmt: skip
    current = MessageStatus(row["status"])
    new = rules.message_status(current, parts)
    if new is not current:
        await _move(tx, policy, row, new, _MOVE_TEXT.get(new, text), now)


async def _move(
    tx: Tx,
    policy: Policy,
    row: Row,
    status: MessageStatus,
    description: str,
    now: datetime,
    *,
    refundable: bool = True,
) -> None:
    """Set the public status; event, outbox row and refund in the same transaction."""
    message_id, seq = row["id"], int(row["seq"])
    refunded = int(row["refunded_units"])
    if status is MessageStatus.FAILED and refundable:
        ids = [
            r["smsc_message_id"]
            for r in await tx.fetch(
                "SELECT smsc_message_id FROM message_parts WHERE message_seq = $1", seq
            )
        ]
        if rules.refund_due(policy.refund_policy, ids, refunded):
            await ops_ledger.post(
                tx, row["sender_id"], LedgerKind.REFUND, int(row["units"]), "system",
                rules.REFUND_REASON, message_id, now,
            )  # fmt: skip
            refunded = int(row["units"])
    final = status in rules.FINAL_MESSAGE
    await tx.execute(
        "UPDATE messages SET status = $2, description = $3, updated_at = $4,"
        " refunded_units = $5, dispatch = CASE WHEN $6 THEN 'done' ELSE dispatch END"
        " WHERE seq = $1",
        seq, status.value, description, tx.time(now), refunded, final,
    )  # fmt: skip
    await insert_event(tx, seq, StatusEvent(message_id, status, description, now))
    url = row["callback_url"]
    if rules.wants_callback(status, url, bool(row["callback_on_sent"])):
        await tx.execute(
            "INSERT INTO callback_outbox (message_id, account_id, url, contact, operator, status,"
            " description, event_at, state, attempts, next_attempt_at, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $8, $8)",
            message_id, row["account_id"], url, row["contact"], row["operator"], status.value,
            description, tx.time(now),
        )  # fmt: skip


async def _message_row(tx: Tx, message_id: str) -> Row:
    lock = " FOR UPDATE" if tx.dialect == "postgres" else ""
    row = await tx.fetchrow(f"SELECT * FROM messages WHERE id = $1{lock}", message_id)
    if row is None:
        raise NotFound(f"message {message_id}")
    return row


async def _row_by_seq(tx: Tx, seq: int) -> Row:
    row = await tx.fetchrow("SELECT * FROM messages WHERE seq = $1", seq)
    assert row is not None, f"message seq {seq} vanished inside its transaction"
    return row


async def _part_status(tx: Tx, seq: int, message_id: str, part: int) -> PartStatus:
    value = await tx.fetchval(
        "SELECT status FROM message_parts WHERE message_seq = $1 AND idx = $2", seq, part
    )
    if value is None:
        raise NotFound(f"message {message_id} part {part}")
    return PartStatus(value)
