"""After the claim: submit results, receipts, failures and in-doubt recovery.

Every change of a message's public status goes through `_move`, which in the same
transaction appends the timeline event, writes the callback outbox row when the message asked
for one, and refunds per the policy. The state machine itself is `rules.py`.

The hot operations take a batch (`record_submits`, `record_receipts`; the single versions are
batches of one): one statement reads every message of the batch with all its parts
(`_Loaded`), the items are decided in order in Python against that state (several parts or
receipts of one message see each other's changes), and what they changed is written at the
end with one statement per table (`_Writes`: parts, message rows, timeline events, receipt
map, callback outbox, parked receipts), whatever the number of items. A domain error (unknown
message or part) is found before anything of its item changed, so it is that item's outcome
alone, and the writer runs these operations without a savepoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

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
from gatewayd.service.ports import NotFound, StoreError
from gatewayd.store import ops_ledger, rows, rules
from gatewayd.store.ops_messages import Policy, insert_event, load_message, with_children
from gatewayd.store.tx import Row, Tx

_MOVE_TEXT = {MessageStatus.SENT: rules.DESC_SENT, MessageStatus.DELIVERED: rules.DESC_DELIVERED}

# The message row and every part of it, one result row per part (the message's columns
# repeated): one statement instead of a row read, a part read and a read of all the parts.
# Only the columns the state machine and `_move` read: the text, names and times of all 25
# cost about a third of the statement.
_SELECT_STATE = (
    "SELECT m.seq, m.id, m.account_id, m.sender_id, m.contact, m.operator, m.units, m.parts,"
    " m.status, m.dispatch, m.callback_url, m.callback_on_sent, m.refunded_units,"
    " p.idx AS p_idx, p.total AS p_total, p.status AS p_status, p.smsc AS p_smsc,"
    " p.smsc_message_id AS p_smsc_message_id, p.error AS p_error"
)
_JOIN = " FROM messages m JOIN message_parts p ON p.message_seq = m.seq"
_BY_ID = f"{_SELECT_STATE}{_JOIN} WHERE m.id = $1"
_BY_SEQ = f"{_SELECT_STATE}{_JOIN} WHERE m.seq = $1"
# A batch's messages by receipt map entries of one SMSC: one result row per (entry, part).
_BY_RECEIPTS = (
    f"{_SELECT_STATE}, m.created_at, r.smsc_message_id AS r_id, r.part AS r_part,"
    " r.expires_at AS r_expires_at FROM receipt_map r"
    " JOIN messages m ON m.seq = r.message_seq JOIN message_parts p ON p.message_seq = m.seq"
    " WHERE r.smsc = $1 AND r.smsc_message_id "
)
_ORDER = " ORDER BY m.seq, p.idx"
# The rows above are read by position (a name lookup in a SQLite row compares the name with
# each column's in turn): the message's columns first, then the part's at `_P`, then (by
# receipt map entry) created_at and the entry's id, part and expiry at `_R`.
_STATE_KEYS = (
    "seq", "id", "account_id", "sender_id", "contact", "operator", "units", "parts", "status",
    "dispatch", "callback_url", "callback_on_sent", "refunded_units",
)  # fmt: skip
_P = len(_STATE_KEYS)
_R = _P + 6
_LOCK = " FOR UPDATE OF m"  # PostgreSQL: the message rows are this transaction's until it ends


class _Part:
    __slots__ = ("error", "idx", "smsc", "smsc_message_id", "status", "total")

    def __init__(self, r: Row) -> None:
        self.idx = int(r[_P])
        self.total = int(r[_P + 1])
        self.status = rows.PART_STATUS[r[_P + 2]]
        self.smsc: str | None = r[_P + 3]
        self.smsc_message_id: str | None = r[_P + 4]
        self.error: str | None = r[_P + 5]


class _Loaded:
    """A message row (a dict: the decisions below update it) and its parts by index."""

    __slots__ = ("parts", "row", "seq")

    def __init__(self, found: Sequence[Row]) -> None:
        first: Any = found[0]  # its message columns come first (`_STATE_KEYS`)
        self.row: dict[str, Any] = dict(zip(_STATE_KEYS, first, strict=False))
        self.seq = int(self.row["seq"])
        self.parts = {p.idx: p for p in map(_Part, found)}

    def part(self, idx: int) -> _Part:
        found = self.parts.get(idx)
        if found is None:
            raise NotFound(f"message {self.row['id']} part {idx}")
        return found


class _Writes:
    """What a lifecycle operation changed, written by `flush` with one statement per table
    (on PostgreSQL one statement in all).

    Parts and message rows are kept by key, so one touched several times is written once, as
    it ended; events, callback rows and parked receipts in the order they were made (event
    ids follow the timeline); receipt map entries by key, the last one made winning."""

    __slots__ = ("callbacks", "events", "maps", "messages", "parked", "parts")

    def __init__(self) -> None:
        self.parts: dict[tuple[int, int], _Part] = {}
        self.messages: dict[int, _Loaded] = {}
        self.events: list[tuple[Any, ...]] = []
        self.maps: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.callbacks: list[tuple[Any, ...]] = []
        self.parked: dict[tuple[str, str], tuple[Any, ...]] = {}

    def part(self, m: _Loaded, p: _Part) -> None:
        self.parts[(m.seq, p.idx)] = p

    def event(self, tx: Tx, m: _Loaded, event: StatusEvent) -> None:
        self.events.append(
            (m.seq, event.status.value, event.description, tx.time(event.at), event.part)
        )

    async def flush(self, tx: Tx) -> None:
        writes: list[tuple[_Write, Sequence[tuple[Any, ...]]]] = []
        if self.parts:
            writes.append((_UPDATE_PARTS, [
                (seq, p.idx, p.status.value, p.smsc, p.smsc_message_id, p.error)
                for (seq, _), p in self.parts.items()
            ]))  # fmt: skip
        if self.messages:
            writes.append((_UPDATE_MESSAGES, [
                (m.seq, m.row["status"], m.row.get("description"), m.row["updated_at"],
                 m.row["refunded_units"], m.row["dispatch"]) for m in self.messages.values()
            ]))  # fmt: skip
        if self.events:
            writes.append((_INSERT_EVENTS, self.events))
        if self.maps:
            writes.append((_UPSERT_MAP, list(self.maps.values())))
        if self.callbacks:
            writes.append((_INSERT_CALLBACKS, self.callbacks))
        if self.parked:
            writes.append((_INSERT_PARKED, list(self.parked.values())))
        if tx.dialect == "postgres" and len(writes) > 1:
            await _write_at_once(tx, writes)
            return
        for (columns, types, dml), values in writes:
            source, args = tx.rowset(1, types, values)
            await tx.execute(f"WITH v({columns}) AS ({source}) {dml.format(t='v')}", *args)


async def _write_at_once(tx: Tx, writes: Sequence[tuple[_Write, Sequence[Any]]]) -> None:
    """PostgreSQL: all the writes in one statement (one round trip), each a data-modifying
    CTE over its own row source; they touch different rows, none reads another's."""
    parts: list[str] = []
    args: list[Any] = []
    for i, ((columns, types, dml), values) in enumerate(writes):
        source, more = tx.rowset(len(args) + 1, types, values)
        args.extend(more)
        parts.append(f"v{i}({columns}) AS ({source}), w{i} AS ({dml.format(t=f'v{i}')})")
    await tx.execute(f"WITH {', '.join(parts)} SELECT 1", *args)


# The writes of `_Writes.flush`: the columns of the row source (`Tx.rowset`), their types,
# and the statement, which reads the rows from {t}.
_Write = tuple[str, tuple[str, ...], str]
_UPDATE_PARTS: _Write = (
    "seq, idx, status, smsc, smsc_message_id, error",
    ("int8", "int4", "text", "text", "text", "text"),
    "UPDATE message_parts SET status = {t}.status, smsc = {t}.smsc,"
    " smsc_message_id = {t}.smsc_message_id, error = {t}.error"
    " FROM {t} WHERE message_parts.message_seq = {t}.seq AND message_parts.idx = {t}.idx",
)
# description NULL: unchanged (a message leaving the dispatch without a move keeps its own).
_UPDATE_MESSAGES: _Write = (
    "seq, status, description, updated_at, refunded_units, dispatch",
    ("int8", "text", "text", "timestamptz", "int8", "text"),
    "UPDATE messages SET status = {t}.status,"
    " description = COALESCE({t}.description, messages.description),"
    " updated_at = {t}.updated_at, refunded_units = {t}.refunded_units,"
    " dispatch = {t}.dispatch FROM {t} WHERE messages.seq = {t}.seq",
)
_INSERT_EVENTS: _Write = (
    "seq, status, description, at, part",
    ("int8", "text", "text", "timestamptz", "int4"),
    "INSERT INTO status_events (message_seq, status, description, at, part)"
    " SELECT seq, status, description, at, part FROM {t}",
)
_UPSERT_MAP: _Write = (  # WHERE true: SQLite's parser needs it before ON CONFLICT
    "smsc, smsc_message_id, message_seq, part, expires_at",
    ("text", "text", "int8", "int4", "timestamptz"),
    "INSERT INTO receipt_map (smsc, smsc_message_id, message_seq, part, expires_at)"
    " SELECT smsc, smsc_message_id, message_seq, part, expires_at FROM {t} WHERE true"
    " ON CONFLICT (smsc, smsc_message_id) DO UPDATE SET message_seq = excluded.message_seq,"
    " part = excluded.part, expires_at = excluded.expires_at",
)
_INSERT_CALLBACKS: _Write = (
    "message_seq, message_id, account_id, url, contact, operator, status, description, at",
    ("int8", "text", "text", "text", "text", "text", "text", "text", "timestamptz"),
    "INSERT INTO callback_outbox (message_seq, message_id, account_id, url, contact, operator,"
    " status, description, event_at, state, attempts, next_attempt_at, created_at)"
    " SELECT message_seq, message_id, account_id, url, contact, operator, status, description,"
    " at, 'pending', 0, at, at FROM {t}",
)
_INSERT_PARKED: _Write = (
    "smsc, smsc_message_id, status, description, received_at, expires_at",
    ("text", "text", "text", "text", "timestamptz", "timestamptz"),
    "INSERT INTO parked_receipts (smsc, smsc_message_id, status, description, received_at,"
    " expires_at) SELECT smsc, smsc_message_id, status, description, received_at, expires_at"
    " FROM {t} WHERE true ON CONFLICT (smsc, smsc_message_id) DO NOTHING",
)


def _group(found: Iterable[Row]) -> dict[int, _Loaded]:
    """Rows ordered by message (`_ORDER`) to each message's `_Loaded`, by seq."""
    by_seq: dict[int, list[Row]] = {}
    for r in found:
        by_seq.setdefault(int(r[0]), []).append(r)
    return {seq: _Loaded(group) for seq, group in by_seq.items()}


async def _load(tx: Tx, sql: str, *args: Any) -> _Loaded | None:
    lock = _LOCK if tx.dialect == "postgres" else ""
    found = await tx.fetch(f"{sql}{_ORDER}{lock}", *args)
    return _Loaded(found) if found else None


async def _load_id(tx: Tx, message_id: str) -> _Loaded:
    loaded = await _load(tx, _BY_ID, message_id)
    if loaded is None:
        raise NotFound(f"message {message_id}")
    return loaded


async def _load_ids(tx: Tx, message_ids: Sequence[str]) -> dict[str, _Loaded]:
    lock = _LOCK if tx.dialect == "postgres" else ""
    found = await tx.fetch(
        f"{_SELECT_STATE}{_JOIN} WHERE m.id {tx.any(1)}{_ORDER}{lock}", tx.array(message_ids)
    )
    return {m.row["id"]: m for m in _group(found).values()}


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _batch_failed(exc: Exception) -> RuntimeError:
    """A domain error after the batch's first change (a refund's sender gone): not one item's
    alone any more, so the transaction must roll back; the writer then retries item by item."""
    return RuntimeError(f"a lifecycle batch failed after it changed state: {exc!r}")


Submit = tuple[str, int, str, str, datetime]  # message_id, part, smsc, smsc_message_id, now


async def record_submit(
    tx: Tx,
    policy: Policy,
    message_id: str,
    part: int,
    smsc: str,
    smsc_message_id: str,
    now: datetime,
) -> None:
    [outcome] = await record_submits(tx, policy, [(message_id, part, smsc, smsc_message_id, now)])
    if outcome is not None:
        raise outcome


async def record_submits(
    tx: Tx, policy: Policy, submits: Sequence[Submit]
) -> list[Exception | None]:
    """Each submit answer in order, as one batch (see the module's docstring): the part SENT
    with its SMSC message id, the receipt map entry, the message settled, and a receipt parked
    under that id applied. Per tuple None, or the domain error (NotFound) it alone met."""
    if not submits:
        return []
    loaded = await _load_ids(tx, _distinct(s[0] for s in submits))
    outcomes: list[Exception | None] = []
    keys: list[tuple[str, str]] = []
    for message_id, part, smsc, smsc_message_id, _ in submits:
        m = loaded.get(message_id)
        try:
            if m is None:
                raise NotFound(f"message {message_id}")
            m.part(part)
        except NotFound as exc:
            outcomes.append(exc)
            continue
        outcomes.append(None)
        keys.append((smsc, smsc_message_id))
    parked = await _take_parked(tx, keys)
    w = _Writes()
    try:
        for (message_id, part, smsc, smsc_message_id, now), outcome in zip(
            submits, outcomes, strict=True
        ):
            if outcome is not None:
                continue
            m = loaded[message_id]
            p = m.part(part)
            if p.status not in rules.FINAL_PART:
                p.status = PartStatus.SENT
            p.smsc, p.smsc_message_id = smsc, smsc_message_id
            w.part(m, p)
            expires = tx.time(now + policy.receipt_ttl)
            w.maps[(smsc, smsc_message_id)] = (smsc, smsc_message_id, m.seq, part, expires)
            await _settle(tx, w, policy, m, now, rules.DESC_SENT)
            found = parked.pop((smsc, smsc_message_id), None)
            if found is not None and tx.datetime(found["expires_at"]) > now:
                receipt = rows.MESSAGE_STATUS[found["status"]]
                await _apply_receipt(tx, w, policy, m, p, receipt, found["description"], now)
    except (StoreError, ValueError) as exc:
        raise _batch_failed(exc) from exc
    await w.flush(tx)
    return outcomes


async def _take_parked(tx: Tx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Row]:
    """Delete the parked receipts under these (smsc, smsc_message_id) keys; those there were."""
    by_smsc: dict[str, list[str]] = {}
    for smsc, smsc_message_id in keys:
        by_smsc.setdefault(smsc, []).append(smsc_message_id)
    taken: dict[tuple[str, str], Row] = {}
    for smsc, ids in by_smsc.items():
        for r in await tx.fetch(
            f"DELETE FROM parked_receipts WHERE smsc = $1 AND smsc_message_id {tx.any(2)}"
            " RETURNING smsc_message_id, status, description, expires_at",
            smsc, tx.array(_distinct(ids)),
        ):  # fmt: skip
            taken[(smsc, r["smsc_message_id"])] = r
    return taken


async def record_submit_failure(
    tx: Tx, policy: Policy, message_id: str, part: int, description: str, now: datetime
) -> None:
    m = await _load_id(tx, message_id)
    p = m.part(part)
    w = _Writes()
    if p.status not in rules.FINAL_PART:
        p.status, p.error = PartStatus.FAILED, description
        w.part(m, p)
    await _settle(tx, w, policy, m, now, description)
    await w.flush(tx)


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
    if rows.MESSAGE_STATUS[m.row["status"]] not in rules.FINAL_MESSAGE:
        w = _Writes()
        await _move(tx, w, policy, m, MessageStatus.FAILED, description, now)
        await w.flush(tx)
    return await load_message(tx, message_id)


async def expire_queued(
    tx: Tx, policy: Policy, before: datetime, description: str, now: datetime, limit: int
) -> list[str]:
    """Fail up to `limit` messages still waiting in the queue (never claimed, or back in it
    for a retry or after being in doubt) that were accepted before `before`, oldest first;
    their ids. A message SUBMITTING is left alone: its submit_sm may be on the wire. One
    that was ever in doubt is not refunded: the SMSC may have had it."""
    skip = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    found = await tx.fetch(
        "SELECT id, in_doubt FROM messages WHERE dispatch = 'queued' AND created_at < $1"
        f" ORDER BY created_at, id LIMIT $2{skip}",
        tx.time(before), limit,
    )  # fmt: skip
    doubted = {str(r[0]): int(r[1]) > 0 for r in found}
    if not doubted:
        return []
    w = _Writes()
    loaded = await _load_ids(tx, list(doubted))
    for message_id, in_doubt in doubted.items():
        await _move(
            tx, w, policy, loaded[message_id], MessageStatus.FAILED, description, now,
            refundable=not in_doubt,
        )  # fmt: skip
    await w.flush(tx)
    return list(doubted)


Receipt = tuple[str, str, MessageStatus, str, datetime]  # smsc, id, status, description, now


async def record_receipt(
    tx: Tx,
    policy: Policy,
    smsc: str,
    smsc_message_id: str,
    status: MessageStatus,
    description: str,
    now: datetime,
) -> ReceiptResult:
    [outcome] = await record_receipts(
        tx, policy, [(smsc, smsc_message_id, status, description, now)]
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def record_receipts(
    tx: Tx, policy: Policy, receipts: Sequence[Receipt]
) -> list[ReceiptResult | Exception]:
    """Each receipt in order, as one batch (see the module's docstring). A receipt without a
    live receipt map entry (none yet: its submit_sm_resp is still to come; or expired) is
    parked (the first one parked under an id is kept). Per tuple its result, or the domain
    error it alone met."""
    if not receipts:
        return []
    by_smsc: dict[str, list[str]] = {}
    for smsc, smsc_message_id, *_ in receipts:
        by_smsc.setdefault(smsc, []).append(smsc_message_id)
    lock = _LOCK if tx.dialect == "postgres" else ""
    loaded: dict[int, _Loaded] = {}
    mapped: dict[tuple[str, str], tuple[int, int, Any, Any]] = {}
    for smsc, ids in by_smsc.items():
        found = await tx.fetch(
            f"{_BY_RECEIPTS}{tx.any(2)}{_ORDER}{lock}", smsc, tx.array(_distinct(ids))
        )
        for r in found:
            mapped[(smsc, r[_R + 1])] = (int(r[0]), int(r[_R + 2]), r[_R + 3], r[_R])
        loaded.update(_group(found))
    w = _Writes()
    outcomes: list[ReceiptResult | Exception] = []
    try:
        for smsc, smsc_message_id, status, description, now in receipts:
            entry = mapped.get((smsc, smsc_message_id))
            if entry is None or entry[2] <= tx.time(now):
                key = (smsc, smsc_message_id)
                if key not in w.parked:
                    w.parked[key] = (
                        smsc, smsc_message_id, status.value, description, tx.time(now),
                        tx.time(now + policy.parked_ttl),
                    )  # fmt: skip
                outcomes.append(ReceiptResult(ReceiptOutcome.PARKED))
                continue
            seq, idx, _, created_at = entry
            m = loaded[seq]
            try:
                p = m.part(idx)
            except NotFound as exc:
                outcomes.append(exc)
                continue
            before = m.row["status"]
            outcome = await _apply_receipt(tx, w, policy, m, p, status, description, now)
            row = m.row
            outcomes.append(
                ReceiptResult(
                    outcome, row["id"], rows.MESSAGE_STATUS[row["status"]],
                    row["status"] != before, tx.datetime(created_at), row["callback_url"],
                )
            )  # fmt: skip
    except (StoreError, ValueError) as exc:
        raise _batch_failed(exc) from exc
    await w.flush(tx)
    return outcomes


async def _apply_receipt(
    tx: Tx,
    w: _Writes,
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
    w.part(m, p)
    if int(m.row["parts"]) > 1:
        w.event(tx, m, StatusEvent("", status, description, now, p.idx))
    await _settle(tx, w, policy, m, now, description)
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
            w = _Writes()
            await _move(
                tx, w, policy, m, MessageStatus.FAILED, rules.DESC_IN_DOUBT_FAIL, now,
                refundable=False,
            )  # fmt: skip
            await w.flush(tx)
        else:
            status = rows.MESSAGE_STATUS[m.row["status"]]
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


async def _settle(tx: Tx, w: _Writes, policy: Policy, m: _Loaded, now: datetime, text: str) -> None:
    """Derive the message's status from its parts; move it when that changed. Every part
    answered: the message leaves the dispatch (in the move's write when there is one)."""
    parts = [p.status for p in m.parts.values()]
    done = m.row["dispatch"] != "done" and all(p in rules.ANSWERED_PART for p in parts)
    current = rows.MESSAGE_STATUS[m.row["status"]]
    new = rules.message_status(current, parts)
    if new is not current:
        await _move(tx, w, policy, m, new, _MOVE_TEXT.get(new, text), now, done=done)
    elif done:
        m.row["dispatch"], m.row["updated_at"] = "done", tx.time(now)
        w.messages[m.seq] = m


async def _move(
    tx: Tx,
    w: _Writes,
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
    at = tx.time(now)
    row.update(status=status.value, description=description, updated_at=at)
    row["refunded_units"] = refunded
    if done or status in rules.FINAL_MESSAGE:
        row["dispatch"] = "done"
    w.messages[m.seq] = m
    w.event(tx, m, StatusEvent(message_id, status, description, now))
    url = row["callback_url"]
    if rules.wants_callback(status, url, bool(row["callback_on_sent"])):
        w.callbacks.append((
            m.seq, message_id, row["account_id"], url, row["contact"], row["operator"],
            status.value, description, at,
        ))  # fmt: skip
