"""A store write that fails after the SMSC answered: retried, else the message is queued again
in doubt; and the sweeper's orphan pass for messages no dispatcher has in flight any more."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest

from gatewayd.service.model import DispatchState, MessageStatus, SenderType
from gatewayd.workers.dispatcher import Dispatcher, DispatchTuning, SmscProfile
from gatewayd.workers.sweeper import EXPIRE_BATCH, Sweeper, expired_description
from tests.gatewayd.test_dispatcher_world import Bench, FakePool, bench, running_dispatcher

PROFILE = SmscProfile("safaricom-1", "safaricom")
FAST = DispatchTuning(idle_poll=0.01, requeue_delay=0.0, write_attempts=3, write_backoff=0.0)


@pytest.fixture(autouse=True, params=["callbacks", "tasks"])
def pool_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: the first write tried from a callback (`send_now`), and every
    message in a task of its own (`submit`)."""
    if request.param == "tasks":
        monkeypatch.setattr(FakePool, "send_now", lambda _self, _parts, _answered: False)
    return str(request.param)


def fail_record_submit(b: Bench, times: int) -> list[int]:
    """Make the next `times` record_submit calls raise; the list counts every call."""
    real = b.store.record_submit
    calls: list[int] = []

    async def flaky(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise ConnectionError("connection to the database lost")
        await real(*args, **kwargs)  # type: ignore[arg-type]

    b.store.record_submit = flaky  # type: ignore[method-assign]
    return calls


def running(b: Bench, pool: FakePool) -> AbstractAsyncContextManager[Dispatcher]:
    return running_dispatcher(b, pool, PROFILE, FAST)


async def until_sent(b: Bench, message_id: str) -> None:
    async with asyncio.timeout(2):
        while (await b.store.get_message(message_id)).status is not MessageStatus.SENT:
            await asyncio.sleep(0.005)  # the memory store has no change events


def in_doubt_metric(b: Bench) -> float:
    value: float = b.metrics.in_doubt.labels("resend")._value.get()
    return value


async def test_a_write_that_fails_twice_is_retried_and_lands() -> None:
    b = await bench()
    message = await b.accept()
    calls = fail_record_submit(b, times=2)
    pool = FakePool()
    async with running(b, pool):
        await until_sent(b, message.id)
    stored = await b.store.get_message(message.id)
    assert (len(calls), len(pool.requests), stored.in_doubt) == (3, 1, 0)
    assert in_doubt_metric(b) == 0


async def test_a_write_that_keeps_failing_requeues_in_doubt_and_the_resend_lands() -> None:
    b = await bench()
    message = await b.accept()
    calls = fail_record_submit(b, times=3)  # every try of the first answer
    pool = FakePool()
    async with running(b, pool):
        await until_sent(b, message.id)
    stored = await b.store.get_message(message.id)
    assert len(pool.requests) == 2  # the SMSC got it twice: counted, marked, reported
    assert (len(calls), stored.in_doubt, stored.attempts) == (4, 1, 2)
    assert any("could not be stored" in e.description for e in stored.timeline)
    assert in_doubt_metric(b) == 1


async def test_a_failure_before_any_pdu_is_requeued_without_doubt() -> None:
    b = await bench()
    message = await b.accept()
    failures = [RuntimeError("sender lookup failed")]

    async def kind(_sender_id: str) -> object:
        if failures:
            raise failures.pop()
        return SenderType.ALPHANUMERIC

    pool = FakePool()
    dispatcher = Dispatcher(
        b.store, pool, PROFILE, b.metrics, b.clock.now, tuning=FAST,
        sender_type=kind,  # type: ignore[arg-type]
    )  # fmt: skip
    task = asyncio.create_task(dispatcher.run())
    try:
        await until_sent(b, message.id)
    finally:
        dispatcher.stop_claiming()
        await asyncio.wait_for(task, 2)
    stored = await b.store.get_message(message.id)
    assert (stored.in_doubt, stored.attempts, len(pool.requests)) == (0, 2, 1)


class Held:
    """A dispatcher stand-in holding a fixed set of message ids in flight."""

    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)

    def has_in_flight(self, message_id: str) -> bool:
        return message_id in self.ids


async def test_orphan_pass_requeues_only_what_no_dispatcher_holds() -> None:
    b = await bench()
    lost, held, other_smsc, fresh = [await b.accept(f"m{n}") for n in range(4)]
    await b.store.claim_queued("safaricom", 2, b.clock.now(), "safaricom-1")  # lost, held
    await b.store.claim_queued("safaricom", 1, b.clock.now(), "safaricom-2")  # other_smsc
    b.clock.advance(120)
    await b.store.claim_queued("safaricom", 1, b.clock.now(), "safaricom-1")  # fresh: in grace
    dispatchers = {"safaricom-1": Held(held.id)}
    sweeper = Sweeper(
        b.store, b.clock.now, dispatchers=lambda: dispatchers,
        orphan_grace=timedelta(seconds=60), metrics=b.metrics,
    )  # fmt: skip
    assert await sweeper.requeue_orphans() == [lost.id]
    states = {m.id: (await b.store.get_message(m.id)) for m in (lost, held, other_smsc, fresh)}
    assert (states[lost.id].dispatch, states[lost.id].in_doubt) == (DispatchState.QUEUED, 1)
    for kept in (held, other_smsc, fresh):
        assert states[kept.id].dispatch is DispatchState.SUBMITTING
        assert states[kept.id].in_doubt == 0
    assert in_doubt_metric(b) == 1
    assert await sweeper.requeue_orphans() == []


async def test_a_message_in_a_task_does_not_hold_up_the_next_ones(pool_mode: str) -> None:
    """While one message's answer waits in a task for its write to be retried, the next
    message is sent (without a task where the pool has room) and recorded."""
    b = await bench()
    first = await b.accept()
    calls = fail_record_submit(b, times=1)
    pool = FakePool()
    slow_retry = DispatchTuning(idle_poll=0.01, requeue_delay=0.0, write_backoff=0.5)
    dispatcher = Dispatcher(b.store, pool, PROFILE, b.metrics, b.clock.now, tuning=slow_retry)
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(2):
            while not calls:
                await asyncio.sleep(0.005)
        second = await b.accept(contact="254712345679")
        dispatcher.kick()
        await until_sent(b, second.id)
        assert (await b.store.get_message(first.id)).status is not MessageStatus.SENT
        await until_sent(b, first.id)
    finally:
        dispatcher.stop_claiming()
        await asyncio.wait_for(task, 2)
        await dispatcher.cancel_in_flight()
    assert pool.sent_now == (2 if pool_mode == "callbacks" else 0)
    assert len(pool.requests) == 2


async def test_the_sweeper_expires_what_waited_past_queue_expiry_in_batches() -> None:
    b = await bench()
    old = [await b.accept(f"old {n}") for n in range(EXPIRE_BATCH + 2)]  # two writes' worth
    b.clock.advance(3_600)
    young = await b.accept("young")
    sweeper = Sweeper(b.store, b.clock.now, queue_expiry=timedelta(minutes=30), metrics=b.metrics)
    assert await sweeper.expire_queue() == [m.id for m in old]
    failed = await b.store.get_message(old[0].id)
    assert (failed.status, failed.description) == (
        MessageStatus.FAILED, "Expired: not sent within 30 minutes",
    )  # fmt: skip
    assert (await b.store.get_message(young.id)).status is MessageStatus.INITIATED
    assert await sweeper.expire_queue() == []
    assert b.metrics.registry.get_sample_value("gatewayd_messages_expired_total") == len(old)
    b.clock.advance(3_600)
    assert await Sweeper(b.store, b.clock.now).expire_queue() == []  # no queue_expiry: none


def test_expired_descriptions_name_the_span() -> None:
    assert expired_description(timedelta(hours=24)) == "Expired: not sent within 24 hours"
    assert expired_description(timedelta(minutes=90)) == "Expired: not sent within 90 minutes"
    assert expired_description(timedelta(seconds=90)) == "Expired: not sent within 90 seconds"
    assert expired_description(timedelta(seconds=45)) == "Expired: not sent within 45 seconds"
    assert expired_description(timedelta(hours=1)) == "Expired: not sent within 1 hour"
