"""Opt-out operations written once for both backends (see `tx.py`): numbers that must get no
promotional traffic from a sender ID."""

from __future__ import annotations

from datetime import datetime

from gatewayd.service.model import OptOut, OptOutSource
from gatewayd.service.ports import NotFound
from gatewayd.store import rows
from gatewayd.store.tx import Tx


async def opt_out(
    tx: Tx, sender_id: str, contact: str, source: OptOutSource, now: datetime, reference: str
) -> tuple[OptOut, bool]:
    """Insert unless the number is opted out already (then the standing record, unchanged)."""
    account_id = await tx.fetchval("SELECT account_id FROM senders WHERE id = $1", sender_id)
    if account_id is None:
        raise NotFound(f"sender {sender_id}")
    added = await tx.execute(
        "INSERT INTO opt_outs (sender_id, contact, account_id, since, source, reference)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sender_id, contact) DO NOTHING",
        sender_id, contact, account_id, tx.time(now), source.value, reference,
    )  # fmt: skip
    if added:
        return OptOut(account_id, sender_id, contact, now, source, reference), True
    row = await tx.fetchrow(
        "SELECT * FROM opt_outs WHERE sender_id = $1 AND contact = $2", sender_id, contact
    )
    assert row is not None  # the conflict was on this very row, in this transaction
    return rows.opt_out(tx, row), False


async def opt_in(tx: Tx, sender_id: str, contact: str) -> bool:
    removed = await tx.execute(
        "DELETE FROM opt_outs WHERE sender_id = $1 AND contact = $2", sender_id, contact
    )
    return removed > 0


async def is_opted_out(tx: Tx, sender_id: str, contact: str) -> bool:
    found = await tx.fetchval(
        "SELECT 1 FROM opt_outs WHERE sender_id = $1 AND contact = $2", sender_id, contact
    )
    return found is not None


async def list_opt_outs(
    tx: Tx, account_id: str, sender_id: str | None, contact: str | None, limit: int
) -> list[OptOut]:
    where = ["account_id = $1"]
    args: list[object] = [account_id]
    for column, value in (("sender_id", sender_id), ("contact", contact)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    args.append(limit)
    found = await tx.fetch(
        f"SELECT * FROM opt_outs WHERE {' AND '.join(where)}"
        f" ORDER BY since DESC, contact LIMIT ${len(args)}",
        *args,
    )
    return [rows.opt_out(tx, r) for r in found]
