"""Inbound side of long messages: read a part's UDH or SAR TLVs, and join parts into text.

Used for MO traffic and by tests to prove that what `plan_message` sends reassembles to the
original. Functions that read a PDU never raise on malformed input; `reassemble`, which is
given a set of parts, raises ValueError when the set is not one complete message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from smpp.core.text.encoding import _charset_for, decode_text
from smpp.core.text.plan import (
    ESM_CLASS_UDHI,
    TAG_MESSAGE_PAYLOAD,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
    LongMessageMethod,
)

_IEI_CONCAT_8BIT: Final = 0x00
_IEI_CONCAT_16BIT: Final = 0x08


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Where one part sits in a long message, and the octets it carries (UDH removed)."""

    method: LongMessageMethod
    reference: int
    total: int
    seq: int
    body: bytes


@dataclass(frozen=True, slots=True)
class InboundPart:
    """The fields of a deliver_sm/submit_sm that carry text."""

    data_coding: int
    short_message: bytes
    esm_class: int = 0
    tlvs: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))


def split_udh(short_message: bytes, esm_class: int) -> tuple[bytes, bytes]:
    """(UDH including its length octet, body). No UDHI bit, or a UDH longer than the
    message, gives (b"", short_message): the octets are kept, never dropped."""
    if not esm_class & ESM_CLASS_UDHI or not short_message:
        return b"", short_message
    end = 1 + short_message[0]
    if end > len(short_message):
        return b"", short_message
    return short_message[:end], short_message[end:]


def _udh_concat(udh: bytes) -> tuple[LongMessageMethod, int, int, int] | None:
    """(method, reference, total, seq) from the concatenation element of a UDH, if any."""
    pos = 1
    while pos + 2 <= len(udh):  # each step advances by >= 2: bounded
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if len(value) < length:
            return None
        if iei == _IEI_CONCAT_8BIT and length == 3:
            return LongMessageMethod.UDH8, value[0], value[1], value[2]
        if iei == _IEI_CONCAT_16BIT and length == 4:
            return LongMessageMethod.UDH16, value[0] << 8 | value[1], value[2], value[3]
        pos += 2 + length
    return None


def _sar_concat(tlvs: Mapping[int, bytes]) -> tuple[LongMessageMethod, int, int, int] | None:
    ref = tlvs.get(TAG_SAR_MSG_REF_NUM)
    total = tlvs.get(TAG_SAR_TOTAL_SEGMENTS)
    seq = tlvs.get(TAG_SAR_SEGMENT_SEQNUM)
    if ref is None or total is None or seq is None:
        return None
    if len(ref) != 2 or len(total) != 1 or len(seq) != 1:
        return None
    return LongMessageMethod.SAR, int.from_bytes(ref, "big"), total[0], seq[0]


def message_octets(short_message: bytes, tlvs: Mapping[int, bytes]) -> bytes:
    """short_message, or message_payload when short_message is empty."""
    if short_message:
        return short_message
    return tlvs.get(TAG_MESSAGE_PAYLOAD, b"")


def concat_info(
    short_message: bytes, esm_class: int, tlvs: Mapping[int, bytes]
) -> ConcatInfo | None:
    """Concatenation data of one part: UDH (IEI 0x00 or 0x08) when esm_class has UDHI, else
    the three SAR TLVs. None when the PDU is not a well-formed part of a long message
    (seq must be 1..total). Never raises."""
    octets = message_octets(short_message, tlvs)
    udh, body = split_udh(octets, esm_class)
    found = _udh_concat(udh) if udh else _sar_concat(tlvs)
    if found is None:
        return None
    method, reference, total, seq = found
    if not 1 <= seq <= total:
        return None
    return ConcatInfo(method, reference, total, seq, body)


def _decode(data_coding: int, data: bytes, where: str) -> str:
    charset = _charset_for(data_coding)
    if charset is None:
        raise ValueError(f"{where}: data_coding 0x{data_coding:02X} is not a text coding")
    return decode_text(charset, data)


def _collect(parts: list[InboundPart]) -> dict[int, tuple[int, bytes]]:
    """seq → (data_coding, body) of a complete, consistent set of parts."""
    infos = []
    for index, part in enumerate(parts):
        info = concat_info(part.short_message, part.esm_class, part.tlvs)
        if info is None:
            raise ValueError(f"parts[{index}]: not a part of a long message")
        infos.append(info)
    first = infos[0]
    by_seq: dict[int, tuple[int, bytes]] = {}
    for index, (part, info) in enumerate(zip(parts, infos, strict=True)):
        if (info.reference, info.total) != (first.reference, first.total):
            raise ValueError(
                f"parts[{index}]: reference {info.reference}/total {info.total} differs from "
                f"parts[0]'s {first.reference}/{first.total}"
            )
        entry = (part.data_coding, info.body)
        if by_seq.setdefault(info.seq, entry) != entry:
            raise ValueError(f"parts[{index}]: a different part {info.seq} was already given")
    missing = sorted(set(range(1, first.total + 1)) - by_seq.keys())
    if missing:
        raise ValueError(f"parts: part(s) {missing} of {first.total} are missing")
    return by_seq


def reassemble(parts: Iterable[InboundPart]) -> str:
    """The text of a long message from its parts, in any order; duplicates are allowed.

    A single part that is not concatenated is decoded on its own. When every part has the
    same data_coding the bodies are joined before decoding, so an escape or a surrogate pair
    split by a foreign sender still decodes. ValueError names the part at fault: not
    concatenated, another reference, a conflicting duplicate, parts missing, a binary coding.
    """
    items = list(parts)
    if not items:
        raise ValueError("parts: no parts given")
    if len(items) == 1:
        only = items[0]
        if concat_info(only.short_message, only.esm_class, only.tlvs) is None:
            octets = message_octets(only.short_message, only.tlvs)
            _, body = split_udh(octets, only.esm_class)
            return _decode(only.data_coding, body, "parts[0]")
    by_seq = _collect(items)
    ordered = [by_seq[seq] for seq in sorted(by_seq)]
    codings = {coding for coding, _ in ordered}
    if len(codings) == 1:
        return _decode(codings.pop(), b"".join(body for _, body in ordered), "parts")
    return "".join(
        _decode(coding, body, f"part {seq}") for seq, (coding, body) in enumerate(ordered, 1)
    )
