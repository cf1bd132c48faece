"""Round trips for every PDU type, the fast paths against the reference paths, and fuzzing:
whatever the bytes, only PduDecodeError escapes `decode` and `Framer.feed`."""

from __future__ import annotations

import contextlib
import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.core import codec
from smpp.core.codec import (
    LAYOUTS,
    Framer,
    Kind,
    PduDecodeError,
    PduEncodeError,
    decode,
    encode,
)
from smpp.core.pdu import CLASS_BY_COMMAND_ID, PDU_CLASSES, DataSm, Pdu, SubmitSm, UnknownPdu
from smpp.core.status import CommandStatus

LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)
u32 = st.integers(0, 0xFFFFFFFF)
tlv_maps = st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=4)


def pdu_strategy(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "sequence_number": u32,
        "command_status": u32,
        "tlvs": tlv_maps,
    }
    for step in LAYOUTS[cls]:
        for name in step.names:
            if step.kind is Kind.CSTR:
                fields[name] = st.text(LATIN1_NO_NUL, max_size=step.size - 1)
            elif step.kind is Kind.INTS:
                fields[name] = st.integers(0, 255)
            else:
                fields[name] = st.binary(max_size=254)
    return st.builds(cls, **fields)


any_pdu = st.one_of([pdu_strategy(c) for c in PDU_CLASSES])
unknown_pdu = st.builds(
    UnknownPdu,
    sequence_number=u32,
    command_status=u32,
    raw_command_id=u32.filter(lambda i: i not in CLASS_BY_COMMAND_ID),
    body=st.binary(max_size=64),
)


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_every_pdu_type(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(pdu_strategy(cls))
    wire = encode(pdu)
    assert struct.unpack_from(">I", wire)[0] == len(wire)
    assert decode(wire) == pdu


@settings(max_examples=100, deadline=None)
@given(unknown_pdu)
def test_round_trip_unknown_pdu(pdu: UnknownPdu) -> None:
    assert decode(encode(pdu)) == pdu


@settings(max_examples=300, deadline=None)
@given(any_pdu)
def test_fast_paths_agree_with_reference_paths(pdu: Pdu) -> None:
    c = codec._BY_CLASS[type(pdu)]
    wire = c.encode_pdu(pdu, pdu.sequence_number)
    assert wire == codec._encode_reference(c, pdu, pdu.sequence_number)
    n = len(wire)
    if n > 16 or not c.is_response:
        fast = c.decode_body(wire, n, pdu.sequence_number, pdu.command_status)
        ref = codec._decode_body(c, wire, n, pdu.sequence_number, pdu.command_status)
        assert fast == ref == pdu
        assert type(fast) is type(pdu)


def test_pdus_with_tlvs_hash_and_compare() -> None:
    a = SubmitSm(sequence_number=1, tlvs={0x0204: b"\x00\x01"})
    b = decode(encode(a))
    assert a == b and hash(a) == hash(b)
    assert a != SubmitSm(sequence_number=1, tlvs={0x0204: b"\x00\x02"})


def test_decoded_pdu_is_frozen_and_of_its_class() -> None:
    pdu = decode(encode(SubmitSm(sequence_number=1, destination_addr="254700000001")))
    assert type(pdu) is SubmitSm
    with pytest.raises(AttributeError):
        pdu.destination_addr = "x"  # type: ignore[misc]


# --- encode errors name the field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pdu", "field"),
    [
        (SubmitSm(destination_addr="2" * 21), "destination_addr"),
        (SubmitSm(source_addr="S" * 21), "source_addr"),
        (SubmitSm(service_type="ABCDEF"), "service_type"),
        (SubmitSm(destination_addr="25470\x000001"), "destination_addr"),
        (SubmitSm(source_addr="Ωmega"), "source_addr"),
        (SubmitSm(esm_class=256), "esm_class"),
        (SubmitSm(data_coding=-1), "data_coding"),
        (SubmitSm(short_message=b"x" * 255), "short_message"),
        (SubmitSm(schedule_delivery_time="1" * 17), "schedule_delivery_time"),
        (SubmitSm(sequence_number=-1), "sequence_number"),
        (SubmitSm(sequence_number=2**32), "sequence_number"),
        (SubmitSm(command_status=2**32), "command_status"),
        (SubmitSm(tlvs={0x10000: b""}), "tlvs"),
        (SubmitSm(tlvs={0x0424: b"x" * 65536}), "tlvs"),
        (DataSm(destination_addr="2" * 65), "destination_addr"),
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(pdu: Pdu, field: str) -> None:
    with pytest.raises(PduEncodeError) as err:
        encode(pdu)
    assert err.value.field == field
    assert field.split("_", maxsplit=1)[0] in str(err.value)


def test_limits_are_inclusive_of_the_maximum() -> None:
    pdu = SubmitSm(destination_addr="2" * 20, service_type="ABCDE", short_message=b"x" * 254)
    assert decode(encode(pdu)) == pdu


# --- malformed input ------------------------------------------------------------------------


def frame(cid: int, body: bytes, seq: int = 77, length: int | None = None) -> bytes:
    n = 16 + len(body) if length is None else length
    return struct.pack(">IIII", n, cid, 0, seq) + body


SUBMIT_BODY = encode(SubmitSm(destination_addr="254700000001", short_message=b"hi"))[16:]


@pytest.mark.parametrize(
    ("wire", "status", "seq"),
    [
        (b"\x00\x00\x00\x10\x00\x00", CommandStatus.ESME_RINVCMDLEN, None),
        (frame(4, SUBMIT_BODY, length=200), CommandStatus.ESME_RINVCMDLEN, 77),
        (frame(4, SUBMIT_BODY[:5]), CommandStatus.ESME_RINVCMDLEN, 77),  # no NUL left
        (frame(4, b""), CommandStatus.ESME_RINVCMDLEN, 77),
        (frame(4, b"ABCDEFGH\x00" + SUBMIT_BODY[1:]), CommandStatus.ESME_RINVSERTYP, 77),
        (frame(4, SUBMIT_BODY[:-3] + b"\x09hi"), CommandStatus.ESME_RINVMSGLEN, 77),
        (frame(4, SUBMIT_BODY + b"\x04\x24\x00"), CommandStatus.ESME_RINVOPTPARSTREAM, 77),
        (frame(4, SUBMIT_BODY + b"\x04\x24\x00\x09ab"), CommandStatus.ESME_RINVOPTPARSTREAM, 77),
        (frame(2, b"x" * 20 + b"\x00pw\x00\x00\x34\x00\x00\x00"), CommandStatus.ESME_RINVSYSID, 77),
        (frame(0x80000004, b"1" * 70 + b"\x00"), CommandStatus.ESME_RINVMSGID, 77),
    ],
    ids=[
        "short-header",
        "length-mismatch",
        "missing-nul",
        "empty-request-body",
        "over-long-service-type",
        "sm-length-past-end",
        "truncated-tlv-header",
        "truncated-tlv-value",
        "over-long-system-id",
        "over-long-message-id",
    ],
)
def test_malformed_pdu_gives_the_status_to_answer(
    wire: bytes, status: int, seq: int | None
) -> None:
    with pytest.raises(PduDecodeError) as err:
        decode(wire)
    assert err.value.command_status == status
    assert err.value.sequence_number == seq


def test_unknown_command_id_decodes_to_unknown_pdu() -> None:
    pdu = decode(frame(0x00000021, b"\x01\x02", seq=9))
    assert pdu == UnknownPdu(sequence_number=9, raw_command_id=0x21, body=b"\x01\x02")
    assert not pdu.is_response


VALID_FRAMES = [
    encode(p)
    for p in (
        SubmitSm(
            sequence_number=3,
            destination_addr="254700000001",
            short_message=b"hello",
            tlvs={0x0204: b"\x00\x01"},
        ),
        DataSm(sequence_number=4, destination_addr="1", tlvs={0x0424: b"payload"}),
    )
] + [encode(c(sequence_number=5)) for c in PDU_CLASSES]


def mutate(base: bytes, rnd: random.Random) -> bytes:
    """One to four random edits (flipped, inserted or deleted octets, a cut, a new length),
    then, most of the time, the right command_length so that the body parser is exercised."""
    data = bytearray(base)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.choice(("flip", "cut", "insert", "delete", "length"))
        i = rnd.randrange(len(data) + 1)
        if op == "flip" and i < len(data):
            data[i] ^= rnd.randint(1, 255)
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = bytes([rnd.randrange(256)])
        elif op == "delete" and i < len(data):
            del data[i]
        elif op == "length" and len(data) >= 4:
            length = len(data) if rnd.random() < 0.5 else rnd.choice((0, 15, 17, 2**32 - 1))
            struct.pack_into(">I", data, 0, length)
    if len(data) >= 4 and rnd.random() < 0.7:  # mostly keep the length right: reach the body
        struct.pack_into(">I", data, 0, len(data))
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(VALID_FRAMES), rnd=st.randoms(use_true_random=False))
def test_fuzzed_frames_raise_only_the_protocol_error(base: bytes, rnd: random.Random) -> None:
    for _ in range(10):  # 3,000 mutated frames in all
        wire = mutate(base, rnd)
        try:
            pdu = decode(wire)
        except PduDecodeError as err:
            assert isinstance(err.command_status, int)
            continue
        assert isinstance(pdu, Pdu)
        if not isinstance(pdu, UnknownPdu):
            assert decode(encode(pdu)) == pdu


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_the_protocol_error(data: bytes) -> None:
    with contextlib.suppress(PduDecodeError):
        decode(data)
    framer = Framer(max_pdu_size=256)
    try:
        for f in framer.feed(data):
            with contextlib.suppress(PduDecodeError):
                decode(f)
    except PduDecodeError:
        pass


@pytest.mark.parametrize(
    "cls", [c for c in PDU_CLASSES if c.command_id & 0x80000000], ids=lambda c: c.__name__
)
def test_error_response_with_default_body_is_a_bare_header(cls: type[Pdu]) -> None:
    pdu = cls(sequence_number=4, command_status=CommandStatus.ESME_RSYSERR)
    wire = encode(pdu)
    assert len(wire) == 16
    assert decode(wire) == pdu
    ok = cls(sequence_number=4)  # a success keeps its (empty) body
    assert decode(encode(ok)) == ok
