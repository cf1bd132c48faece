"""GSM 03.38 table and codec, checked against the `gsm0338` package as an oracle."""

from __future__ import annotations

import unicodedata

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
import pytest
from gsm0338.charset import BASIC_CHARACTER_SET, BASIC_CHARACTER_SET_EXTENSION
from hypothesis import given
from hypothesis import strategies as st

from smpp.core import gsm

ORACLE = "gsm03.38"
GSM_TEXT = st.text(alphabet=sorted(gsm.GSM_CHARS), max_size=400)


def _oracle_char(name: str) -> str:
    return unicodedata.lookup(name)


def test_basic_table_matches_oracle_both_ways() -> None:
    for septet, name in BASIC_CHARACTER_SET.items():
        if septet == gsm.ESC:
            continue
        char = _oracle_char(name)
        assert gsm.BASIC_TABLE[septet] == char, hex(septet)
        assert gsm.encode(char) == char.encode(ORACLE) == bytes([septet])
        assert gsm.decode(bytes([septet])) == bytes([septet]).decode(ORACLE) == char


def test_extension_table_matches_oracle_both_ways() -> None:
    oracle = {code: _oracle_char(name) for code, name in BASIC_CHARACTER_SET_EXTENSION.items()}
    assert oracle == gsm.EXTENSION_TABLE
    for code, char in oracle.items():
        wire = bytes([gsm.ESC, code])
        assert gsm.encode(char) == char.encode(ORACLE) == wire
        assert gsm.decode(wire) == wire.decode(ORACLE) == char
        assert gsm.septet_length(char) == 2


def test_character_set_is_the_oracles_without_the_escape_code() -> None:
    oracle_chars = {_oracle_char(name) for name in BASIC_CHARACTER_SET.values()}
    oracle_chars |= {_oracle_char(name) for name in BASIC_CHARACTER_SET_EXTENSION.values()}
    assert oracle_chars - {"\x1b"} == gsm.GSM_CHARS
    assert len(gsm.BASIC_CHARS) == 127
    assert len(gsm.EXTENSION_CHARS) == 10


@given(GSM_TEXT)
def test_gsm_text_round_trips_and_matches_oracle(text: str) -> None:
    wire = gsm.encode(text)
    assert wire == text.encode(ORACLE)
    assert gsm.decode(wire) == text
    assert gsm.septet_length(text) == len(wire)
    assert gsm.encode_septets(text) == wire.decode("ascii")
    assert gsm.is_gsm(text)


@given(st.text(max_size=50))
def test_is_gsm_is_membership_of_every_character(text: str) -> None:
    expected = all(char in gsm.GSM_CHARS for char in text)
    assert gsm.is_gsm(text) is expected
    assert (gsm.septet_length(text) is None) is not expected


@pytest.mark.parametrize("char", ["`", "\x1b", "\x00", "\t", "ç", "á", "ş", "😀", "\x7f", "ª"])
def test_characters_outside_gsm_are_refused(char: str) -> None:
    text = "ok " + char
    assert not gsm.is_gsm(text)
    assert gsm.septet_length(text) is None
    assert gsm.encode_septets(text) is None
    with pytest.raises(ValueError, match="at index 3"):
        gsm.encode(text)


def test_extension_characters_count_two_septets() -> None:
    assert gsm.septet_length("€[\\]^{|}~\x0c") == 20
    assert gsm.septet_length("a@b") == 3


def test_at_sign_is_septet_zero() -> None:
    assert gsm.encode("@") == b"\x00"


def test_decode_escape_corner_cases() -> None:
    assert gsm.decode(b"a\x1b") == "a"  # trailing ESC dropped
    assert gsm.decode(b"\x1b\x1bA") == " A"  # ESC ESC shows a space
    assert gsm.decode(b"\x1bA") == "A"  # unknown extension code: the basic character
    assert gsm.decode(b"\x1b\x65\x1b\x3c") == "€["


def test_decode_octets_above_0x7f() -> None:
    with pytest.raises(ValueError, match="0x80 at offset 1"):
        gsm.decode(b"a\x80")
    assert gsm.decode(b"a\x80\x1b\xff", errors="replace") == "a\ufffd\ufffd"


def test_pack_known_vector() -> None:
    assert gsm.pack_septets(gsm.encode("hellohello")).hex() == "e8329bfd4697d9ec37"
    assert gsm.unpack_septets(bytes.fromhex("e8329bfd4697d9ec37"), 10) == b"hellohello"


def test_160_septets_pack_into_140_octets() -> None:
    assert len(gsm.pack_septets(b"\x41" * 160)) == 140


def test_fill_bits_align_after_udh() -> None:
    assert gsm.fill_bits_for(6) == 1  # 8-bit reference UDH
    assert gsm.fill_bits_for(7) == 0  # 16-bit reference UDH
    assert gsm.fill_bits_for(0) == 0


@given(st.binary(max_size=200).map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill: int) -> None:
    packed = gsm.pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert gsm.unpack_septets(packed, len(septets), fill) == septets


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="fill_bits"):
        gsm.pack_septets(b"a", 7)
    with pytest.raises(ValueError, match="septets"):
        gsm.pack_septets(b"\x80")
    with pytest.raises(ValueError, match="count"):
        gsm.unpack_septets(b"\x00", 2)
