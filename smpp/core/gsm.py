"""GSM 03.38 default alphabet: the table as data, fast encode/decode, septet counting, packing.

Septets are *unpacked* by default: one septet per octet, values 0x00-0x7F, which is what SMSCs
expect in `short_message` with data_coding 0. `pack_septets`/`unpack_septets` give the packed
7-bit form (160 septets in 140 octets) for links that want it.

The extension table (`€ [ \\ ] ^ { | } ~` and form feed) is reached through ESC (0x1B): each of
those characters costs two septets, ESC + code. The ESC code itself is not a character: a text
containing U+001B is not GSM-encodable (it would turn the next character into an escape).

`@` is 0x00. That is harmless in `short_message` and `message_payload`, which are
length-prefixed, but it would end a C-octet string early: never GSM-encode an address or any
other C-string field (SMPP addresses are IA5/ASCII anyway, where `@` is 0x40).

Encoding is one `str.translate` with a precomputed table followed by `encode("ascii")`:
characters outside the table are translated to a non-ASCII sentinel, so one `isascii()` check
tells whether the whole text was GSM.
"""

from __future__ import annotations

import re
from typing import Final, Literal

ESC: Final = 0x1B
"""The escape septet that announces an extension-table character."""

BASIC_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
"""The 128 characters of the default alphabet, indexed by septet. Index 0x1B is ESC, not a
character."""

EXTENSION_TABLE: Final[dict[int, str]] = {
    0x0A: "\x0c",  # form feed
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
"""Extension-table characters by the septet that follows ESC."""

BASIC_CHARS: Final = frozenset(BASIC_TABLE) - {"\x1b"}
EXTENSION_CHARS: Final = frozenset(EXTENSION_TABLE.values())
GSM_CHARS: Final = BASIC_CHARS | EXTENSION_CHARS

_NOT_GSM: Final = "\ufffd"  # sentinel: any non-ASCII output means "not encodable"


def _encode_table() -> dict[int, str]:
    table: dict[int, str] = {}
    # ASCII characters that are not in the table must not pass through translate unchanged.
    for code in range(0x80):
        table[code] = _NOT_GSM
    for septet, char in enumerate(BASIC_TABLE):
        if septet != ESC:
            table[ord(char)] = chr(septet)
    for septet, char in EXTENSION_TABLE.items():
        table[ord(char)] = chr(ESC) + chr(septet)
    return table


def _decode_basic_table() -> str:
    chars = list(BASIC_TABLE)
    chars[ESC] = " "  # a dangling ESC shows as a space (03.38: reserved, display space)
    return "".join(chars) + _NOT_GSM * 128  # octets 0x80-0xFF are not septets


_ENCODE: Final = _encode_table()
_DECODE_BASIC: Final = _decode_basic_table()
_DECODE_ESCAPED: Final[dict[str, str]] = {
    chr(ESC) + chr(septet): char for septet, char in EXTENSION_TABLE.items()
}
_ESCAPE_PAIR: Final = re.compile("\x1b.?", re.DOTALL)


def _translate(text: str) -> str:
    """Septets of `text` as a str of code points 0x00-0x7F, or with a non-ASCII sentinel."""
    return text.translate(_ENCODE)


def encode_septets(text: str) -> str | None:
    """Unpacked septets of `text` as a str of code points 0-127, or None if not GSM.

    The str form lets callers slice and count without a copy; `.encode("ascii")` gives bytes.
    """
    septets = _translate(text)
    return septets if septets.isascii() else None


def encode(text: str) -> bytes:
    """Encode `text` as unpacked GSM septets (one per octet).

    Raises ValueError naming the first character that has no GSM 03.38 code.
    """
    septets = _translate(text)
    if septets.isascii():
        return septets.encode("ascii")
    for index, char in enumerate(text):
        if char not in GSM_CHARS:
            raise ValueError(
                f"text: character {char!r} (U+{ord(char):04X}) at index {index} is not in the "
                "GSM 03.38 alphabet"
            )
    raise AssertionError("unreachable: translate and GSM_CHARS disagree")  # pragma: no cover


def is_gsm(text: str) -> bool:
    """True when every character of `text` is in the default alphabet or its extension."""
    return _translate(text).isascii()


def septet_length(text: str) -> int | None:
    """Septets needed for `text` in GSM-7 (extension characters count 2), None if not GSM."""
    septets = _translate(text)
    return len(septets) if septets.isascii() else None


def _decode_pair(match: re.Match[str]) -> str:
    pair = match.group()
    if pair in _DECODE_ESCAPED:
        return _DECODE_ESCAPED[pair]
    if len(pair) == 1:  # ESC as the last septet: nothing to escape
        return ""
    # ESC + a code with no extension character: 03.38 says show the basic-table character.
    return pair[1].translate(_DECODE_BASIC)


def decode(data: bytes, errors: Literal["strict", "replace"] = "strict") -> str:
    """Decode unpacked GSM septets.

    ESC + code gives the extension character; ESC + a code without one gives the basic
    character (03.38's fallback); ESC ESC shows a space; a trailing ESC is dropped. Octets
    0x80-0xFF are not septets: ValueError with `errors="strict"`, U+FFFD with `"replace"`.
    """
    latin = data.decode("latin-1")  # octets 0x80-0xFF translate to U+FFFD below
    if errors == "strict" and not latin.isascii():
        index = next(i for i, octet in enumerate(data) if octet >= 0x80)
        raise ValueError(f"data: octet 0x{data[index]:02X} at offset {index} is not a GSM septet")
    if "\x1b" not in latin:
        return latin.translate(_DECODE_BASIC)
    pieces = []
    pos = 0
    for match in _ESCAPE_PAIR.finditer(latin):
        pieces.append(latin[pos : match.start()].translate(_DECODE_BASIC))
        pieces.append(_decode_pair(match))
        pos = match.end()
    pieces.append(latin[pos:].translate(_DECODE_BASIC))
    return "".join(pieces)


def fill_bits_for(udh_length: int) -> int:
    """Padding bits after a UDH of `udh_length` octets so the text starts on a septet boundary."""
    return (7 - (udh_length * 8) % 7) % 7


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack unpacked septets 7 bits each, least significant first (03.38 §6.1.2.1.1).

    `fill_bits` (0-6) zero bits come first, as needed after a UDH (see `fill_bits_for`).
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits: {fill_bits} is not in 0..6")
    if any(octet > 0x7F for octet in septets):
        raise ValueError("septets: values must be 0..0x7F")
    value = 0
    shift = fill_bits
    for septet in septets:
        value |= septet << shift
        shift += 7
    return value.to_bytes((shift + 7) // 8, "little")


def unpack_septets(data: bytes, count: int | None = None, fill_bits: int = 0) -> bytes:
    """Unpack 7-bit packed `data` into one septet per octet.

    `count` is the number of septets; without it, every whole septet in `data` is returned,
    which can add a trailing 0x00 (`@`) when the last octet had 7 spare bits: pass the count
    when it is known.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits: {fill_bits} is not in 0..6")
    available = (len(data) * 8 - fill_bits) // 7 if data else 0
    if count is None:
        count = available
    elif not 0 <= count <= available:
        raise ValueError(f"count: {count} septets do not fit in {len(data)} octets")
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))
