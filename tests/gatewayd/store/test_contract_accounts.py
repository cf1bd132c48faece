"""Contract: accounts, API clients, sender IDs and the float ledger."""

from __future__ import annotations

import pytest

from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    SenderStatus,
    SenderType,
)
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound, Store
from tests.gatewayd.store.conftest import T0, at, seed


async def test_accounts_round_trip(store: Store) -> None:
    created = await store.create_account("acc1", "Acme", T0)
    assert created.name == "Acme"
    assert await store.get_account("acc1") == created
    await store.create_account("acc2", "Beta", at(1))
    assert [a.id for a in await store.list_accounts()] == ["acc1", "acc2"]
    with pytest.raises(AlreadyExists):
        await store.create_account("acc1", "Again", T0)
    with pytest.raises(NotFound):
        await store.get_account("nope")


async def test_api_clients_keep_the_hash(store: Store) -> None:
    await store.create_account("acc1", "Acme", T0)
    client = await store.create_api_client("acc1", "cid", "argon2$hash", T0)
    assert client.active and client.secret_hash == "argon2$hash"
    assert await store.get_api_client("cid") == client
    assert await store.list_api_clients("acc1") == [client]
    with pytest.raises(AlreadyExists):
        await store.create_api_client("acc1", "cid", "x", T0)
    with pytest.raises(NotFound):
        await store.get_api_client("other")
    with pytest.raises(NotFound):
        await store.create_api_client("ghost", "c2", "x", T0)


async def test_senders_unique_per_account_name_operator(store: Store) -> None:
    await store.create_account("acc1", "Acme", T0)
    await store.create_account("acc2", "Beta", T0)
    s1 = await store.create_sender(
        "s1", "acc1", "ACME", "safaricom", SenderType.ALPHANUMERIC, CampaignType.PROMOTIONAL, T0
    )
    assert s1.status is SenderStatus.ACTIVE and s1.campaign is CampaignType.PROMOTIONAL
    await store.create_sender(
        "s2", "acc1", "ACME", "airtel", SenderType.ALPHANUMERIC, CampaignType.PROMOTIONAL, T0
    )
    await store.create_sender(
        "s3", "acc2", "ACME", "safaricom", SenderType.SHORTCODE, CampaignType.TRANSACTIONAL, T0
    )
    with pytest.raises(AlreadyExists):
        await store.create_sender(
            "s4", "acc1", "ACME", "safaricom", SenderType.ALPHANUMERIC,
            CampaignType.PROMOTIONAL, T0,
        )  # fmt: skip
    assert [s.id for s in await store.find_senders("acc1", "ACME")] == ["s2", "s1"]
    assert {s.id for s in await store.list_senders()} == {"s1", "s2", "s3"}
    assert [s.id for s in await store.list_senders("acc2")] == ["s3"]
    suspended = await store.set_sender_status("s1", SenderStatus.SUSPENDED)
    assert (await store.get_sender("s1")) == suspended
    assert suspended.status is SenderStatus.SUSPENDED
    with pytest.raises(NotFound):
        await store.get_sender("nope")
    assert await store.balance("s1") == 0


async def test_ledger_entries_and_balance(store: Store) -> None:
    await seed(store, units=0)
    top = await store.post_entry("snd1", LedgerKind.TOPUP, 10, "admin:a", "cash", "T1", at(1))
    assert (top.units, top.balance_after, top.account_id) == (10, 10, "acc1")
    debit = await store.post_entry("snd1", LedgerKind.DEBIT, -4, "api:c", "sms", "m1", at(2))
    assert debit.balance_after == 6
    with pytest.raises(InsufficientBalance) as err:
        await store.post_entry("snd1", LedgerKind.DEBIT, -7, "api:c", "sms", "m2", at(3))
    assert (err.value.needed, err.value.available) == (7, 6)
    assert await store.balance("snd1") == 6
    assert await store.ledger_sum("snd1") == 6
    entries = await store.entries("snd1")
    assert [(e.kind, e.units, e.reference) for e in entries] == [
        (LedgerKind.TOPUP, 10, "T1"),
        (LedgerKind.DEBIT, -4, "m1"),
    ]
    assert entries[0].created_at == at(1)
    assert await store.balances("acc1") == {"snd1": 6}
    with pytest.raises(NotFound):
        await store.post_entry("ghost", LedgerKind.TOPUP, 1, "a", "b", "c", T0)


async def test_ping(store: Store) -> None:
    await store.ping()
