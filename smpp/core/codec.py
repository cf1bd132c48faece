"""SMPP 3.4 wire codec: `encode(pdu) -> bytes`, `decode(frame) -> Pdu`, and a `Framer`.

Layouts are data (`LAYOUTS`: per PDU class, the mandatory body fields in wire order), read by
one encoder and one decoder; fixed-size runs of 1-octet integers are packed with one
precompiled `struct.Struct`.

Errors say whose fault they are:

- `PduEncodeError` (a ValueError): we built a PDU the wire cannot carry (a C-octet string over
  its limit or with a NUL, an integer out of range, a short_message over 254 octets). It names
  the field. Nothing is ever truncated.
- `PduDecodeError`: the peer sent bytes that are not a valid PDU. It carries the
  ``command_status`` to answer with (ESME_RINVCMDLEN, ESME_RINVSRCADR, ...) and the
  ``sequence_number`` / ``command_id`` when they could be read, so the session can answer
  generic_nack. `decode` and `Framer.feed` raise nothing else, whatever the input.

Unknown command ids are not errors here: they decode to `UnknownPdu` (body kept), and the
session answers requests among them with generic_nack ESME_RINVCMDID.

Decoding is lenient where the wire is ambiguous: a response whose body is empty (SMPP 3.4
omits the body of most responses with a non-zero command_status) decodes with default fields,
and a response with a non-zero command_status and nothing but default fields is encoded as a
bare header for the same reason. A tag repeated in the optional part keeps its first value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from smpp.core._codegen import FAST_ERRORS, make_builder, make_decoder, make_encoder
from smpp.core.pdu import (
    CLASS_BY_COMMAND_ID,
    RESPONSE_BIT,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from smpp.core.status import CommandStatus as St
from smpp.core.tlv import EMPTY_TLVS, tag_name

HEADER = struct.Struct(">IIII")
HEADER_SIZE = 16
MAX_SEQUENCE = 0x7FFFFFFF
DEFAULT_MAX_PDU_SIZE = 65536
SHORT_MESSAGE_MAX = 254
_LEN = struct.Struct(">I")
_TLV_HEAD = struct.Struct(">HH")
_NUL = b"\0"


class PduDecodeError(Exception):
    """The peer sent something that is not a valid SMPP 3.4 PDU.

    ``command_status`` is what to answer with (in generic_nack or the response);
    ``sequence_number`` and ``command_id`` are None when they could not be read.
    """

    def __init__(
        self,
        message: str,
        command_status: int,
        sequence_number: int | None = None,
        command_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command_status = command_status
        self.sequence_number = sequence_number
        self.command_id = command_id


class PduEncodeError(ValueError):
    """A PDU we built cannot be put on the wire; ``field`` names the culprit."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# --- layouts as data ------------------------------------------------------------------------


class Kind(Enum):
    """Kinds of mandatory body field."""

    CSTR = "cstr"  # C-octet string, `size` is the maximum including the NUL
    INTS = "ints"  # a run of 1-octet unsigned integers
    SHORT_MESSAGE = "sm"  # sm_length octet then that many octets


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a layout: a C-octet string, a run of octets, or short_message."""

    kind: Kind
    names: tuple[str, ...]
    size: int = 0  # CSTR: max octets including NUL
    status: int = St.ESME_RINVCMDLEN  # status to answer when this field is bad
    packer: struct.Struct | None = None


def cstr(name: str, size: int, status: int) -> Step:
    """A C-octet string of at most size-1 characters plus NUL."""
    return Step(Kind.CSTR, (name,), size, status)


def ints(*names: str) -> Step:
    """A run of 1-octet integers, packed together."""
    return Step(Kind.INTS, names, packer=struct.Struct(">" + "B" * len(names)))


SHORT_MESSAGE = Step(Kind.SHORT_MESSAGE, ("short_message",), status=St.ESME_RINVMSGLEN)

_BIND = (
    cstr("system_id", 16, St.ESME_RINVSYSID),
    cstr("password", 9, St.ESME_RINVPASWD),
    cstr("system_type", 13, St.ESME_RINVSYSTYP),
    ints("interface_version", "addr_ton", "addr_npi"),
    cstr("address_range", 41, St.ESME_RINVCMDLEN),
)
_BIND_RESP = (cstr("system_id", 16, St.ESME_RINVSYSID),)
_MESSAGE_ID = (cstr("message_id", 65, St.ESME_RINVMSGID),)
_SHORT_MESSAGE = (
    cstr("service_type", 6, St.ESME_RINVSERTYP),
    ints("source_addr_ton", "source_addr_npi"),
    cstr("source_addr", 21, St.ESME_RINVSRCADR),
    ints("dest_addr_ton", "dest_addr_npi"),
    cstr("destination_addr", 21, St.ESME_RINVDSTADR),
    ints("esm_class", "protocol_id", "priority_flag"),
    cstr("schedule_delivery_time", 17, St.ESME_RINVSCHED),
    cstr("validity_period", 17, St.ESME_RINVEXPIRY),
    ints("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id"),
    SHORT_MESSAGE,
)

LAYOUTS: Mapping[type[Pdu], tuple[Step, ...]] = {
    BindTransmitter: _BIND,
    BindReceiver: _BIND,
    BindTransceiver: _BIND,
    BindTransmitterResp: _BIND_RESP,
    BindReceiverResp: _BIND_RESP,
    BindTransceiverResp: _BIND_RESP,
    Outbind: (cstr("system_id", 16, St.ESME_RINVSYSID), cstr("password", 9, St.ESME_RINVPASWD)),
    Unbind: (),
    UnbindResp: (),
    EnquireLink: (),
    EnquireLinkResp: (),
    GenericNack: (),
    SubmitSm: _SHORT_MESSAGE,
    DeliverSm: _SHORT_MESSAGE,
    SubmitSmResp: _MESSAGE_ID,
    DeliverSmResp: _MESSAGE_ID,
    DataSmResp: _MESSAGE_ID,
    DataSm: (
        cstr("service_type", 6, St.ESME_RINVSERTYP),
        ints("source_addr_ton", "source_addr_npi"),
        cstr("source_addr", 65, St.ESME_RINVSRCADR),
        ints("dest_addr_ton", "dest_addr_npi"),
        cstr("destination_addr", 65, St.ESME_RINVDSTADR),
        ints("esm_class", "registered_delivery", "data_coding"),
    ),
    QuerySm: (
        cstr("message_id", 65, St.ESME_RINVMSGID),
        ints("source_addr_ton", "source_addr_npi"),
        cstr("source_addr", 21, St.ESME_RINVSRCADR),
    ),
    QuerySmResp: (
        cstr("message_id", 65, St.ESME_RINVMSGID),
        cstr("final_date", 17, St.ESME_RINVCMDLEN),
        ints("message_state", "error_code"),
    ),
    AlertNotification: (
        ints("source_addr_ton", "source_addr_npi"),
        cstr("source_addr", 65, St.ESME_RINVSRCADR),
        ints("esme_addr_ton", "esme_addr_npi"),
        cstr("esme_addr", 65, St.ESME_RINVDSTADR),
    ),
}
"""Mandatory body of every PDU class, in wire order (SMPP 3.4 §4)."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A layout prepared for the hot path."""

    cls: type[Pdu]
    command_id: int
    steps: tuple[tuple[Kind, int, int, int, struct.Struct | None], ...]
    names: tuple[str, ...]
    getter: Any  # attrgetter of all body fields -> tuple
    defaults: tuple[Any, ...]
    is_response: bool
    build: Callable[..., Pdu]
    encode_pdu: Callable[[Pdu, int], bytes]
    decode_body: Callable[[bytes, int, int, int], Pdu]


_KINDS = {"cstr": Kind.CSTR, "ints": Kind.INTS, "sm": Kind.SHORT_MESSAGE}


def _compile(cls: type[Pdu], steps: tuple[Step, ...]) -> _Compiled:
    names = tuple(n for s in steps for n in s.names)
    fields = cls.__dataclass_fields__
    defaults = tuple(fields[n].default for n in names)
    getter = (lambda pdu: tuple(getattr(pdu, n) for n in names)) if names else (lambda pdu: ())
    build = make_builder(cls)
    reference = _Compiled(
        cls=cls,
        command_id=cls.command_id,
        steps=tuple((s.kind, s.size, len(s.names), s.status, s.packer) for s in steps),
        names=names,
        getter=getter,
        defaults=defaults,
        is_response=bool(cls.command_id & RESPONSE_BIT),
        build=build,
        encode_pdu=_not_compiled,
        decode_body=_not_compiled,
    )
    default_body = _encode_body(reference, defaults) if reference.is_response else None
    return replace(
        reference,
        encode_pdu=make_encoder(steps, _KINDS, HEADER, cls.command_id, default_body, _encode_tlvs),
        decode_body=make_decoder(steps, _KINDS, build, _decode_tlvs, EMPTY_TLVS, cls.command_id),
    )


def _not_compiled(*args: Any) -> Any:
    raise NotImplementedError("layout not compiled yet")


_CSTR, _INTS, _SM = Kind.CSTR, Kind.INTS, Kind.SHORT_MESSAGE


# --- encode ---------------------------------------------------------------------------------


def encode(pdu: Pdu, sequence_number: int | None = None) -> bytes:
    """The wire bytes of `pdu`; `sequence_number`, when given, replaces the PDU's own.

    Raises PduEncodeError naming the field that cannot be carried.
    """
    seq = pdu.sequence_number if sequence_number is None else sequence_number
    c = _BY_CLASS.get(pdu.__class__)
    if c is None:
        return _encode_unknown(pdu, seq)
    try:
        return c.encode_pdu(pdu, seq)
    except FAST_ERRORS:
        return _encode_reference(c, pdu, seq)


def _encode_reference(c: _Compiled, pdu: Pdu, seq: int) -> bytes:
    """The reference encoder: same result as the compiled one, with precise errors."""
    status = pdu.command_status
    tlvs = pdu.tlvs
    values = c.getter(pdu)
    if status and c.is_response and not tlvs and values == c.defaults:
        body = b""
    else:
        body = _encode_body(c, values)
        if tlvs:
            body += _encode_tlvs(tlvs)
    try:
        return HEADER.pack(HEADER_SIZE + len(body), c.command_id, status, seq) + body
    except struct.error:
        raise _header_error(status, seq, len(body)) from None


def _header_error(status: int, seq: int, body_len: int) -> PduEncodeError:
    if not (isinstance(seq, int) and 0 <= seq <= 0xFFFFFFFF):
        return PduEncodeError(f"sequence_number {seq!r} is out of range", "sequence_number")
    if not (isinstance(status, int) and 0 <= status <= 0xFFFFFFFF):
        return PduEncodeError(f"command_status {status!r} is out of range", "command_status")
    return PduEncodeError(f"body of {body_len} octets is too long", "tlvs")


def _encode_body(c: _Compiled, values: tuple[Any, ...]) -> bytes:
    parts: list[bytes] = []
    i = 0
    for kind, size, count, _status, packer in c.steps:
        if kind is _CSTR:
            value = values[i]
            try:
                raw = value.encode("latin-1")
            except (UnicodeEncodeError, AttributeError):
                raise _field_error(c, i, "is not a latin-1 str") from None
            if len(raw) >= size or 0 in raw:
                raise _field_error(c, i, f"is longer than {size - 1} octets or contains a NUL")
            parts.append(raw)
            parts.append(_NUL)
            i += 1
        elif kind is _INTS:
            try:
                parts.append(packer.pack(*values[i : i + count]))  # type: ignore[union-attr]
            except struct.error:
                raise _ints_error(c, values, i, count) from None
            i += count
        else:
            sm = values[i]
            if not isinstance(sm, bytes | bytearray) or len(sm) > SHORT_MESSAGE_MAX:
                raise _field_error(c, i, f"must be bytes of at most {SHORT_MESSAGE_MAX} octets")
            parts.append(bytes((len(sm),)))
            parts.append(bytes(sm))
            i += 1
    return b"".join(parts)


def _field_error(c: _Compiled, i: int, what: str) -> PduEncodeError:
    name = c.names[i]
    return PduEncodeError(f"{c.cls.__name__}.{name} {what}", name)


def _ints_error(c: _Compiled, values: tuple[Any, ...], i: int, count: int) -> PduEncodeError:
    for j in range(i, i + count):
        if not (isinstance(values[j], int) and 0 <= values[j] <= 0xFF):
            return _field_error(c, j, f"= {values[j]!r} is not an integer 0-255")
    return _field_error(c, i, "cannot be packed")


def _encode_tlvs(tlvs: Mapping[int, bytes]) -> bytes:
    parts: list[bytes] = []
    for tag, value in tlvs.items():
        if not (isinstance(tag, int) and 0 <= tag <= 0xFFFF):
            raise PduEncodeError(f"tlvs: tag {tag!r} is not 0-0xFFFF", "tlvs")
        if not isinstance(value, bytes | bytearray) or len(value) > 0xFFFF:
            raise PduEncodeError(
                f"tlvs[{tag_name(tag)}] must be bytes of at most 65535 octets", "tlvs"
            )
        parts.append(_TLV_HEAD.pack(tag, len(value)))
        parts.append(value)
    return b"".join(parts)


def _encode_unknown(pdu: Pdu, seq: int) -> bytes:
    if not isinstance(pdu, UnknownPdu):
        raise PduEncodeError(f"{type(pdu).__name__} has no layout", "command_id")
    if not 0 <= pdu.raw_command_id <= 0xFFFFFFFF:
        raise PduEncodeError("raw_command_id is out of range", "raw_command_id")
    head = HEADER.pack(HEADER_SIZE + len(pdu.body), pdu.raw_command_id, pdu.command_status, seq)
    return head + pdu.body


# --- decode ---------------------------------------------------------------------------------


def decode(frame: bytes) -> Pdu:
    """The PDU in `frame` (exactly one PDU, header included).

    Raises PduDecodeError, and only that, when the bytes are not a valid PDU.
    """
    n = len(frame)
    if n < HEADER_SIZE:
        raise PduDecodeError(f"frame of {n} octets is shorter than a header", St.ESME_RINVCMDLEN)
    length, cid, status, seq = HEADER.unpack_from(frame)
    if length != n:
        raise PduDecodeError(
            f"command_length {length} differs from the frame's {n} octets",
            St.ESME_RINVCMDLEN,
            seq,
            cid,
        )
    c = _BY_ID.get(cid)
    if c is None:
        return UnknownPdu(seq, status, EMPTY_TLVS, cid, bytes(frame[HEADER_SIZE:]))
    if n == HEADER_SIZE and c.is_response:
        return c.build(seq, status, EMPTY_TLVS, *c.defaults)
    try:
        return c.decode_body(frame, n, seq, status)
    except FAST_ERRORS:
        return _decode_body(c, frame, n, seq, status)


def _decode_body(c: _Compiled, frame: bytes, n: int, seq: int, status: int) -> Pdu:
    """The reference decoder: same steps as the compiled one, with precise errors."""
    cid = c.command_id
    values: list[Any] = [seq, status, EMPTY_TLVS]
    pos = HEADER_SIZE
    try:
        for kind, size, count, bad, packer in c.steps:
            if kind is _CSTR:
                end = frame.find(_NUL, pos, pos + size)
                if end < 0:
                    raise _cstr_error(c, values, frame, pos, size, bad)
                values.append(frame[pos:end].decode("latin-1"))
                pos = end + 1
            elif kind is _INTS:
                values.extend(packer.unpack_from(frame, pos))  # type: ignore[union-attr]
                pos += count
            else:
                sm_end = pos + 1 + frame[pos]
                if sm_end > n:
                    raise PduDecodeError(
                        f"sm_length {frame[pos]} runs past the end of the PDU", bad, seq, cid
                    )
                values.append(frame[pos + 1 : sm_end])
                pos = sm_end
    except (struct.error, IndexError):
        raise PduDecodeError(
            f"{c.cls.__name__} body is truncated at octet {pos}", St.ESME_RINVCMDLEN, seq, cid
        ) from None
    if pos < n:
        values[2] = _decode_tlvs(frame, pos, n, seq, cid)
    return c.build(*values)


def _cstr_error(
    c: _Compiled, values: list[Any], frame: bytes, pos: int, size: int, bad: int
) -> PduDecodeError:
    name = c.names[len(values) - 3]
    seq, cid = values[0], c.command_id
    if frame.find(_NUL, pos) < 0:
        return PduDecodeError(f"{name} has no NUL terminator", St.ESME_RINVCMDLEN, seq, cid)
    return PduDecodeError(f"{name} is longer than {size - 1} octets", bad, seq, cid)


def _decode_tlvs(frame: bytes, pos: int, n: int, seq: int, cid: int) -> dict[int, bytes]:
    tlvs: dict[int, bytes] = {}
    while pos < n:
        if pos + 4 > n:
            raise PduDecodeError(
                f"optional part ends inside a TLV header at octet {pos}",
                St.ESME_RINVOPTPARSTREAM,
                seq,
                cid,
            )
        tag, size = _TLV_HEAD.unpack_from(frame, pos)
        pos += 4
        end = pos + size
        if end > n:
            raise PduDecodeError(
                f"TLV 0x{tag:04X} length {size} runs past the end of the PDU",
                St.ESME_RINVOPTPARSTREAM,
                seq,
                cid,
            )
        if tag not in tlvs:
            tlvs[tag] = frame[pos:end]
        pos = end
    return tlvs


# --- framing --------------------------------------------------------------------------------


class Framer:
    """Cuts a byte stream into PDU frames by command_length.

    `feed(chunk)` takes any chunk (several PDUs, half of one) and yields every complete frame.
    A command_length below 16 or above `max_pdu_size` raises PduDecodeError (once the 16 header
    octets are there, so the sequence number can be answered); the stream cannot be resynced
    after that, and the framer refuses further input.
    """

    __slots__ = ("_failed", "_pending", "max_pdu_size")

    def __init__(self, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE) -> None:
        if max_pdu_size < HEADER_SIZE:
            raise ValueError(f"max_pdu_size {max_pdu_size} is below the header size")
        self.max_pdu_size = max_pdu_size
        self._pending = b""  # the start of a frame not yet complete
        self._failed: PduDecodeError | None = None

    @property
    def buffered(self) -> int:
        """Octets held that do not yet make a complete frame."""
        return len(self._pending)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add `data` and yield the complete frames now buffered, in order.

        Stopping the iteration early keeps the frames not yet yielded for the next `feed`.
        """
        if self._failed is not None:
            raise self._failed
        if self._pending:
            data = self._pending + data
        elif not isinstance(data, bytes):
            data = bytes(data)
        self._pending = data
        pos = 0
        end = len(data)
        unpack = _LEN.unpack_from
        limit = self.max_pdu_size
        try:
            while end - pos >= 4:
                (length,) = unpack(data, pos)
                if length < HEADER_SIZE or length > limit:
                    self._refuse(data, pos, length)
                    return
                if end - pos < length:
                    break
                frame = data if length == end else data[pos : pos + length]
                pos += length
                yield frame
        finally:
            self._pending = data[pos:] if pos else data

    def _refuse(self, buf: bytes, pos: int, length: int) -> None:
        if len(buf) - pos < HEADER_SIZE:
            return  # wait for the header to name the sequence number
        _, cid, _, seq = HEADER.unpack_from(buf, pos)
        limit = f"above the maximum {self.max_pdu_size}" if length > HEADER_SIZE else "below 16"
        self._failed = PduDecodeError(
            f"command_length {length} is {limit}", St.ESME_RINVCMDLEN, seq, cid
        )
        raise self._failed

    def close(self) -> None:
        """End of stream: raise PduDecodeError if a partial or refused frame is left."""
        if self._failed is not None:
            raise self._failed
        if self._pending:
            buf = self._pending
            seq = _LEN.unpack_from(buf, 12)[0] if len(buf) >= HEADER_SIZE else None
            length = _LEN.unpack_from(buf)[0] if len(buf) >= 4 else None
            raise PduDecodeError(
                f"stream ended inside a PDU ({len(buf)} of {length} octets)",
                St.ESME_RINVCMDLEN,
                seq,
            )


# --- compiled layouts (after the helpers they use) ------------------------------------------

_BY_CLASS: dict[type[Pdu], _Compiled] = {c: _compile(c, s) for c, s in LAYOUTS.items()}
_BY_ID: dict[int, _Compiled] = {c.command_id: c for c in _BY_CLASS.values()}
assert set(_BY_ID) == set(CLASS_BY_COMMAND_ID), "every PDU class needs a layout"
