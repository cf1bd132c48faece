"""The queue's expiry (`expire_queued`), on every backend: only messages still waiting in the
queue and accepted before the cut-off fail, oldest first, with their event, callback and
refund per policy; a message SUBMITTING or already final is left alone."""

from __future__ import annotations

from gatewayd.service.model import DispatchState, MessageStatus, RefundPolicy
from gatewayd.service.ports import Store
from tests.gatewayd.store.conftest import StoreFactory, at, new_message, seed

EXPIRED = "Expired: not sent within 24 hours"


async def test_only_queued_messages_accepted_before_the_cut_off_fail(store: Store) -> None:
    await seed(store, units=10)
    for n, created in enumerate((0, 10, 20, 30), start=1):
        await store.accept(
            new_message(f"m{n}", created=created, callback_url="https://x.example/cb")
        )
    [claimed] = await store.claim_queued("safaricom", 1, at(40), "smsc-a")  # m1: on the wire
    assert claimed.id == "m1"
    assert await store.expire_queued(at(25), EXPIRED, at(50)) == ["m2", "m3"]
    for message_id in ("m2", "m3"):
        message = await store.get_message(message_id)
        assert (message.status, message.description) == (MessageStatus.FAILED, EXPIRED)
        assert message.dispatch is DispatchState.DONE
        assert [e.status for e in message.timeline] == [
            MessageStatus.INITIATED,
            MessageStatus.FAILED,
        ]
        [job] = await store.list_callbacks(message_id)
        assert (job.status, job.description) == (MessageStatus.FAILED, EXPIRED)
    assert (await store.get_message("m1")).dispatch is DispatchState.SUBMITTING
    assert (await store.get_message("m4")).status is MessageStatus.INITIATED
    assert await store.queue_depth() == 1  # m4
    assert await store.expire_queued(at(25), EXPIRED, at(60)) == []  # nothing twice


async def test_the_limit_takes_the_oldest_and_the_rest_waits(store: Store) -> None:
    await seed(store, units=10)
    for n in range(1, 6):
        await store.accept(new_message(f"m{n}", created=n))
    assert await store.expire_queued(at(100), EXPIRED, at(100), limit=2) == ["m1", "m2"]
    assert await store.expire_queued(at(100), EXPIRED, at(100), limit=2) == ["m3", "m4"]
    assert await store.expire_queued(at(100), EXPIRED, at(100), limit=2) == ["m5"]


async def test_an_expired_message_is_refunded_under_network_rejected(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    assert await store.balance("snd1") == 3
    assert await store.expire_queued(at(10), EXPIRED, at(10)) == ["m1"]
    assert await store.balance("snd1") == 5
    assert await store.ledger_sum("snd1") == 5


async def test_a_message_requeued_after_a_part_was_sent_expires_too(store: Store) -> None:
    await seed(store, units=10)
    await store.accept(new_message("m1", units=2, parts=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.record_submit("m1", 1, "smsc-a", "q1", at(2))
    await store.requeue("m1", at(3))
    assert await store.expire_queued(at(10), EXPIRED, at(10)) == ["m1"]
    assert (await store.get_message("m1")).status is MessageStatus.FAILED


async def test_a_message_once_in_doubt_expires_without_a_refund(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory(refund_policy=RefundPolicy.NETWORK_REJECTED)
    await seed(store, units=5)
    await store.accept(new_message("m1", units=2))
    await store.claim_queued("safaricom", 1, at(1), "smsc-a")
    await store.requeue("m1", at(2), in_doubt=True)  # no answer: the SMSC may have it
    assert await store.expire_queued(at(10), EXPIRED, at(10)) == ["m1"]
    assert (await store.get_message("m1")).status is MessageStatus.FAILED
    assert await store.balance("snd1") == 3
