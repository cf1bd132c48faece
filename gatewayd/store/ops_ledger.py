"""Operations on accounts, clients, sender IDs, floats and the ledger, written once for both
backends (see `tx.py`). Domain errors are raised before anything is written."""

from __future__ import annotations

from datetime import datetime

from gatewayd.service.model import (
    Account,
    ApiClient,
    CampaignType,
    LedgerEntry,
    LedgerKind,
    SenderId,
    SenderStatus,
    SenderType,
)
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound
from gatewayd.store import rows
from gatewayd.store.tx import Tx

# Sender IDs are read with their account's callback setting (rows.sender): the accept looks
# up the sender ID anyway, and the account's primary key makes the join one index probe.
SENDERS = (
    "SELECT s.*, a.callback_on_sent AS account_callback_on_sent"
    " FROM senders s JOIN accounts a ON a.id = s.account_id"
)


async def create_account(tx: Tx, account_id: str, name: str, now: datetime) -> Account:
    if await tx.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id):
        raise AlreadyExists(f"account {account_id}")
    await tx.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
        account_id, name, tx.time(now),
    )  # fmt: skip
    return Account(account_id, name, now)


async def get_account(tx: Tx, account_id: str) -> Account:
    row = await tx.fetchrow("SELECT * FROM accounts WHERE id = $1", account_id)
    if row is None:
        raise NotFound(f"account {account_id}")
    return rows.account(tx, row)


async def list_accounts(tx: Tx) -> list[Account]:
    found = await tx.fetch("SELECT * FROM accounts ORDER BY created_at, id")
    return [rows.account(tx, r) for r in found]


async def set_account_callback_on_sent(tx: Tx, account_id: str, on: bool) -> Account:
    """Messages accepted from now on (once a sender lookup the service keeps has expired)
    also call back on SENT; messages already accepted keep what they were accepted with."""
    changed = await tx.execute(
        "UPDATE accounts SET callback_on_sent = $2 WHERE id = $1", account_id, on
    )
    if not changed:
        raise NotFound(f"account {account_id}")
    return await get_account(tx, account_id)


async def create_api_client(
    tx: Tx, account_id: str, client_id: str, secret_hash: str, now: datetime
) -> ApiClient:
    await get_account(tx, account_id)
    if await tx.fetchval("SELECT 1 FROM api_clients WHERE client_id = $1", client_id):
        raise AlreadyExists(f"client {client_id}")
    await tx.execute(
        "INSERT INTO api_clients (client_id, account_id, secret_hash, active, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        client_id, account_id, secret_hash, True, tx.time(now),
    )  # fmt: skip
    return ApiClient(client_id, account_id, secret_hash, True, now)


async def get_api_client(tx: Tx, client_id: str) -> ApiClient:
    row = await tx.fetchrow("SELECT * FROM api_clients WHERE client_id = $1", client_id)
    if row is None:
        raise NotFound(f"client {client_id}")
    return rows.api_client(tx, row)


async def list_api_clients(tx: Tx, account_id: str) -> list[ApiClient]:
    found = await tx.fetch(
        "SELECT * FROM api_clients WHERE account_id = $1 ORDER BY created_at, client_id",
        account_id,
    )
    return [rows.api_client(tx, r) for r in found]


async def create_sender(
    tx: Tx,
    sender_id: str,
    account_id: str,
    name: str,
    operator: str,
    type: SenderType,
    campaign: CampaignType,
    now: datetime,
) -> SenderId:
    account = await get_account(tx, account_id)
    taken = await tx.fetchval(
        "SELECT 1 FROM senders WHERE id = $1 OR (account_id = $2 AND name = $3 AND operator = $4)",
        sender_id, account_id, name, operator,
    )  # fmt: skip
    if taken:
        raise AlreadyExists(f"sender {name} ({operator})")
    sender = SenderId(
        sender_id, account_id, name, operator, type, campaign, SenderStatus.ACTIVE, now,
        account.callback_on_sent,
    )  # fmt: skip
    await tx.execute(
        "INSERT INTO senders (id, account_id, name, operator, type, campaign, status, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        sender_id, account_id, name, operator, type.value, campaign.value,
        SenderStatus.ACTIVE.value, tx.time(now),
    )  # fmt: skip
    await tx.execute("INSERT INTO floats (sender_id, balance) VALUES ($1, 0)", sender_id)
    return sender


async def get_sender(tx: Tx, sender_id: str) -> SenderId:
    row = await tx.fetchrow(SENDERS + " WHERE s.id = $1", sender_id)
    if row is None:
        raise NotFound(f"sender {sender_id}")
    return rows.sender(tx, row)


async def find_senders(tx: Tx, account_id: str, name: str) -> list[SenderId]:
    found = await tx.fetch(
        SENDERS + " WHERE s.account_id = $1 AND s.name = $2 ORDER BY s.operator, s.id",
        account_id, name,
    )  # fmt: skip
    return [rows.sender(tx, r) for r in found]


async def list_senders(tx: Tx, account_id: str | None) -> list[SenderId]:
    order = " ORDER BY s.account_id, s.name, s.operator, s.id"
    if account_id is None:
        found = await tx.fetch(SENDERS + order)
    else:
        found = await tx.fetch(SENDERS + " WHERE s.account_id = $1" + order, account_id)
    return [rows.sender(tx, r) for r in found]


async def set_sender_status(tx: Tx, sender_id: str, status: SenderStatus) -> SenderId:
    changed = await tx.execute(
        "UPDATE senders SET status = $2 WHERE id = $1", sender_id, status.value
    )
    if not changed:
        raise NotFound(f"sender {sender_id}")
    return await get_sender(tx, sender_id)


async def balance(tx: Tx, sender_id: str) -> int:
    value = await tx.fetchval("SELECT balance FROM floats WHERE sender_id = $1", sender_id)
    if value is None:
        raise NotFound(f"sender {sender_id}")
    return int(value)


async def balances(tx: Tx, account_id: str) -> dict[str, int]:
    found = await tx.fetch(
        "SELECT f.sender_id, f.balance FROM floats f JOIN senders s ON s.id = f.sender_id"
        " WHERE s.account_id = $1 ORDER BY f.sender_id",
        account_id,
    )
    return {r["sender_id"]: int(r["balance"]) for r in found}


async def post(
    tx: Tx,
    sender_id: str,
    kind: LedgerKind,
    units: int,
    actor: str,
    reason: str,
    reference: str,
    now: datetime,
) -> LedgerEntry:
    """Move a float by `units` and append its ledger entry; never below zero.

    The guarded UPDATE is the check: it changes the row only when the result stays
    non-negative (and PostgreSQL's CHECK constraint backs it), so no race can overdraw.
    """
    after = await tx.fetchval(
        "UPDATE floats SET balance = balance + $2 WHERE sender_id = $1 AND balance + $2 >= 0"
        " RETURNING balance",
        sender_id, units,
    )  # fmt: skip
    if after is None:
        row = await tx.fetchrow(
            "SELECT balance FROM floats WHERE sender_id = $1", sender_id
        )
        if row is None:
            raise NotFound(f"sender {sender_id}")
        raise InsufficientBalance(sender_id, -units, int(row["balance"]))
    account_id = await tx.fetchval("SELECT account_id FROM senders WHERE id = $1", sender_id)
    entry_id = await tx.fetchval(
        "INSERT INTO ledger_entries (account_id, sender_id, kind, units, balance_after, actor,"
        " reason, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " RETURNING id",
        account_id, sender_id, kind.value, units, after, actor, reason, reference, tx.time(now),
    )  # fmt: skip
    return LedgerEntry(
        int(entry_id), account_id, sender_id, kind, units, int(after), actor, reason, reference,
        now,
    )  # fmt: skip


async def entries(tx: Tx, sender_id: str) -> list[LedgerEntry]:
    found = await tx.fetch(
        "SELECT * FROM ledger_entries WHERE sender_id = $1 ORDER BY id", sender_id
    )
    return [rows.ledger_entry(tx, r) for r in found]


async def ledger_sum(tx: Tx, sender_id: str) -> int:
    value = await tx.fetchval(
        "SELECT COALESCE(SUM(units), 0) FROM ledger_entries WHERE sender_id = $1", sender_id
    )
    return int(value)

