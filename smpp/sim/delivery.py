"""SMSC-originated deliver_sm: delivery receipts and MO messages, and their wire frames.

A receipt carries both forms a gateway may read (see the pitfalls on TLV vs text):

- TLVs receipted_message_id (0x001E), message_state (0x0427) and network_error_code
  (0x0423, GSM type 3 and a 2-octet error);
- the text ``id:ID sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm
  stat:DELIVRD err:000 text:first 20 chars``.

Dates are the wall clock in UTC. A deliver_sm is encoded once, with sequence number 0, by the
shared codec; each send (first, retry, duplicate) patches the 4 sequence octets in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from smpp.core.codec import encode
from smpp.core.pdu import DeliverSm, SubmitSm
from smpp.core.text import concat_info, decode_short_message, message_octets
from smpp.core.tlv import Tag

ESM_CLASS_RECEIPT: Final = 0x04
"""esm_class message type 'SMSC delivery receipt'."""

MESSAGE_STATE: Final[dict[str, int]] = {
    "DELIVRD": 2,
    "EXPIRED": 3,
    "UNDELIV": 5,
    "REJECTD": 8,
}
"""SMPP 3.4 message_state of each final receipt state."""

NETWORK_ERROR: Final[dict[str, int]] = {
    "DELIVRD": 0,
    "UNDELIV": 1,  # unknown subscriber
    "EXPIRED": 27,  # absent subscriber
    "REJECTD": 11,  # teleservice not provisioned
}
"""The GSM error given with each state (text `err:` and network_error_code)."""

_GSM_NETWORK: Final = 3
_SNIPPET: Final = 20
# Printable ASCII stays; anything else in a GSM-7 snippet becomes '?'.
_ASCII_ONLY: Final = bytes(b if 0x20 <= b < 0x7F else 0x3F for b in range(256))


class DeliveryKind(StrEnum):
    """What a deliver_sm carries."""

    RECEIPT = "receipt"
    MO = "mo"


@dataclass(slots=True, eq=False)
class Outgoing:
    """One deliver_sm the SMSC must get acknowledged, across its sends."""

    kind: DeliveryKind
    system_id: str
    frame: bytes  # encoded with sequence number 0
    attempts: int = 0
    acked: bool = False
    done: asyncio.Future[None] | None = field(default=None)

    def wire(self, sequence_number: int) -> bytes:
        """The frame with `sequence_number` in its header."""
        frame = self.frame
        return frame[:12] + sequence_number.to_bytes(4, "big") + frame[16:]


class DateCache:
    """YYMMDDhhmm of the wall clock, formatted once per minute."""

    __slots__ = ("_minute", "_text")

    def __init__(self) -> None:
        self._minute = -1
        self._text = ""

    def now(self) -> str:
        """The current minute as YYMMDDhhmm (UTC)."""
        return self.at(time.time())

    def at(self, wall: float) -> str:
        """`wall` (a time.time() value) as YYMMDDhhmm (UTC)."""
        minute = int(wall // 60)
        if minute != self._minute:
            self._minute = minute
            self._text = time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))
        return self._text


def snippet(pdu: SubmitSm) -> str:
    """The first 20 characters of the submitted text, as receipts quote it (ASCII only)."""
    sm = pdu.short_message
    if sm and pdu.data_coding == 0 and not pdu.esm_class & 0x40:
        return sm[:_SNIPPET].translate(_ASCII_ONLY).decode("ascii")
    octets = message_octets(sm, pdu.tlvs)
    info = concat_info(sm, pdu.esm_class, pdu.tlvs)
    body = info.body if info is not None else octets
    text = decode_short_message(pdu.data_coding, body).text or ""
    return text[:_SNIPPET].encode("ascii", "replace").decode("ascii")


def receipt_text(message_id: str, state: str, submit_date: str, done_date: str, text: str) -> str:
    """The standard receipt text (SMPP 3.4 appendix B form)."""
    dlvrd = "001" if state == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submit_date} "
        f"done date:{done_date} stat:{state} err:{NETWORK_ERROR[state]:03d} text:{text}"
    )


# Per state, precomputed: the message_state and network_error_code TLV values.
_STATE_TLVS: Final = {
    state: (bytes((code,)), bytes((_GSM_NETWORK,)) + NETWORK_ERROR[state].to_bytes(2, "big"))
    for state, code in MESSAGE_STATE.items()
}
_RECEIPTED_MESSAGE_ID: Final = int(Tag.RECEIPTED_MESSAGE_ID)
_MESSAGE_STATE: Final = int(Tag.MESSAGE_STATE)
_NETWORK_ERROR_CODE: Final = int(Tag.NETWORK_ERROR_CODE)


def receipt_frame(
    submit: SubmitSm,
    message_id: str,
    state: str,
    submit_date: str,
    done_date: str,
    *,
    with_tlvs: bool = True,
    with_text: bool = True,
) -> bytes:
    """The encoded receipt deliver_sm (sequence number 0) for an accepted `submit`."""
    tlvs: dict[int, bytes] = {}
    if with_tlvs:
        message_state, network_error = _STATE_TLVS[state]
        tlvs = {
            _RECEIPTED_MESSAGE_ID: message_id.encode("ascii") + b"\0",
            _MESSAGE_STATE: message_state,
            _NETWORK_ERROR_CODE: network_error,
        }
    text = b""
    if with_text:
        text = receipt_text(message_id, state, submit_date, done_date, snippet(submit)).encode(
            "ascii"
        )
    pdu = DeliverSm(
        source_addr_ton=submit.dest_addr_ton,
        source_addr_npi=submit.dest_addr_npi,
        source_addr=submit.destination_addr,
        dest_addr_ton=submit.source_addr_ton,
        dest_addr_npi=submit.source_addr_npi,
        destination_addr=submit.source_addr,
        esm_class=ESM_CLASS_RECEIPT,
        short_message=text,
        tlvs=tlvs,
    )
    return encode(pdu)
