"""Delivery receipts: TLVs first, text form as fallback, every state, garbage never raises."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.core.receipt import (
    STAT_WORDS,
    MessageState,
    Outcome,
    Receipt,
    ReceiptSource,
    _read_fields,
    _split_fields,
    _text_fields,
    parse_date,
    parse_receipt,
)

DLR = 0x04  # esm_class: SMSC delivery receipt
TEXT = (
    b"id:0123456789 sub:001 dlvrd:001 submit date:2311221530 done date:2311221531 "
    b"stat:DELIVRD err:000 text:Hello world"
)


def _tlvs(message_id: bytes, state: int | None = None, error: bytes | None = None) -> dict:
    tlvs = {0x001E: message_id}
    if state is not None:
        tlvs[0x0427] = bytes([state])
    if error is not None:
        tlvs[0x0423] = error
    return tlvs


def test_text_only() -> None:
    receipt = parse_receipt(TEXT, {}, DLR)
    assert receipt == Receipt(
        message_id="0123456789",
        state=MessageState.DELIVERED,
        source=ReceiptSource.TEXT,
        stat="DELIVRD",
        err="000",
        error_code=0,
        submitted=1,
        delivered=1,
        submit_date=datetime(2023, 11, 22, 15, 30),
        done_date=datetime(2023, 11, 22, 15, 31),
        text="Hello world",
    )
    assert receipt.outcome is Outcome.DELIVERED and receipt.is_final


@pytest.mark.parametrize("message_id", [b"abc123\x00", b"abc123"])
def test_tlv_only_with_or_without_nul(message_id: bytes) -> None:
    receipt = parse_receipt(b"", _tlvs(message_id, 5, b"\x03\x00\x22"), DLR)
    assert receipt == Receipt(
        message_id="abc123",
        state=MessageState.UNDELIVERABLE,
        source=ReceiptSource.TLV,
        error_code=0x22,
        network_type=3,
    )
    assert receipt.is_final and receipt.outcome is Outcome.FAILED


def test_tlv_wins_over_text() -> None:
    receipt = parse_receipt(TEXT, _tlvs(b"1f\x00", 8, b"\x03\x00\x05"), DLR)
    assert receipt is not None
    assert receipt.message_id == "1f"
    assert receipt.state is MessageState.REJECTED
    assert receipt.error_code == 5 and receipt.err == "000"
    assert receipt.stat == "DELIVRD"  # the text's word is kept for diagnosis
    assert receipt.source is ReceiptSource.BOTH
    assert receipt.submit_date == datetime(2023, 11, 22, 15, 30)


def test_tlv_id_with_text_state() -> None:
    receipt = parse_receipt(TEXT.replace(b"DELIVRD", b"EXPIRED"), _tlvs(b"X9"), DLR)
    assert receipt is not None
    assert (receipt.message_id, receipt.state) == ("X9", MessageState.EXPIRED)


def test_text_in_message_payload() -> None:
    receipt = parse_receipt(b"", {0x0424: TEXT}, DLR)
    assert receipt is not None and receipt.message_id == "0123456789"


def test_text_in_ucs2() -> None:
    receipt = parse_receipt(TEXT.decode().encode("utf-16-be"), {}, DLR)
    assert receipt is not None and receipt.state is MessageState.DELIVERED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2311221530", datetime(2023, 11, 22, 15, 30)),
        ("231122153045", datetime(2023, 11, 22, 15, 30, 45)),
        ("20231122153045", datetime(2023, 11, 22, 15, 30, 45)),
        ("202311221530", datetime(2023, 11, 22, 15, 30)),  # not YYMMDDhhmmss: YYYYMMDDhhmm
        ("23-11-22 15:30", datetime(2023, 11, 22, 15, 30)),
        ("2313221530", None),  # month 13
        ("23112215", None),  # 8 digits
        ("", None),
        ("abcdefghij", None),
        ("２３１１２２１５３０", None),  # non-ASCII digits
    ],
)
def test_dates(value: str, expected: datetime | None) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("digits", ["2311221530", "231122153045", "20231122153045"])
def test_dates_in_receipt(digits: str) -> None:
    text = f"id:1 submit date:{digits} done date:{digits} stat:DELIVRD".encode()
    receipt = parse_receipt(text, {}, DLR)
    assert receipt is not None and receipt.done_date is not None
    assert receipt.done_date.date() == datetime(2023, 11, 22).date()


@pytest.mark.parametrize(
    ("word", "state", "outcome"),
    [
        ("ENROUTE", MessageState.ENROUTE, Outcome.PENDING),
        ("DELIVRD", MessageState.DELIVERED, Outcome.DELIVERED),
        ("EXPIRED", MessageState.EXPIRED, Outcome.FAILED),
        ("DELETED", MessageState.DELETED, Outcome.FAILED),
        ("UNDELIV", MessageState.UNDELIVERABLE, Outcome.FAILED),
        ("ACCEPTD", MessageState.ACCEPTED, Outcome.PENDING),
        ("UNKNOWN", MessageState.UNKNOWN, Outcome.FAILED),
        ("REJECTD", MessageState.REJECTED, Outcome.FAILED),
        ("delivrd", MessageState.DELIVERED, Outcome.DELIVERED),
        ("BUFFRED", MessageState.ENROUTE, Outcome.PENDING),
    ],
)
def test_every_stat_word(word: str, state: MessageState, outcome: Outcome) -> None:
    receipt = parse_receipt(f"id:7 stat:{word} err:0".encode(), {}, DLR)
    assert receipt is not None
    assert receipt.state is state and receipt.outcome is outcome
    assert receipt.stat == word


@pytest.mark.parametrize("state", list(MessageState))
def test_every_message_state_tlv(state: MessageState) -> None:
    receipt = parse_receipt(b"", _tlvs(b"7", int(state)), DLR)
    assert receipt is not None and receipt.state is state
    assert receipt.is_final is (state.outcome is not Outcome.PENDING)


def test_state_table() -> None:
    assert [s.value for s in MessageState] == list(range(10))
    final = {s for s in MessageState if s.is_final}
    assert final == set(MessageState) - {
        MessageState.SCHEDULED,
        MessageState.ENROUTE,
        MessageState.ACCEPTED,
    }
    assert [s for s in MessageState if s.is_delivered] == [MessageState.DELIVERED]
    assert all(s.is_failed != s.is_delivered for s in final)
    assert set(STAT_WORDS.values()) == set(MessageState)


def test_lowercase_and_odd_keys() -> None:
    text = b"ID:ab12 SUB:1 DLVRD:0 Submit_Date:2311221530 DONE DATE:2311221531 Stat:undeliv Err:21"
    receipt = parse_receipt(text, {}, DLR)
    assert receipt is not None
    assert receipt.message_id == "ab12"
    assert receipt.state is MessageState.UNDELIVERABLE
    assert (receipt.submitted, receipt.delivered, receipt.error_code) == (1, 0, 21)
    assert receipt.done_date == datetime(2023, 11, 22, 15, 31)


def test_missing_fields_are_none() -> None:
    receipt = parse_receipt(b"id:42 stat:DELIVRD", {}, DLR)
    assert receipt == Receipt("42", MessageState.DELIVERED, ReceiptSource.TEXT, stat="DELIVRD")


def test_vendor_junk_is_tolerated() -> None:
    text = (
        b"\x00\x00 junk id:99 sub:xx dlvrd:? submit date:99999999999 done date: "
        b"stat:SOMETHING err:0x1F vendor:42 text:id:1 stat:DELIVRD"
    )
    receipt = parse_receipt(text, {0x1403: b"\xaa\xbb", 0x0427: b"\x63"}, DLR)
    assert receipt is not None
    assert receipt.message_id == "99"
    assert receipt.state is None and receipt.outcome is None and not receipt.is_final
    assert receipt.stat == "SOMETHING" and receipt.err == "0x1F" and receipt.error_code is None
    assert receipt.submitted is None and receipt.submit_date is None and receipt.done_date is None
    assert receipt.text == "id:1 stat:DELIVRD"  # text: takes the rest, keys inside ignored


def test_wrong_length_tlvs_are_ignored() -> None:
    tlvs = {0x001E: b"5\x00", 0x0427: b"\x02\x00", 0x0423: b"\x03\x00"}
    receipt = parse_receipt(b"", tlvs, DLR)
    assert receipt == Receipt("5", None, ReceiptSource.TLV)


def test_intermediate_notification_flag() -> None:
    receipt = parse_receipt(b"id:1 stat:ENROUTE", {}, 0x20)
    assert receipt is not None and receipt.intermediate


@pytest.mark.parametrize(
    ("short_message", "tlvs", "esm_class"),
    [
        (b"", {}, DLR),  # empty
        (b"stat:DELIVRD err:000", {}, DLR),  # no id anywhere
        (b"hello, this is an MO", {}, 0x00),
        (TEXT, {}, 0x00),  # receipt-looking MO without the receipt bit
        (b"", {0x001E: b"\x00"}, DLR),  # empty TLV id
    ],
)
def test_not_a_receipt(short_message: bytes, tlvs: dict, esm_class: int) -> None:
    assert parse_receipt(short_message, tlvs, esm_class) is None


def test_lenient_reads_text_without_the_receipt_bit() -> None:
    receipt = parse_receipt(TEXT, {}, 0x00, lenient=True)
    assert receipt is not None and receipt.state is MessageState.DELIVERED


def test_tlv_id_makes_it_a_receipt_without_the_bit() -> None:
    receipt = parse_receipt(b"", _tlvs(b"7", 2), 0x00)
    assert receipt is not None and receipt.state is MessageState.DELIVERED


@given(
    st.binary(max_size=300),
    st.dictionaries(
        st.sampled_from([0x001E, 0x0427, 0x0423, 0x0424, 0x1403]), st.binary(max_size=70)
    ),
    st.integers(0, 0xFF),
    st.booleans(),
)
def test_garbage_never_raises(data: bytes, tlvs: dict, esm_class: int, lenient: bool) -> None:
    receipt = parse_receipt(data, tlvs, esm_class, lenient=lenient)
    assert receipt is None or receipt.message_id


_WORDS = st.sampled_from(["id:", "sub:", "stat:", "err:", "done date:", "text:", " ", "DELIVRD"])


@given(st.lists(st.one_of(_WORDS, st.text(max_size=12)), max_size=20))
def test_receipt_like_garbage_never_raises(pieces: list[str]) -> None:
    data = "".join(pieces).encode("utf-8")
    receipt = parse_receipt(data, {}, DLR)
    assert receipt is None or receipt.message_id


_VALUE = st.text(st.characters(blacklist_characters=" :\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"))


@given(
    st.text(min_size=1).filter(lambda s: not any(c.isspace() or c == ":" for c in s)),
    st.lists(_VALUE, min_size=6, max_size=6),
    st.text(),
)
def test_standard_layout_reads_as_the_general_search(
    message_id: str, values: list[str], rest: str
) -> None:
    """The one-match reading of the appendix B layout finds what the key search finds."""
    sub, dlvrd, submit_date, done_date, stat, err = values
    text = (
        f"id:{message_id} sub:{sub} dlvrd:{dlvrd} submit date:{submit_date} "
        f"done date:{done_date} stat:{stat} err:{err} text:{rest}"
    )
    assert _text_fields(text) == _read_fields(_split_fields(text))
    raw = text.encode("latin-1", "replace")
    assert parse_receipt(raw, {}, DLR) is not None


def test_standard_layout_with_dates_and_upper_case_keys() -> None:
    """Upper-case keys take the general search and read the same as lower-case ones."""
    lower = parse_receipt(TEXT, {}, DLR)
    upper = parse_receipt(TEXT.replace(b"stat:", b"STAT:").replace(b"id:", b"ID:"), {}, DLR)
    assert lower == upper
    assert lower is not None and lower.done_date == datetime(2023, 11, 22, 15, 31)
