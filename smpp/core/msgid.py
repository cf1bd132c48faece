"""Message ids normalised per SMSC so a submit_sm_resp id and a receipt id for the same
message compare equal as strings.

SMSCs disagree on how they write one id: hex in submit_sm_resp and decimal in the receipt
text (or the reverse), zero-padded, upper- or lower-case. The format is a per-SMSC setting:

| format                     | submit_sm_resp id | receipt id | normal form              |
|----------------------------|-------------------|------------|--------------------------|
| `as_is`                    | string            | string     | stripped, case-folded    |
| `hex`                      | hex               | hex        | lower-case hex, no zeros |
| `decimal`                  | decimal           | decimal    | decimal, no leading zeros |
| `resp_hex_receipt_decimal` | hex               | decimal    | lower-case hex           |
| `resp_decimal_receipt_hex` | decimal           | hex        | decimal                  |

(Kannel's `msg-id-type` bitmask maps onto these: see `MessageIdFormat.from_kannel`.) The
mixed formats normalise to the base the submit_sm_resp used, so stored keys look like what
the SMSC answered. An id that is not a number in the expected base (a UUID with dashes, a
vendor prefix) falls back to the `as_is` form on both sides: it still matches itself.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

_MAX_NUMERIC_DIGITS: Final = 64
"""Longer ids stay strings (SMPP ids are at most 64 characters; this also keeps `int()` off
huge inputs)."""
_HEX_DIGITS: Final = re.compile("[0-9a-fA-F]+")
_STRIP: Final = " \t\r\n\x00"


class MessageIdFormat(Enum):
    """How an SMSC writes message ids (per-SMSC setting)."""

    AS_IS = "as_is"
    HEX = "hex"
    DECIMAL = "decimal"
    RESP_HEX_RECEIPT_DECIMAL = "resp_hex_receipt_decimal"
    RESP_DECIMAL_RECEIPT_HEX = "resp_decimal_receipt_hex"

    @classmethod
    def from_kannel(cls, msg_id_type: int) -> MessageIdFormat:
        """Kannel's `msg-id-type`: bit 0 set = submit_sm_resp id is hex, bit 1 set = receipt
        id is hex; -1 (unset) = compare as strings."""
        if msg_id_type == -1:
            return cls.AS_IS
        if not 0 <= msg_id_type <= 3:
            raise ValueError(f"msg_id_type: {msg_id_type} is not -1 or 0..3")
        return (
            cls.DECIMAL,
            cls.RESP_HEX_RECEIPT_DECIMAL,
            cls.RESP_DECIMAL_RECEIPT_HEX,
            cls.HEX,
        )[msg_id_type]

    def input_base(self, *, from_receipt: bool) -> int | None:
        """The base the id is written in on that side (None: a plain string)."""
        if self is MessageIdFormat.AS_IS:
            return None
        if self is MessageIdFormat.HEX:
            return 16
        if self is MessageIdFormat.DECIMAL:
            return 10
        resp_hex = self is MessageIdFormat.RESP_HEX_RECEIPT_DECIMAL
        return (10 if resp_hex else 16) if from_receipt else (16 if resp_hex else 10)

    @property
    def output_base(self) -> int | None:
        """The base of the normal form: the submit_sm_resp's."""
        return self.input_base(from_receipt=False)


def _as_number(text: str, base: int) -> int | None:
    if not text or len(text) > _MAX_NUMERIC_DIGITS:
        return None
    if base == 16:
        digits = text[2:] if text[:2].lower() == "0x" else text
        if _HEX_DIGITS.fullmatch(digits):
            return int(digits, 16)
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def normalise_message_id(raw: str, fmt: MessageIdFormat, *, from_receipt: bool) -> str:
    """The normal form of a message id, for storing and matching receipts.

    `from_receipt` says which side `raw` comes from (a receipt, or a submit_sm_resp), which
    matters for the mixed formats. Surrounding whitespace and NULs are dropped. Raises
    ValueError when `raw` is empty after stripping: there is nothing to match.
    """
    text = raw.strip(_STRIP)
    if not text:
        raise ValueError(f"raw: message id {raw!r} is empty")
    in_base, out_base = _BASES[fmt, from_receipt]
    if in_base is None:
        return text.casefold()
    number = _as_number(text, in_base)
    if number is None:
        return text.casefold()
    return format(number, "x") if out_base == 16 else str(number)


_BASES: Final = {
    (fmt, side): (fmt.input_base(from_receipt=side), fmt.output_base)
    for fmt in MessageIdFormat
    for side in (False, True)
}
"""(input base, output base) per format and side, looked up once per id."""


def same_message_id(resp_id: str, receipt_id: str, fmt: MessageIdFormat) -> bool:
    """True when a submit_sm_resp id and a receipt id name the same message."""
    try:
        return normalise_message_id(resp_id, fmt, from_receipt=False) == normalise_message_id(
            receipt_id, fmt, from_receipt=True
        )
    except ValueError:
        return False
