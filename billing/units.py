"""SMS units a message costs (seed 000's table) and the message length limits.

Billing follows seed 000, not the SMPP split: 1 unit per 160 characters of GSM text
(1–160 → 1, 161–320 → 2, … 801–960 → 6), where the characters of the GSM 03.38 extension table
count 2 (they travel as ESC + code); text with any character outside GSM 03.38 goes as UCS-2
and costs 1 unit per 70 UTF-16 code units (an emoji outside the BMP counts 2).

The length limits count the same characters as billing (extension characters 2, UCS-2 code
units), so 960 GSM characters is at most 6 units as seed 000 says. The GSM tables are kept here
as data because billing must not import smpp.core; a test checks them against `gsm0338`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# GSM 03.38 default alphabet, in code order 0x00–0x7F, without ESC (0x1B).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each is ESC + code, so counts as 2 characters.
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM_CHARS_PER_UNIT = 160
UCS2_CHARS_PER_UNIT = 70


class UnitLimit(enum.IntEnum):
    """The longest message (in billed characters) each flow accepts."""

    BULK = 960  # portal, quick send and bulk campaigns (seed 000: 6 units)
    API = 10_000  # POST /api/send-sms (seed 000)


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


class MessageError(ValueError):
    """A message text billing refuses; `field` is the request field at fault."""

    field = "message"


class EmptyMessage(MessageError):
    def __init__(self) -> None:
        super().__init__("message: must not be empty")


class MessageTooLong(MessageError):
    def __init__(self, length: int, limit: int, encoding: Encoding) -> None:
        what = "GSM characters" if encoding is Encoding.GSM7 else "UCS-2 characters"
        super().__init__(f"message: {length} {what} is longer than the limit of {limit}")
        self.length = length
        self.limit = limit


@dataclass(frozen=True, slots=True)
class MessageSize:
    """How a text is billed: its encoding, billed length and units."""

    encoding: Encoding
    length: int
    units: int


def measure(text: str, *, limit: int) -> MessageSize:
    """Encoding, billed length and units of `text`; EmptyMessage / MessageTooLong otherwise."""
    if not text:
        raise EmptyMessage()
    length = gsm_length(text)
    if length is not None:
        encoding, per_unit = Encoding.GSM7, GSM_CHARS_PER_UNIT
    else:
        encoding, per_unit = Encoding.UCS2, UCS2_CHARS_PER_UNIT
        length = len(text.encode("utf-16-le")) // 2
    if length > limit:
        raise MessageTooLong(length, limit, encoding)
    return MessageSize(encoding, length, -(-length // per_unit))


def units_for(text: str, *, limit: int) -> int:
    """The SMS units `text` costs (seed 000's table), within `limit` billed characters."""
    return measure(text, limit=limit).units


def gsm_length(text: str) -> int | None:
    """Characters `text` takes in GSM 03.38 (extension ones count 2), None if it needs UCS-2."""
    if _NOT_GSM.search(text):
        return None
    return len(text) + len(_EXTENSION.findall(text))


def _char_class(chars: frozenset[str], *, negate: bool = False) -> re.Pattern[str]:
    body = "".join(re.escape(char) for char in sorted(chars))
    return re.compile(f"[{'^' if negate else ''}{body}]")


# Compiled from the tables above: a regex scan is several times faster than a Python loop.
_NOT_GSM = _char_class(GSM_BASIC | GSM_EXTENSION, negate=True)
_EXTENSION = _char_class(GSM_EXTENSION)
