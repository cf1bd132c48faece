"""Contract: `record_submits` and `record_receipts` are the per-item operations applied in
order, only written together.

Each scenario runs twice on fresh stores of the backend under test: once in batches, once
item by item (`record_submit`, `record_receipt`); every item's outcome and everything stored
afterwards (messages with parts and timeline, callback jobs, ledger) must be the same. The
scenarios mix what a batch must get right: several parts or several receipts of one message,
a receipt before its submit_sm_resp (parked, then matched), duplicate and contradicting
receipts, receipt map entries and parked receipts past their expiry, refunds, resends of a
part, and unknown messages and parts in the middle of a batch.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from typing import Any

import pytest

from gatewayd.service.model import MessageStatus, RefundPolicy
from gatewayd.service.ports import NotFound, Store
from tests.fakes.memory_store import MemoryStore
from tests.gatewayd.store.conftest import T0, StoreFactory, at, new_message, seed

Step = tuple[str, list[tuple[Any, ...]]]  # ("submits" | "receipts" | "fail", items)
SMSC = "smsc-a"
OPTIONS: dict[str, Any] = {
    "refund_policy": RefundPolicy.NETWORK_REJECTED,
    "receipt_ttl": timedelta(seconds=60),
    "parked_ttl": timedelta(seconds=30),
}


async def _prepare(store: Store, messages: list[tuple[str, int, str | None, bool]]) -> None:
    await seed(store, units=1_000)
    for message_id, parts, url, on_sent in messages:
        await store.accept(
            new_message(
                message_id, units=parts, parts=parts, callback_url=url, callback_on_sent=on_sent
            )
        )
    await store.claim_queued("safaricom", len(messages), at(1), SMSC)


async def _run(store: Store, steps: list[Step], batched: bool) -> list[Any]:
    outcomes: list[Any] = []
    for kind, items in steps:
        if kind == "fail":
            for message_id, part, now in items:
                await store.record_submit_failure(message_id, part, "Rejected", now)
            continue
        if batched:
            if kind == "submits":
                found: list[Any] = list(await store.record_submits(items))
            else:
                found = list(await store.record_receipts(items))
        else:
            found = []
            for item in items:
                try:
                    if kind == "submits":
                        found.append(await store.record_submit(*item))
                    else:
                        found.append(await store.record_receipt(*item))
                except NotFound as exc:
                    found.append(exc)
        outcomes.extend(type(o).__name__ if isinstance(o, Exception) else o for o in found)
    return outcomes


async def _stored(store: Store, message_ids: list[str], *, times: bool = True) -> list[Any]:
    """What the store holds for these messages; `times`: with each message's updated_at,
    which the fake moves more often than the SQL stores (it is not the fake's contract)."""
    state: list[Any] = []
    for message_id in message_ids:
        message = await store.get_message(message_id)
        state.append(message if times else dataclasses.replace(message, updated_at=T0))
        jobs = await store.list_callbacks(message_id)
        state.append([dataclasses.replace(j, id=0) for j in jobs])
    state.append([dataclasses.replace(e, id=0) for e in await store.entries("snd1")])
    return state


async def _same_either_way(
    store_factory: StoreFactory,
    messages: list[tuple[str, int, str | None, bool]],
    steps: list[Step],
) -> list[Any]:
    """The steps in batches on the backend under test, then item by item on another store of
    the same backend and on the in-memory fake (the reference for the state machine): the
    same outcomes and the same state everywhere."""
    batched, single = await store_factory(**OPTIONS), await store_factory(**OPTIONS)
    reference = MemoryStore(**OPTIONS)
    for store in (batched, single, reference):
        await _prepare(store, messages)
    outcomes = await _run(batched, steps, batched=True)
    assert outcomes == await _run(single, steps, batched=False)
    assert outcomes == await _run(reference, steps, batched=False)
    ids = [m[0] for m in messages]
    assert await _stored(batched, ids) == await _stored(single, ids)
    assert await _stored(batched, ids, times=False) == await _stored(reference, ids, times=False)
    return outcomes


def _submit(message_id: str, part: int, smsc_id: str, t: float) -> tuple[Any, ...]:
    return (message_id, part, SMSC, smsc_id, at(t))


def _receipt(smsc_id: str, status: MessageStatus, t: float) -> tuple[Any, ...]:
    words = "DELIVRD" if status is MessageStatus.DELIVERED else "UNDELIV"
    return (SMSC, smsc_id, status, words, at(t))


D, F, S = MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.SENT


async def test_a_batch_of_parts_and_receipts_of_one_message(store_factory: StoreFactory) -> None:
    messages = [("m1", 3, "http://cb.example/1", True), ("m2", 1, None, False)]
    submits = [
        _submit("m1", 1, "m1-1", 3), _submit("ghost", 1, "g", 3), _submit("m1", 2, "m1-2", 3),
        _submit("m1", 9, "m1-9", 3), _submit("m2", 1, "m2-1", 3), _submit("m1", 3, "m1-3", 4),
    ]  # fmt: skip
    receipts = [
        _receipt("m1-1", D, 5), _receipt("m1-1", D, 5), _receipt("m1-2", S, 5),
        _receipt("m1-2", D, 6), _receipt("m1-3", D, 6), _receipt("m1-3", F, 7),
        _receipt("nobody", D, 7), _receipt("nobody", F, 8),
    ]  # fmt: skip
    steps: list[Step] = [
        ("receipts", [_receipt("m2-1", D, 2)]),  # before its resp: parked
        ("submits", submits),
        ("receipts", receipts),
    ]
    outcomes = await _same_either_way(store_factory, messages, steps)
    assert outcomes[1:7] == [None, "NotFound", None, "NotFound", None, None]
    kinds = [o.outcome.value for o in outcomes[7:]]
    assert kinds == [
        "applied", "duplicate", "stale", "applied", "applied", "stale", "parked", "parked",
    ]  # fmt: skip
    assert not outcomes[10].message_changed
    assert outcomes[11].message_changed and outcomes[11].status is D


async def test_a_failed_part_then_its_siblings_in_one_batch(store_factory: StoreFactory) -> None:
    messages = [("m1", 2, "http://cb.example/1", False), ("m2", 2, "http://cb.example/2", False)]
    submits = [
        _submit("m1", 1, "a", 3), _submit("m1", 2, "b", 3), _submit("m2", 2, "c", 3),
        _submit("m1", 2, "b2", 4),  # a resend of part 2 answered again, under another id
    ]  # fmt: skip
    receipts = [_receipt("a", F, 5), _receipt("b", D, 5), _receipt("b2", D, 5), _receipt("c", D, 5)]
    steps: list[Step] = [
        ("fail", [("m2", 1, at(2))]),  # no network id anywhere yet: refunded
        ("submits", submits),
        ("receipts", receipts),
    ]
    await _same_either_way(store_factory, messages, steps)


async def test_expired_map_entries_and_parked_receipts(store_factory: StoreFactory) -> None:
    messages = [("m1", 1, None, False), ("m2", 1, None, False), ("m3", 1, None, False)]
    steps: list[Step] = [
        ("receipts", [_receipt("x3", D, 2), _receipt("x2", F, 2), _receipt("x2", D, 2)]),
        ("submits", [_submit("m1", 1, "x1", 3), _submit("m2", 1, "x2", 40)]),  # x2's expired
        ("receipts", [_receipt("x1", D, 100)]),  # the map entry expired at 63: parked
        ("submits", [_submit("m3", 1, "x3", 20), _submit("m1", 1, "x1", 101)]),
    ]
    outcomes = await _same_either_way(store_factory, messages, steps)
    assert outcomes[5].outcome.value == "parked"
    assert outcomes[3:5] == [None, None]


async def test_a_refused_submit_leaves_the_parked_receipt_of_its_id(
    store_factory: StoreFactory,
) -> None:
    messages = [("m1", 1, None, False), ("m2", 2, None, False)]
    steps: list[Step] = [
        ("receipts", [_receipt("k", F, 2), _receipt("k2", D, 2)]),
        ("submits", [_submit("m1", 9, "k", 3), _submit("ghost", 1, "k2", 3)]),
        ("submits", [_submit("m2", 2, "k2", 4), _submit("m1", 1, "k", 4)]),
        ("submits", [_submit("m2", 1, "k3", 5), _submit("m2", 1, "k2", 5)]),  # a resend
    ]
    outcomes = await _same_either_way(store_factory, messages, steps)
    assert outcomes[2:4] == ["NotFound", "NotFound"]


async def test_the_last_answer_for_an_id_owns_its_receipts(store_factory: StoreFactory) -> None:
    messages = [("m1", 1, None, False), ("m2", 1, None, False)]
    steps: list[Step] = [
        ("submits", [_submit("m1", 1, "same", 2), _submit("m2", 1, "same", 2)]),
        ("receipts", [_receipt("same", F, 3)]),
    ]
    await _same_either_way(store_factory, messages, steps)


@pytest.mark.parametrize("seed_value", range(6))
async def test_random_batches_match_one_by_one(
    store_factory: StoreFactory, seed_value: int
) -> None:
    rng = random.Random(seed_value)
    urls = [None, "http://cb.example/"]
    messages = [
        (f"m{i}", rng.randint(1, 3), rng.choice(urls), rng.random() < 0.3) for i in range(6)
    ]
    ops: list[tuple[str, tuple[Any, ...]]] = []
    t = 2.0
    ids = [f"{m}-{p}" for m, parts, _, _ in messages for p in range(1, parts + 1)]
    for _ in range(60):
        t += rng.choice([0, 0, 1, 5, 20])
        roll = rng.random()
        if roll < 0.4:
            message_id, parts, _, _ = rng.choice(messages)
            part = rng.randint(1, parts + (1 if rng.random() < 0.1 else 0))
            if rng.random() < 0.05:
                message_id = "ghost"
            smsc_id = f"{message_id}-{part}" if rng.random() < 0.85 else f"r{rng.randint(0, 9)}"
            ops.append(("submits", _submit(message_id, part, smsc_id, t)))
        elif roll < 0.93:
            smsc_id = rng.choice(ids) if rng.random() < 0.9 else f"r{rng.randint(0, 9)}"
            status = rng.choice([D, D, D, F, S])
            ops.append(("receipts", _receipt(smsc_id, status, t)))
        else:
            message_id, parts, _, _ = rng.choice(messages)
            ops.append(("fail", (message_id, rng.randint(1, parts), at(t))))
    steps: list[Step] = []
    for kind, item in ops:  # runs of one kind, cut at random into batches
        if steps and steps[-1][0] == kind and rng.random() < 0.8:
            steps[-1][1].append(item)
        else:
            steps.append((kind, [item]))
    await _same_either_way(store_factory, messages, steps)
