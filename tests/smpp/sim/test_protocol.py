"""Protocol hygiene: generic_nack for garbage, enquire_link, unbind both ways, drops."""

from __future__ import annotations

import asyncio
import struct

from smpp.core.codec import encode
from smpp.core.pdu import (
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    SubmitSm,
    Unbind,
    UnbindResp,
)
from smpp.core.status import CommandStatus as St
from smpp.core.tlv import Tag
from smpp.sim.config import Latency, ReceiptPolicy
from tests.smpp.sim.conftest import Connect, StartSim


async def test_unknown_command_gets_generic_nack_and_link_survives(
    start_sim: StartSim, esme: Connect
) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    seq = client.next_seq()
    fut = asyncio.get_running_loop().create_future()
    client.by_seq[seq] = fut
    assert client.transport is not None
    client.transport.write(struct.pack(">IIII", 20, 0x00000666, 0, seq) + b"junk")
    nack = await asyncio.wait_for(fut, 2)
    assert isinstance(nack, GenericNack)
    assert nack.command_status == St.ESME_RINVCMDID
    assert (await client.submit_one()).command_status == St.ESME_ROK
    assert sim.records().generic_nacks_sent == 1


async def test_malformed_submit_gets_generic_nack(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    frame = bytearray(encode(SubmitSm(destination_addr="254712345678", short_message=b"hi")))
    frame = frame[:-4]  # cut the end of the body but keep command_length consistent
    struct.pack_into(">II", frame, 0, len(frame), 0x00000004)
    struct.pack_into(">I", frame, 12, 99)
    fut = asyncio.get_running_loop().create_future()
    client.by_seq[99] = fut
    assert client.transport is not None
    client.transport.write(bytes(frame))
    nack = await asyncio.wait_for(fut, 2)
    assert isinstance(nack, GenericNack) and nack.command_status != 0
    assert (await client.submit_one()).command_status == St.ESME_ROK


async def test_impossible_length_is_nacked_then_closed(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    assert client.transport is not None
    client.transport.write(struct.pack(">IIII", 10_000_000, 4, 0, 77))
    await asyncio.wait_for(client.closed, 2)
    assert isinstance(client.received[-1], GenericNack)
    assert client.received[-1].command_status == St.ESME_RINVCMDLEN


async def test_enquire_link_answered(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    assert isinstance(await client.call(EnquireLink()), EnquireLinkResp)
    assert sim.records().enquire_links == 1
    assert sim.records().bound[0].enquire_links == 1


async def test_unbind_answered_and_closed(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    assert isinstance(await client.call(Unbind()), UnbindResp)
    await sim.wait_for_unbind(1, timeout=2)
    await asyncio.wait_for(client.closed, 2)
    await sim.wait_until(lambda: not sim.records().bound, 2, "bind closed")
    assert sim.records().binds[0].close_reason == "unbind"


async def test_smsc_initiated_unbind(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    await sim.wait_for_bind(1)
    assert sim.unbind() == 1
    unbind = await client.wait_pdu(Unbind)
    client.send(UnbindResp(unbind.sequence_number))
    await asyncio.wait_for(client.closed, 2)


async def test_smsc_sends_enquire_link(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(enquire_link_every=0.05)
    client = await esme(sim)
    await client.bind()
    probe = await client.wait_pdu(EnquireLink, timeout=2)
    assert probe.sequence_number >= 1


async def test_drop_after_n_seconds(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(drop_after=0.1)
    client = await esme(sim)
    await client.bind()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(client.closed, 2)
    assert loop.time() - start >= 0.09
    rec = sim.records()
    assert rec.drops == 1
    assert rec.binds[0].close_reason == "dropped by the SMSC"
    again = await esme(sim)
    assert (await again.bind()).command_status == St.ESME_ROK
    await asyncio.wait_for(again.closed, 2)
    assert sim.records().drops == 2


async def test_drop_loses_held_resps_but_the_message_was_accepted(
    start_sim: StartSim, esme: Connect
) -> None:
    sim = await start_sim(
        latency=Latency(fixed=0.3), receipts=ReceiptPolicy(delay_min=0.4, delay_max=0.4)
    )
    client = await esme(sim)
    await client.bind()
    pending = client.submit()
    await sim.wait_for_submits(1)
    assert sim.drop() == 1
    await asyncio.wait_for(client.closed, 2)
    assert not pending.done()
    again = await esme(sim)
    await again.bind()
    (dlr,) = await again.wait_delivers(1)  # the in-doubt message was delivered after all
    assert dlr.tlvs[Tag.RECEIPTED_MESSAGE_ID] == b"3b9aca00\0"
    await sim.wait_until(lambda: sim.records().dropped_responses == 1, 2, "resp dropped")
    assert sim.records().accepted == 1


async def test_smsc_unbind_closes_when_never_answered(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind()
    await sim.wait_for_bind(1)
    assert sim.smsc().unbind_all(answer_within=0.05) == 1
    await client.wait_pdu(Unbind)
    await asyncio.wait_for(client.closed, 2)  # no unbind_resp sent: closed by the SMSC
    assert sim.records().binds[0].close_reason == "unbound by the SMSC"
