"""Contract: `accept_many` accepts one request's messages in one transaction, each checked in
order as `accept` checks one; a sender's float running short refuses the rest of that sender's
messages; the Idempotency-Key answer is rendered from the outcomes and kept with them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest

from gatewayd.service.model import Accepted, LedgerKind, MessageStatus
from gatewayd.service.ports import (
    AcceptOutcome,
    BulkIdempotency,
    InsufficientBalance,
    NotFound,
    Store,
)
from tests.gatewayd.store.conftest import at, new_message, seed


def answer(outcomes: Sequence[AcceptOutcome]) -> tuple[int, bytes]:
    """A body naming each outcome: the id of an accepted message, else the error's class."""
    names = [o.id if isinstance(o, Accepted) else type(o).__name__ for o in outcomes]
    return 200, ",".join(names).encode()


def key(name: str = "bulk-1", account: str = "acc1", digest: str = "h1") -> BulkIdempotency:
    return BulkIdempotency(account, name, digest, at(0), answer)


async def debits(store: Store, sender: str = "snd1") -> int:
    return sum(1 for e in await store.entries(sender) if e.kind is LedgerKind.DEBIT)


async def test_every_message_is_stored_debited_and_queued(store: Store) -> None:
    await seed(store, units=10)
    batch = [
        dataclasses.replace(new_message(f"m{i}", units=i), client_ref=f"ref-{i}") for i in (1, 2, 3)
    ]
    result = await store.accept_many(batch)
    assert [o.id for o in result.outcomes if isinstance(o, Accepted)] == ["m1", "m2", "m3"]
    assert not result.replayed and result.record is None
    assert await store.balance("snd1") == 4 == await store.ledger_sum("snd1")
    assert await store.queue_depth("safaricom") == 3
    stored = await store.get_message("m2", "acc1")
    assert (stored.status, stored.units, stored.client_ref) == (MessageStatus.INITIATED, 2, "ref-2")
    entries = [e for e in await store.entries("snd1") if e.kind is LedgerKind.DEBIT]
    assert [e.balance_after for e in entries] == [9, 7, 4]


async def test_a_float_running_short_refuses_the_rest_of_that_sender(store: Store) -> None:
    await seed(store, units=4)
    await seed(store, sender="snd2", operator="airtel", units=1)
    batch = [
        new_message("a1", units=2),
        new_message("b1", sender="snd2", operator="airtel"),
        new_message("a2", units=3),  # 2 left: short
        new_message("a3", units=1),  # could be covered, but the float ran short before it
        new_message("b2", sender="snd2", operator="airtel"),  # snd2 is empty now
    ]
    result = await store.accept_many(batch)
    kinds = [o.id if isinstance(o, Accepted) else o for o in result.outcomes]
    assert kinds[:2] == ["a1", "b1"]
    for refused, (needed, available) in zip(kinds[2:], [(3, 2), (1, 2), (1, 0)], strict=True):
        assert isinstance(refused, InsufficientBalance)
        assert (refused.needed, refused.available) == (needed, available)
    assert await store.balance("snd1") == 2 == await store.ledger_sum("snd1")
    assert await store.balance("snd2") == 0 == await store.ledger_sum("snd2")
    for refused_id in ("a2", "a3", "b2"):
        with pytest.raises(NotFound):
            await store.get_message(refused_id)
    assert await store.queue_depth() == 2


async def test_another_accounts_sender_is_refused_for_that_message_alone(store: Store) -> None:
    await seed(store, units=5)
    await seed(store, account="acc2", sender="snd-b", units=5)
    result = await store.accept_many([new_message("m1"), new_message("m2", sender="snd-b")])
    assert isinstance(result.outcomes[0], Accepted)
    assert isinstance(result.outcomes[1], NotFound)
    assert await store.balance("snd-b") == 5
    assert await store.balance("snd1") == 4


async def test_messages_of_several_accounts_are_refused_whole(store: Store) -> None:
    await seed(store, units=5)
    await seed(store, account="acc2", sender="snd-b", units=5)
    with pytest.raises(ValueError):
        await store.accept_many([new_message("m1"), new_message("m2", account="acc2")])
    with pytest.raises(ValueError):
        await store.accept_many([new_message("m3")], idempotency=key(account="acc2"))
    assert await store.queue_depth() == 0
    assert await store.balance("snd1") == 5


async def test_nothing_to_accept_writes_nothing(store: Store) -> None:
    result = await store.accept_many([])
    assert result.outcomes == () and result.record is None


async def test_the_answer_is_kept_with_the_messages_and_replayed(store: Store) -> None:
    await seed(store, units=2)
    batch = [new_message("m1"), new_message("m2", units=5), new_message("m3")]
    first = await store.accept_many(batch, idempotency=key())
    assert first.record is not None and not first.replayed
    assert first.record.body == b"m1,InsufficientBalance,InsufficientBalance"
    assert await store.get_idempotent("acc1", "bulk-1") == first.record
    again = await store.accept_many(
        [new_message("m4"), new_message("m5")], idempotency=key(digest="h2")
    )
    assert again.replayed and again.record == first.record and again.outcomes == ()
    with pytest.raises(NotFound):
        await store.get_message("m4")
    assert await store.balance("snd1") == 1 == await store.ledger_sum("snd1")
    assert await debits(store) == 1


async def test_no_answer_is_kept_when_nothing_was_accepted(store: Store) -> None:
    await seed(store, units=0)
    result = await store.accept_many([new_message("m1")], idempotency=key())
    assert isinstance(result.outcomes[0], InsufficientBalance) and result.record is None
    assert await store.get_idempotent("acc1", "bulk-1") is None
    await store.post_entry("snd1", LedgerKind.TOPUP, 1, "admin:test", "cash", "t1", at(1))
    retried = await store.accept_many([new_message("m1")], idempotency=key())
    assert isinstance(retried.outcomes[0], Accepted) and retried.record is not None


async def test_same_key_concurrently_sends_once(store: Store) -> None:
    await seed(store, units=100)
    results = await asyncio.gather(
        *(
            store.accept_many([new_message(f"r{r}m{i}") for i in range(5)], idempotency=key())
            for r in range(4)
        ),
        store.accept(new_message("single")),
    )
    bulks = results[:4]
    assert sum(not r.replayed for r in bulks) == 1  # type: ignore[union-attr]
    assert len({r.record for r in bulks}) == 1  # type: ignore[union-attr]
    assert await store.queue_depth() == 6
    assert await store.balance("snd1") == 94 == await store.ledger_sum("snd1")


async def test_concurrent_bulks_and_singles_never_overdraw(store: Store) -> None:
    await seed(store, units=50)
    bulks = [
        store.accept_many([new_message(f"b{b}m{i}", units=2) for i in range(10)]) for b in range(4)
    ]
    singles = [store.accept(new_message(f"s{i}", units=1)) for i in range(20)]
    results = await asyncio.gather(*bulks, *singles, return_exceptions=True)
    accepted_units = 0
    for r in results[:4]:
        assert not isinstance(r, BaseException)
        outcomes = r.outcomes  # type: ignore[union-attr]
        first_refusal = next(
            (n for n, o in enumerate(outcomes) if not isinstance(o, Accepted)), len(outcomes)
        )
        assert all(isinstance(o, Accepted) for o in outcomes[:first_refusal])
        assert all(isinstance(o, InsufficientBalance) for o in outcomes[first_refusal:])
        accepted_units += 2 * first_refusal
    for r in results[4:]:
        if isinstance(r, Accepted):
            accepted_units += 1
        else:
            assert isinstance(r, InsufficientBalance)
    balance = await store.balance("snd1")
    assert balance >= 0 and balance == 50 - accepted_units == await store.ledger_sum("snd1")
    assert await store.queue_depth() == await debits(store)


async def test_a_thousand_messages_are_one_writer_unit(store: Store) -> None:
    await seed(store, units=1000)
    writer = getattr(store, "writer", None)
    before = (writer.batches, writer.units) if writer is not None else (0, 0)
    result = await store.accept_many([new_message(f"m{i:04d}") for i in range(1000)])
    assert sum(isinstance(o, Accepted) for o in result.outcomes) == 1000
    assert await store.balance("snd1") == 0 == await store.ledger_sum("snd1")
    if writer is not None:  # the SQL stores: one unit in one transaction
        assert (writer.batches - before[0], writer.units - before[1]) == (1, 1)
