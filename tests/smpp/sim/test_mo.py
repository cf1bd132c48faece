"""MO injection: arrives as deliver_sm on a receiver bind, long texts in parts."""

from __future__ import annotations

import asyncio

import pytest

from smpp.core.text import InboundPart, concat_info, reassemble
from smpp.sim.config import SmscPersonality
from tests.smpp.sim.conftest import Connect, StartSim


async def test_mo_arrives_and_is_acknowledged(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind("trx")
    parts = await sim.inject_mo("smsc", "254712345678", "22384", "STOP")
    assert parts == 1
    (mo,) = client.delivers
    assert (mo.source_addr, mo.destination_addr, mo.esm_class) == ("254712345678", "22384", 0)
    assert (mo.data_coding, mo.short_message) == (0, b"STOP")
    rec = sim.records()
    assert (rec.mo_sent, rec.mo_acked) == (1, 1)


async def test_long_ucs2_mo_in_three_parts(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    await client.bind("rx")
    text = "Ndiyo 🙂 " * 20  # UCS-2, 180 UTF-16 units: 3 parts of at most 67
    assert await sim.inject_mo(None, "254712345678", "22384", text) == 3
    infos = [concat_info(d.short_message, d.esm_class, d.tlvs) for d in client.delivers]
    assert [(i.total, i.seq) for i in infos if i] == [(3, 1), (3, 2), (3, 3)]
    parts = [InboundPart(d.data_coding, d.short_message, d.esm_class) for d in client.delivers]
    assert reassemble(parts) == text


async def test_mo_waits_for_a_receiver(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    pending = asyncio.ensure_future(sim.inject_mo(None, "254712345678", "22384", "hi"))
    client = await esme(sim)
    await client.bind("rx")
    assert await asyncio.wait_for(pending, 2) == 1
    assert client.delivers[0].short_message == b"hi"


async def test_mo_to_the_named_smsc_only(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(SmscPersonality("safaricom"), SmscPersonality("airtel"))
    saf, air = await esme(sim, "safaricom"), await esme(sim, "airtel")
    await saf.bind()
    await air.bind()
    await sim.inject_mo("airtel", "254733000000", "22384", "JOIN")
    assert not saf.delivers and air.delivers[0].short_message == b"JOIN"
    with pytest.raises(KeyError):
        await sim.inject_mo("nope", "1", "2", "x")
