"""deliver_sm from the SMSC: read as the daemon wants it, answered only once it is handled.

A receipt is parsed (`smpp.core.receipt.parse_receipt`: TLVs first, then the text) and its
message id normalised per the SMSC's id format, so the daemon matches it against
`PartResult.message_key` directly. The deliver_sm_resp waits for the daemon's handler: it
stores the receipt or MO first, so a crash never acknowledges something it did not keep.
"""

from __future__ import annotations

import logging

from smpp.aio.client import SmppClient
from smpp.aio.config import PoolConfig
from smpp.aio.events import DeliverHandler, Inbound
from smpp.core.msgid import normalise_message_id
from smpp.core.pdu import DataSm, DeliverSm
from smpp.core.receipt import is_flagged_receipt, parse_receipt
from smpp.core.status import CommandStatus

log = logging.getLogger("smpp.aio.inbound")


def read_inbound(
    config: PoolConfig, bind_id: str, pdu: DeliverSm | DataSm, received_at: float
) -> Inbound:
    """The `Inbound` for a deliver_sm or data_sm (receipt parsed, its id normalised)."""
    short = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    receipt = parse_receipt(short, pdu.tlvs, pdu.esm_class, lenient=config.lenient_receipts)
    flagged = is_flagged_receipt(pdu.esm_class)
    if flagged and receipt is None:
        log.warning("bind %s: receipt without a readable message id", bind_id)
    key = None
    if receipt is not None:
        try:
            key = normalise_message_id(receipt.message_id, config.id_format, from_receipt=True)
        except ValueError:
            key = None
    return Inbound(config.name, bind_id, pdu, receipt, key, received_at, flagged)


async def answer_after(
    handler: DeliverHandler, client: SmppClient, sequence_number: int, inbound: Inbound
) -> None:
    """Await the daemon's handler, then write the deliver_sm_resp with its status; a handler
    that raises gets ESME_RX_T_APPN (temporary: the SMSC delivers again later)."""
    try:
        status = await handler(inbound) or 0
    except Exception:
        log.exception("deliver handler failed", extra={"bind_id": inbound.bind_id})
        status = CommandStatus.ESME_RX_T_APPN
    client.ack_deliver(sequence_number, status)
