"""Binds: credentials, modes, limits, and the bind state of submits."""

from __future__ import annotations

from smpp.core.pdu import BindTransceiverResp, SubmitSmResp
from smpp.core.status import CommandStatus as St
from smpp.sim.config import BindMode, Credential
from tests.smpp.sim.conftest import Connect, StartSim


async def test_bind_ok_records_the_bind(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    resp = await client.bind("trx")
    assert isinstance(resp, BindTransceiverResp)
    assert resp.command_status == St.ESME_ROK
    assert resp.system_id == "smsc"
    await sim.wait_for_bind(1, timeout=2)
    (bind,) = sim.records().bound
    assert (bind.system_id, bind.mode) == ("gatewayd", BindMode.TRX)


async def test_bad_system_id_and_password(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(credentials=(Credential("acme", "pw"),))
    wrong_id = await (await esme(sim)).bind("tx", system_id="nobody", password="pw")
    wrong_pw = await (await esme(sim)).bind("tx", system_id="acme", password="nope")
    assert wrong_id.command_status == St.ESME_RINVSYSID
    assert wrong_pw.command_status == St.ESME_RINVPASWD
    assert sim.records().bind_failures == [
        ("nobody", St.ESME_RINVSYSID),
        ("acme", St.ESME_RINVPASWD),
    ]
    assert sim.records().binds == []


async def test_modes_not_offered_and_max_binds(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim(bind_modes=frozenset({BindMode.TX, BindMode.RX}), max_binds=2)
    assert (await (await esme(sim)).bind("trx")).command_status == St.ESME_RBINDFAIL
    assert (await (await esme(sim)).bind("tx")).command_status == St.ESME_ROK
    assert (await (await esme(sim)).bind("rx")).command_status == St.ESME_ROK
    assert (await (await esme(sim)).bind("tx")).command_status == St.ESME_RBINDFAIL


async def test_rebind_and_submit_states(start_sim: StartSim, esme: Connect) -> None:
    sim = await start_sim()
    client = await esme(sim)
    before = await client.submit_one()
    assert isinstance(before, SubmitSmResp)
    assert before.command_status == St.ESME_RINVBNDSTS
    await client.bind("trx")
    assert (await client.bind("trx")).command_status == St.ESME_RALYBND
    receiver = await esme(sim)
    await receiver.bind("rx")
    assert (await receiver.submit_one()).command_status == St.ESME_RINVBNDSTS
