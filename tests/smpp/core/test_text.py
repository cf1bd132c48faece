"""Alphabet choice, lengths for billing, decoding inbound text, reading and joining parts."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.core.text import (
    ConcatInfo,
    DecodedText,
    Encoding,
    InboundPart,
    LongMessageMethod,
    TextInfo,
    concat_info,
    decode_short_message,
    plan_message,
    reassemble,
    split_udh,
    text_info,
)

M = LongMessageMethod


@pytest.mark.parametrize(
    ("text", "info"),
    [
        ("", TextInfo(Encoding.GSM7, 0)),
        ("Hello @ 100$", TextInfo(Encoding.GSM7, 12)),
        ("price 5€ {x}", TextInfo(Encoding.GSM7, 15)),
        ("price 5€ ж", TextInfo(Encoding.UCS2, 10)),  # € is 1 unit in UCS-2
        ("ok 😀", TextInfo(Encoding.UCS2, 5)),  # emoji: 2 UTF-16 units
        ("`", TextInfo(Encoding.UCS2, 1)),
    ],
)
def test_text_info(text: str, info: TextInfo) -> None:
    assert text_info(text) == info
    encoding, length = text_info(text)  # unpacks as a pair
    assert (encoding, length) == info


def test_encoding_data_coding() -> None:
    assert Encoding.GSM7.data_coding == 0x00
    assert Encoding.UCS2.data_coding == 0x08


def test_ucs2_is_big_endian() -> None:
    (part,) = plan_message("ж😀", M.UDH8).parts
    assert part.short_message == "ж😀".encode("utf-16-be") == bytes.fromhex("0436d83dde00")


@pytest.mark.parametrize(
    ("coding", "data", "text"),
    [
        (0x00, b"\x00\x1b\x65 ok", "@€ ok"),
        (0x01, b"plain @", "plain @"),
        (0x03, "café".encode("latin-1"), "café"),
        (0x08, "ж😀".encode("utf-16-be"), "ж😀"),
        (0x06, "привет".encode("iso8859-5"), "привет"),
        (0x11, b"class 1", "class 1"),  # GSM TP-DCS general group, class 1
        (0x18, "ж".encode("utf-16-be"), "ж"),  # TP-DCS general group, UCS-2
        (0xF1, b"hi", "hi"),  # data coding/message class group, GSM
        (0x08, b"\x04", "\ufffd"),  # odd UCS-2 length: replaced, not raised
        (0x00, b"\xff", "\ufffd"),
    ],
)
def test_decode_short_message(coding: int, data: bytes, text: str) -> None:
    decoded = decode_short_message(coding, data)
    assert decoded.text == text
    assert decoded.data == data and decoded.data_coding == coding


@pytest.mark.parametrize("coding", [0x02, 0x04, 0x05, 0x09, 0xF5, 0x7F, 0x30])
def test_decode_binary_or_unknown_gives_octets(coding: int) -> None:
    decoded = decode_short_message(coding, b"\x00\xff")
    assert decoded == DecodedText(coding, b"\x00\xff", None, None)


@given(st.integers(0, 0xFF), st.binary(max_size=300))
def test_decode_short_message_never_raises(coding: int, data: bytes) -> None:
    decoded = decode_short_message(coding, data)
    assert decoded.data == data


def test_split_udh() -> None:
    assert split_udh(b"\x05\x00\x03\x01\x02\x01abc", 0x40) == (b"\x05\x00\x03\x01\x02\x01", b"abc")
    assert split_udh(b"\x05\x00\x03abc", 0x00) == (b"", b"\x05\x00\x03abc")
    assert split_udh(b"\x09\x00", 0x40) == (b"", b"\x09\x00")  # UDH longer than message
    assert split_udh(b"", 0x40) == (b"", b"")


def test_concat_info_skips_other_information_elements() -> None:
    # Port addressing (IEI 0x05, 4 octets) before the 16-bit concatenation element.
    udh = bytes.fromhex("0c050400000000080412340302")
    info = concat_info(udh + b"hi", 0x40, {})
    assert info == ConcatInfo(M.UDH16, 0x1234, 3, 2, b"hi")


@pytest.mark.parametrize(
    ("short_message", "esm_class", "tlvs"),
    [
        (b"hello", 0x00, {}),  # plain
        (bytes.fromhex("050003010200") + b"x", 0x40, {}),  # seq 0
        (bytes.fromhex("050003010203") + b"x", 0x40, {}),  # seq > total
        (bytes.fromhex("0500030102"), 0x40, {}),  # truncated UDH
        (bytes.fromhex("05000401020301"), 0x40, {}),  # wrong IE length
        (bytes.fromhex("050003010201") + b"x", 0x00, {}),  # UDH bytes without UDHI
        (b"x", 0x00, {0x020C: b"\x01", 0x020E: b"\x02", 0x020F: b"\x01"}),  # short ref
        (b"x", 0x00, {0x020C: b"\x00\x01", 0x020E: b"\x02"}),  # seqnum missing
    ],
)
def test_concat_info_none_for_non_parts(
    short_message: bytes, esm_class: int, tlvs: dict[int, bytes]
) -> None:
    assert concat_info(short_message, esm_class, tlvs) is None


@given(
    st.binary(max_size=200),
    st.integers(0, 0xFF),
    st.dictionaries(st.sampled_from([0x020C, 0x020E, 0x020F, 0x0424]), st.binary(max_size=4)),
)
def test_concat_info_never_raises(data: bytes, esm_class: int, tlvs: dict[int, bytes]) -> None:
    info = concat_info(data, esm_class, tlvs)
    assert info is None or 1 <= info.seq <= info.total


def test_sar_part_with_payload() -> None:
    tlvs = {0x020C: b"\x00\x07", 0x020E: b"\x02", 0x020F: b"\x02", 0x0424: b"tail"}
    assert concat_info(b"", 0, tlvs) == ConcatInfo(M.SAR, 7, 2, 2, b"tail")


def _parts(text: str, method: LongMessageMethod, ref: int = 1) -> list[InboundPart]:
    plan = plan_message(text, method, ref)
    return [
        InboundPart(plan.data_coding, p.short_message, p.esm_class_flags, p.tlvs)
        for p in plan.parts
    ]


def test_reassemble_any_order_with_duplicates() -> None:
    text = "abc" * 100
    parts = _parts(text, M.UDH8)
    assert reassemble([parts[1], parts[0], parts[1]]) == text


def test_reassemble_single_plain_and_payload() -> None:
    assert reassemble([InboundPart(0, b"hi \x00")]) == "hi @"
    (payload,) = _parts("z" * 300, M.PAYLOAD)
    assert reassemble([payload]) == "z" * 300


def test_reassemble_joins_before_decoding() -> None:
    # A foreign sender split a surrogate pair across parts: joining first still decodes.
    wire = "😀".encode("utf-16-be")
    first = InboundPart(8, bytes.fromhex("050003090201") + wire[:2], 0x40)
    second = InboundPart(8, bytes.fromhex("050003090202") + wire[2:], 0x40)
    assert reassemble([first, second]) == "😀"


def test_reassemble_mixed_codings_decodes_each() -> None:
    first = InboundPart(0, bytes.fromhex("050003090201") + b"ab", 0x40)
    second = InboundPart(8, bytes.fromhex("050003090202") + "ж".encode("utf-16-be"), 0x40)
    assert reassemble([second, first]) == "abж"


def test_reassemble_errors_name_the_part() -> None:
    parts = _parts("abc" * 100, M.UDH8)
    other = _parts("xyz" * 100, M.UDH8, ref=2)
    with pytest.raises(ValueError, match="no parts"):
        reassemble([])
    with pytest.raises(ValueError, match=r"part\(s\) \[2\] of 2 are missing"):
        reassemble([parts[0], parts[0]])
    with pytest.raises(ValueError, match=r"parts\[1\]: reference 2"):
        reassemble([parts[0], other[1]])
    with pytest.raises(ValueError, match=r"parts\[1\]: not a part"):
        reassemble([parts[0], InboundPart(0, b"x")])
    conflicting = InboundPart(0, parts[0].short_message[:-1] + b"!", 0x40)
    with pytest.raises(ValueError, match=r"parts\[1\]: a different part 1"):
        reassemble([parts[0], conflicting, parts[1]])
    with pytest.raises(ValueError, match="data_coding 0x04"):
        reassemble([InboundPart(4, b"\x00")])


def test_inbound_part_default_tlvs_are_empty() -> None:
    part = InboundPart(0, b"x")
    assert part.esm_class == 0 and part.tlvs == MappingProxyType({})
