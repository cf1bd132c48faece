"""Admin use-cases over the in-memory store: names resolve, money moves only through the ledger."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from gatewayd.admin import Admin, AdminError, table, to_jsonable
from gatewayd.service.model import LedgerKind, Package, SenderType, TopUpMethod, TopUpStatus
from tests.fakes.memory_store import MemoryStore

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def make_admin(store: MemoryStore | None = None) -> Admin:
    ids = itertools.count(1)
    creds = itertools.count(1)
    return Admin(
        store or MemoryStore(),
        actor="wanjiru",
        hash_secret=lambda secret: f"hashed:{secret}",
        new_credentials=lambda: (f"client{next(creds)}", f"secret{next(creds)}"),
        clock=lambda: NOW,
        make_id=lambda: f"id{next(ids)}",
    )


async def seeded() -> Admin:
    admin = make_admin()
    await admin.create_account("acme")
    await admin.create_sender("acme", "ACME", "safaricom")
    await admin.create_sender("acme", "ACME", "airtel")
    return admin


async def test_accounts_by_id_or_name() -> None:
    admin = make_admin()
    account = await admin.create_account("  acme ")
    assert account.name == "acme" and account.id == "id1"
    assert await admin.account("acme") == account
    assert await admin.account("id1") == account
    with pytest.raises(AdminError, match="exists already"):
        await admin.create_account("acme")
    with pytest.raises(AdminError, match="no account with id or name 'other'"):
        await admin.account("other")
    with pytest.raises(AdminError, match="must not be empty"):
        await admin.create_account(" ")


async def test_client_secret_is_returned_once_and_only_its_hash_stored() -> None:
    admin = make_admin()
    await admin.create_account("acme")
    created = await admin.create_client("acme")
    assert created.client_secret.startswith("secret")
    stored = await admin.store.get_api_client(created.client.client_id)
    assert stored.secret_hash == f"hashed:{created.client_secret}"
    assert "secret_hash" not in to_jsonable(stored)
    assert [c.client_id for c in await admin.list_clients("acme")] == [created.client.client_id]


async def test_sender_validation() -> None:
    admin = make_admin()
    await admin.create_account("acme")
    sender = await admin.create_sender("acme", "ACME", "Safaricom")
    assert sender.operator == "safaricom" and sender.type is SenderType.ALPHANUMERIC
    with pytest.raises(AdminError, match="already has sender 'ACME' on safaricom"):
        await admin.create_sender("acme", "ACME", "safaricom")
    with pytest.raises(AdminError, match="operator must be one of"):
        await admin.create_sender("acme", "ACME", "orange")
    with pytest.raises(AdminError, match="1 to 11 ASCII characters"):
        await admin.create_sender("acme", "TWELVE_CHARS", "airtel")
    with pytest.raises(AdminError, match="3 to 8 digits"):
        await admin.create_sender("acme", "ACME", "airtel", SenderType.SHORTCODE)
    code = await admin.create_sender("acme", "22334", "airtel", SenderType.SHORTCODE)
    assert code.type is SenderType.SHORTCODE


async def test_sender_names_are_narrowed_by_operator() -> None:
    admin = await seeded()
    with pytest.raises(AdminError, match="several sender IDs are named 'ACME'"):
        await admin.sender("ACME")
    airtel = await admin.sender("ACME", operator="airtel", account_ref="acme")
    assert airtel.operator == "airtel"
    assert await admin.sender(airtel.id) == airtel
    with pytest.raises(AdminError, match="no sender ID"):
        await admin.sender("NOPE")


async def test_a_short_code_belongs_to_one_account_per_operator() -> None:
    admin = make_admin()
    await admin.create_account("acme")
    await admin.create_account("beta")
    await admin.create_sender("acme", "22333", "safaricom", SenderType.SHORTCODE)
    with pytest.raises(AdminError, match="short code '22333' on safaricom already belongs to"):
        await admin.create_sender("beta", "22333", "safaricom", SenderType.SHORTCODE)
    with pytest.raises(AdminError, match="account 'acme'"):
        await admin.create_sender("beta", "22333", "safaricom", SenderType.SHORTCODE)
    # the same number on another operator is another short code; the owner may add its own
    await admin.create_sender("beta", "22333", "airtel", SenderType.SHORTCODE)
    assert [s.sender.account_id for s in await admin.list_senders("beta")] == ["id2"]


async def test_float_credit_debit_and_statement() -> None:
    admin = await seeded()
    sender = await admin.sender("ACME", operator="safaricom")
    entry = await admin.credit_float(sender, 500, "")
    assert (entry.kind, entry.units, entry.balance_after) == (LedgerKind.ADJUSTMENT, 500, 500)
    assert entry.actor == "admin:wanjiru" and entry.reason == "manual credit"
    await admin.debit_float(sender, 200, "duplicate credit")
    with pytest.raises(AdminError, match="float of 'ACME' \\(safaricom\\) is 300 units"):
        await admin.debit_float(sender, 301, "too much")
    with pytest.raises(AdminError, match="needs --reason"):
        await admin.debit_float(sender, 1, "")
    with pytest.raises(AdminError, match="positive"):
        await admin.credit_float(sender, 0, "")
    statement = await admin.statement(sender)
    assert statement.balance == 300
    assert [e.units for e in statement.entries] == [500, -200]
    assert await admin.store.ledger_sum(sender.id) == 300
    floats = {(f.sender.operator, f.balance) for f in await admin.list_senders("acme")}
    assert floats == {("safaricom", 300), ("airtel", 0)}


async def test_offline_topup_approve_credits_once() -> None:
    admin = await seeded()
    package = await admin.create_package("Bulk", "safaricom", 35, 100)
    sender = await admin.sender("ACME", operator="safaricom")
    with pytest.raises(AdminError, match="sells at least 100 units"):
        await admin.request_topup(sender, package.id, 99)
    topup = await admin.request_topup(sender, "Bulk", 1000)
    assert (topup.status, topup.method, topup.amount_cents) == (
        TopUpStatus.PENDING, TopUpMethod.OFFLINE, 35_000,
    )  # fmt: skip
    assert [t.id for t in await admin.list_topups(TopUpStatus.PENDING)] == [topup.id]
    approved = await admin.approve_topup(topup.id)
    assert approved.status is TopUpStatus.COMPLETED and approved.settled_by == "admin:wanjiru"
    assert await admin.store.balance(sender.id) == 1000
    with pytest.raises(AdminError, match="is COMPLETED already"):
        await admin.approve_topup(topup.id)
    with pytest.raises(AdminError, match="is COMPLETED already"):
        await admin.reject_topup(topup.id, "late")
    assert await admin.store.balance(sender.id) == 1000
    assert await admin.list_topups(TopUpStatus.PENDING) == []


async def test_topup_reject_credits_nothing() -> None:
    admin = await seeded()
    await admin.create_package("Bulk", "airtel", 30, 1)
    sender = await admin.sender("ACME", operator="airtel")
    topup = await admin.request_topup(sender, "Bulk", 10)
    rejected = await admin.reject_topup(topup.id, "no payment seen")
    assert rejected.status is TopUpStatus.FAILED and rejected.result_desc == "no payment seen"
    assert await admin.store.balance(sender.id) == 0
    with pytest.raises(AdminError, match="no top-up 'nope'"):
        await admin.approve_topup("nope")


async def test_mpesa_topups_are_not_approved_by_hand() -> None:
    admin = await seeded()
    package = await admin.create_package("Bulk", "safaricom", 35, 1)
    sender = await admin.sender("ACME", operator="safaricom")
    topup = await admin.store.create_topup(
        "t1", sender.account_id, sender.id, package.id, 10, 350, TopUpMethod.MPESA, NOW
    )
    with pytest.raises(AdminError, match="paid by M-Pesa"):
        await admin.approve_topup(topup.id)


async def test_package_validation_and_operator_match() -> None:
    admin = await seeded()
    with pytest.raises(AdminError, match="rate_cents"):
        await admin.create_package("Bad", "safaricom", 0, 1)
    await admin.create_package("Airtel", "airtel", 30, 1)
    sender = await admin.sender("ACME", operator="safaricom")
    with pytest.raises(AdminError, match="is for airtel sender IDs, ACME is on safaricom"):
        await admin.request_topup(sender, "Airtel", 10)
    assert [p.name for p in await admin.list_packages("airtel")] == ["Airtel"]


def test_table_aligns_numbers_right() -> None:
    text = table(("NAME", "UNITS"), [("a", 5), ("bbb", 500), ("c", None)])
    assert text.splitlines() == ["NAME  UNITS", "a         5", "bbb     500", "c         -"]


async def test_offline_topups_follow_the_same_rules_as_the_api() -> None:
    admin = await seeded()
    await admin.store.create_package(Package("old", "Retired", "safaricom", 90, 1, False))
    sender = await admin.sender("ACME", operator="safaricom")
    with pytest.raises(AdminError, match="Package is no longer offered"):
        await admin.request_topup(sender, "old", 10)
    assert await admin.list_topups() == []


async def test_callback_on_sent_is_set_by_id_or_name() -> None:
    admin = await seeded()
    assert (await admin.account("acme")).callback_on_sent is False
    on = await admin.set_callback_on_sent("acme", True)
    assert on.callback_on_sent is True and on.name == "acme"
    assert [a.callback_on_sent for a in await admin.list_accounts()] == [True]
    senders = await admin.list_senders("acme")
    assert {f.sender.account_callback_on_sent for f in senders} == {True}
    assert "account_callback_on_sent" not in to_jsonable(senders[0].sender)
    off = await admin.set_callback_on_sent(on.id, False)
    assert off.callback_on_sent is False
    with pytest.raises(AdminError, match="no account with id or name 'ghost'"):
        await admin.set_callback_on_sent("ghost", True)
