"""SMPP 3.4 optional parameters (TLVs): named tags, their value formats, small helpers.

A PDU carries its optional parameters as ``tlvs: Mapping[int, bytes]`` (tag -> raw value, in
wire order, unknown tags kept verbatim). This module names the tags of SMPP 3.4 §5.3.2, says
how each value is formatted (`TAG_FORMATS`), and builds or reads values:

    tlvs = {Tag.SAR_MSG_REF_NUM: int_value(Tag.SAR_MSG_REF_NUM, 0x1234)}
    state = read_int(pdu.tlvs, Tag.MESSAGE_STATE)           # int | None
    msg_id = read_cstr(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID)  # str | None

Readers return None when the tag is absent and raise `TlvValueError` (a ValueError naming the
tag) when the value does not have the format the spec gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
from types import MappingProxyType


class Tag(IntEnum):
    """The optional parameter tags of SMPP 3.4 §5.3.2."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class Kind(Enum):
    """How a TLV value is laid out."""

    INT = "int"  # big-endian unsigned integer of `size` octets
    CSTR = "cstr"  # C-octet string (NUL terminated) of at most `size` octets
    OCTETS = "octets"  # raw octets, at most `size` (0 = no limit but the 16-bit length)
    EMPTY = "empty"  # no value (length 0)


@dataclass(frozen=True, slots=True)
class TagFormat:
    """The value format of one tag: kind and size (INT: exact, CSTR/OCTETS: maximum)."""

    kind: Kind
    size: int


_I, _C, _O, _E = Kind.INT, Kind.CSTR, Kind.OCTETS, Kind.EMPTY

TAG_FORMATS: Mapping[int, TagFormat] = MappingProxyType(
    {
        Tag.DEST_ADDR_SUBUNIT: TagFormat(_I, 1),
        Tag.DEST_NETWORK_TYPE: TagFormat(_I, 1),
        Tag.DEST_BEARER_TYPE: TagFormat(_I, 1),
        Tag.DEST_TELEMATICS_ID: TagFormat(_I, 2),
        Tag.SOURCE_ADDR_SUBUNIT: TagFormat(_I, 1),
        Tag.SOURCE_NETWORK_TYPE: TagFormat(_I, 1),
        Tag.SOURCE_BEARER_TYPE: TagFormat(_I, 1),
        Tag.SOURCE_TELEMATICS_ID: TagFormat(_I, 1),
        Tag.QOS_TIME_TO_LIVE: TagFormat(_I, 4),
        Tag.PAYLOAD_TYPE: TagFormat(_I, 1),
        Tag.ADDITIONAL_STATUS_INFO_TEXT: TagFormat(_C, 256),
        Tag.RECEIPTED_MESSAGE_ID: TagFormat(_C, 65),
        Tag.MS_MSG_WAIT_FACILITIES: TagFormat(_I, 1),
        Tag.PRIVACY_INDICATOR: TagFormat(_I, 1),
        Tag.SOURCE_SUBADDRESS: TagFormat(_O, 23),
        Tag.DEST_SUBADDRESS: TagFormat(_O, 23),
        Tag.USER_MESSAGE_REFERENCE: TagFormat(_I, 2),
        Tag.USER_RESPONSE_CODE: TagFormat(_I, 1),
        Tag.SOURCE_PORT: TagFormat(_I, 2),
        Tag.DESTINATION_PORT: TagFormat(_I, 2),
        Tag.SAR_MSG_REF_NUM: TagFormat(_I, 2),
        Tag.LANGUAGE_INDICATOR: TagFormat(_I, 1),
        Tag.SAR_TOTAL_SEGMENTS: TagFormat(_I, 1),
        Tag.SAR_SEGMENT_SEQNUM: TagFormat(_I, 1),
        Tag.SC_INTERFACE_VERSION: TagFormat(_I, 1),
        Tag.CALLBACK_NUM_PRES_IND: TagFormat(_I, 1),
        Tag.CALLBACK_NUM_ATAG: TagFormat(_O, 65),
        Tag.NUMBER_OF_MESSAGES: TagFormat(_I, 1),
        Tag.CALLBACK_NUM: TagFormat(_O, 19),
        Tag.DPF_RESULT: TagFormat(_I, 1),
        Tag.SET_DPF: TagFormat(_I, 1),
        Tag.MS_AVAILABILITY_STATUS: TagFormat(_I, 1),
        Tag.NETWORK_ERROR_CODE: TagFormat(_O, 3),
        Tag.MESSAGE_PAYLOAD: TagFormat(_O, 0),
        Tag.DELIVERY_FAILURE_REASON: TagFormat(_I, 1),
        Tag.MORE_MESSAGES_TO_SEND: TagFormat(_I, 1),
        Tag.MESSAGE_STATE: TagFormat(_I, 1),
        Tag.USSD_SERVICE_OP: TagFormat(_I, 1),
        Tag.DISPLAY_TIME: TagFormat(_I, 1),
        Tag.SMS_SIGNAL: TagFormat(_I, 2),
        Tag.MS_VALIDITY: TagFormat(_I, 1),
        Tag.ALERT_ON_MESSAGE_DELIVERY: TagFormat(_E, 0),
        Tag.ITS_REPLY_TYPE: TagFormat(_I, 1),
        Tag.ITS_SESSION_INFO: TagFormat(_O, 2),
    }
)
"""Value format of every SMPP 3.4 tag."""


class _EmptyTlvs(dict[int, bytes]):
    """An empty dict that refuses changes and hashes, so it can be a dataclass default."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return 0

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("EMPTY_TLVS is immutable; build a new dict")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]


EMPTY_TLVS: Mapping[int, bytes] = _EmptyTlvs()
"""The shared, immutable 'no optional parameters' value."""


class TlvValueError(ValueError):
    """A TLV value does not fit its tag's format (the message names the tag)."""


def tag_name(tag: int) -> str:
    """`message_state` for 0x0427, `tag_0x1400` for a tag SMPP 3.4 does not name."""
    try:
        return Tag(tag).name.lower()
    except ValueError:
        return f"tag_0x{tag:04X}"


def _format(tag: int, kind: Kind) -> TagFormat:
    fmt = TAG_FORMATS.get(tag)
    if fmt is None or fmt.kind is not kind:
        raise TlvValueError(f"{tag_name(tag)} is not a {kind.value} tag")
    return fmt


def int_value(tag: int, value: int) -> bytes:
    """The raw value of an integer tag (size from the table)."""
    fmt = _format(tag, Kind.INT)
    try:
        return value.to_bytes(fmt.size, "big")
    except OverflowError:
        raise TlvValueError(f"{tag_name(tag)}={value} does not fit {fmt.size} octet(s)") from None


def cstr_value(tag: int, value: str) -> bytes:
    """The raw value of a C-octet-string tag: latin-1 octets and a NUL."""
    fmt = _format(tag, Kind.CSTR)
    raw = value.encode("latin-1") + b"\0"
    if len(raw) > fmt.size or b"\0" in raw[:-1]:
        raise TlvValueError(f"{tag_name(tag)} is longer than {fmt.size - 1} octets or has a NUL")
    return raw


def read_int(tlvs: Mapping[int, bytes], tag: int) -> int | None:
    """The integer value of `tag`, None when absent; the length must be the spec's."""
    raw = tlvs.get(tag)
    if raw is None:
        return None
    fmt = _format(tag, Kind.INT)
    if len(raw) != fmt.size:
        raise TlvValueError(f"{tag_name(tag)} has {len(raw)} octets, expected {fmt.size}")
    return int.from_bytes(raw, "big")


def read_cstr(tlvs: Mapping[int, bytes], tag: int) -> str | None:
    """The text of a C-octet-string tag, None when absent. A missing final NUL is tolerated
    (several SMSCs omit it in receipted_message_id); anything after a NUL is not."""
    raw = tlvs.get(tag)
    if raw is None:
        return None
    end = raw.find(b"\0")
    if end >= 0 and end != len(raw) - 1:
        raise TlvValueError(f"{tag_name(tag)} has octets after its NUL")
    return (raw if end < 0 else raw[:end]).decode("latin-1")


@dataclass(frozen=True, slots=True)
class NetworkErrorCode:
    """network_error_code (0x0423): network type (1 = ANSI-136, 2 = IS-95, 3 = GSM, ...)
    and the network's error code."""

    network_type: int
    error_code: int

    def encode(self) -> bytes:
        """The 3-octet raw value."""
        return bytes((self.network_type,)) + self.error_code.to_bytes(2, "big")


def read_network_error_code(tlvs: Mapping[int, bytes]) -> NetworkErrorCode | None:
    """network_error_code, None when absent; it must be 3 octets."""
    raw = tlvs.get(Tag.NETWORK_ERROR_CODE)
    if raw is None:
        return None
    if len(raw) != 3:
        raise TlvValueError(f"network_error_code has {len(raw)} octets, expected 3")
    return NetworkErrorCode(raw[0], int.from_bytes(raw[1:], "big"))


def with_tlvs(tlvs: Mapping[int, bytes], **values: int | str | bytes) -> dict[int, bytes]:
    """A copy of `tlvs` with named tags set, formatted by the table:
    ``with_tlvs({}, sar_msg_ref_num=7, sar_total_segments=3, message_payload=b"...")``."""
    out = dict(tlvs)
    for name, value in values.items():
        try:
            tag = Tag[name.upper()]
        except KeyError:
            raise TlvValueError(f"{name} is not an SMPP 3.4 tag name") from None
        out[tag] = _raw(tag, value)
    return out


def _raw(tag: Tag, value: int | str | bytes) -> bytes:
    fmt = TAG_FORMATS[tag]
    if isinstance(value, int):
        return int_value(tag, value)
    if isinstance(value, str):
        return cstr_value(tag, value)
    if fmt.kind is Kind.INT or fmt.kind is Kind.CSTR:
        raise TlvValueError(f"{tag_name(tag)} takes {fmt.kind.value}, not raw octets")
    if fmt.size and len(value) > fmt.size:
        raise TlvValueError(f"{tag_name(tag)} is longer than {fmt.size} octets")
    if len(value) > 0xFFFF:
        raise TlvValueError(f"{tag_name(tag)} is longer than 65535 octets")
    return value


def pack_tlvs(tlvs: Mapping[int, bytes]) -> bytes:
    """`tlvs` as they go on the wire (tag and length as 16-bit big-endian, then the value),
    in their order: a form to keep them in and read back with `unpack_tlvs`."""
    return b"".join(
        tag.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value
        for tag, value in tlvs.items()
    )


def unpack_tlvs(data: bytes) -> dict[int, bytes]:
    """The TLVs `pack_tlvs` wrote, in order; ValueError when `data` does not end on one."""
    tlvs: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("truncated TLV header")
        tag = int.from_bytes(data[pos : pos + 2], "big")
        size = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 4 + size
        if end > len(data):
            raise ValueError(f"TLV 0x{tag:04x} longer than the data")
        tlvs[tag] = data[pos + 4 : end]
        pos = end
    return tlvs
