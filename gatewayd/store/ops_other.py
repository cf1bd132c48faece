"""Packages, top-ups, idempotency keys, the callback outbox and inbound messages, written
once for both backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from gatewayd.service.model import (
    CallbackJob,
    IdempotentResponse,
    InboundMessage,
    LedgerKind,
    MoPart,
    Package,
    TopUp,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.ports import AlreadyExists, NotFound
from gatewayd.store import ops_ledger, rows
from gatewayd.store.tx import Row, Tx

# -- packages and top-ups ------------------------------------------------------------------


async def create_package(tx: Tx, package: Package) -> Package:
    if await tx.fetchval("SELECT 1 FROM packages WHERE id = $1", package.id):
        raise AlreadyExists(f"package {package.id}")
    await tx.execute(
        "INSERT INTO packages (id, name, operator, rate_cents, min_units, active)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        package.id, package.name, package.operator, package.rate_cents, package.min_units,
        package.active,
    )  # fmt: skip
    return package


async def get_package(tx: Tx, package_id: str) -> Package:
    row = await tx.fetchrow("SELECT * FROM packages WHERE id = $1", package_id)
    if row is None:
        raise NotFound(f"package {package_id}")
    return rows.package(row)


async def list_packages(tx: Tx, operator: str | None) -> list[Package]:
    order = " ORDER BY operator, min_units, id"
    if operator is None:
        found = await tx.fetch("SELECT * FROM packages" + order)
    else:
        found = await tx.fetch("SELECT * FROM packages WHERE operator = $1" + order, operator)
    return [rows.package(r) for r in found]


async def create_topup(
    tx: Tx,
    topup_id: str,
    account_id: str,
    sender_id: str,
    package_id: str,
    units: int,
    amount_cents: int,
    method: TopUpMethod,
    now: datetime,
    phone: str | None,
) -> TopUp:
    owner = await tx.fetchval("SELECT account_id FROM senders WHERE id = $1", sender_id)
    if owner is None or owner != account_id:
        raise NotFound(f"sender {sender_id}")
    await get_package(tx, package_id)
    if await tx.fetchval("SELECT 1 FROM topups WHERE id = $1", topup_id):
        raise AlreadyExists(f"top-up {topup_id}")
    await tx.execute(
        "INSERT INTO topups (id, account_id, sender_id, package_id, units, amount_cents, method,"
        " status, created_at, phone) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        topup_id, account_id, sender_id, package_id, units, amount_cents, method.value,
        TopUpStatus.PENDING.value, tx.time(now), phone,
    )  # fmt: skip
    return TopUp(
        topup_id, account_id, sender_id, package_id, units, amount_cents, method,
        TopUpStatus.PENDING, now, phone=phone,
    )  # fmt: skip


async def get_topup(tx: Tx, topup_id: str) -> TopUp:
    row = await tx.fetchrow("SELECT * FROM topups WHERE id = $1", topup_id)
    if row is None:
        raise NotFound(f"top-up {topup_id}")
    return rows.topup(tx, row)


async def find_topup_by_checkout(tx: Tx, checkout_request_id: str) -> TopUp:
    row = await tx.fetchrow(
        "SELECT * FROM topups WHERE checkout_request_id = $1", checkout_request_id
    )
    if row is None:
        raise NotFound(f"top-up with checkout {checkout_request_id}")
    return rows.topup(tx, row)


async def set_topup_checkout(
    tx: Tx, topup_id: str, checkout_request_id: str, merchant_request_id: str
) -> TopUp:
    changed = await tx.execute(
        "UPDATE topups SET checkout_request_id = $2, merchant_request_id = $3 WHERE id = $1",
        topup_id, checkout_request_id, merchant_request_id,
    )  # fmt: skip
    if not changed:
        raise NotFound(f"top-up {topup_id}")
    return await get_topup(tx, topup_id)


async def settle_topup(
    tx: Tx,
    topup_id: str,
    status: TopUpStatus,
    actor: str,
    now: datetime,
    result_code: int | None,
    result_desc: str | None,
    mpesa_receipt: str | None,
) -> tuple[TopUp, bool]:
    """PENDING → COMPLETED (credit + ledger entry) or FAILED, once; later calls change
    nothing. The conditional UPDATE is what makes a repeated callback credit nothing."""
    if status is TopUpStatus.PENDING:
        raise ValueError("a top-up settles to COMPLETED or FAILED")
    changed = await tx.execute(
        "UPDATE topups SET status = $2, settled_at = $3, settled_by = $4, result_code = $5,"
        " result_desc = $6, mpesa_receipt = $7 WHERE id = $1 AND status = 'PENDING'",
        topup_id, status.value, tx.time(now), actor, result_code, result_desc, mpesa_receipt,
    )  # fmt: skip
    topup = await get_topup(tx, topup_id)
    if not changed:
        return topup, False
    if status is TopUpStatus.COMPLETED:
        await ops_ledger.post(
            tx, topup.sender_id, LedgerKind.TOPUP, topup.units, actor,
            f"Top-up ({topup.method.value})", topup.id, now,
        )  # fmt: skip
    return topup, True


async def list_topups(
    tx: Tx, account_id: str | None, status: TopUpStatus | None
) -> list[TopUp]:
    where, args = ["TRUE"], []
    if account_id is not None:
        args.append(account_id)
        where.append(f"account_id = ${len(args)}")
    if status is not None:
        args.append(status.value)
        where.append(f"status = ${len(args)}")
    found = await tx.fetch(
        f"SELECT * FROM topups WHERE {' AND '.join(where)} ORDER BY created_at, id", *args
    )
    return [rows.topup(tx, r) for r in found]


async def pending_topups_before(tx: Tx, cutoff: datetime) -> list[TopUp]:
    found = await tx.fetch(
        "SELECT * FROM topups WHERE status = 'PENDING' AND created_at < $1"
        " ORDER BY created_at, id",
        tx.time(cutoff),
    )
    return [rows.topup(tx, r) for r in found]


# -- idempotency keys ----------------------------------------------------------------------


async def get_idempotent(tx: Tx, account_id: str, key: str) -> IdempotentResponse | None:
    row = await tx.fetchrow(
        "SELECT * FROM idempotency_keys WHERE account_id = $1 AND key = $2", account_id, key
    )
    return None if row is None else rows.idempotent(tx, row)


async def put_idempotent(tx: Tx, r: IdempotentResponse) -> IdempotentResponse:
    await tx.execute(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status_code, body,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, key) DO NOTHING",
        r.account_id, r.key, r.request_hash, r.status_code, r.body, tx.time(r.created_at),
    )  # fmt: skip
    kept = await get_idempotent(tx, r.account_id, r.key)
    assert kept is not None
    return kept


async def purge_idempotent(tx: Tx, before: datetime) -> int:
    return await tx.execute(
        "DELETE FROM idempotency_keys WHERE created_at < $1", tx.time(before)
    )


# -- callback outbox -----------------------------------------------------------------------


async def claim_callbacks(
    tx: Tx, now: datetime, limit: int, lease: timedelta
) -> list[CallbackJob]:
    skip = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    found = await tx.fetch(
        "SELECT id FROM callback_outbox WHERE state = 'pending' AND next_attempt_at <= $1"
        f" ORDER BY next_attempt_at, id LIMIT $2{skip}",
        tx.time(now), limit,
    )  # fmt: skip
    ids = [int(r[0]) for r in found]
    if not ids:
        return []
    claimed = await tx.fetch(  # the rows as updated: no second read
        "UPDATE callback_outbox SET attempts = attempts + 1, next_attempt_at = $2"
        f" WHERE id {tx.any(1)} RETURNING {_CLAIMED}",
        tx.array(ids), tx.time(now + lease),
    )  # fmt: skip
    jobs = {int(r[0]): _claimed(tx, r) for r in claimed}
    return [jobs[i] for i in ids]


# The columns a claim returns, read by position (`_claimed`; a name lookup in a SQLite row
# compares the name with each column's in turn).
_CLAIMED = (
    "id, message_id, account_id, url, contact, operator, status, description, event_at,"
    " attempts, next_attempt_at, created_at, last_error, state, finished_at"
)


def _claimed(tx: Tx, r: Row) -> CallbackJob:
    return CallbackJob(
        id=int(r[0]), message_id=r[1], account_id=r[2], url=r[3], contact=r[4],
        operator=r[5], status=rows.MESSAGE_STATUS[r[6]], description=r[7],
        event_at=tx.datetime(r[8]), state=rows.CALLBACK_STATE[r[13]], attempts=int(r[9]),
        next_attempt_at=tx.datetime(r[10]), created_at=tx.datetime(r[11]), last_error=r[12],
        finished_at=None if r[14] is None else tx.datetime(r[14]),
    )  # fmt: skip


async def finish_callback(
    tx: Tx, job_id: int, state: str, error: str | None, now: datetime
) -> None:
    changed = await tx.execute(
        "UPDATE callback_outbox SET state = $2, finished_at = $3,"
        " last_error = COALESCE($4, last_error) WHERE id = $1",
        job_id, state, tx.time(now), error,
    )  # fmt: skip
    if not changed:
        raise NotFound(f"callback {job_id}")


async def finish_callbacks_done(
    tx: Tx, jobs: Sequence[tuple[int, datetime]], state: str
) -> list[Exception | None]:
    """`finish_callback` with no error for each (job_id, now), in one UPDATE (each job its
    own finish time; a job listed twice finishes at its last); per job None, or NotFound for
    an unknown id. Writes nothing for an unknown id, so no savepoint is needed."""
    finished = {job_id: tx.time(now) for job_id, now in jobs}
    source, args = tx.rowset(2, ("int8", "timestamptz"), list(finished.items()))
    changed = await tx.fetch(
        f"WITH v(id, finished_at) AS ({source}) UPDATE callback_outbox SET state = $1,"
        " finished_at = v.finished_at FROM v WHERE callback_outbox.id = v.id"
        " RETURNING callback_outbox.id",
        state, *args,
    )  # fmt: skip
    found = {int(row["id"]) for row in changed}
    return [None if job_id in found else NotFound(f"callback {job_id}") for job_id, _ in jobs]


async def reschedule_callback(
    tx: Tx, job_id: int, next_attempt_at: datetime, error: str
) -> None:
    changed = await tx.execute(
        "UPDATE callback_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
        job_id, tx.time(next_attempt_at), error,
    )  # fmt: skip
    if not changed:
        raise NotFound(f"callback {job_id}")


async def list_callbacks(tx: Tx, message_id: str) -> list[CallbackJob]:
    found = await tx.fetch(  # by the message's key: the outbox has no index by message id
        "SELECT * FROM callback_outbox WHERE message_seq ="
        " (SELECT seq FROM messages WHERE id = $1) ORDER BY id",
        message_id,
    )
    return [rows.callback(tx, r) for r in found]


async def callback_backlog(tx: Tx) -> int:
    return int(
        await tx.fetchval("SELECT COUNT(*) FROM callback_outbox WHERE state = 'pending'")
    )


# -- inbound messages ----------------------------------------------------------------------


MO_PARTS_TTL = timedelta(days=1)  # a long MO whose other parts never came is dropped then
_MO_COLUMNS = (
    "smsc, key, seq, total, source, destination, data_coding, esm_class, short_message,"
    " tlvs, received_at"
)


async def keep_mo_part(tx: Tx, part: MoPart) -> list[MoPart] | None:
    kept = await tx.fetchval(
        "SELECT short_message FROM mo_parts WHERE smsc = $1 AND key = $2 AND seq = $3",
        part.smsc, part.key, part.seq,
    )  # fmt: skip
    if kept is not None and bytes(kept) != part.short_message:
        # Another message under the same key (the same phone, short code, reference and
        # count within the day an incomplete one is kept): the stale parts go.
        await drop_mo_parts(tx, part.smsc, part.key)
    await tx.execute(
        f"INSERT INTO mo_parts ({_MO_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, $11) ON CONFLICT DO NOTHING",
        part.smsc, part.key, part.seq, part.total, part.source, part.destination,
        part.data_coding, part.esm_class, part.short_message, part.tlvs,
        tx.time(part.received_at),
    )  # fmt: skip
    parts = await _mo_parts_of(tx, part.smsc, part.key)
    return parts if _whole(parts) else None


async def complete_mo_parts(tx: Tx, smsc: str) -> list[list[MoPart]]:
    found = await tx.fetch(
        "SELECT key FROM mo_parts WHERE smsc = $1 GROUP BY key HAVING count(*) >= max(total)",
        smsc,
    )
    complete = []
    for row in found:
        parts = await _mo_parts_of(tx, smsc, str(row[0]))
        if _whole(parts):
            complete.append(parts)
    return complete


async def drop_mo_parts(tx: Tx, smsc: str, key: str) -> None:
    await tx.execute("DELETE FROM mo_parts WHERE smsc = $1 AND key = $2", smsc, key)


async def purge_mo_parts(tx: Tx, now: datetime) -> int:
    """Drop the messages whose latest part is older than MO_PARTS_TTL, all parts together."""
    return await tx.execute(
        "DELETE FROM mo_parts WHERE (smsc, key) IN (SELECT smsc, key FROM mo_parts"
        " GROUP BY smsc, key HAVING max(received_at) <= $1)",
        tx.time(now - MO_PARTS_TTL),
    )


async def _mo_parts_of(tx: Tx, smsc: str, key: str) -> list[MoPart]:
    found = await tx.fetch(
        f"SELECT {_MO_COLUMNS} FROM mo_parts WHERE smsc = $1 AND key = $2 ORDER BY seq",
        smsc, key,
    )  # fmt: skip
    return [_mo_part(tx, r) for r in found]


def _mo_part(tx: Tx, r: Row) -> MoPart:
    return MoPart(
        smsc=r[0], key=r[1], seq=int(r[2]), total=int(r[3]), source=r[4], destination=r[5],
        data_coding=int(r[6]), esm_class=int(r[7]), short_message=bytes(r[8]),
        tlvs=bytes(r[9]), received_at=tx.datetime(r[10]),
    )  # fmt: skip


def _whole(parts: list[MoPart]) -> bool:
    """A part of every number 1…total (the parts' own totals agreeing)."""
    return bool(parts) and {p.seq for p in parts} == set(range(1, parts[0].total + 1))


async def record_inbound(tx: Tx, m: InboundMessage) -> tuple[InboundMessage, bool]:
    row = await tx.fetchrow(
        "SELECT * FROM inbound_messages WHERE id = $1"
        " OR (smsc = $2 AND smsc_message_id = $3) ORDER BY received_at LIMIT 1",
        m.id, m.smsc, m.smsc_message_id,
    )  # fmt: skip
    if row is not None:
        return rows.inbound(tx, row), False
    await tx.execute(
        "INSERT INTO inbound_messages (id, smsc, operator, source, destination, text,"
        " received_at, account_id, sender_id, smsc_message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        m.id, m.smsc, m.operator, m.source, m.destination, m.text, tx.time(m.received_at),
        m.account_id, m.sender_id, m.smsc_message_id,
    )  # fmt: skip
    return m, True


async def list_inbound(
    tx: Tx, account_id: str, limit: int, before: datetime | None
) -> list[InboundMessage]:
    older = "" if before is None else " AND received_at < $3"
    found = await tx.fetch(
        f"SELECT * FROM inbound_messages WHERE account_id = $1{older}"
        " ORDER BY received_at DESC, id DESC LIMIT $2",
        account_id, limit, *([] if before is None else [tx.time(before)]),
    )  # fmt: skip
    return [rows.inbound(tx, r) for r in found]
