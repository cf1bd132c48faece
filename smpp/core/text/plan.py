"""Plan an outbound text as submit_sm parts: alphabet, split points, UDH or SAR TLVs or payload.

Per-part limits, in septets (GSM-7) / UTF-16 code units (UCS-2):

- one-part message, any method: 160 / 70.
- udh8: 153 / 67 per part; UDH `05 00 03 ref total seq` takes 6 octets.
- udh16: 152 / 66 per part; UDH `06 08 04 refH refL total seq` takes 7 octets.
- sar: 152 / 66 per part; the SMSC builds the UDH, and as sar_msg_ref_num is 16 bits it may
  need the 7-octet form, so the smaller limit is the safe one.
- payload: one PDU with the whole text in message_payload; billed as the SMSC will split it,
  153 / 67 per segment.

A split never separates ESC from its extension character nor the two halves of a surrogate
pair: the part ends one unit early instead. GSM-7 is sent unpacked (one septet per octet,
data_coding 0) unless `packed=True`; with a UDH the packed septets start after the fill bits
that align them, as on the air interface, so every part fits 140 octets there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final

from smpp.core import gsm
from smpp.core.text.encoding import Encoding, ucs2_encode

ESM_CLASS_UDHI: Final = 0x40
"""esm_class bit: short_message starts with a User Data Header."""

TAG_SAR_MSG_REF_NUM: Final = 0x020C
TAG_SAR_TOTAL_SEGMENTS: Final = 0x020E
TAG_SAR_SEGMENT_SEQNUM: Final = 0x020F
TAG_MESSAGE_PAYLOAD: Final = 0x0424

MAX_PARTS: Final = 255
"""The total-parts field of a UDH and sar_total_segments are one octet."""
MAX_PAYLOAD_OCTETS: Final = 0xFFFF
"""A TLV value length is two octets."""

_SINGLE_LIMIT: Final = {Encoding.GSM7: 160, Encoding.UCS2: 70}
_NO_TLVS: Final[Mapping[int, bytes]] = MappingProxyType({})
_GSM7_DATA_CODING: Final = Encoding.GSM7.data_coding


class LongMessageMethod(Enum):
    """How a text longer than one SMS is carried, chosen per SMSC."""

    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"
    PAYLOAD = "payload"

    @property
    def max_reference(self) -> int:
        """Largest concatenation reference the method can carry."""
        return 0xFF if self is LongMessageMethod.UDH8 else 0xFFFF

    def part_limit(self, encoding: Encoding) -> int:
        """Units per part of a long message (for PAYLOAD: per segment the SMSC will send)."""
        if self in (LongMessageMethod.UDH8, LongMessageMethod.PAYLOAD):
            return 153 if encoding is Encoding.GSM7 else 67
        return 152 if encoding is Encoding.GSM7 else 66


@dataclass(frozen=True, slots=True)
class PartPlan:
    """One submit_sm of a message.

    `seq` counts from 1 as in the UDH; `length` is in septets (GSM-7) or UTF-16 units (UCS-2).
    `esm_class_flags` are OR-ed into the PDU's esm_class; `tlvs` are added to its optional
    parameters (tag → raw value).
    """

    seq: int
    total: int
    text: str
    length: int
    short_message: bytes
    esm_class_flags: int
    tlvs: Mapping[int, bytes]


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """How a text goes out: its alphabet, total length and the PDUs that carry it.

    `segments` is the number of SMS the network delivers, which is what is billed: equal to
    `len(parts)` except with message_payload, where one PDU carries a text the SMSC splits.
    """

    text: str
    encoding: Encoding
    data_coding: int
    method: LongMessageMethod
    reference: int
    length: int
    segments: int
    parts: tuple[PartPlan, ...]


@dataclass(frozen=True, slots=True)
class _Units:
    """A text in its alphabet's units, with what is needed to split and rebuild it."""

    encoding: Encoding
    length: int
    octets: bytes  # unpacked septets or UTF-16BE
    width: int  # octets per unit
    is_lead: Callable[[int], bool]  # unit i must stay with unit i + 1


def _units(text: str) -> _Units:
    septets = gsm.encode_septets(text)
    if septets is not None:
        octets = septets.encode("ascii")
        return _Units(Encoding.GSM7, len(octets), octets, 1, lambda i: octets[i] == gsm.ESC)
    octets = ucs2_encode(text)
    return _Units(
        Encoding.UCS2, len(octets) // 2, octets, 2, lambda i: 0xD8 <= octets[2 * i] <= 0xDB
    )


def _cuts(units: _Units, limit: int) -> list[tuple[int, int]]:
    """[start, end) unit ranges of at most `limit`, never ending on an ESC or high surrogate."""
    cuts = []
    start = 0
    while start < units.length:  # each range holds >= limit - 1 >= 1 units: bounded
        end = min(start + limit, units.length)
        if end < units.length and units.is_lead(end - 1):
            end -= 1
        cuts.append((start, end))
        start = end
    return cuts


def _segment_cuts(units: _Units, method: LongMessageMethod) -> list[tuple[int, int]]:
    """The unit ranges of the SMS segments `units` is delivered as."""
    if units.length <= _SINGLE_LIMIT[units.encoding]:
        return [(0, units.length)]
    return _cuts(units, method.part_limit(units.encoding))


def count_parts(text: str, method: LongMessageMethod) -> int:
    """SMS segments `text` is delivered as with `method` (the billable count).

    For PAYLOAD this is how the SMSC will split the one PDU, not the number of PDUs.
    ValueError for a text with a lone surrogate (it cannot be sent).
    """
    septets = gsm.encode_septets(text)
    if septets is not None and len(septets) <= _SINGLE_LIMIT[Encoding.GSM7]:
        return 1  # the common case, without building the units
    return len(_segment_cuts(_units(text), method))


def _check_reference(method: LongMessageMethod, reference: int) -> None:
    if not 0 <= reference <= method.max_reference:
        raise ValueError(
            f"reference: {reference} is outside 0..{method.max_reference} for {method.value}"
        )


def _body(units: _Units, start: int, end: int, fill_bits: int, packed: bool) -> bytes:
    chunk = units.octets[start * units.width : end * units.width]
    if packed and units.encoding is Encoding.GSM7:
        return gsm.pack_septets(chunk, fill_bits)
    return chunk


def _chunk_text(units: _Units, start: int, end: int) -> str:
    chunk = units.octets[start * units.width : end * units.width]
    if units.encoding is Encoding.GSM7:
        return gsm.decode(chunk)
    return chunk.decode("utf-16-be")


def _concat_fields(
    method: LongMessageMethod, reference: int, total: int, seq: int
) -> tuple[bytes, Mapping[int, bytes]]:
    """(UDH, TLVs) marking part `seq` of `total`."""
    if method is LongMessageMethod.UDH8:
        return bytes((0x05, 0x00, 0x03, reference, total, seq)), _NO_TLVS
    if method is LongMessageMethod.UDH16:
        return bytes((0x06, 0x08, 0x04, reference >> 8, reference & 0xFF, total, seq)), _NO_TLVS
    tlvs = {
        TAG_SAR_MSG_REF_NUM: reference.to_bytes(2, "big"),
        TAG_SAR_TOTAL_SEGMENTS: bytes((total,)),
        TAG_SAR_SEGMENT_SEQNUM: bytes((seq,)),
    }
    return b"", MappingProxyType(tlvs)


def _single_part(text: str, units: _Units, packed: bool) -> PartPlan:
    body = _body(units, 0, units.length, 0, packed)
    return PartPlan(1, 1, text, units.length, body, 0, _NO_TLVS)


def _single_gsm7(
    text: str, septets: bytes, method: LongMessageMethod, reference: int, packed: bool
) -> MessagePlan:
    """`plan_message` of a GSM-7 text that fits one SMS (the common case), as the general
    path plans it, without building its units."""
    body = gsm.pack_septets(septets, 0) if packed else septets
    length = len(septets)
    part = PartPlan(1, 1, text, length, body, 0, _NO_TLVS)
    return MessagePlan(
        text, Encoding.GSM7, _GSM7_DATA_CODING, method, reference, length, 1, (part,)
    )


def _payload_part(text: str, units: _Units, packed: bool) -> PartPlan:
    body = _body(units, 0, units.length, 0, packed)
    if len(body) > MAX_PAYLOAD_OCTETS:
        raise ValueError(
            f"text: {len(body)} octets exceed the {MAX_PAYLOAD_OCTETS}-octet message_payload"
        )
    tlvs = MappingProxyType({TAG_MESSAGE_PAYLOAD: body})
    return PartPlan(1, 1, text, units.length, b"", 0, tlvs)


def _split_parts(
    units: _Units,
    cuts: list[tuple[int, int]],
    method: LongMessageMethod,
    reference: int,
    packed: bool,
) -> tuple[PartPlan, ...]:
    total = len(cuts)
    if total > MAX_PARTS:
        raise ValueError(
            f"text: needs {total} parts with {method.value}; at most {MAX_PARTS} can be linked"
        )
    parts = []
    for seq, (start, end) in enumerate(cuts, start=1):
        udh, tlvs = _concat_fields(method, reference, total, seq)
        body = _body(units, start, end, gsm.fill_bits_for(len(udh)), packed)
        flags = ESM_CLASS_UDHI if udh else 0
        text = _chunk_text(units, start, end)
        parts.append(PartPlan(seq, total, text, end - start, udh + body, flags, tlvs))
    return tuple(parts)


def plan_message(
    text: str, method: LongMessageMethod, reference: int = 0, *, packed: bool = False
) -> MessagePlan:
    """Plan the submit_sm PDUs that carry `text` to an SMSC using `method`.

    `reference` links the parts of one long message (0..method.max_reference; the caller keeps
    a counter per SMSC and destination); it is unused for one-part messages and PAYLOAD.
    `packed=True` packs GSM-7 septets 7 bits each instead of one per octet.

    Raises ValueError naming the input at fault: a reference out of range, a text with a lone
    surrogate, a text needing more than 255 parts or more than 65,535 octets of payload.
    """
    _check_reference(method, reference)
    septets = gsm.encode_septets(text)
    if septets is not None and len(septets) <= _SINGLE_LIMIT[Encoding.GSM7]:
        return _single_gsm7(text, septets.encode("ascii"), method, reference, packed)
    return _plan_units(text, method, reference, packed)


def _plan_units(text: str, method: LongMessageMethod, reference: int, packed: bool) -> MessagePlan:
    """`plan_message` for any text (the reference already checked)."""
    units = _units(text)
    encoding = units.encoding
    cuts = _segment_cuts(units, method)
    segments = len(cuts)
    if segments == 1:
        parts: tuple[PartPlan, ...] = (_single_part(text, units, packed),)
    elif method is LongMessageMethod.PAYLOAD:
        parts = (_payload_part(text, units, packed),)
    else:
        parts = _split_parts(units, cuts, method, reference, packed)
    return MessagePlan(
        text, encoding, encoding.data_coding, method, reference, units.length, segments, parts
    )
