"""Kenyan mobile numbers to one canonical form, `254XXXXXXXXX` (12 digits).

Accepted forms (PRODUCT.md, seed 000): `254XXXXXXXXX`, `+254XXXXXXXXX`, `0XXXXXXXXX`,
`7XXXXXXXX` / `1XXXXXXXX`, and `2540XXXXXXXXX` (country code written before the trunk zero,
a common slip that is unambiguous). Spaces, dashes, dots and brackets are tolerated; a `+` only
at the start. The national significant number must start with 7 or 1 (the mobile ranges);
which operator owns it is the prefix table's business, not this module's.
"""

from __future__ import annotations

COUNTRY_CODE = "254"
MOBILE_LEADING_DIGITS = frozenset("71")
MIN_DIGITS = 9
MAX_DIGITS = 13
_SEPARATORS = str.maketrans("", "", " -.()[]\t")
_NSN_LENGTH = 9


class InvalidNumber(ValueError):
    """A phone number that is not a Kenyan mobile number; says which input and why."""

    def __init__(self, number: str, reason: str) -> None:
        super().__init__(f"invalid number {number!r}: {reason}")
        self.number = number
        self.reason = reason


def normalise(number: str) -> str:
    """The canonical `254XXXXXXXXX` form of `number`, or InvalidNumber saying why not."""
    digits = _clean(number)
    nsn = _national_significant_number(number, digits)
    if nsn[0] not in MOBILE_LEADING_DIGITS:
        raise InvalidNumber(
            number, f"not a Kenyan mobile range (0{nsn[:3]}…; mobile numbers start 07 or 01)"
        )
    return COUNTRY_CODE + nsn


def is_canonical(number: str) -> bool:
    """True when `number` is already `254` + a mobile national number (12 digits)."""
    return (
        len(number) == 12
        and number.isdigit()
        and number.startswith(COUNTRY_CODE)
        and number[3] in MOBILE_LEADING_DIGITS
    )


def _clean(number: str) -> str:
    if not isinstance(number, str):
        raise InvalidNumber(repr(number), "a phone number must be a string")
    text = number.strip().translate(_SEPARATORS)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if digits and not (digits.isascii() and digits.isdigit()):
        raise InvalidNumber(
            number, "only digits, spaces, dashes, dots, brackets and a leading + are allowed"
        )
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidNumber(
            number, f"must have {MIN_DIGITS}–{MAX_DIGITS} digits after cleaning, has {len(digits)}"
        )
    if plus and not digits.startswith(COUNTRY_CODE):
        raise InvalidNumber(number, f"country code must be +{COUNTRY_CODE} (Kenya)")
    return digits


def _national_significant_number(number: str, digits: str) -> str:
    length = len(digits)
    if length == 9:
        return digits
    if length == 10:
        if digits[0] != "0":
            raise InvalidNumber(number, "a 10-digit number must start with 0 (0XXXXXXXXX)")
        return digits[1:]
    if length == 11:
        raise InvalidNumber(number, "11 digits is not a Kenyan number form (one digit missing?)")
    if not digits.startswith(COUNTRY_CODE):
        raise InvalidNumber(number, f"country code must be {COUNTRY_CODE} (Kenya)")
    rest = digits[len(COUNTRY_CODE) :]
    if length == 13:
        if rest[0] != "0":
            raise InvalidNumber(number, "13 digits is only accepted as 2540XXXXXXXXX")
        rest = rest[1:]
    assert len(rest) == _NSN_LENGTH
    return rest
