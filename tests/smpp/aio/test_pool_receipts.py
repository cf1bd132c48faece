"""Receipts the pool cannot read, receipts sent as plain deliver_sm, vendor statuses."""

from __future__ import annotations

from smpp.aio import Outcome
from smpp.core.pdu import DeliverSm
from smpp.core.status import StatusClass
from tests.smpp.aio.conftest import StartPool
from tests.smpp.aio.helpers import sms
from tests.smpp.aio.scripted import Script, start_scripted, wait_for

RECEIPT = (
    b"id:1234 sub:001 dlvrd:001 submit date:2611220800 done date:2611220801 stat:DELIVRD err:000"
)


async def _deliver(script: Script, pdu: DeliverSm, acks: int) -> None:
    script.deliver(pdu)
    await wait_for(script, lambda: len(script.deliver_acks) >= acks)


async def test_a_flagged_receipt_without_an_id_is_a_receipt_not_an_mo(
    start_pool: StartPool,
) -> None:
    script = Script()
    server, port = await start_scripted(script)
    async with server:
        _, rec = await start_pool(("127.0.0.1", port))
        flagged = DeliverSm(sequence_number=7, source_addr="2547", esm_class=0x04,
                            short_message=b"stat:DELIVRD err:000")  # fmt: skip
        await _deliver(script, flagged, 1)
        [inbound] = rec.inbound
        assert inbound.receipt is None and inbound.flagged_receipt
        assert inbound.is_receipt and inbound.unreadable_receipt
        assert script.deliver_acks == [0]


async def test_an_mo_is_not_flagged(start_pool: StartPool) -> None:
    script = Script()
    server, port = await start_scripted(script)
    async with server:
        _, rec = await start_pool(("127.0.0.1", port))
        await _deliver(script, DeliverSm(sequence_number=8, short_message=RECEIPT), 1)
        [inbound] = rec.inbound
        assert not inbound.is_receipt and not inbound.flagged_receipt and inbound.receipt is None


async def test_lenient_receipts_read_a_plain_deliver_sm(start_pool: StartPool) -> None:
    script = Script()
    server, port = await start_scripted(script)
    async with server:
        _, rec = await start_pool(("127.0.0.1", port), lenient_receipts=True)
        await _deliver(script, DeliverSm(sequence_number=9, short_message=RECEIPT), 1)
        [inbound] = rec.inbound
        assert inbound.receipt is not None and inbound.receipt_key == "1234"
        assert inbound.is_receipt and not inbound.flagged_receipt


async def test_a_vendor_status_can_mean_throttled(start_pool: StartPool) -> None:
    script = Script(submit_statuses=[0x400])
    server, port = await start_scripted(script)
    async with server:
        pool, _ = await start_pool(
            ("127.0.0.1", port), status_overrides={0x400: StatusClass.THROTTLE},
            throttle_pause=0.01, throttle_pause_max=0.02,
        )  # fmt: skip
        part = (await pool.submit([sms()])).parts[0]
        assert part.outcome is Outcome.OK and part.throttled == 1 and part.attempts == 2
