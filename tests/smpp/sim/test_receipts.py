"""Delivery receipts: both forms, id formats, options, routing to receivers, retries."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

from smpp.core.msgid import MessageIdFormat, same_message_id
from smpp.core.pdu import DeliverSm, DeliverSmResp, EnquireLink, SubmitSm
from smpp.core.receipt import MessageState, parse_receipt
from smpp.core.status import CommandStatus as St
from smpp.core.text import LongMessageMethod, plan_message
from smpp.core.tlv import Tag
from smpp.sim.config import IdFormat, Latency, ReceiptPolicy
from smpp.sim.delivery import snippet
from tests.smpp.sim.conftest import Connect, StartSim


async def test_receipt_carries_tlvs_and_text(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(delay_max=0.01))
    client = await esme(sim)
    await client.bind()
    resp = await client.submit_one(text=b"Your code is 1234, valid for 5 minutes")
    (dlr,) = await client.wait_delivers(1)
    assert dlr.esm_class == 0x04
    assert (dlr.source_addr, dlr.destination_addr) == ("254712345678", "KIMISMS")
    assert dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID] == resp.message_id.encode() + b"\0"
    assert dlr.tlvs[Tag.MESSAGE_STATE] == b"\x02"
    assert dlr.tlvs[Tag.NETWORK_ERROR_CODE] == b"\x03\x00\x00"
    text = dlr.short_message.decode()
    assert text.startswith(f"id:{resp.message_id} sub:001 dlvrd:001 submit date:")
    assert " stat:DELIVRD err:000 text:Your code is 1234, v" in text
    from_text = parse_receipt(dlr.short_message, {}, dlr.esm_class)
    assert from_text is not None
    assert from_text.state == MessageState.DELIVERED
    assert from_text.submit_date is not None and from_text.done_date is not None
    await sim.wait_for_receipts_acked(1, timeout=2)
    assert sim.records().receipts_sent == 1


async def test_receipt_id_format_differs_from_resp(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(
        message_id_format=IdFormat.HEX,
        receipts=ReceiptPolicy(id_format=IdFormat.DECIMAL, delay_max=0.0),
    )
    client = await esme(sim)
    await client.bind()
    resp = await client.submit_one()
    (dlr,) = await client.wait_delivers(1)
    receipt = parse_receipt(dlr.short_message, dlr.tlvs, dlr.esm_class)
    assert receipt is not None
    assert resp.message_id == "3b9aca00"
    assert receipt.message_id == "1000000000"
    assert same_message_id(
        resp.message_id,
        receipt.message_id,
        MessageIdFormat.RESP_HEX_RECEIPT_DECIMAL,
    )


async def test_state_mix_is_seeded(start_sim: StartSim, esme: Connect) -> None:
    mix = MappingProxyType({"DELIVRD": 1.0, "UNDELIV": 1.0, "EXPIRED": 1.0, "REJECTD": 1.0})

    async def states(seed: int) -> list[str]:
        sim = await start_sim(seed=seed, receipts=ReceiptPolicy(mix=mix, delay_max=0.0))
        client = await esme(sim)
        await client.bind()
        await asyncio.wait_for(asyncio.gather(*(client.submit() for _ in range(40))), 5)
        dlrs = await client.wait_delivers(40)
        parsed = [parse_receipt(d.short_message, d.tlvs, d.esm_class) for d in dlrs]
        return [p.stat or "" for p in parsed if p is not None]

    first, again = await states(3), await states(3)
    assert first == again
    assert set(first) == {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"}


async def test_failure_only_receipts(start_sim: StartSim, esme: Connect) -> None:
    mix = MappingProxyType({"DELIVRD": 1.0, "UNDELIV": 1.0})
    sim = await start_sim(receipts=ReceiptPolicy(mix=mix, delay_max=0.0))
    client = await esme(sim)
    await client.bind()
    await asyncio.wait_for(
        asyncio.gather(*(client.submit(registered_delivery=2) for _ in range(30))), 5
    )
    await sim.wait_until(lambda: sim.smsc().unacked == 0, 5, "receipts settled")
    states = {d.tlvs[Tag.MESSAGE_STATE] for d in client.delivers}
    assert states == {b"\x05"}
    assert 0 < len(client.delivers) < 30


async def test_receipt_before_resp_on_transceiver(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(latency=Latency(fixed=0.05), receipts=ReceiptPolicy(before_resp=1.0))
    client = await esme(sim)
    await client.bind()
    resp = await client.submit_one()
    assert client.order[-2:] == ["DeliverSm", "SubmitSmResp"]
    receipt = parse_receipt(client.delivers[0].short_message, client.delivers[0].tlvs, 4)
    assert receipt is not None and receipt.message_id == resp.message_id


async def test_receipts_go_to_the_receiver_bind(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(delay_max=0.0))
    tx = await esme(sim)
    await tx.bind("tx")
    await tx.submit_one()
    await sim.wait_until(lambda: sim.smsc().unacked == 1, 2, "a receipt waiting")
    assert not tx.delivers  # no receiver yet: the receipt waits
    rx = await esme(sim)
    await rx.bind("rx")
    (dlr,) = await rx.wait_delivers(1)
    assert dlr.esm_class == 0x04
    await sim.wait_for_receipts_acked(1, timeout=2)
    assert not tx.delivers


async def test_duplicate_receipts(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(duplicates=1.0, delay_max=0.0))
    client = await esme(sim)
    await client.bind()
    await client.submit_one()
    first, second = await client.wait_delivers(2)
    assert first.short_message == second.short_message
    assert first.sequence_number != second.sequence_number
    await sim.wait_for_receipts_acked(2, timeout=2)
    rec = sim.records()
    assert (rec.receipts_sent, rec.receipts_duplicated) == (1, 1)


async def test_unacked_receipt_is_resent_then_abandoned(start_sim: StartSim, esme: Connect) -> None:
    policy = ReceiptPolicy(delay_max=0.0, ack_timeout=0.05, max_attempts=3)
    sim = await start_sim(receipts=policy)
    client = await esme(sim, auto_ack=False)
    await client.bind()
    await client.submit_one()
    dlrs = await client.wait_delivers(3)
    assert len({d.sequence_number for d in dlrs}) == 3
    await sim.wait_until(lambda: sim.records().receipts_abandoned == 1, 2, "abandoned")
    assert sim.records().receipts_acked == 0
    assert sim.smsc().unacked == 0


async def test_late_ack_after_a_resend_counts_once(start_sim: StartSim, esme: Connect) -> None:
    policy = ReceiptPolicy(delay_max=0.0, ack_timeout=0.05, max_attempts=5)
    sim = await start_sim(receipts=policy)
    client = await esme(sim, auto_ack=False)
    await client.bind()
    await client.submit_one()
    first, second = await client.wait_delivers(2)
    client.send(DeliverSmResp(second.sequence_number))
    await sim.wait_for_receipts_acked(1, timeout=2)
    client.send(DeliverSmResp(first.sequence_number))  # stale: no longer pending
    await client.call(EnquireLink())  # a round trip: the stale ack was read
    assert sim.records().receipts_acked == 1
    assert sim.smsc().unacked == 0
    assert isinstance(first, DeliverSm)


async def test_receipt_requeued_when_bind_is_lost(start_sim: StartSim, esme: Connect) -> None:
    policy = ReceiptPolicy(delay_max=0.0, ack_timeout=5.0)
    sim = await start_sim(receipts=policy)
    first = await esme(sim, auto_ack=False)
    await first.bind()
    await first.submit_one()
    await first.wait_delivers(1)
    first.close()
    await sim.wait_until(lambda: not sim.records().bound, 2, "bind gone")
    second = await esme(sim)
    await second.bind()
    (dlr,) = await second.wait_delivers(1)
    assert dlr.short_message == first.delivers[0].short_message
    await sim.wait_for_receipts_acked(1, timeout=2)


async def test_receipt_before_resp_with_tx_and_rx(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(latency=Latency(fixed=0.8), receipts=ReceiptPolicy(before_resp=1.0))
    rx = await esme(sim)
    await rx.bind("rx")
    tx = await esme(sim)
    await tx.bind("tx")
    pending = tx.submit()
    (dlr,) = await rx.wait_delivers(1, timeout=0.6)  # well before the 0.8 s resp
    assert not pending.done()
    resp = await asyncio.wait_for(pending, 2)
    receipt = parse_receipt(dlr.short_message, dlr.tlvs, dlr.esm_class)
    assert receipt is not None and receipt.message_id == resp.message_id  # type: ignore[attr-defined]


async def test_unacked_receipts_are_kept_and_counted_at_close(
    start_sim: StartSim, esme: Connect
) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(delay_max=0.0, ack_timeout=0.03))
    client = await esme(sim, auto_ack=False)
    await client.bind()
    await client.submit_one()
    await client.wait_delivers(4)  # resent again and again while bound
    assert sim.records().receipts_abandoned == 0
    await sim.close()
    assert sim.records().unacked_at_close == 1


def test_receipt_snippet_from_any_coding() -> None:
    assert (
        snippet(SubmitSm(short_message=b"Hello \x00 world, this is long")) == "Hello ? world, this "
    )
    (ucs2,) = plan_message("Habari 🙂 yako", LongMessageMethod.UDH8).parts
    assert snippet(SubmitSm(data_coding=8, short_message=ucs2.short_message)) == "Habari ? yako"
    payload = SubmitSm(tlvs={0x0424: b"Sent as message payload"})
    assert snippet(payload) == "Sent as message payl"
    first = plan_message("x" * 200, LongMessageMethod.UDH8, 1).parts[0]
    assert snippet(SubmitSm(esm_class=0x40, short_message=first.short_message)) == "x" * 20


async def test_temporary_error_answer_is_resent(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(delay_max=0.0, ack_timeout=0.04))
    client = await esme(sim, auto_ack=False)
    await client.bind()
    await client.submit_one()
    (first,) = await client.wait_delivers(1)
    client.send(DeliverSmResp(first.sequence_number, St.ESME_RX_T_APPN))
    second = (await client.wait_delivers(2))[1]
    assert second.short_message == first.short_message
    client.send(DeliverSmResp(second.sequence_number, St.ESME_RX_P_APPN))  # final
    await sim.wait_for_receipts_acked(1, timeout=2)
    rec = sim.records()
    assert (rec.receipts_acked, rec.delivers_nacked, sim.smsc().unacked) == (1, 1, 0)
