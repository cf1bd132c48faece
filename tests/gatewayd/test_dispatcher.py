"""The dispatcher against the memory store and a fake pool: claims, parts, answers."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from gatewayd.service.model import DispatchState, MessageStatus, PartStatus, SenderType
from gatewayd.workers.binds import SubmitOutcome, SubmitRequest, SubmitResult
from gatewayd.workers.dispatcher import Dispatcher, DispatchTuning, SmscProfile
from smpp.core.msgid import MessageIdFormat
from smpp.core.text import ESM_CLASS_UDHI, LongMessageMethod
from tests.gatewayd.test_dispatcher_world import Bench, FakePool, bench, running_dispatcher

PROFILE = SmscProfile("safaricom-1", "safaricom", id_format=MessageIdFormat.HEX)
FAST = DispatchTuning(idle_poll=0.01, requeue_delay=0.0)


@pytest.fixture(autouse=True, params=["callbacks", "tasks"])
def pool_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: messages sent from callbacks where the pool has room (`send_now`),
    and every message in a task of its own (`submit`)."""
    if request.param == "tasks":
        monkeypatch.setattr(FakePool, "send_now", lambda _self, _parts, _answered: False)
    return str(request.param)


def running(
    b: Bench, pool: FakePool, profile: SmscProfile = PROFILE
) -> contextlib.AbstractAsyncContextManager[Dispatcher]:
    return running_dispatcher(b, pool, profile, FAST)


async def until(predicate: object, what: str, timeout: float = 2.0) -> None:
    """Poll a store condition (the memory store has no change events); bounded."""
    async with asyncio.timeout(timeout):
        while not await predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def status_is(b: Bench, message_id: str, status: MessageStatus) -> None:
    async def check() -> bool:
        return (await b.store.get_message(message_id)).status is status

    await until(check, f"{message_id} {status}")


async def test_message_is_sent_with_its_receipt_key_normalised(pool_mode: str) -> None:
    b = await bench()
    message = await b.accept()
    pool = FakePool()
    async with running(b, pool):
        await status_is(b, message.id, MessageStatus.SENT)
    assert pool.sent_now == (1 if pool_mode == "callbacks" else 0)
    stored = await b.store.get_message(message.id)
    assert stored.dispatch is DispatchState.DONE
    assert stored.part_list[0].smsc == "safaricom-1"
    assert stored.part_list[0].smsc_message_id == "3b9aca00"  # "3B9ACA00" in hex, normalised
    [request] = pool.requests
    assert request.destination_addr == "254712345678"
    assert (request.source_addr, request.source_ton, request.source_npi) == ("KIMISMS", 5, 0)
    assert (request.dest_ton, request.dest_npi, request.registered_delivery) == (1, 1, 1)
    assert request.short_message == b"Your OTP is 482910"


async def test_a_claimed_batch_is_handed_to_the_pool_under_one_hold(pool_mode: str) -> None:
    """The pool writes a claim's submits together (one socket write, not one per message)."""
    b = await bench()
    messages = [await b.accept() for _ in range(5)]
    pool = FakePool()
    async with running(b, pool):
        for message in messages:
            await status_is(b, message.id, MessageStatus.SENT)
    if pool_mode == "callbacks":
        assert pool.sent_held == [True] * 5
    assert pool.holding == 0


async def test_three_part_ucs2_message_goes_out_in_order_with_udh() -> None:
    b = await bench()
    text = "Habari 😀 " * 20  # UCS-2: 200 code units → 3 parts of ≤ 67
    message = await b.accept(text)
    assert message.parts == 3
    pool = FakePool()
    async with running(b, pool):
        await status_is(b, message.id, MessageStatus.SENT)
    assert [r.data_coding for r in pool.requests] == [8, 8, 8]
    assert all(r.esm_class & ESM_CLASS_UDHI for r in pool.requests)
    headers = [r.short_message[:6] for r in pool.requests]
    assert [h[4:] for h in headers] == [bytes((3, 1)), bytes((3, 2)), bytes((3, 3))]
    assert len({h[3] for h in headers}) == 1  # one reference for the three parts
    body = b"".join(r.short_message[6:] for r in pool.requests)
    assert body.decode("utf-16-be") == text
    stored = await b.store.get_message(message.id)
    assert [p.status for p in stored.part_list] == [PartStatus.SENT] * 3


async def test_sar_smsc_gets_tlvs_and_no_udh() -> None:
    b = await bench()
    message = await b.accept("x" * 300)  # 2 parts at 153 and at 152
    pool = FakePool()
    profile = SmscProfile("safaricom-1", "safaricom", long_message=LongMessageMethod.SAR)
    async with running(b, pool, profile):
        await status_is(b, message.id, MessageStatus.SENT)
    assert [r.esm_class for r in pool.requests] == [0, 0]
    assert [r.tlvs[0x020F] for r in pool.requests] == [b"\x01", b"\x02"]


async def test_permanent_error_fails_the_message_and_skips_the_rest() -> None:
    b = await bench()
    message = await b.accept("y" * 400)  # 3 parts

    def reject_first(request: SubmitRequest, n: int) -> SubmitResult:
        return SubmitResult(SubmitOutcome.REJECTED, command_status=0x0B, reason="Invalid number")

    pool = FakePool(responder=reject_first)
    async with running(b, pool):
        await status_is(b, message.id, MessageStatus.FAILED)
    stored = await b.store.get_message(message.id)
    assert len(pool.requests) == 1
    assert stored.description == "Invalid number"
    assert [p.status for p in stored.part_list] == [PartStatus.FAILED] * 3
    assert await b.store.balance("s-saf") == 1000 - message.units  # no refund by default


async def test_not_sent_is_queued_again_then_sent() -> None:
    b = await bench()
    message = await b.accept()
    answers = iter([SubmitResult(SubmitOutcome.NOT_SENT, reason="throttled")])

    def throttle_once(request: SubmitRequest, n: int) -> SubmitResult:
        return next(answers, SubmitResult(SubmitOutcome.ACCEPTED, message_id="77"))

    pool = FakePool(responder=throttle_once)
    async with running(b, pool):
        await status_is(b, message.id, MessageStatus.SENT)
    stored = await b.store.get_message(message.id)
    assert len(pool.requests) == 2
    assert stored.attempts == 2
    submits = {"smsc": "safaricom-1", "outcome": "not_sent"}
    assert b.metrics.registry.get_sample_value("gatewayd_smpp_submits_total", submits) == 1


async def test_higher_priority_first_then_oldest() -> None:
    b = await bench()
    low = await b.accept("low")
    old = await b.accept("old high", priority=5)
    new = await b.accept("new high", priority=5)
    pool = FakePool(window=1)
    async with running(b, pool):
        await status_is(b, low.id, MessageStatus.SENT)
    assert [r.short_message for r in pool.requests] == [b"old high", b"new high", b"low"]
    assert {old.id, new.id}


async def test_never_more_in_flight_than_the_window() -> None:
    b = await bench()
    messages = [await b.accept(f"m{i}") for i in range(25)]
    gate = asyncio.Event()
    pool = FakePool(window=4, gate=gate)
    async with running(b, pool) as dispatcher:
        async with asyncio.timeout(2):
            while pool.in_flight < 4:
                await asyncio.sleep(0.005)
        assert dispatcher.in_flight == 4
        gate.set()
        await status_is(b, messages[-1].id, MessageStatus.SENT)
    assert pool.max_in_flight == 4
    assert len(pool.requests) == 25


async def test_no_bind_claims_nothing_until_one_comes_up() -> None:
    b = await bench()
    message = await b.accept()
    pool = FakePool(bound=False)
    async with running(b, pool):
        await asyncio.sleep(0.05)  # a few idle polls' worth: nothing may be claimed meanwhile
        assert (await b.store.get_message(message.id)).dispatch is DispatchState.QUEUED
        pool.bring_up()
        await status_is(b, message.id, MessageStatus.SENT)


async def test_unanswered_while_stopping_stays_submitting() -> None:
    b = await bench()
    message = await b.accept()
    gate = asyncio.Event()

    def unanswered(request: SubmitRequest, n: int) -> SubmitResult:
        return SubmitResult(SubmitOutcome.UNANSWERED, reason="no response")

    pool = FakePool(responder=unanswered, gate=gate)
    dispatcher = Dispatcher(b.store, pool, PROFILE, b.metrics, b.clock.now, tuning=FAST)
    task = asyncio.create_task(dispatcher.run())
    async with asyncio.timeout(2):
        while not pool.in_flight:
            await asyncio.sleep(0.005)
    dispatcher.stop_claiming()
    await task
    gate.set()
    await asyncio.wait_for(dispatcher.wait_idle(), 2)
    stored = await b.store.get_message(message.id)
    assert stored.dispatch is DispatchState.SUBMITTING
    recovered = await b.store.recover_in_doubt(b.clock.now())
    assert [m.id for m in recovered] == [message.id]


async def test_cancel_in_flight_abandons_what_was_never_answered(pool_mode: str) -> None:
    """A stop that cannot wait leaves the message SUBMITTING (in doubt at the next start),
    whether it was sent from a callback or from a task."""
    b = await bench()
    message = await b.accept()
    pool = FakePool(silent=True)
    dispatcher = Dispatcher(b.store, pool, PROFILE, b.metrics, b.clock.now, tuning=FAST)
    task = asyncio.create_task(dispatcher.run())
    async with asyncio.timeout(2):
        while not pool.in_flight:
            await asyncio.sleep(0.005)
    dispatcher.stop_claiming()
    await task
    assert dispatcher.has_in_flight(message.id)
    await dispatcher.cancel_in_flight()
    await asyncio.wait_for(dispatcher.wait_idle(), 2)
    assert (dispatcher.in_flight, dispatcher.has_in_flight(message.id)) == (0, False)
    assert pool.sent_now == (1 if pool_mode == "callbacks" else 0)
    stored = await b.store.get_message(message.id)
    assert stored.dispatch is DispatchState.SUBMITTING


async def test_a_failing_claim_does_not_end_the_loop() -> None:
    b = await bench()
    message = await b.accept()
    real = b.store.claim_queued
    failures = iter([RuntimeError("database is locked")])

    async def flaky(*args: object, **kwargs: object) -> object:
        error = next(failures, None)
        if error is not None:
            raise error
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    b.store.claim_queued = flaky  # type: ignore[method-assign]
    async with running(b, FakePool()):
        await status_is(b, message.id, MessageStatus.SENT)


async def test_unanswered_while_running_is_queued_again_and_marked() -> None:
    b = await bench()
    message = await b.accept()
    answers = iter([SubmitResult(SubmitOutcome.UNANSWERED, reason="response timeout")])

    def silent_once(request: SubmitRequest, n: int) -> SubmitResult:
        return next(answers, SubmitResult(SubmitOutcome.ACCEPTED, message_id="99"))

    async with running(b, FakePool(responder=silent_once)):
        await status_is(b, message.id, MessageStatus.SENT)
    stored = await b.store.get_message(message.id)
    assert any("may get it twice" in e.description for e in stored.timeline)
    assert stored.attempts == 2


async def test_unanswered_while_running_is_counted_in_doubt() -> None:
    b = await bench()
    message = await b.accept()
    answers = iter([SubmitResult(SubmitOutcome.UNANSWERED, reason="response timeout")])

    def silent_once(request: SubmitRequest, n: int) -> SubmitResult:
        return next(answers, SubmitResult(SubmitOutcome.ACCEPTED, message_id="99"))

    async with running(b, FakePool(responder=silent_once)):
        await status_is(b, message.id, MessageStatus.SENT)
    assert (await b.store.get_message(message.id)).in_doubt == 1
    assert b.metrics.in_doubt.labels("resend")._value.get() == 1


async def test_parts_sent_after_a_requeue_keep_the_reference_of_the_earlier_ones() -> None:
    b = await bench()
    message = await b.accept("z" * 300)  # 2 parts
    answers = iter(
        [
            SubmitResult(SubmitOutcome.ACCEPTED, message_id="1"),
            SubmitResult(SubmitOutcome.NOT_SENT, reason="bind lost"),
        ]
    )

    def second_part_lost_once(request: SubmitRequest, n: int) -> SubmitResult:
        return next(answers, SubmitResult(SubmitOutcome.ACCEPTED, message_id=str(n + 1)))

    pool = FakePool(responder=second_part_lost_once)
    async with running(b, pool):
        await status_is(b, message.id, MessageStatus.SENT)
    headers = [r.short_message[:6] for r in pool.requests]
    assert [h[5] for h in headers] == [1, 2, 2]  # part 1 once, part 2 lost then sent again
    assert len({h[3] for h in headers}) == 1  # one reference across both attempts


async def test_a_senders_type_is_looked_up_once(pool_mode: str) -> None:
    """The first message of a sender waits for the lookup (in a task); the next ones are sent
    with the type remembered, without a task where the pool has room."""
    b = await bench()
    lookups: list[str] = []

    async def kind(sender_id: str) -> SenderType:
        lookups.append(sender_id)
        return (await b.store.get_sender(sender_id)).type

    first = await b.accept()
    pool = FakePool()
    dispatcher = Dispatcher(
        b.store, pool, PROFILE, b.metrics, b.clock.now, tuning=FAST, sender_type=kind
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        await status_is(b, first.id, MessageStatus.SENT)
        later = [await b.accept(contact=f"25471234567{i}") for i in range(3)]
        dispatcher.kick()
        for message in later:
            await status_is(b, message.id, MessageStatus.SENT)
        await asyncio.wait_for(dispatcher.wait_idle(), 2)
    finally:
        dispatcher.stop_claiming()
        await asyncio.wait_for(task, 2)
    assert lookups == ["s-saf"]
    assert pool.sent_now == (3 if pool_mode == "callbacks" else 0)
    assert dispatcher.in_flight == 0
    assert [r.source_ton for r in pool.requests] == [5, 5, 5, 5]
