"""Contract: an account's callback_on_sent setting (issue 4), on every backend.

Off by default; set and read back; carried by the account's sender IDs (the accept reads it
there, with the sender lookup it makes anyway); copied onto messages accepted through the
messaging service, single and bulk, so that SENT writes a callback job only for accounts that
asked. On SQL backends it survives a restart and migration 3 adds it to an existing database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gatewayd.service.messaging import BulkItem, MessagingService
from gatewayd.service.model import CampaignType, MessageStatus, SenderStatus, SenderType
from gatewayd.service.ports import NotFound, Store
from gatewayd.store import SqlStore, migrations, open_store
from gatewayd.store.tx import Tx
from routing import Operator, PrefixTable
from tests.gatewayd.store.conftest import T0, at, seed
from tests.gatewayd.store.pg import fresh_schema

URL = "https://client.example/cb"
CONTACT = "254712345678"
PREFIXES = PrefixTable({"25471": Operator.SAFARICOM}, version="test")


async def test_off_by_default_then_set_and_read_back(store: Store) -> None:
    created = await store.create_account("acc1", "Acme", T0)
    await store.create_account("acc2", "Beta", at(1))
    assert created.callback_on_sent is False
    assert (await store.get_account("acc1")).callback_on_sent is False
    on = await store.set_account_callback_on_sent("acc1", True)
    assert on.callback_on_sent is True and (on.id, on.name, on.created_at) == ("acc1", "Acme", T0)
    assert await store.get_account("acc1") == on
    assert [(a.id, a.callback_on_sent) for a in await store.list_accounts()] == [
        ("acc1", True), ("acc2", False),
    ]  # fmt: skip
    off = await store.set_account_callback_on_sent("acc1", False)
    assert off.callback_on_sent is False
    assert (await store.get_account("acc1")).callback_on_sent is False


async def test_unknown_account_is_not_found_and_nothing_is_created(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.set_account_callback_on_sent("ghost", True)
    assert await store.list_accounts() == []


async def test_sender_ids_carry_their_accounts_setting(store: Store) -> None:
    await seed(store, account="acc1", sender="s1")
    await seed(store, account="acc2", sender="s2", name="BETA")
    await store.set_account_callback_on_sent("acc1", True)
    later = await store.create_sender(
        "s3", "acc1", "KIMISMS", "airtel", SenderType.ALPHANUMERIC, CampaignType.TRANSACTIONAL, T0
    )
    assert later.account_callback_on_sent is True
    assert [s.account_callback_on_sent for s in await store.find_senders("acc1", "KIMISMS")] == [
        True, True,
    ]  # fmt: skip
    assert (await store.get_sender("s1")).account_callback_on_sent is True
    assert (await store.get_sender("s2")).account_callback_on_sent is False
    assert {s.id: s.account_callback_on_sent for s in await store.list_senders()} == {
        "s1": True, "s2": False, "s3": True,
    }  # fmt: skip
    suspended = await store.set_sender_status("s1", SenderStatus.SUSPENDED)
    assert suspended.account_callback_on_sent is True
    await store.set_account_callback_on_sent("acc1", False)
    assert [s.account_callback_on_sent for s in await store.list_senders("acc1")] == [False, False]


def _messaging(store: Store) -> MessagingService:
    return MessagingService(store, _Prefixes())


class _Prefixes:
    current = PREFIXES


async def _sent(store: Store, message_id: str) -> list[MessageStatus]:
    """Submit the message and have it answered: SENT. The callback jobs written so far."""
    [claimed] = await store.claim_queued("safaricom", 1, at(5), "smsc-a")
    assert claimed.id == message_id
    await store.record_submit(message_id, 1, "smsc-a", f"x-{message_id}", at(6))
    return [j.status for j in await store.list_callbacks(message_id)]


async def test_single_send_takes_the_accounts_setting(store: Store) -> None:
    await seed(store, account="acc1", sender="s1")
    await seed(store, account="acc2", sender="s2", name="BETA")
    await store.set_account_callback_on_sent("acc1", True)
    messaging = _messaging(store)
    on = await messaging.send("acc1", "api:c", "KIMISMS", CONTACT, "hi", URL, limit=160, now=at(1))
    off = await messaging.send("acc2", "api:c", "BETA", CONTACT, "hi", URL, limit=160, now=at(2))
    assert on.message.callback_on_sent is True and off.message.callback_on_sent is False
    assert (await store.get_message(on.id)).callback_on_sent is True
    assert (await store.get_message(off.id)).callback_on_sent is False
    assert await _sent(store, on.id) == [MessageStatus.SENT]
    assert await _sent(store, off.id) == []


async def test_bulk_send_takes_the_accounts_setting(store: Store) -> None:
    await seed(store, account="acc1", sender="s1")
    await store.set_account_callback_on_sent("acc1", True)
    messaging = _messaging(store)
    items = [BulkItem(CONTACT, "one"), BulkItem(CONTACT, "two", client_ref="r2")]
    result = await messaging.send_bulk("acc1", "api:c", ["KIMISMS"], items, URL, limit=160,
                                       now=at(1))  # fmt: skip
    ids = [o.id for o in result.outcomes if not isinstance(o, Exception)]
    assert len(ids) == 2
    assert [(await store.get_message(i)).callback_on_sent for i in ids] == [True, True]
    await store.set_account_callback_on_sent("acc1", False)
    [later] = (await messaging.send_bulk("acc1", "api:c", ["KIMISMS"], items[:1], URL,
                                         limit=160, now=at(2))).outcomes  # fmt: skip
    assert not isinstance(later, Exception)
    assert (await store.get_message(later.id)).callback_on_sent is False
    assert (await store.get_message(ids[0])).callback_on_sent is True  # accepted ones keep it


# -- durability and the upgrade path (SQL backends) ---------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/upgrade.db"
        return
    url, drop = await fresh_schema(request.getfixturevalue("postgres_dsn"))
    yield url
    await drop()


async def _reopened(url: str) -> SqlStore:
    store = await open_store(url)
    assert isinstance(store, SqlStore)
    return store


async def test_migration_3_adds_the_setting_to_a_version_2_database(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as before:
        before.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:2])
        old = await _reopened(sql_url)
        try:
            assert await old.migrate() == 2
            await old.writer.submit(_old_account)
        finally:
            await old.close()
    store = await _reopened(sql_url)
    try:
        assert await store.migrate() == len(migrations.MIGRATIONS) - 2  # 3 and later ones
        assert (await store.get_account("acc-old")).callback_on_sent is False
        await store.set_account_callback_on_sent("acc-old", True)
    finally:
        await store.close()
    store = await _reopened(sql_url)
    try:
        assert await store.migrate() == 0
        assert (await store.get_account("acc-old")).callback_on_sent is True  # after a restart
    finally:
        await store.close()


async def _old_account(tx: Tx) -> None:
    """An account as version 2 of the schema wrote it: no callback_on_sent column."""
    await tx.execute(
        "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
        "acc-old", "Old", tx.time(T0),
    )  # fmt: skip
