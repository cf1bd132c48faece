"""Every accepted number form normalises to 254XXXXXXXXX; anything else fails and says why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing import InvalidNumber, is_canonical, normalise


@pytest.mark.parametrize(
    "raw",
    [
        "254712345678",
        "+254712345678",
        "0712345678",
        "712345678",
        "2540712345678",
        "+254 712 345 678",
        "0712-345-678",
        "0712.345.678",
        "(0712) 345 678",
        "+254 (712) 345-678",
        " 0712345678 ",
        "[0712]345678",
    ],
)
def test_each_form_normalises_to_the_canonical_number(raw: str) -> None:
    assert normalise(raw) == "254712345678"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0110123456", "254110123456"),
        ("110123456", "254110123456"),
        ("+254100000001", "254100000001"),
    ],
)
def test_01xx_ranges_normalise(raw: str, canonical: str) -> None:
    assert normalise(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "9–13 digits after cleaning, has 0"),
        ("71234567", "9–13 digits after cleaning, has 8"),
        ("25471234567890", "9–13 digits after cleaning, has 14"),
        ("0712 34a 678", "only digits"),
        ("07123456７8", "only digits"),
        ("0712+345678", "only digits"),
        ("+255712345678", "country code must be +254"),
        ("255712345678", "country code must be 254"),
        ("+0712345678", "country code must be +254"),
        ("1712345678", "must start with 0"),
        ("25471234567", "11 digits"),
        ("2541712345678", "only accepted as 2540"),
        ("0202345678", "not a Kenyan mobile range"),
        ("254202345678", "not a Kenyan mobile range"),
        ("512345678", "not a Kenyan mobile range"),
    ],
)
def test_bad_numbers_fail_naming_the_input_and_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        normalise(raw)
    assert reason in caught.value.reason
    assert repr(raw) in str(caught.value)
    assert caught.value.number == raw
    assert isinstance(caught.value, ValueError)


def test_a_non_string_is_an_invalid_number() -> None:
    with pytest.raises(InvalidNumber, match="must be a string"):
        normalise(712345678)  # type: ignore[arg-type]


@given(st.sampled_from("71"), st.text("0123456789", min_size=8, max_size=8))
def test_all_forms_of_one_number_agree(first: str, rest: str) -> None:
    nsn = first + rest
    forms = [nsn, "0" + nsn, "254" + nsn, "+254" + nsn, "2540" + nsn, f"+254 {nsn[:3]}-{nsn[3:]}"]
    results = {normalise(form) for form in forms}
    assert results == {"254" + nsn}
    assert is_canonical("254" + nsn)


def test_is_canonical_only_for_the_canonical_form() -> None:
    assert is_canonical("254712345678")
    assert not is_canonical("0712345678")
    assert not is_canonical("254212345678")
    assert not is_canonical("25471234567x")
