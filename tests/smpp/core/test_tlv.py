"""TLV tags and helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.core.tlv import (
    EMPTY_TLVS,
    TAG_FORMATS,
    NetworkErrorCode,
    Tag,
    TlvValueError,
    cstr_value,
    int_value,
    pack_tlvs,
    read_cstr,
    read_int,
    read_network_error_code,
    tag_name,
    unpack_tlvs,
    with_tlvs,
)


def test_named_tags_have_the_spec_values() -> None:
    assert Tag.RECEIPTED_MESSAGE_ID == 0x001E
    assert Tag.MESSAGE_STATE == 0x0427
    assert Tag.NETWORK_ERROR_CODE == 0x0423
    assert (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM) == (
        0x020C,
        0x020E,
        0x020F,
    )
    assert Tag.MESSAGE_PAYLOAD == 0x0424
    assert set(TAG_FORMATS) == set(Tag)


def test_build_and_read_integers() -> None:
    tlvs = with_tlvs({}, sar_msg_ref_num=0x1234, sar_total_segments=3, message_state=2)
    assert tlvs == {0x020C: b"\x12\x34", 0x020E: b"\x03", 0x0427: b"\x02"}
    assert read_int(tlvs, Tag.SAR_MSG_REF_NUM) == 0x1234
    assert read_int(tlvs, Tag.USER_MESSAGE_REFERENCE) is None
    with pytest.raises(TlvValueError, match="sar_total_segments"):
        int_value(Tag.SAR_TOTAL_SEGMENTS, 256)
    with pytest.raises(TlvValueError, match="message_state"):
        read_int({0x0427: b"\x00\x02"}, Tag.MESSAGE_STATE)


def test_receipted_message_id_with_and_without_nul() -> None:
    assert cstr_value(Tag.RECEIPTED_MESSAGE_ID, "38601fa") == b"38601fa\x00"
    assert read_cstr({0x001E: b"38601fa\x00"}, Tag.RECEIPTED_MESSAGE_ID) == "38601fa"
    assert read_cstr({0x001E: b"38601fa"}, Tag.RECEIPTED_MESSAGE_ID) == "38601fa"
    with pytest.raises(TlvValueError, match="receipted_message_id"):
        read_cstr({0x001E: b"a\x00b"}, Tag.RECEIPTED_MESSAGE_ID)
    with pytest.raises(TlvValueError):
        cstr_value(Tag.RECEIPTED_MESSAGE_ID, "x" * 65)


def test_network_error_code() -> None:
    raw = NetworkErrorCode(3, 0x0101).encode()
    assert raw == b"\x03\x01\x01"
    assert read_network_error_code({0x0423: raw}) == NetworkErrorCode(3, 257)
    assert read_network_error_code({}) is None
    with pytest.raises(TlvValueError):
        read_network_error_code({0x0423: b"\x03"})


def test_payload_and_unknown_names() -> None:
    assert with_tlvs({}, message_payload=b"x" * 1000)[0x0424] == b"x" * 1000
    assert tag_name(0x1400) == "tag_0x1400"
    with pytest.raises(TlvValueError, match="nope"):
        with_tlvs({}, nope=1)


def test_empty_tlvs_is_immutable() -> None:
    with pytest.raises(TypeError):
        EMPTY_TLVS[1] = b""  # type: ignore[index]
    assert len(EMPTY_TLVS) == 0


@given(st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=300), max_size=8))
def test_packed_tlvs_read_back_the_same_in_order(tlvs: dict[int, bytes]) -> None:
    unpacked = unpack_tlvs(pack_tlvs(tlvs))
    assert unpacked == tlvs and list(unpacked) == list(tlvs)


def test_packed_tlvs_are_the_wire_form_and_a_cut_one_is_refused() -> None:
    packed = pack_tlvs({0x020C: b"\x12\x34", 0x0424: b""})
    assert packed == bytes.fromhex("020c0002123404240000")
    with pytest.raises(ValueError, match="header"):
        unpack_tlvs(packed[:-1])
    with pytest.raises(ValueError, match="longer"):
        unpack_tlvs(packed[:5])
