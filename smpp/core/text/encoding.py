"""Which alphabet a text needs, how long it is in that alphabet, and decoding inbound text.

GSM-7 when every character is in GSM 03.38 (extension characters count 2 septets, and only
there), otherwise UCS-2 sent as UTF-16BE (data_coding 0x08) and counted in UTF-16 code units,
so an emoji outside the BMP counts 2.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import Enum
from typing import Final, NamedTuple

from smpp.core import gsm

DATA_CODING_DEFAULT: Final = 0x00
"""SMSC default alphabet: GSM 03.38 unpacked septets on the links we speak to."""
DATA_CODING_UCS2: Final = 0x08


class Encoding(Enum):
    """The alphabet a message is sent in."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"

    @property
    def data_coding(self) -> int:
        """The submit_sm data_coding value for this alphabet."""
        return DATA_CODING_DEFAULT if self is Encoding.GSM7 else DATA_CODING_UCS2

    @property
    def unit(self) -> str:
        """What lengths are counted in: septets (GSM-7) or UTF-16 code units (UCS-2)."""
        return "septets" if self is Encoding.GSM7 else "utf16_units"


class TextInfo(NamedTuple):
    """The alphabet a text needs and its length in that alphabet's units."""

    encoding: Encoding
    length: int


def ucs2_encode(text: str) -> bytes:
    """UTF-16BE of `text`; ValueError naming the index of a lone surrogate."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text: lone surrogate U+{ord(text[exc.start]):04X} at index {exc.start} cannot be sent"
        ) from None


def text_info(text: str) -> TextInfo:
    """(encoding, length): septets for GSM-7 text, UTF-16 code units otherwise.

    This is the count that is sent, so billing units derived from it match the wire.
    ValueError for a text with a lone surrogate (it cannot be sent).
    """
    septets = gsm.septet_length(text)
    if septets is not None:
        return TextInfo(Encoding.GSM7, septets)
    return TextInfo(Encoding.UCS2, len(ucs2_encode(text)) // 2)


@dataclass(frozen=True, slots=True)
class DecodedText:
    """Inbound short_message decoded as far as its data_coding allows.

    `text` is None when the coding is binary or not one we know; `data` is always the raw
    octets, so nothing is lost.
    """

    data_coding: int
    data: bytes
    text: str | None
    charset: str | None


# SMPP 3.4 §5.2.19 values with a text meaning. 0 is "SMSC default", GSM on our links.
_SMPP_CHARSETS: Final[dict[int, str]] = {
    0x00: "gsm",
    0x01: "ascii",
    0x03: "latin-1",
    0x06: "iso8859-5",
    0x07: "iso8859-8",
    0x08: "utf-16-be",
}


def _charset_for(data_coding: int) -> str | None:
    """The charset of a data_coding value, including the GSM 03.38 TP-DCS groups."""
    if data_coding in _SMPP_CHARSETS:
        return _SMPP_CHARSETS[data_coding]
    if 0x10 <= data_coding <= 0x1F:  # general data coding, uncompressed, with a message class
        return {0: "gsm", 2: "utf-16-be"}.get((data_coding >> 2) & 0x03)
    if 0xC0 <= data_coding <= 0xDF:  # message waiting indication, GSM default alphabet
        return "gsm"
    if 0xE0 <= data_coding <= 0xEF:  # message waiting indication, UCS-2
        return "utf-16-be"
    if 0xF0 <= data_coding <= 0xFF:  # data coding/message class: bit 2 clear means GSM
        return None if data_coding & 0x04 else "gsm"
    return None


def decode_text(charset: str, data: bytes) -> str:
    """Decode `data` in one of the charsets `_charset_for` names; never raises."""
    if charset == "gsm":
        return gsm.decode(data, errors="replace")
    return codecs.decode(data, charset, errors="replace")


def decode_short_message(data_coding: int, short_message: bytes) -> DecodedText:
    """Decode inbound text by data_coding; never raises.

    0 → GSM 03.38 unpacked septets, 1 → ASCII, 3 → Latin-1, 6/7 → ISO-8859-5/8, 8 → UTF-16BE,
    and the GSM TP-DCS groups (0x10-0x1F, 0xC0-0xFF) that some SMSCs pass through. Undecodable
    octets become U+FFFD. Binary and unknown codings give `text=None` with the raw octets.
    """
    charset = _charset_for(data_coding)
    text = None if charset is None else decode_text(charset, short_message)
    return DecodedText(data_coding, short_message, text, charset)
