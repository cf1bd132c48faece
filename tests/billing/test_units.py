"""Units per seed 000's table, extension characters counting 2, UCS-2 at 70, and the limits."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the 'gsm03.38' codec)
import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import EmptyMessage, Encoding, MessageTooLong, UnitLimit, measure, units_for
from billing.units import GSM_BASIC, GSM_EXTENSION, gsm_length

SEED_000_TABLE = [(1, 1), (160, 1), (161, 2), (320, 2), (321, 3), (480, 3), (481, 4), (640, 4),
                  (641, 5), (800, 5), (801, 6), (960, 6)]  # fmt: skip


@pytest.mark.parametrize(("length", "units"), SEED_000_TABLE)
def test_gsm_text_follows_the_seed_table(length: int, units: int) -> None:
    assert units_for("a" * length, limit=UnitLimit.BULK) == units


def test_961_characters_are_refused_in_bulk_flows_naming_message_and_limit() -> None:
    with pytest.raises(MessageTooLong) as caught:
        units_for("a" * 961, limit=UnitLimit.BULK)
    assert str(caught.value) == "message: 961 GSM characters is longer than the limit of 960"
    assert caught.value.field == "message"
    assert isinstance(caught.value, ValueError)


def test_the_api_accepts_10000_characters_and_refuses_10001() -> None:
    assert units_for("a" * 10_000, limit=UnitLimit.API) == 63
    with pytest.raises(MessageTooLong, match="limit of 10000"):
        units_for("a" * 10_001, limit=UnitLimit.API)


@pytest.mark.parametrize("char", sorted(GSM_EXTENSION))
def test_extension_characters_count_two(char: str) -> None:
    assert measure(char, limit=960).length == 2
    assert units_for("a" * 159 + char, limit=960) == 2
    assert units_for("a" * 158 + char, limit=960) == 1
    with pytest.raises(MessageTooLong):
        units_for("a" * 959 + char, limit=960)


def test_euro_sign_text_stays_gsm() -> None:
    size = measure("Pay €5 {now}", limit=960)
    assert size.encoding is Encoding.GSM7 and size.length == 15 and size.units == 1


@pytest.mark.parametrize(("length", "units"), [(1, 1), (70, 1), (71, 2), (140, 2), (141, 3)])
def test_ucs2_text_bills_70_characters_per_unit(length: int, units: int) -> None:
    text = "ж" * length
    size = measure(text, limit=960)
    assert size.encoding is Encoding.UCS2 and size.units == units and size.length == length


def test_one_non_gsm_character_makes_the_whole_text_ucs2() -> None:
    assert measure("a" * 70, limit=960).units == 1
    assert measure("a" * 69 + "ç", limit=960).units == 1  # ç is not GSM (Ç is)
    assert measure("a" * 70 + "ç", limit=960).units == 2


def test_characters_outside_the_bmp_count_two_code_units() -> None:
    assert measure("😀" * 35, limit=960) == measure("ж" * 70, limit=960)
    assert measure("😀" * 36, limit=960).units == 2


def test_ucs2_limit_counts_code_units() -> None:
    assert measure("ж" * 960, limit=960).units == 14
    with pytest.raises(MessageTooLong, match="961 UCS-2 characters"):
        measure("ж" * 959 + "😀", limit=960)


def test_empty_message_is_an_error_naming_message() -> None:
    with pytest.raises(EmptyMessage, match=r"^message: must not be empty$"):
        units_for("", limit=UnitLimit.API)


def test_gsm_tables_match_the_gsm0338_codec() -> None:
    single, double = set(), set()
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        try:
            encoded = chr(code).encode("gsm03.38")
        except UnicodeEncodeError:
            continue
        (single if len(encoded) == 1 else double).add(chr(code))
    single.discard("\x1b")  # ESC introduces the extension table; it is not a character
    assert single == GSM_BASIC
    assert double == GSM_EXTENSION


@given(st.text(alphabet=st.sampled_from(sorted(GSM_BASIC | GSM_EXTENSION)), max_size=400))
def test_gsm_length_is_the_encoded_septet_count(text: str) -> None:
    assert gsm_length(text) == len(text.encode("gsm03.38"))


@given(st.text(min_size=1, max_size=300))
def test_units_are_the_ceiling_of_length_over_the_unit_size(text: str) -> None:
    size = measure(text, limit=UnitLimit.API)
    per_unit = 160 if size.encoding is Encoding.GSM7 else 70
    assert (size.units - 1) * per_unit < size.length <= size.units * per_unit


@given(st.text(max_size=200))
def test_text_is_gsm_exactly_when_every_character_is_in_the_tables(text: str) -> None:
    is_gsm = all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)
    assert (gsm_length(text) is not None) == is_gsm
