"""Contract: opt-outs per sender ID — recorded once, lifted by opt-in, listed per account."""

from __future__ import annotations

import asyncio

import pytest

from gatewayd.service.model import OptOut, OptOutSource
from gatewayd.service.ports import NotFound, Store
from tests.gatewayd.store.conftest import at, seed

NUMBER = "254712345678"
OTHER = "254733000111"


async def test_opt_out_is_per_sender_id(store: Store) -> None:
    await seed(store)
    await seed(store, sender="snd2", name="OTHERBRAND")
    record, changed = await store.opt_out(
        "snd1", NUMBER, OptOutSource.KEYWORD, at(1), reference="mo-1"
    )
    assert changed
    assert record == OptOut("acc1", "snd1", NUMBER, at(1), OptOutSource.KEYWORD, "mo-1")
    assert await store.is_opted_out("snd1", NUMBER)
    assert not await store.is_opted_out("snd2", NUMBER)  # another brand of the account
    assert not await store.is_opted_out("snd1", OTHER)


async def test_opting_out_twice_keeps_the_first_record(store: Store) -> None:
    await seed(store)
    first, _ = await store.opt_out("snd1", NUMBER, OptOutSource.KEYWORD, at(1), "mo-1")
    again, changed = await store.opt_out("snd1", NUMBER, OptOutSource.ADMIN, at(5), "ticket 7")
    assert not changed and again == first
    assert len(await store.list_opt_outs("acc1")) == 1


async def test_concurrent_opt_outs_make_one_record(store: Store) -> None:
    await seed(store)
    results = await asyncio.gather(
        *(store.opt_out("snd1", NUMBER, OptOutSource.KEYWORD, at(i), f"mo-{i}") for i in range(5))
    )
    assert sum(changed for _, changed in results) == 1
    assert len({record for record, _ in results}) == 1


async def test_opt_in_lifts_it(store: Store) -> None:
    await seed(store)
    await store.opt_out("snd1", NUMBER, OptOutSource.API, at(1))
    assert await store.opt_in("snd1", NUMBER)
    assert not await store.is_opted_out("snd1", NUMBER)
    assert not await store.opt_in("snd1", NUMBER)  # nothing left to lift
    _, changed = await store.opt_out("snd1", NUMBER, OptOutSource.KEYWORD, at(9))
    assert changed  # a later STOP records anew


async def test_unknown_sender_is_not_found(store: Store) -> None:
    await seed(store)
    with pytest.raises(NotFound):
        await store.opt_out("nope", NUMBER, OptOutSource.ADMIN, at(1))
    assert not await store.is_opted_out("nope", NUMBER)


async def test_listing_is_per_account_newest_first_and_filtered(store: Store) -> None:
    await seed(store)
    await seed(store, sender="snd2", name="OTHERBRAND")
    await seed(store, account="acc2", sender="snd3")
    await store.opt_out("snd1", NUMBER, OptOutSource.KEYWORD, at(1))
    await store.opt_out("snd2", NUMBER, OptOutSource.ADMIN, at(3))
    await store.opt_out("snd1", OTHER, OptOutSource.API, at(2))
    await store.opt_out("snd3", NUMBER, OptOutSource.KEYWORD, at(4))
    listed = await store.list_opt_outs("acc1")
    assert [(o.sender_id, o.contact) for o in listed] == [
        ("snd2", NUMBER), ("snd1", OTHER), ("snd1", NUMBER),
    ]  # fmt: skip
    assert [o.contact for o in await store.list_opt_outs("acc1", sender_id="snd1")] == [
        OTHER, NUMBER,
    ]  # fmt: skip
    by_contact = await store.list_opt_outs("acc1", contact=NUMBER, limit=1)
    assert [(o.sender_id, o.since) for o in by_contact] == [("snd2", at(3))]
    assert [o.sender_id for o in await store.list_opt_outs("acc2")] == ["snd3"]
