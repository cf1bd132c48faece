"""Our client against an SMSC we did not write: `smpp34`'s `Server` (Rust core, PyPI).

It binds our transceiver, takes our submit_sm (accepted with its own message id, or
rejected), pushes a delivery receipt with TLVs and the text form, and sees our unbind.
(smpp34 1.5.0 hangs up on unbind instead of answering unbind_resp; the pool counts a hang-up
after its own unbind as a completed unbind.)
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator

import pytest
import smpp34

from smpp.aio import BindPool, Inbound, Outcome, PoolConfig, PoolHandlers
from smpp.core.msgid import MessageIdFormat
from smpp.core.pdu import SubmitSm
from smpp.core.receipt import MessageState
from smpp.core.status import CommandStatus


def _free_port() -> int:
    """A port free a moment ago (smpp34's Server cannot report the one it picked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def server() -> AsyncIterator[tuple[smpp34.Server, int]]:
    for _ in range(5):
        port = _free_port()
        srv = smpp34.Server("127.0.0.1", port, system_id="smpp34")
        try:
            await srv.start()
        except Exception:  # taken meanwhile: pick another
            continue
        yield srv, port
        await srv.stop()
        return
    pytest.fail("no free port for the smpp34 server")


async def test_bind_submit_receipt_and_unbind(server: tuple[smpp34.Server, int]) -> None:
    srv, port = server
    inbound: list[Inbound] = []

    async def on_deliver(item: Inbound) -> None:
        inbound.append(item)

    config = PoolConfig(
        name="smpp34", host="127.0.0.1", port=port, system_id="gatewayd", password="secret",
        id_format=MessageIdFormat.HEX,
    )
    pool = BindPool(config, PoolHandlers(on_deliver=on_deliver), rng=random.Random(1))
    await pool.start()
    esme = await asyncio.wait_for(srv.next(), 5)
    assert isinstance(esme, smpp34.Esme) and esme.system_id == "gatewayd"
    await pool.wait_bound(within=5)

    pdu = SubmitSm(
        source_addr="KIMISMS", source_addr_ton=5, destination_addr="254712345678",
        dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, short_message=b"Habari",
    )
    sending = asyncio.ensure_future(pool.submit([pdu], ref="m1"))
    event = await asyncio.wait_for(srv.next(), 5)
    assert isinstance(event, smpp34.SubmitSmEvent)
    assert (event.source_addr, event.source_addr_ton) == ("KIMISMS", 5)
    assert (event.destination_addr, event.dest_addr_ton, event.dest_addr_npi) == (
        "254712345678", 1, 1,
    )
    assert event.registered_delivery == 1 and event.short_message == b"Habari"
    event.accept("00AB12")
    result = await asyncio.wait_for(sending, 5)
    assert result.ok and result.parts[0].message_id == "00AB12"
    assert result.parts[0].message_key == "ab12"

    text = (
        b"id:00ab12 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
        b"stat:DELIVRD err:000 text:Habari"
    )
    resp = await asyncio.wait_for(
        esme.deliver_sm(
            "KIMISMS", text, source_addr="254712345678", esm_class=0x04,
            tlvs=[
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"00ab12\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([2])),
            ],
        ),
        5,
    )
    assert resp.is_success
    assert len(inbound) == 1
    receipt = inbound[0].receipt
    assert receipt is not None and receipt.state is MessageState.DELIVERED
    assert inbound[0].receipt_key == result.parts[0].message_key

    rejecting = asyncio.ensure_future(pool.submit([pdu], ref="m2"))
    event = await asyncio.wait_for(srv.next(), 5)
    assert isinstance(event, smpp34.SubmitSmEvent)
    event.reject(smpp34.ESME_RINVDSTADR)
    rejected = (await asyncio.wait_for(rejecting, 5)).parts[0]
    assert rejected.outcome is Outcome.PERMANENT
    assert rejected.command_status == CommandStatus.ESME_RINVDSTADR

    unbound = asyncio.ensure_future(srv.next())
    report = await pool.stop(drain_budget=2)
    assert isinstance(await asyncio.wait_for(unbound, 5), smpp34.Unbound)
    assert report.unbound == ("smpp34/trx0",)
