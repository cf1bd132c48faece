"""A client we did not write (smpplib 2.2.4) against the simulator, run in a thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions

from smpp.sim.config import Credential, IdFormat, ReceiptPolicy
from tests.smpp.sim.conftest import StartSim


def _client(host: str, port: int) -> Any:
    client = smpplib.client.Client(host, port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    return client


def _submit_and_wait_receipt(host: str, port: int, count: int) -> dict[str, list[str]]:
    """smpplib's own flow: bind, send_message, read_once until every receipt is in."""
    client = _client(host, port)
    seen: dict[str, list[str]] = {"sent": [], "receipts": []}
    client.set_message_sent_handler(lambda pdu: seen["sent"].append(pdu.message_id.decode()))
    client.set_message_received_handler(
        lambda pdu: seen["receipts"].append(pdu.receipted_message_id.decode())
    )
    try:
        client.bind_transceiver(system_id="acme", password="pw")
        for n in range(count):
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="KIMISMS",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr=f"25471200000{n}",
                short_message=b"Hello from smpplib",
                registered_delivery=True,
            )
        for _ in range(4 * count):  # resps and receipts, bounded
            if len(seen["sent"]) == count and len(seen["receipts"]) == count:
                break
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return seen


async def test_smpplib_submits_and_gets_receipts(start_sim: StartSim) -> None:
    sim = await start_sim(
        credentials=(Credential("acme", "pw"),),
        message_id_format=IdFormat.DECIMAL,
        receipts=ReceiptPolicy(delay_max=0.02),
    )
    host, port = sim.address()
    seen = await asyncio.wait_for(asyncio.to_thread(_submit_and_wait_receipt, host, port, 3), 20)
    assert seen["sent"] == ["1000000000", "1000000001", "1000000002"]
    assert sorted(seen["receipts"]) == seen["sent"]
    await sim.wait_for_receipts_acked(3, timeout=5)
    await sim.wait_for_unbind(1, timeout=5)
    rec = sim.records()
    assert [s.destination for s in rec.submits] == [f"25471200000{n}" for n in range(3)]
    assert rec.submits[0].text == "Hello from smpplib"


def _bind_with(host: str, port: int, password: str) -> None:
    client = _client(host, port)
    try:
        client.bind_transmitter(system_id="acme", password=password)
    finally:
        client.disconnect()


async def test_smpplib_bad_password_is_refused(start_sim: StartSim) -> None:
    sim = await start_sim(credentials=(Credential("acme", "pw"),))
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        await asyncio.wait_for(asyncio.to_thread(_bind_with, *sim.address(), "wrong"), 20)
    assert info.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD


def _listen_for_mo(host: str, port: int, got: list[bytes], bound: Any) -> None:
    client = _client(host, port)

    def on_message(pdu: Any) -> None:
        got.append(pdu.short_message)

    client.set_message_received_handler(on_message)
    try:
        client.bind_receiver(system_id="acme", password="pw")
        bound.set()
        for _ in range(10):  # bounded: one deliver_sm expected
            if got:
                break
            client.read_once()
    finally:
        client.disconnect()


async def test_smpplib_receives_injected_mo(start_sim: StartSim) -> None:
    sim = await start_sim(credentials=(Credential("acme", "pw"),))
    got: list[bytes] = []
    bound = threading.Event()
    listener = asyncio.ensure_future(asyncio.to_thread(_listen_for_mo, *sim.address(), got, bound))
    await sim.wait_for_bind(1, timeout=10)
    await sim.inject_mo(None, "254712345678", "22384", "HELP", timeout=10)
    await asyncio.wait_for(listener, 20)
    assert got == [b"HELP"]
