"""submit_sm: message ids, refusals, the window and TPS limits, and the records."""

from __future__ import annotations

import asyncio

import pytest

from smpp.core.codec import encode
from smpp.core.pdu import SubmitSm, SubmitSmResp
from smpp.core.status import CommandStatus as St
from smpp.core.text import LongMessageMethod, plan_message, reassemble
from smpp.core.text.inbound import InboundPart
from smpp.sim.config import IdFormat, Latency, ThrottleRule
from smpp.sim.smsc import submit_resp_ok
from tests.smpp.sim.conftest import Connect, StartSim


def test_fast_submit_resp_is_the_codec_encoding() -> None:
    for seq, mid in ((1, "3b9aca00"), (0x7FFFFFFF, "1000000000"), (5, "x" * 64)):
        assert submit_resp_ok(seq, mid.encode()) == encode(SubmitSmResp(seq, 0, message_id=mid))


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (IdFormat.HEX, ["3b9aca00", "3b9aca01"]),
        (IdFormat.HEX_UPPER, ["3B9ACA00", "3B9ACA01"]),
        (IdFormat.DECIMAL, ["1000000000", "1000000001"]),
        (IdFormat.DECIMAL_PADDED, ["00000000001000000000", "00000000001000000001"]),
    ],
)
async def test_message_id_format(
    start_sim: StartSim, esme: Connect, fmt: IdFormat, expected: list[str]
) -> None:
    sim = await start_sim(message_id_format=fmt)
    client = await esme(sim)
    await client.bind()
    resps = [await client.submit_one(), await client.submit_one()]
    assert [getattr(r, "message_id", None) for r in resps] == expected
    assert [s.message_id for s in sim.records().submits] == expected


async def test_rejected_prefix_is_a_permanent_error(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(reject_prefixes=("25477",))
    client = await esme(sim)
    await client.bind()
    bad = await client.submit_one("254770000001")
    good = await client.submit_one("254712000001")
    assert bad.command_status == St.ESME_RINVDSTADR
    assert good.command_status == St.ESME_ROK
    assert sim.records().rejected == 1
    assert [s.status for s in sim.records().submits] == [St.ESME_RINVDSTADR, St.ESME_ROK]


async def test_tps_limit_throttles_beyond_the_rule(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(throttle=ThrottleRule(tps=10))
    client = await esme(sim)
    await client.bind()
    resps = await asyncio.wait_for(asyncio.gather(*(client.submit() for _ in range(15))), 5)
    statuses = [r.command_status for r in resps]
    assert statuses == [St.ESME_ROK] * 10 + [St.ESME_RTHROTTLED] * 5
    rec = sim.records()
    assert (rec.throttled, rec.accepted, rec.bound[0].throttled) == (5, 10, 5)


async def test_tps_is_shared_by_the_binds_of_one_smsc(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(throttle=ThrottleRule(tps=4))
    one, two = await esme(sim), await esme(sim)
    await one.bind("tx")
    await two.bind("tx")
    first = [await one.submit_one() for _ in range(3)]
    second = [await two.submit_one() for _ in range(3)]
    assert [r.command_status for r in first + second] == [0, 0, 0, 0] + [St.ESME_RTHROTTLED] * 2
    rec = sim.records()
    one_id, two_id = (b.bind_id for b in rec.binds)
    assert [s.status for s in rec.submits_of(two_id)] == [0] + [St.ESME_RTHROTTLED] * 2
    assert (rec.binds[0].throttled, rec.binds[1].throttled) == (0, 2)
    assert len(rec.submits_of(one_id)) == 3


async def test_window_limit_with_latency(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(window=5, latency=Latency(fixed=0.5))
    client = await esme(sim)
    await client.bind()
    futures = [client.submit() for _ in range(8)]
    resps = await asyncio.wait_for(asyncio.gather(*futures), 5)
    statuses = sorted(r.command_status for r in resps)
    assert statuses == [St.ESME_ROK] * 5 + [St.ESME_RMSGQFUL] * 3
    rec = sim.records()
    assert (rec.queue_full, rec.max_in_flight, rec.bound[0].max_in_flight) == (3, 5, 5)
    assert rec.bound[0].in_flight == 0


async def test_latency_delays_the_resp(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(latency=Latency(fixed=0.15))
    client = await esme(sim)
    await client.bind()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.submit_one()
    assert loop.time() - start >= 0.15


async def test_records_slots_and_parts(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    text = "Habari! " * 40  # 320 GSM characters: 3 parts
    plan = plan_message(text, LongMessageMethod.UDH8, reference=42)
    for part in plan.parts:
        pdu = SubmitSm(
            source_addr="KIMISMS",
            destination_addr="254712345678",
            esm_class=part.esm_class_flags,
            data_coding=plan.data_coding,
            short_message=part.short_message,
            tlvs=part.tlvs,
        )
        await client.call(pdu)
    await sim.wait_for_submits(3, timeout=2)
    rec = sim.records()
    assert sum(rec.slots.values()) == 3
    assert rec.max_slot <= 3
    assert sum(rec.slot_counts()) == 3
    concat = [s.concat for s in rec.submits]
    expected = [(42, 3, 1), (42, 3, 2), (42, 3, 3)]
    assert [(c.reference, c.total, c.seq) for c in concat if c] == expected
    assert rec.submits[0].udh == bytes.fromhex("050003" + "2a0301")
    parts = [InboundPart(s.data_coding, s.pdu.short_message, s.esm_class) for s in rec.submits]
    assert reassemble(parts) == text
    assert rec.texts() == [text]
    assert rec.submits[0].to_json()["concat"] == {
        "method": "udh8",
        "reference": 42,
        "total": 3,
        "seq": 1,
    }


async def test_ucs2_text_is_decoded_in_records(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    plan = plan_message("Asante sana 🙏", LongMessageMethod.UDH8)
    (part,) = plan.parts
    await client.call(
        SubmitSm(
            destination_addr="254712345678",
            data_coding=plan.data_coding,
            short_message=part.short_message,
        )
    )
    assert sim.records().submits[0].text == "Asante sana 🙏"


async def test_slots_are_loop_time_tenths(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    loop = asyncio.get_running_loop()
    sent_at = []
    for _ in range(3):
        sent_at.append(loop.time())
        await client.submit_one()
        await asyncio.sleep(0.2)  # pacing is what is under test here
    rec = sim.records()
    arrived = [s.at for s in rec.submits]
    assert all(0 <= a - s < 0.15 for a, s in zip(arrived, sent_at, strict=True))
    assert sorted(rec.slots) == sorted({int(a * 10) for a in arrived})
    assert rec.max_slot == 1
    counts = rec.slot_counts()
    assert sum(counts) == 3 and len(counts) >= 3


async def test_recorded_submits_can_be_capped(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(max_recorded_submits=4)
    client = await esme(sim)
    await client.bind()
    await asyncio.wait_for(asyncio.gather(*(client.submit() for _ in range(9))), 5)
    rec = sim.records()
    assert rec.submit_count == 9
    assert 2 <= len(rec.submits) <= 4
    assert rec.submits[-1].message_id == "3b9aca08"


async def test_texts_reassembles_interleaved_messages(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    long_gsm = plan_message("Karibu sana! " * 20, LongMessageMethod.UDH16, reference=7)
    long_ucs2 = plan_message("Jambo 🙂 " * 25, LongMessageMethod.SAR, reference=7)
    short = plan_message("Short one", LongMessageMethod.UDH8)
    pdus = []
    for plan, dest in ((long_gsm, "254700000001"), (long_ucs2, "254700000002"), (short, "2547")):
        pdus.append(
            [
                SubmitSm(
                    destination_addr=dest,
                    esm_class=p.esm_class_flags,
                    data_coding=plan.data_coding,
                    short_message=p.short_message,
                    tlvs=p.tlvs,
                )
                for p in plan.parts
            ]
        )
    interleaved = [p for group in zip(pdus[0], pdus[1], strict=False) for p in group]
    for pdu in [*interleaved, *pdus[0][len(pdus[1]) :], *pdus[1][len(pdus[0]) :], *pdus[2]]:
        await client.call(pdu)
    assert sorted(sim.records().texts()) == sorted([long_gsm.text, long_ucs2.text, short.text])
