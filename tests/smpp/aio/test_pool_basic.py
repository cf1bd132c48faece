"""A pool against the simulator: results, window, receipts, long messages, errors."""

from __future__ import annotations

import asyncio

from smpp.aio import Outcome
from smpp.core.msgid import MessageIdFormat
from smpp.core.status import CommandStatus
from smpp.core.text import InboundPart, LongMessageMethod, reassemble
from smpp.sim.config import IdFormat, Latency, ReceiptPolicy
from tests.smpp.aio.conftest import StartPool, StartSim
from tests.smpp.aio.helpers import long_sms, sms


async def test_one_message_is_accepted_and_its_receipt_matches(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim)
    result = await pool.submit([sms()], ref="m1")
    assert result.ok and result.ref == "m1"
    part = result.parts[0]
    assert part.outcome is Outcome.OK and part.message_id and part.attempts == 1
    assert part.bind_id == "smsc/trx0"
    await sim.wait_for_receipts_acked(1)
    assert len(rec.inbound) == 1
    assert rec.inbound[0].is_receipt
    assert rec.inbound[0].receipt_key == part.message_key


async def test_the_window_is_never_exceeded(start_sim: StartSim, start_pool: StartPool) -> None:
    sim = await start_sim(latency=Latency(fixed=0.01, jitter=0.01), window=5)
    pool, _ = await start_pool(sim, binds=2, window=5)
    futures = [pool.send([sms(dest=f"2547{i:08d}", receipt=False)]) for i in range(300)]
    results = await asyncio.gather(*futures)
    assert all(r.ok for r in results)
    record = sim.records()
    assert record.accepted == 300
    assert record.queue_full == 0
    assert record.max_in_flight == 5  # filled, never more
    assert all(b.max_in_flight <= 5 for b in record.binds)
    assert {r.parts[0].bind_id for r in results} == {"smsc/trx0", "smsc/trx1"}


async def test_capacity_follows_the_windows(start_sim: StartSim, start_pool: StartPool) -> None:
    sim = await start_sim(latency=Latency(fixed=0.05))
    pool, _ = await start_pool(sim, window=2)
    assert pool.has_capacity()
    first = pool.send([sms()])
    pool.send([sms()])
    assert not pool.has_capacity()
    await pool.wait_capacity()
    assert first.done() and pool.has_capacity()


async def test_receipt_before_resp_carries_the_resp_id(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(
        message_id_format=IdFormat.HEX,
        receipts=ReceiptPolicy(before_resp=1.0, id_format=IdFormat.DECIMAL),
    )
    pool, rec = await start_pool(sim, id_format=MessageIdFormat.RESP_HEX_RECEIPT_DECIMAL)
    loop = asyncio.get_running_loop()
    resp_at: list[float] = []
    result = await pool.submit([sms()], on_part=lambda part: resp_at.append(loop.time()))
    await sim.wait_for_receipts_acked(1)
    receipt = rec.inbound[0]
    assert receipt.received_at <= resp_at[0]  # read before (or with) the resp
    assert receipt.receipt is not None
    assert receipt.receipt.message_id != result.parts[0].message_id  # decimal vs hex
    assert receipt.receipt_key == result.parts[0].message_key


async def test_duplicate_receipts_are_both_passed_on(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(receipts=ReceiptPolicy(duplicates=1.0))
    pool, rec = await start_pool(sim)
    result = await pool.submit([sms()])
    await sim.wait_for_receipts_acked(2)
    assert [i.receipt_key for i in rec.inbound] == [result.parts[0].message_key] * 2


async def test_deliver_resp_waits_for_the_handler(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim()
    pool, rec = await start_pool(sim)
    rec.gate = asyncio.Event()
    await pool.submit([sms()])
    await rec.arrived.wait()
    await pool.submit([sms(receipt=False)])  # a round trip: an early resp would be read by now
    assert len(rec.inbound) == 1 and sim.records().receipts_acked == 0
    rec.gate.set()
    await sim.wait_for_receipts_acked(1)


async def test_mo_message_reaches_the_handler(start_sim: StartSim, start_pool: StartPool) -> None:
    sim = await start_sim()
    _, rec = await start_pool(sim)
    await sim.inject_mo(None, "254712345678", "22334", "STOP")
    assert len(rec.inbound) == 1
    assert rec.inbound[0].receipt is None and rec.inbound[0].pdu.short_message == b"STOP"


GSM_TEXT = "Habari! " * 50  # 400 GSM characters: 3 parts of 153
UCS2_TEXT = "Karibu 😀 " * 18  # outside GSM: UCS-2, 180 units in 3 parts of 66


async def _check_long_message(
    start_sim: StartSim, start_pool: StartPool, text: str, method: LongMessageMethod
) -> None:
    sim = await start_sim()
    pool, _ = await start_pool(sim, binds=2)
    parts = long_sms(text, reference=0x2A, method=method)
    assert len(parts) == 3
    result = await pool.submit(parts)
    assert result.ok and [p.part_index for p in result.parts] == [0, 1, 2]
    submits = sim.records().submits
    infos = [s.concat for s in submits]
    assert [(i.reference, i.total, i.seq) for i in infos if i] == [(0x2A, 3, n) for n in (1, 2, 3)]
    expected_udh = {
        LongMessageMethod.UDH8: [bytes([5, 0, 3, 0x2A, 3, n]) for n in (1, 2, 3)],
        LongMessageMethod.UDH16: [bytes([6, 8, 4, 0, 0x2A, 3, n]) for n in (1, 2, 3)],
    }[method]
    assert [s.udh for s in submits] == expected_udh
    inbound = [
        InboundPart(s.data_coding, s.pdu.short_message, s.esm_class, s.pdu.tlvs)
        for s in submits
    ]
    assert reassemble(inbound) == text


async def test_three_part_gsm_message_arrives_in_order(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    await _check_long_message(start_sim, start_pool, GSM_TEXT, LongMessageMethod.UDH8)


async def test_three_part_ucs2_message_arrives_in_order(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    await _check_long_message(start_sim, start_pool, UCS2_TEXT, LongMessageMethod.UDH16)


async def test_permanent_error_is_reported_and_later_parts_not_sent(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim(reject_prefixes=("25470",))
    pool, _ = await start_pool(sim)
    result = await pool.submit(long_sms(GSM_TEXT, 7, dest="254700000001"))
    first, *rest = result.parts
    assert first.outcome is Outcome.PERMANENT
    assert first.command_status == CommandStatus.ESME_RINVDSTADR
    assert first.error == "ESME_RINVDSTADR"
    assert [p.outcome for p in rest] == [Outcome.NOT_SENT] * 2
    assert sim.records().submit_count == 1


async def test_a_pdu_the_codec_refuses_is_reported_not_retried(
    start_sim: StartSim, start_pool: StartPool
) -> None:
    sim = await start_sim()
    pool, _ = await start_pool(sim)
    bad = sms(dest="2547" * 10)  # 40 digits: destination_addr holds at most 20
    result = await pool.submit([bad, sms()])
    assert [p.outcome for p in result.parts] == [Outcome.PERMANENT, Outcome.NOT_SENT]
    assert result.parts[0].error.startswith("not encodable: ")
    assert (await pool.submit([sms()])).ok  # the bind is not left paused
    assert sim.records().submit_count == 1
