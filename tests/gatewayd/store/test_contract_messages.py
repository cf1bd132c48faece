"""Contract: accepting, listing and dispatching messages; in-doubt recovery; refunds."""

from __future__ import annotations

import pytest

from gatewayd.service.model import (
    DispatchState,
    InDoubtPolicy,
    LedgerKind,
    MessageStatus,
    PartStatus,
    RefundPolicy,
    StatusEvent,
)
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound, Store
from tests.gatewayd.store.conftest import StoreFactory, at, new_message, seed


async def test_accept_writes_message_parts_debit_and_event(store: Store) -> None:
    await seed(store, units=10)
    accepted = (await store.accept(new_message("m1", units=3, parts=2))).to_message()
    assert accepted.status is MessageStatus.INITIATED
    assert accepted.dispatch is DispatchState.QUEUED
    assert [p.status for p in accepted.part_list] == [PartStatus.PENDING] * 2
    assert [e.status for e in accepted.timeline] == [MessageStatus.INITIATED]
    assert await store.balance("snd1") == 7
    debit = (await store.entries("snd1"))[-1]
    assert (debit.kind, debit.units, debit.reference, debit.actor) == (
        LedgerKind.DEBIT, -3, "m1", "api:client1",
    )  # fmt: skip
    assert await store.get_message("m1") == accepted
    assert await store.get_message("m1", "acc1") == accepted


async def test_accept_refuses_overdraft_and_writes_nothing(store: Store) -> None:
    await seed(store, units=2)
    with pytest.raises(InsufficientBalance):
        await store.accept(new_message("m1", units=3))
    with pytest.raises(NotFound):
        await store.get_message("m1")
    assert await store.balance("snd1") == 2
    assert len(await store.entries("snd1")) == 1


async def test_accept_rejects_duplicates_and_foreign_senders(store: Store) -> None:
    await seed(store)
    await seed(store, account="acc2", sender="snd2")
    await store.accept(new_message("m1"))
    with pytest.raises(AlreadyExists):
        await store.accept(new_message("m1"))
    with pytest.raises(NotFound):
        await store.accept(new_message("m2", account="acc1", sender="snd2"))
    with pytest.raises(NotFound):
        await store.get_message("m1", "acc2")
    assert await store.balance("snd1") == 99
    assert await store.balance("snd2") == 100


async def test_list_messages_filters_and_pages(store: Store) -> None:
    await seed(store)
    await seed(store, sender="snd2", operator="airtel")
    for i in range(5):
        await store.accept(new_message(f"m{i}", created=i, contact=f"25471100000{i}"))
    await store.accept(new_message("a1", sender="snd2", operator="airtel", created=10))
    page = await store.list_messages("acc1", limit=4)
    assert [m.id for m in page.items] == ["a1", "m4", "m3", "m2"]
    assert page.next_cursor is not None
    rest = await store.list_messages("acc1", limit=4, cursor=page.next_cursor)
    assert [m.id for m in rest.items] == ["m1", "m0"] and rest.next_cursor is None
    by_sender = await store.list_messages("acc1", sender_id="snd2")
    assert [m.id for m in by_sender.items] == ["a1"]
    window = await store.list_messages("acc1", since=at(1), until=at(3))
    assert [m.id for m in window.items] == ["m2", "m1"]
    assert [m.id for m in (await store.list_messages("acc1", contact="254711000003")).items] == [
        "m3"
    ]
    assert (await store.list_messages("acc1", status=MessageStatus.SENT)).items == ()
    assert (await store.list_messages("other")).items == ()
    with pytest.raises(ValueError):
        await store.list_messages("acc1", cursor="not a cursor!")


async def test_claim_orders_by_priority_then_age_and_respects_schedule(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("old", created=1))
    await store.accept(new_message("new", created=2))
    await store.accept(new_message("urgent", created=3, priority=9))
    await store.accept(new_message("later", created=0, priority=10, scheduled_at=at(100)))
    await store.accept(new_message("airtel", operator="airtel", created=0))
    assert await store.queue_depth() == 5
    assert await store.queue_depth("safaricom") == 4
    first = await store.claim_queued("safaricom", 2, at(10), "smsc-a")
    assert [m.id for m in first] == ["urgent", "old"]
    assert all(m.dispatch is DispatchState.SUBMITTING and m.smsc == "smsc-a" for m in first)
    assert all(m.attempts == 1 for m in first)
    assert [p.status for p in first[0].part_list] == [PartStatus.SUBMITTING]
    assert [m.id for m in await store.claim_queued("safaricom", 5, at(10), "smsc-a")] == ["new"]
    assert await store.claim_queued("safaricom", 5, at(10), "smsc-a") == []
    assert [m.id for m in await store.claim_queued("safaricom", 5, at(100), "s")] == ["later"]
    assert await store.queue_depth("safaricom") == 0
    stored = await store.get_message("old")
    assert stored.dispatch is DispatchState.SUBMITTING


async def test_submit_then_receipt_delivers(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "abc123", at(2))
    sent = await store.get_message("m1")
    assert sent.status is MessageStatus.SENT and sent.dispatch is DispatchState.DONE
    assert sent.part_list[0].smsc_message_id == "abc123"
    result = await store.record_receipt(
        "smsc-a", "abc123", MessageStatus.DELIVERED, "DELIVRD", at(3)
    )
    assert result.outcome.value == "applied" and result.message_changed
    assert result.message_id == "m1" and result.status is MessageStatus.DELIVERED
    assert result.created_at == sent.created_at and result.callback_url == sent.callback_url
    delivered = await store.get_message("m1")
    assert [e.status for e in delivered.timeline] == [
        MessageStatus.INITIATED, MessageStatus.SENT, MessageStatus.DELIVERED,
    ]  # fmt: skip
    assert delivered.timeline[-1].at == at(3)


async def test_duplicate_and_late_receipts_never_move_back(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "X1", at(2))
    await store.record_receipt("smsc-a", "X1", MessageStatus.DELIVERED, "DELIVRD", at(3))
    again = await store.record_receipt("smsc-a", "X1", MessageStatus.DELIVERED, "DELIVRD", at(4))
    assert again.outcome.value == "duplicate" and not again.message_changed
    late = await store.record_receipt("smsc-a", "X1", MessageStatus.FAILED, "UNDELIV", at(5))
    assert late.outcome.value == "stale" and not late.message_changed
    interim = await store.record_receipt("smsc-a", "X1", MessageStatus.SENT, "ENROUTE", at(6))
    assert interim.outcome.value == "stale"
    message = await store.get_message("m1")
    assert message.status is MessageStatus.DELIVERED
    assert len(message.timeline) == 3


async def test_receipt_before_resp_is_parked_then_matched(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    parked = await store.record_receipt(
        "smsc-a", "early", MessageStatus.DELIVERED, "DELIVRD", at(2)
    )
    assert parked.outcome.value == "parked" and parked.message_id is None
    assert (await store.get_message("m1")).status is MessageStatus.INITIATED
    await store.record_submit("m1", 1, "smsc-a", "early", at(3))
    message = await store.get_message("m1")
    assert message.status is MessageStatus.DELIVERED
    assert [e.status for e in message.timeline][-2:] == [
        MessageStatus.SENT, MessageStatus.DELIVERED,
    ]  # fmt: skip


async def test_parked_receipt_expires(store_factory: StoreFactory) -> None:
    store = await store_factory()
    await seed(store)
    await store.accept(new_message("m1"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_receipt("smsc-a", "late", MessageStatus.DELIVERED, "DELIVRD", at(2))
    assert await store.purge_expired(at(2 + 2 * 86_400)) == 1
    await store.record_submit("m1", 1, "smsc-a", "late", at(2 + 2 * 86_400))
    assert (await store.get_message("m1")).status is MessageStatus.SENT
    assert await store.purge_expired(at(10 * 86_400)) == 1  # the receipt map entry


async def test_multipart_delivered_only_when_every_part_is(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1", units=3, parts=3))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    for part in (1, 2):
        await store.record_submit("m1", part, "smsc-a", f"id{part}", at(2))
    assert (await store.get_message("m1")).status is MessageStatus.INITIATED
    r1 = await store.record_receipt("smsc-a", "id1", MessageStatus.DELIVERED, "DELIVRD", at(3))
    assert r1.outcome.value == "applied" and not r1.message_changed
    await store.record_submit("m1", 3, "smsc-a", "id3", at(4))
    assert (await store.get_message("m1")).status is MessageStatus.SENT
    await store.record_receipt("smsc-a", "id3", MessageStatus.DELIVERED, "DELIVRD", at(5))
    assert (await store.get_message("m1")).status is MessageStatus.SENT
    last = await store.record_receipt("smsc-a", "id2", MessageStatus.DELIVERED, "DELIVRD", at(6))
    assert last.message_changed and last.status is MessageStatus.DELIVERED
    parts = {e.part for e in (await store.get_message("m1")).timeline if e.part is not None}
    assert parts == {1, 2, 3}


async def test_multipart_fails_when_one_part_fails(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1", units=2, parts=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "p1", at(2))
    await store.record_submit("m1", 2, "smsc-a", "p2", at(2))
    failed = await store.record_receipt("smsc-a", "p2", MessageStatus.FAILED, "UNDELIV", at(3))
    assert failed.status is MessageStatus.FAILED
    assert (await store.get_message("m1")).description == "UNDELIV"
    late = await store.record_receipt("smsc-a", "p1", MessageStatus.DELIVERED, "DELIVRD", at(4))
    assert late.outcome.value == "applied" and not late.message_changed
    assert late.status is MessageStatus.FAILED


async def test_submit_failure_fails_message_without_refund_by_default(store: Store) -> None:
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit_failure("m1", 1, "Invalid destination (0x0B)", at(2))
    message = await store.get_message("m1")
    assert message.status is MessageStatus.FAILED and message.dispatch is DispatchState.DONE
    assert message.description == "Invalid destination (0x0B)"
    assert message.refunded_units == 0
    assert await store.balance("snd1") == 3


async def test_network_rejected_policy_refunds_once(store_factory: StoreFactory) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit_failure("m1", 1, "Rejected", at(2))
    await store.record_submit_failure("m1", 1, "Rejected", at(3))
    await store.fail_message("m1", "again", at(4))
    assert await store.balance("snd1") == 5
    assert await store.ledger_sum("snd1") == 5
    refund = (await store.entries("snd1"))[-1]
    assert (refund.kind, refund.units, refund.reference) == (LedgerKind.REFUND, 2, "m1")
    assert (await store.get_message("m1")).refunded_units == 2


async def test_network_rejected_policy_keeps_units_the_network_took(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "Z", at(2))
    await store.record_receipt("smsc-a", "Z", MessageStatus.FAILED, "UNDELIV", at(3))
    assert await store.balance("snd1") == 3
    assert (await store.get_message("m1")).status is MessageStatus.FAILED


async def test_fail_message_before_submit(store_factory: StoreFactory) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    failed = await store.fail_message("m1", "Expired in queue", at(5))
    assert failed.status is MessageStatus.FAILED and failed.dispatch is DispatchState.DONE
    assert await store.queue_depth() == 0
    assert await store.balance("snd1") == 5
    again = await store.fail_message("m1", "twice", at(6))
    assert again.description == "Expired in queue"


async def test_requeue_puts_unsent_parts_back(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1", units=2, parts=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "q1", at(2))
    await store.requeue("m1", at(3), not_before=at(60))
    message = await store.get_message("m1")
    assert message.dispatch is DispatchState.QUEUED
    assert [p.status for p in message.part_list] == [PartStatus.SENT, PartStatus.PENDING]
    assert await store.claim_queued("safaricom", 5, at(30), "smsc-a") == []
    again = await store.claim_queued("safaricom", 5, at(60), "smsc-b")
    assert [p.status for p in again[0].part_list] == [PartStatus.SENT, PartStatus.SUBMITTING]
    assert again[0].attempts == 2
    await store.record_submit("m1", 2, "smsc-b", "q2", at(61))
    assert (await store.get_message("m1")).status is MessageStatus.SENT
    await store.requeue("m1", at(62))  # not submitting: no effect
    assert (await store.get_message("m1")).dispatch is DispatchState.DONE


async def test_requeue_in_doubt_counts_once_per_requeue(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.requeue("m1", at(2), in_doubt=True)
    message = await store.get_message("m1")
    assert (message.in_doubt, message.dispatch) == (1, DispatchState.QUEUED)
    await store.requeue("m1", at(3), in_doubt=True)  # not submitting: no effect, no count
    await store.claim_queued("safaricom", 1, at(4), "smsc-a")
    await store.requeue("m1", at(5))  # never written: not in doubt
    assert (await store.get_message("m1")).in_doubt == 1
    await store.claim_queued("safaricom", 1, at(6), "smsc-a")
    await store.requeue("m1", at(7), in_doubt=True)
    assert (await store.get_message("m1")).in_doubt == 2


async def test_submitting_on_lists_one_smscs_claims_older_than_a_time(store: Store) -> None:
    await seed(store)
    for n in range(4):
        await store.accept(new_message(f"m{n}", created=n))
    await store.claim_queued("safaricom", 1, at(10), "smsc-a")  # m0
    await store.claim_queued("safaricom", 1, at(20), "smsc-b")  # m1
    await store.claim_queued("safaricom", 1, at(30), "smsc-a")  # m2
    assert await store.submitting_on("smsc-a", at(31)) == ["m0", "m2"]
    assert await store.submitting_on("smsc-a", at(30)) == ["m0"]
    assert await store.submitting_on("smsc-b", at(31)) == ["m1"]
    await store.record_submit("m0", 1, "smsc-a", "q0", at(32))
    assert await store.submitting_on("smsc-a", at(40)) == ["m2"]
    assert await store.submitting_on("smsc-c", at(40)) == []


async def test_recover_in_doubt_resends_and_says_so(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.accept(new_message("m2", created=1))
    await store.accept(new_message("m3", created=2))
    await store.claim_queued("safaricom", 2, at(5), "smsc-a")
    recovered = await store.recover_in_doubt(at(10))
    assert [m.id for m in recovered] == ["m1", "m2"]
    assert all(m.in_doubt == 1 and m.dispatch is DispatchState.QUEUED for m in recovered)
    assert "In doubt" in recovered[0].timeline[-1].description
    assert recovered[0].status is MessageStatus.INITIATED
    assert await store.recover_in_doubt(at(11)) == []
    assert await store.queue_depth() == 3


async def test_recover_in_doubt_fail_policy(store_factory: StoreFactory) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", callback_url="https://client.example/cb"))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    [failed] = await store.recover_in_doubt(at(2), InDoubtPolicy.FAIL)
    assert failed.status is MessageStatus.FAILED and failed.in_doubt == 1
    assert await store.balance("snd1") == 4  # may have been sent: no refund
    assert [j.status for j in await store.list_callbacks("m1")] == [MessageStatus.FAILED]


async def test_append_event_extends_timeline(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.append_event(StatusEvent("m1", MessageStatus.INITIATED, "Throttled", at(4)))
    assert (await store.get_message("m1")).timeline[-1].description == "Throttled"
    with pytest.raises(NotFound):
        await store.append_event(StatusEvent("ghost", MessageStatus.INITIATED, "x", at(4)))


async def test_unknown_part_is_not_found(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    with pytest.raises(NotFound):
        await store.record_submit("m1", 2, "smsc-a", "id", at(1))
    with pytest.raises(NotFound):
        await store.record_submit("ghost", 1, "smsc-a", "id", at(1))


async def test_record_submits_records_each_answer_alone(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1", units=2, parts=2))
    await store.accept(new_message("m2"))
    await store.claim_queued("safaricom", 2, at(1), "smsc-a")
    await store.record_receipt("smsc-a", "early", MessageStatus.DELIVERED, "DELIVRD", at(2))
    outcomes = await store.record_submits(
        [
            ("m1", 1, "smsc-a", "id1", at(3)),
            ("m1", 9, "smsc-a", "id9", at(3)),  # no such part
            ("nope", 1, "smsc-a", "idx", at(3)),  # no such message
            ("m2", 1, "smsc-a", "early", at(3)),  # its receipt was parked
            ("m1", 2, "smsc-a", "id2", at(3)),
        ]
    )
    assert [o is None for o in outcomes] == [True, False, False, True, True]
    assert isinstance(outcomes[1], NotFound) and isinstance(outcomes[2], NotFound)
    assert (await store.get_message("m1")).status is MessageStatus.SENT
    assert (await store.get_message("m2")).status is MessageStatus.DELIVERED
    done = await store.record_receipt("smsc-a", "id2", MessageStatus.DELIVERED, "DELIVRD", at(4))
    assert done.outcome.value == "applied"
    assert await store.record_submits([]) == []


async def test_record_receipts_records_each_receipt_alone(store: Store) -> None:
    await seed(store)
    await store.accept(new_message("m1"))
    await store.accept(new_message("m2"))
    await store.claim_queued("safaricom", 2, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "id1", at(2))
    await store.record_submit("m2", 1, "smsc-a", "id2", at(2))
    results = await store.record_receipts(
        [
            ("smsc-a", "id1", MessageStatus.DELIVERED, "DELIVRD", at(3)),
            ("smsc-a", "unknown", MessageStatus.DELIVERED, "DELIVRD", at(3)),
            ("smsc-a", "id1", MessageStatus.FAILED, "UNDELIV", at(4)),  # never moves back
            ("smsc-a", "id2", MessageStatus.FAILED, "UNDELIV", at(3)),
        ]
    )
    outcomes = [r.outcome.value for r in results if not isinstance(r, Exception)]
    assert len(outcomes) == 4
    assert outcomes[0] == "applied" and outcomes[1] == "parked" and outcomes[3] == "applied"
    third = results[2]
    assert not isinstance(third, Exception)
    assert third.outcome.value != "applied" or not third.message_changed
    assert (await store.get_message("m1")).status is MessageStatus.DELIVERED
    assert (await store.get_message("m2")).status is MessageStatus.FAILED
    assert await store.record_receipts([]) == []
