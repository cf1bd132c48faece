"""Message ids normalised per SMSC so resp ids and receipt ids compare."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.core.msgid import MessageIdFormat, normalise_message_id, same_message_id

F = MessageIdFormat


@pytest.mark.parametrize(
    ("fmt", "raw", "from_receipt", "expected"),
    [
        (F.AS_IS, "  AbC-123\x00", False, "abc-123"),
        (F.AS_IS, "000123", True, "000123"),  # as_is keeps zeros
        (F.HEX, "00FF", False, "ff"),
        (F.HEX, "0x00ff", True, "ff"),
        (F.HEX, "0", True, "0"),
        (F.DECIMAL, "000255", True, "255"),
        (F.RESP_HEX_RECEIPT_DECIMAL, "1A2B3C", False, "1a2b3c"),
        (F.RESP_HEX_RECEIPT_DECIMAL, "1715004", True, "1a2b3c"),
        (F.RESP_DECIMAL_RECEIPT_HEX, "0001715004", False, "1715004"),
        (F.RESP_DECIMAL_RECEIPT_HEX, "001A2B3C", True, "1715004"),
        # Not a number in the expected base: kept as a case-folded string.
        (
            F.HEX,
            "550E8400-E29B-41D4-A716-446655440000",
            False,
            "550e8400-e29b-41d4-a716-446655440000",
        ),
        (F.DECIMAL, "ab12", True, "ab12"),
        (F.DECIMAL, "１２", True, "１２"),  # non-ASCII digits are not a number
        (F.HEX, "f" * 65, True, "f" * 65),  # too long to be an SMPP id: a string
    ],
)
def test_normalise(fmt: MessageIdFormat, raw: str, from_receipt: bool, expected: str) -> None:
    assert normalise_message_id(raw, fmt, from_receipt=from_receipt) == expected


@pytest.mark.parametrize(
    ("fmt", "resp", "receipt"),
    [
        (F.AS_IS, "ABCDEF", "abcdef"),
        (F.HEX, "0000abcd", "ABCD"),
        (F.DECIMAL, "00042", "42"),
        (F.RESP_HEX_RECEIPT_DECIMAL, "FFFFFFFF", "4294967295"),
        (F.RESP_DECIMAL_RECEIPT_HEX, "4294967295", "ffffffff"),
        (F.HEX, "550e8400-e29b-41d4-a716-446655440000", "550E8400-E29B-41D4-A716-446655440000"),
    ],
)
def test_resp_and_receipt_ids_match(fmt: MessageIdFormat, resp: str, receipt: str) -> None:
    assert same_message_id(resp, receipt, fmt)


def test_different_ids_do_not_match() -> None:
    assert not same_message_id("10", "10", F.RESP_HEX_RECEIPT_DECIMAL)  # 16 vs 10
    assert not same_message_id("abc", "abd", F.AS_IS)
    assert not same_message_id("", "", F.AS_IS)  # empty ids never match


def test_empty_id_is_refused() -> None:
    with pytest.raises(ValueError, match="raw: message id ' \\\\x00' is empty"):
        normalise_message_id(" \x00", F.HEX, from_receipt=True)


@pytest.mark.parametrize(
    ("bits", "fmt"),
    [
        (-1, F.AS_IS),
        (0, F.DECIMAL),
        (1, F.RESP_HEX_RECEIPT_DECIMAL),
        (2, F.RESP_DECIMAL_RECEIPT_HEX),
        (3, F.HEX),
    ],
)
def test_kannel_msg_id_type(bits: int, fmt: MessageIdFormat) -> None:
    assert F.from_kannel(bits) is fmt


def test_kannel_msg_id_type_out_of_range() -> None:
    with pytest.raises(ValueError, match="msg_id_type: 4"):
        F.from_kannel(4)


def test_formats_by_setting_name() -> None:
    assert F("resp_hex_receipt_decimal") is F.RESP_HEX_RECEIPT_DECIMAL


@given(st.integers(0, 2**64), st.integers(0, 6))
def test_numbers_match_across_bases_and_padding(number: int, zeros: int) -> None:
    pad = "0" * zeros
    hex_id, dec_id = pad + format(number, "X"), pad + str(number)
    assert same_message_id(hex_id, dec_id, F.RESP_HEX_RECEIPT_DECIMAL)
    assert same_message_id(dec_id, hex_id.lower(), F.RESP_DECIMAL_RECEIPT_HEX)
    assert same_message_id(hex_id, hex_id.lower().lstrip("0") or "0", F.HEX)
    assert same_message_id(dec_id, str(number), F.DECIMAL)


@given(st.text(max_size=80), st.sampled_from(list(F)), st.booleans())
def test_normalise_is_idempotent_or_refuses(raw: str, fmt: MessageIdFormat, side: bool) -> None:
    try:
        once = normalise_message_id(raw, fmt, from_receipt=side)
    except ValueError:
        assert not raw.strip(" \t\r\n\x00")
        return
    if fmt in (F.AS_IS, F.HEX, F.DECIMAL):
        assert normalise_message_id(once, fmt, from_receipt=side) == once
