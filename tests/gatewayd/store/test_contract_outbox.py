"""Contract: the callback outbox, top-ups, idempotency keys and inbound messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gatewayd.service.model import (
    CallbackState,
    IdempotentResponse,
    InboundMessage,
    LedgerKind,
    MessageStatus,
    Package,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.ports import AlreadyExists, NotFound, Store
from tests.gatewayd.store.conftest import T0, at, new_message, seed

URL = "https://client.example/cb"


async def _delivered(store: Store, message_id: str, *, on_sent: bool = False) -> None:
    await store.accept(new_message(message_id, callback_url=URL, callback_on_sent=on_sent))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit(message_id, 1, "smsc-a", f"x-{message_id}", at(2))
    await store.record_receipt(
        "smsc-a", f"x-{message_id}", MessageStatus.DELIVERED, "DELIVRD", at(3)
    )


async def test_final_status_writes_one_callback(store: Store) -> None:
    await seed(store)
    await _delivered(store, "m1")
    await store.record_receipt("smsc-a", "x-m1", MessageStatus.DELIVERED, "DELIVRD", at(4))
    [job] = await store.list_callbacks("m1")
    assert (job.status, job.url, job.contact, job.operator) == (
        MessageStatus.DELIVERED, URL, "254712345678", "safaricom",
    )  # fmt: skip
    assert job.state is CallbackState.PENDING and job.attempts == 0
    assert job.event_at == at(3) and job.account_id == "acc1"
    assert await store.callback_backlog() == 1


async def test_sent_callback_only_when_asked(store: Store) -> None:
    await seed(store)
    await _delivered(store, "m1", on_sent=True)
    statuses = [j.status for j in await store.list_callbacks("m1")]
    assert statuses == [MessageStatus.SENT, MessageStatus.DELIVERED]
    await store.accept(new_message("m2"))  # no callback_url
    await store.fail_message("m2", "Expired", at(9))
    assert await store.list_callbacks("m2") == []


async def test_claim_leases_and_outcomes(store: Store) -> None:
    await seed(store)
    await _delivered(store, "m1")
    await _delivered(store, "m2")
    lease = timedelta(seconds=30)
    claimed = await store.claim_callbacks(at(5), 10, lease)
    assert [j.message_id for j in claimed] == ["m1", "m2"]
    assert all(j.attempts == 1 and j.next_attempt_at == at(35) for j in claimed)
    assert await store.claim_callbacks(at(6), 10, lease) == []
    first, second = claimed
    await store.callback_done(first.id, at(7))
    await store.reschedule_callback(second.id, at(20), "HTTP 502", at(7))
    assert await store.claim_callbacks(at(19), 10, lease) == []
    [retry] = await store.claim_callbacks(at(20), 10, lease)
    assert retry.attempts == 2 and retry.last_error == "HTTP 502"
    await store.give_up_callback(retry.id, "timed out", at(21))
    assert await store.claim_callbacks(at(10_000), 10, lease) == []
    [done] = await store.list_callbacks("m1")
    [gave_up] = await store.list_callbacks("m2")
    assert done.state is CallbackState.DONE and done.finished_at == at(7)
    assert gave_up.state is CallbackState.GIVEN_UP and gave_up.last_error == "timed out"
    assert await store.callback_backlog() == 0
    with pytest.raises(NotFound):
        await store.callback_done(999_999, at(1))


async def test_expired_lease_is_claimed_again(store: Store) -> None:
    await seed(store)
    await _delivered(store, "m1")
    await store.claim_callbacks(at(5), 10, timedelta(seconds=30))
    [again] = await store.claim_callbacks(at(35), 10, timedelta(seconds=30))
    assert again.attempts == 2


async def _package_and_topup(store: Store, topup_id: str = "t1") -> None:
    try:
        await store.get_package("p1")
    except NotFound:
        await store.create_package(Package("p1", "Bronze", "safaricom", 80, 1000, True))
    await store.create_topup(
        topup_id, "acc1", "snd1", "p1", 1000, 80_000, TopUpMethod.MPESA, T0, phone="254712345678"
    )


async def test_packages(store: Store) -> None:
    package = await store.create_package(Package("p1", "Bronze", "safaricom", 80, 1000, True))
    await store.create_package(Package("p2", "Silver", "airtel", 70, 5000, True))
    assert await store.get_package("p1") == package
    assert [p.id for p in await store.list_packages()] == ["p2", "p1"]
    assert [p.id for p in await store.list_packages("safaricom")] == ["p1"]
    with pytest.raises(AlreadyExists):
        await store.create_package(package)


async def test_topup_settles_once(store: Store) -> None:
    await seed(store, units=0)
    await _package_and_topup(store)
    pending = await store.set_topup_checkout("t1", "ws_CO_1", "mr_1")
    assert pending.status is TopUpStatus.PENDING
    assert (await store.find_topup_by_checkout("ws_CO_1")).id == "t1"
    done, changed = await store.settle_topup(
        "t1", TopUpStatus.COMPLETED, "mpesa", at(5), result_code=0, result_desc="ok",
        mpesa_receipt="QKX1",
    )  # fmt: skip
    assert changed and done.status is TopUpStatus.COMPLETED and done.mpesa_receipt == "QKX1"
    assert done.settled_at == at(5) and done.settled_by == "mpesa"
    again, changed_again = await store.settle_topup("t1", TopUpStatus.COMPLETED, "mpesa", at(6))
    assert not changed_again and again == done
    failed_late, changed_late = await store.settle_topup("t1", TopUpStatus.FAILED, "x", at(7))
    assert not changed_late and failed_late.status is TopUpStatus.COMPLETED
    assert await store.balance("snd1") == 1000
    [entry] = await store.entries("snd1")
    assert (entry.kind, entry.units, entry.reference) == (LedgerKind.TOPUP, 1000, "t1")
    with pytest.raises(NotFound):
        await store.find_topup_by_checkout("ws_CO_unknown")


async def test_topup_rejected_credits_nothing(store: Store) -> None:
    await seed(store, units=0)
    await _package_and_topup(store, "t1")
    await _package_and_topup(store, "t2")
    failed, changed = await store.settle_topup(
        "t1", TopUpStatus.FAILED, "admin:bob", at(1), result_code=1032, result_desc="Cancelled"
    )
    assert changed and failed.result_code == 1032
    assert await store.balance("snd1") == 0
    assert [t.id for t in await store.list_topups("acc1", TopUpStatus.PENDING)] == ["t2"]
    assert [t.id for t in await store.list_topups()] == ["t1", "t2"]
    assert [t.id for t in await store.pending_topups_before(at(1))] == ["t2"]
    assert await store.pending_topups_before(T0) == []
    with pytest.raises(ValueError):
        await store.settle_topup("t2", TopUpStatus.PENDING, "x", at(1))
    with pytest.raises(AlreadyExists):
        await _package_and_topup(store, "t2")


async def test_idempotency_keys(store: Store) -> None:
    await seed(store)
    first = IdempotentResponse("acc1", "k1", "h1", 200, b'{"ok":1}', T0)
    assert await store.get_idempotent("acc1", "k1") is None
    assert await store.put_idempotent(first) == first
    kept = await store.put_idempotent(IdempotentResponse("acc1", "k1", "h2", 400, b"x", at(1)))
    assert kept == first
    assert await store.get_idempotent("acc1", "k1") == first
    assert await store.get_idempotent("acc2", "k1") is None
    await store.put_idempotent(IdempotentResponse("acc1", "k2", "h", 200, b"", at(100)))
    assert await store.purge_idempotent(at(50)) == 1
    assert await store.get_idempotent("acc1", "k1") is None
    assert await store.get_idempotent("acc1", "k2") is not None


async def test_inbound_messages(store: Store) -> None:
    await seed(store)
    mo = InboundMessage(
        "in1", "smsc-a", "safaricom", "254712345678", "22334", "STOP", at(1),
        account_id="acc1", sender_id="snd1", smsc_message_id="mo-1",
    )  # fmt: skip
    kept, new = await store.record_inbound(mo)
    assert new and kept == mo
    repeat = InboundMessage("in2", "smsc-a", "safaricom", "254712345678", "22334", "STOP",
                            at(2), account_id="acc1", smsc_message_id="mo-1")  # fmt: skip
    kept_again, new_again = await store.record_inbound(repeat)
    assert not new_again and kept_again == mo
    other = InboundMessage("in3", "smsc-a", "safaricom", "254700000000", "22334", "HI", at(3),
                           account_id="acc1")  # fmt: skip
    await store.record_inbound(other)
    assert [m.id for m in await store.list_inbound("acc1")] == ["in3", "in1"]
    assert [m.id for m in await store.list_inbound("acc1", before=at(3))] == ["in1"]
    assert await store.list_inbound("acc2") == []


async def test_callbacks_done_records_each_job_alone(store: Store) -> None:
    await seed(store)
    await _delivered(store, "m1")
    await _delivered(store, "m2")
    await _delivered(store, "m3")
    first, second, third = await store.claim_callbacks(at(5), 10, timedelta(seconds=30))
    outcomes = await store.callbacks_done(
        [(first.id, at(7)), (999_999, at(7)), (second.id, at(8)), (third.id, at(7))]
    )
    assert [type(o) for o in outcomes] == [type(None), NotFound, type(None), type(None)]
    [done1] = await store.list_callbacks("m1")
    [done2] = await store.list_callbacks("m2")
    [done3] = await store.list_callbacks("m3")
    assert all(j.state is CallbackState.DONE for j in (done1, done2, done3))
    assert (done1.finished_at, done2.finished_at, done3.finished_at) == (at(7), at(8), at(7))
    assert await store.callback_backlog() == 0
    assert await store.callbacks_done([]) == []
