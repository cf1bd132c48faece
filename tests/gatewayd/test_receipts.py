"""deliver_sm handling: receipts through the state machine (parked when early), MO kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gatewayd.service.model import CampaignType, InboundMessage, MessageStatus, SenderType
from gatewayd.service.optouts import Action, Outcome
from gatewayd.workers.receipts import ReceiptHandler, ReceiptSource
from smpp.core.msgid import MessageIdFormat
from smpp.core.text import LongMessageMethod, plan_message
from tests.gatewayd.test_dispatcher_world import Bench, Deliver, bench, receipt_text

SMSC = "safaricom-1"
# Safaricom-like: hex in submit_sm_resp, decimal in the receipt text.
SOURCE = ReceiptSource(SMSC, "safaricom", MessageIdFormat.RESP_HEX_RECEIPT_DECIMAL)


def receipts(b: Bench, status: str, outcome: str) -> float | None:
    """gatewayd_receipts_total{smsc, status, outcome} as /metrics shows it."""
    labels = {"smsc": SMSC, "status": status, "outcome": outcome}
    return b.metrics.registry.get_sample_value("gatewayd_receipts_total", labels)


def lag_sum(b: Bench) -> float:
    return (
        b.metrics.registry.get_sample_value("gatewayd_receipt_lag_seconds_sum", {"smsc": SMSC})
        or 0.0
    )


def handler(b: Bench) -> ReceiptHandler:
    return ReceiptHandler(b.store, SOURCE, b.metrics, b.clock.now)


async def sent(b: Bench, text: str = "hello", smsc_id: str = "3b9aca00") -> str:
    message = await b.accept(text)
    await b.store.claim_queued("safaricom", 10, b.clock.now(), SMSC)
    await b.store.record_submit(message.id, 1, SMSC, smsc_id, b.clock.now())
    return message.id


async def test_receipt_delivers_the_message_across_id_bases() -> None:
    b = await bench()
    message_id = await sent(b)
    b.clock.advance(2)
    await handler(b).handle(Deliver(receipt_text(str(0x3B9ACA00))))
    stored = await b.store.get_message(message_id)
    assert stored.status is MessageStatus.DELIVERED
    assert stored.timeline[-1].description == "Message delivered to handset"
    assert receipts(b, "DELIVERED", "applied") == 1
    assert lag_sum(b) >= 2


async def test_undeliv_fails_with_the_network_words() -> None:
    b = await bench()
    message_id = await sent(b)
    await handler(b).handle(Deliver(receipt_text(str(0x3B9ACA00), "UNDELIV", "001")))
    stored = await b.store.get_message(message_id)
    assert stored.status is MessageStatus.FAILED
    assert stored.description == "Not delivered: UNDELIV (error 001)"


async def test_receipt_before_resp_is_parked_then_matched() -> None:
    b = await bench()
    message = await b.accept("early")
    await b.store.claim_queued("safaricom", 10, b.clock.now(), SMSC)
    await handler(b).handle(Deliver(receipt_text("1000000000")))
    assert receipts(b, "DELIVERED", "parked") == 1
    await b.store.record_submit(message.id, 1, SMSC, "3b9aca00", b.clock.now())
    assert (await b.store.get_message(message.id)).status is MessageStatus.DELIVERED


async def test_repeated_receipt_changes_nothing() -> None:
    b = await bench()
    message_id = await sent(b)
    h = handler(b)
    await h.handle(Deliver(receipt_text("1000000000")))
    await h.handle(Deliver(receipt_text("1000000000", "UNDELIV")))
    await h.handle(Deliver(receipt_text("1000000000")))
    assert (await b.store.get_message(message_id)).status is MessageStatus.DELIVERED
    assert receipts(b, "DELIVERED", "duplicate") == 1
    assert receipts(b, "FAILED", "stale") == 1


async def test_intermediate_receipt_is_acknowledged_and_ignored() -> None:
    b = await bench()
    message_id = await sent(b)
    await handler(b).handle(Deliver(receipt_text("1000000000", "ENROUTE")))
    assert (await b.store.get_message(message_id)).status is MessageStatus.SENT
    assert receipts(b, "none", "intermediate") == 1


async def test_mo_is_kept_as_inbound() -> None:
    b = await bench()
    await handler(b).handle(Deliver(b"STOP", esm_class=0, destination_addr="20880"))
    [inbound] = b.store._inbound.values()
    assert (inbound.text, inbound.source, inbound.destination) == ("STOP", "254712345678", "20880")
    assert inbound.smsc == SMSC


async def test_long_mo_is_kept_once_when_every_part_arrived() -> None:
    b = await bench()
    text = "Nataka kujua salio langu " * 10
    plan = plan_message(text, LongMessageMethod.UDH8, 7)
    h = handler(b)
    for part in reversed(plan.parts):
        assert not b.store._inbound
        await h.handle(
            Deliver(part.short_message, esm_class=part.esm_class_flags, destination_addr="20880")
        )
    [inbound] = b.store._inbound.values()
    assert inbound.text == text


async def test_a_long_mo_survives_a_restart_between_its_parts() -> None:
    """Each part is kept before it is acknowledged: a handler started afresh (a restart)
    finishes the message from what the store kept, and the parts are dropped with it."""
    b = await bench()
    text = "Habari ya asubuhi, nataka kujua bei ya vifurushi vyenu vipya " * 7
    first, *rest = plan_message(text, LongMessageMethod.UDH8, 9).parts
    assert len(rest) == 2
    await handler(b).handle(
        Deliver(first.short_message, esm_class=first.esm_class_flags, destination_addr="20880")
    )
    again = handler(b)  # nothing of the first handler's memory
    for part in [rest[0], rest[0], rest[1]]:  # the SMSC repeats a part too
        await again.handle(
            Deliver(part.short_message, esm_class=part.esm_class_flags, destination_addr="20880")
        )
    [inbound] = b.store._inbound.values()
    assert inbound.text == text
    assert b.store._mo_parts == {}
    assert await again.recover_mo() == 0


async def test_a_whole_long_mo_left_unrecorded_by_a_stop_is_recorded_at_start() -> None:
    b = await bench()
    text = "Tafadhali nitumie taarifa za akaunti yangu ya mwezi huu " * 4
    plan = plan_message(text, LongMessageMethod.UDH16, 0x1234)
    h = handler(b)
    real = b.store.record_inbound

    async def stopped(*args: object, **kwargs: object) -> None:
        raise ConnectionError("stopped between the last part and its record")

    b.store.record_inbound = stopped  # type: ignore[method-assign,assignment]
    for part in plan.parts[:-1]:
        await h.handle(Deliver(part.short_message, esm_class=part.esm_class_flags))
    last = plan.parts[-1]
    with pytest.raises(ConnectionError):  # no ack: the SMSC may send it again (kept once)
        await h.handle(Deliver(last.short_message, esm_class=last.esm_class_flags))
    b.store.record_inbound = real  # type: ignore[method-assign]
    assert not b.store._inbound
    assert await handler(b).recover_mo() == 1
    [inbound] = b.store._inbound.values()
    assert inbound.text == text
    assert await handler(b).recover_mo() == 0


async def test_the_last_part_repeated_while_its_message_is_recorded_records_it_once() -> None:
    b = await bench()
    text = "Nimepokea ujumbe wako, asante sana kwa huduma nzuri " * 4
    *head, last = plan_message(text, LongMessageMethod.UDH8, 3).parts
    h = handler(b)
    for part in head:
        await h.handle(Deliver(part.short_message, esm_class=part.esm_class_flags))
    real = b.store.record_inbound
    gate = asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()  # the first record is under way when the repeat comes
        return await real(*args, **kwargs)

    b.store.record_inbound = slow  # type: ignore[method-assign]
    last_pdu = Deliver(last.short_message, esm_class=last.esm_class_flags)
    first = asyncio.create_task(h.handle(last_pdu))
    await asyncio.sleep(0)  # the first is now waiting inside its record
    repeat = asyncio.create_task(h.handle(last_pdu))  # kept once, acknowledged, not recorded
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, repeat)
    [inbound] = b.store._inbound.values()
    assert inbound.text == text


class KeywordSpy:
    """Records the MO messages handed to the opt-out keywords."""

    def __init__(self) -> None:
        self.seen: list[InboundMessage] = []

    async def handle_keyword(self, inbound: InboundMessage) -> Outcome:
        self.seen.append(inbound)
        return Outcome(Action.NOT_A_KEYWORD, inbound.source)


async def test_a_flagged_receipt_without_an_id_is_counted_not_kept_as_mo() -> None:
    b = await bench()
    spy = KeywordSpy()
    h = ReceiptHandler(b.store, SOURCE, b.metrics, b.clock.now, keywords=spy)
    await h.handle(Deliver(b"STOP", esm_class=0x04, destination_addr="20880"))
    await h.handle(Deliver(b"stat:DELIVRD err:000", esm_class=0x04))
    start = Deliver(b"START", esm_class=0, destination_addr="20880")
    await h.handle_parsed(start, None, None, flagged=True)  # as the pool read it
    assert not b.store._inbound and spy.seen == []
    assert receipts(b, "none", "unreadable") == 3
    assert b.metrics.inbound.labels(SMSC)._value.get() == 0


async def test_mo_to_a_short_code_two_accounts_hold_is_kept_unowned() -> None:
    b = await bench()
    await b.store.create_account("other", "OTHER", b.clock.now())
    for sender_id, account in (("s-own", "acc"), ("s-twin", "other")):
        await b.store.create_sender(
            sender_id, account, "20880", "safaricom", SenderType.SHORTCODE,
            CampaignType.TRANSACTIONAL, b.clock.now(),
        )  # fmt: skip
    await b.store.create_sender(
        "s-air", "other", "20990", "airtel", SenderType.SHORTCODE,
        CampaignType.TRANSACTIONAL, b.clock.now(),
    )  # fmt: skip
    await b.store.create_sender(
        "s-mine", "acc", "20990", "safaricom", SenderType.SHORTCODE,
        CampaignType.TRANSACTIONAL, b.clock.now(),
    )  # fmt: skip
    receive = handler(b)
    await receive.handle(Deliver(b"STOP", esm_class=0, destination_addr="20880"))
    await receive.handle(Deliver(b"HELLO", esm_class=0, destination_addr="20990"))
    owners = {m.destination: (m.account_id, m.sender_id) for m in b.store._inbound.values()}
    assert owners["20880"] == (None, None)  # ambiguous: neither account gets it
    assert owners["20990"] == ("acc", "s-mine")  # the Airtel twin is another short code


async def _deliver_whole(h: ReceiptHandler, text: str, reference: int) -> None:
    for part in plan_message(text, LongMessageMethod.UDH8, reference).parts:
        await h.handle(
            Deliver(part.short_message, esm_class=part.esm_class_flags, destination_addr="20880")
        )


async def test_a_long_mo_delivered_whole_again_is_recorded_once() -> None:
    """The SMSC got none of the acks (the link dropped before they went out) and delivers
    every part again after the message was recorded and its parts dropped."""
    b = await bench()
    text = "Naomba msaada kuhusu malipo ya bili yangu ya mwezi uliopita " * 4
    h = handler(b)
    await _deliver_whole(h, text, 21)
    b.clock.advance(90)
    await _deliver_whole(handler(b), text, 21)
    [inbound] = b.store._inbound.values()
    assert inbound.text == text
    assert b.store._mo_parts == {}  # the repeat's parts went too


async def test_another_long_mo_of_the_same_text_is_another_message() -> None:
    b = await bench()
    text = "Naomba msaada kuhusu malipo ya bili yangu ya mwezi uliopita " * 4
    h = handler(b)
    await _deliver_whole(h, text, 21)
    await _deliver_whole(h, text, 22)  # the handset's next reference: sent again on purpose
    b.clock.advance(86_400)
    await _deliver_whole(h, text, 21)  # the same reference a day later
    assert len(b.store._inbound) == 3
