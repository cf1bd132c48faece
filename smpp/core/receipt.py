"""Delivery receipts from deliver_sm/data_sm: TLVs first, the text form as fallback.

`parse_receipt` prefers the receipted_message_id (0x001E), message_state (0x0427) and
network_error_code (0x0423) TLVs, and reads the vendor-specific text

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:E text:...

for what the TLVs do not say (keys case-insensitive, any field may be missing, the text taken
from message_payload when short_message is empty). TLV values win over text values.

It never raises. It returns None when the PDU is not a receipt (esm_class has no receipt
bit and there is no receipted_message_id TLV, unless `lenient`) or when no message id can be
read, since such a receipt cannot be matched. Otherwise it returns a Receipt with every field
it could read; a field that is missing or unreadable is None (a bad date, an unknown stat word,
a message_state TLV of the wrong length). Dates are naive datetimes in the SMSC's clock,
never compared with ours here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, IntEnum
from typing import Final, NamedTuple

_TAG_RECEIPTED_MESSAGE_ID: Final = 0x001E
_TAG_MESSAGE_STATE: Final = 0x0427
_TAG_NETWORK_ERROR_CODE: Final = 0x0423
_TAG_MESSAGE_PAYLOAD: Final = 0x0424

ESM_CLASS_RECEIPT_TYPES: Final = 0x3C
"""esm_class message-type bits: SMSC delivery receipt 0x04, SME delivery ack 0x08,
SME manual/user ack 0x10, intermediate delivery notification 0x20."""
ESM_CLASS_INTERMEDIATE: Final = 0x20


def is_flagged_receipt(esm_class: int) -> bool:
    """True when esm_class marks the PDU as a receipt. `parse_receipt` gives None both for
    an MO message and for a flagged receipt without a readable id: this tells them apart, so
    that an unreadable receipt is never taken for a message from a subscriber."""
    return bool(esm_class & ESM_CLASS_RECEIPT_TYPES)


class Outcome(Enum):
    """What a state means for the message."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class MessageState(IntEnum):
    """message_state values (SMPP 3.4 §5.2.28; SCHEDULED and SKIPPED from SMPP 5.0)."""

    SCHEDULED = 0
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9

    @property
    def outcome(self) -> Outcome:
        """PENDING for SCHEDULED, ENROUTE and ACCEPTED; DELIVERED; FAILED for the rest.

        The specification calls ACCEPTED final (read by customer service), but SMSCs send
        ACCEPTD as "taken for delivery" and follow it with DELIVRD or UNDELIV; treating it as
        final would lose the real outcome. UNKNOWN is final and counted as failed, as Kannel
        does: nothing more will come.
        """
        return _OUTCOMES[self]

    @property
    def is_final(self) -> bool:
        """No further receipt is expected for the message."""
        return self.outcome is not Outcome.PENDING

    @property
    def is_delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @property
    def is_failed(self) -> bool:
        return self.outcome is Outcome.FAILED


_OUTCOMES: Final = {
    MessageState.SCHEDULED: Outcome.PENDING,
    MessageState.ENROUTE: Outcome.PENDING,
    MessageState.DELIVERED: Outcome.DELIVERED,
    MessageState.EXPIRED: Outcome.FAILED,
    MessageState.DELETED: Outcome.FAILED,
    MessageState.UNDELIVERABLE: Outcome.FAILED,
    MessageState.ACCEPTED: Outcome.PENDING,
    MessageState.UNKNOWN: Outcome.FAILED,
    MessageState.REJECTED: Outcome.FAILED,
    MessageState.SKIPPED: Outcome.FAILED,
}

STAT_WORDS: Final[dict[str, MessageState]] = {
    # The text forms of the specification's appendix B, then the full names and the
    # spellings vendors use. Matched case-insensitively.
    "ENROUTE": MessageState.ENROUTE,
    "DELIVRD": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "SCHEDULED": MessageState.SCHEDULED,
    "SKIPPED": MessageState.SKIPPED,
    "DELIVERED": MessageState.DELIVERED,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTED": MessageState.ACCEPTED,
    "REJECTED": MessageState.REJECTED,
    "EXPIRD": MessageState.EXPIRED,
    "DELETD": MessageState.DELETED,
    "BUFFRED": MessageState.ENROUTE,
    "BUFFERED": MessageState.ENROUTE,
}


_STATES: Final[dict[int, MessageState]] = {int(state): state for state in MessageState}


class ReceiptSource(Enum):
    """Where the receipt's id and state came from."""

    TLV = "tlv"
    TEXT = "text"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt as far as it could be read.

    `message_id` is the id as the SMSC wrote it (stripped): normalise it with
    `smpp.core.msgid.normalise_message_id(..., from_receipt=True)` before matching.
    `stat` and `err` are the text form's words as written, for per-operator error mapping.
    `error_code` is the network_error_code TLV's code (with `network_type`), or the text `err`
    when it is all decimal digits.
    """

    message_id: str
    state: MessageState | None
    source: ReceiptSource
    intermediate: bool = False
    stat: str | None = None
    err: str | None = None
    error_code: int | None = None
    network_type: int | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    text: str | None = None

    @property
    def outcome(self) -> Outcome | None:
        """PENDING / DELIVERED / FAILED, or None when the state could not be read."""
        return None if self.state is None else self.state.outcome

    @property
    def is_final(self) -> bool:
        return self.state is not None and self.state.is_final


class _TlvFields(NamedTuple):
    message_id: str | None
    state: MessageState | None
    network_type: int | None
    error_code: int | None


class _TextFields(NamedTuple):
    message_id: str | None
    state: MessageState | None
    stat: str | None
    err: str | None
    submitted: int | None
    delivered: int | None
    submit_date: datetime | None
    done_date: datetime | None
    text: str | None


_NO_TEXT: Final = _TextFields(None, None, None, None, None, None, None, None, None)

_FIELD: Final = re.compile(
    r"(?<![a-z_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)
# The standard layout exactly as appendix B writes it (lower-case keys, one space apart, values
# without spaces or colons): no other key can match inside such a text, so its fields are
# those `_FIELD` would find (`_split_fields`), read with one match instead of a search per key.
_STANDARD: Final = re.compile(
    r"id:([^\s:]+) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*)"
    r" done date:([^\s:]*) stat:([^\s:]*) err:([^\s:]*) text:(.*)",
    re.DOTALL,
)
_DATE_SEPARATORS: Final = str.maketrans("", "", "-/:. T")
_KEY_SEPARATORS: Final = str.maketrans("", "", " _")


def _c_string(value: bytes) -> str:
    """A C-octet string TLV value, with or without its NUL, as stripped text."""
    end = value.find(b"\x00")
    if end >= 0:
        value = value[:end]
    return value.decode("latin-1").strip()


def _tlv_fields(tlvs: Mapping[int, bytes]) -> _TlvFields:
    raw_id = tlvs.get(_TAG_RECEIPTED_MESSAGE_ID)
    message_id = _c_string(raw_id) if raw_id is not None else ""
    raw_state = tlvs.get(_TAG_MESSAGE_STATE, b"")
    state = _STATES.get(raw_state[0]) if len(raw_state) == 1 else None
    raw_error = tlvs.get(_TAG_NETWORK_ERROR_CODE, b"")
    network_type = error_code = None
    if len(raw_error) == 3:
        network_type, error_code = raw_error[0], int.from_bytes(raw_error[1:], "big")
    return _TlvFields(message_id or None, state, network_type, error_code)


def _receipt_text(short_message: bytes, tlvs: Mapping[int, bytes]) -> str:
    data = short_message or tlvs.get(_TAG_MESSAGE_PAYLOAD, b"")
    if len(data) >= 4 and data[0] == 0 and data[2] == 0 and data[1] != 0:
        # "id:" in UTF-16BE: some SMSCs send receipts with data_coding 8.
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


def _split_fields(text: str) -> dict[str, str]:
    """key → value; `text:` takes the rest of the receipt, others up to the next key."""
    matches = list(_FIELD.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = match.group(1).lower().translate(_KEY_SEPARATORS)
        if key in fields:
            continue
        if key == "text":
            fields[key] = text[match.end() :].strip()
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields[key] = text[match.end() : end].strip()
    return fields


def _datetime(year: int, rest: str) -> datetime | None:
    """`rest` is MMDDhhmmss."""
    try:
        return datetime(
            year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]), int(rest[8:10])
        )
    except ValueError:
        return None


def parse_date(value: str) -> datetime | None:
    """YYMMDDhhmm (10 digits), YYMMDDhhmmss (12) or YYYYMMDDhhmmss (14), two-digit years
    being 20YY; 12 digits that are not a valid YYMMDDhhmmss are tried as YYYYMMDDhhmm.
    Separators (`-/:. T`) are ignored. None when it is not a valid date."""
    return _parse_date(value)


@functools.lru_cache(maxsize=256)
def _parse_date(value: str) -> datetime | None:
    """`parse_date`, remembered: the receipts of one burst carry the same few minutes (the
    datetimes returned are immutable, so sharing them is safe)."""
    digits = value.translate(_DATE_SEPARATORS)
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) == 10:
        return _datetime(2000 + int(digits[:2]), digits[2:] + "00")
    if len(digits) == 12:
        short_year = _datetime(2000 + int(digits[:2]), digits[2:])
        return short_year or _datetime(int(digits[:4]), digits[4:] + "00")
    if len(digits) == 14:
        return _datetime(int(digits[:4]), digits[4:])
    return None


def _int_or_none(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 18:
        return None
    return int(value)


def _first_word(value: str | None) -> str | None:
    if not value:
        return None
    return value.split()[0]


def _text_fields(text: str) -> _TextFields:
    standard = _STANDARD.fullmatch(text)
    if standard is not None:  # what `_read_fields` reads of it, read from the match at once
        sub_id, sub, dlvrd, submit_date, done_date, stat, err, rest = standard.groups()
        return _TextFields(
            message_id=sub_id,  # one or more non-space characters: its own first word
            state=STAT_WORDS.get(stat.upper()) if stat else None,
            stat=stat or None,
            err=err or None,
            submitted=_int_or_none(sub or None),
            delivered=_int_or_none(dlvrd or None),
            submit_date=_parse_date(submit_date),
            done_date=_parse_date(done_date),
            text=rest.strip(),
        )
    return _read_fields(_split_fields(text))


def _read_fields(fields: dict[str, str]) -> _TextFields:
    """The text form's fields as read from key → value (`_split_fields`)."""
    if not fields:
        return _NO_TEXT
    stat = _first_word(fields.get("stat"))
    state = None if stat is None else STAT_WORDS.get(stat.upper())
    return _TextFields(
        message_id=_first_word(fields.get("id")),
        state=state,
        stat=stat,
        err=_first_word(fields.get("err")),
        submitted=_int_or_none(_first_word(fields.get("sub"))),
        delivered=_int_or_none(_first_word(fields.get("dlvrd"))),
        submit_date=_parse_date(fields.get("submitdate", "")),
        done_date=_parse_date(fields.get("donedate", "")),
        text=fields.get("text"),
    )


def _source(tlv: _TlvFields, text: _TextFields) -> ReceiptSource:
    from_tlv = tlv.message_id is not None or tlv.state is not None
    from_text = text.message_id is not None or text.state is not None
    if from_tlv and from_text:
        return ReceiptSource.BOTH
    return ReceiptSource.TLV if from_tlv else ReceiptSource.TEXT


def parse_receipt(
    short_message: bytes,
    tlvs: Mapping[int, bytes],
    esm_class: int,
    *,
    lenient: bool = False,
) -> Receipt | None:
    """Read a delivery receipt; None when the PDU is not one or carries no message id
    (`is_flagged_receipt` says which).

    `lenient=True` also reads the text form when esm_class has no receipt bit (for SMSCs that
    send receipts as plain deliver_sm). Never raises: see the module docstring.
    """
    tlv = _tlv_fields(tlvs)
    flagged = bool(esm_class & ESM_CLASS_RECEIPT_TYPES)
    if not (flagged or lenient or tlv.message_id is not None):
        return None
    text = _text_fields(_receipt_text(short_message, tlvs))
    message_id = tlv.message_id or text.message_id
    if message_id is None:
        return None
    text_code = _int_or_none(text.err)
    return Receipt(
        message_id=message_id,
        state=tlv.state if tlv.state is not None else text.state,
        source=_source(tlv, text),
        intermediate=bool(esm_class & ESM_CLASS_INTERMEDIATE),
        stat=text.stat,
        err=text.err,
        error_code=tlv.error_code if tlv.error_code is not None else text_code,
        network_type=tlv.network_type,
        submitted=text.submitted,
        delivered=text.delivered,
        submit_date=text.submit_date,
        done_date=text.done_date,
        text=text.text,
    )
