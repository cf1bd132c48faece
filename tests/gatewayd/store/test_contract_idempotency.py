"""Contract: an accept keeps its Idempotency-Key answer in its own transaction, and an accept
with a key already answered replays that answer instead of sending and debiting again."""

from __future__ import annotations

import asyncio

import pytest

from gatewayd.service.model import IdempotentResponse, LedgerKind
from gatewayd.service.ports import InsufficientBalance, NotFound, Store
from tests.gatewayd.store.conftest import at, new_message, seed


def record(message_id: str, key: str = "key-1", account: str = "acc1") -> IdempotentResponse:
    """The answer a caller would keep for a message: its body names the message."""
    body = b'{"message_id":"%s","status":"INITIATED"}' % message_id.encode()
    return IdempotentResponse(account, key, "hash-1", 200, body, at(0))


async def debits(store: Store, sender: str = "snd1") -> int:
    entries = await store.entries(sender)
    return sum(1 for e in entries if e.kind is LedgerKind.DEBIT)


async def test_the_answer_is_kept_with_the_message(store: Store) -> None:
    await seed(store, units=10)
    accepted = await store.accept(new_message("m1"), idempotency=record("m1"))
    assert not accepted.replayed and accepted.record == record("m1")
    assert await store.get_idempotent("acc1", "key-1") == record("m1")
    assert (await store.get_message("m1")).id == "m1"


async def test_same_key_twice_concurrently_sends_once(store: Store) -> None:
    await seed(store, units=10)
    first, second = await asyncio.gather(
        store.accept(new_message("m1"), idempotency=record("m1")),
        store.accept(new_message("m2"), idempotency=record("m2")),
    )
    assert first.record == second.record  # both answers identical
    assert [first.replayed, second.replayed].count(True) == 1
    assert await store.queue_depth() == 1
    assert await debits(store) == 1
    assert await store.balance("snd1") == 9 == await store.ledger_sum("snd1")
    assert await store.get_idempotent("acc1", "key-1") == first.record


async def test_many_retries_over_a_few_keys(store: Store) -> None:
    await seed(store, units=100)
    results = await asyncio.gather(
        *(
            store.accept(new_message(f"m{i:02d}"), idempotency=record(f"m{i:02d}", f"k{i % 5}"))
            for i in range(40)
        )
    )
    kept = {r.record.key: r.record for r in results if r.record is not None}
    assert len(kept) == 5
    assert all(r.record == kept[r.record.key] for r in results if r.record is not None)
    assert sum(not r.replayed for r in results) == 5
    assert await store.queue_depth() == 5
    assert await store.balance("snd1") == 95 == await store.ledger_sum("snd1")


async def test_a_replay_costs_nothing_even_with_an_empty_float(store: Store) -> None:
    await seed(store, units=1)
    await store.accept(new_message("m1"), idempotency=record("m1"))
    again = await store.accept(new_message("m2"), idempotency=record("m2"))
    assert again.replayed and again.record == record("m1")
    with pytest.raises(NotFound):
        await store.get_message("m2")
    assert await store.balance("snd1") == 0
    assert await debits(store) == 1


async def test_a_refused_accept_keeps_no_answer(store: Store) -> None:
    await seed(store, units=0)
    with pytest.raises(InsufficientBalance):
        await store.accept(new_message("m1"), idempotency=record("m1"))
    assert await store.get_idempotent("acc1", "key-1") is None
    await store.post_entry("snd1", LedgerKind.TOPUP, 1, "admin:test", "cash", "t1", at(1))
    retried = await store.accept(new_message("m2"), idempotency=record("m2"))
    assert not retried.replayed and await store.get_idempotent("acc1", "key-1") == record("m2")


async def test_keys_are_per_account(store: Store) -> None:
    await seed(store)
    await seed(store, account="acc2", sender="snd2")
    await store.accept(new_message("m1"), idempotency=record("m1"))
    other = await store.accept(
        new_message("m2", account="acc2", sender="snd2"), idempotency=record("m2", account="acc2")
    )
    assert not other.replayed
    assert await store.queue_depth() == 2


async def test_a_record_of_another_account_is_refused(store: Store) -> None:
    await seed(store)
    with pytest.raises(ValueError):
        await store.accept(new_message("m1"), idempotency=record("m1", account="acc2"))
    assert await store.queue_depth() == 0


async def test_accepts_without_a_key_in_the_same_batch_are_unaffected(store: Store) -> None:
    await seed(store, units=10)
    results = await asyncio.gather(
        store.accept(new_message("m1"), idempotency=record("m1")),
        store.accept(new_message("m2")),
        store.accept(new_message("m3"), idempotency=record("m3")),
        store.accept(new_message("m4")),
    )
    assert [r.replayed for r in results] == [False, False, True, False]
    assert await store.queue_depth() == 3
    assert await store.balance("snd1") == 7 == await store.ledger_sum("snd1")


async def test_a_key_taken_after_the_lookup_is_replayed(
    backend: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process kept an answer for the key between this batch's lookup and its insert:
    the key's primary key refuses the insert, nothing of the accept is written, and the
    caller gets the other answer."""
    if backend == "memory":
        pytest.skip("the fake has no lookup to race")
    await seed(store, units=10)
    await store.accept(new_message("m1"), idempotency=record("m1"))

    async def nothing_kept(tx: object, records: object) -> dict[object, object]:
        return {}

    monkeypatch.setattr("gatewayd.store.ops_messages.read_kept", nothing_kept)
    monkeypatch.setattr("gatewayd.store.postgres.read_kept", nothing_kept)
    again = await store.accept(new_message("m2"), idempotency=record("m2"))
    assert again.replayed and again.record == record("m1")
    with pytest.raises(NotFound):
        await store.get_message("m2")
    assert await store.balance("snd1") == 9 == await store.ledger_sum("snd1")
