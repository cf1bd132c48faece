"""Splitting long messages: every part fits, no split inside an escape or a surrogate pair,
and the parts reassemble to the original text for every method."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.core import gsm
from smpp.core.text import (
    ESM_CLASS_UDHI,
    Encoding,
    InboundPart,
    LongMessageMethod,
    MessagePlan,
    concat_info,
    count_parts,
    plan_message,
    reassemble,
)
from smpp.core.text.plan import _plan_units

M = LongMessageMethod
METHODS = list(LongMessageMethod)
SPLITTING = [M.UDH8, M.UDH16, M.SAR]
GSM_ALPHABET = sorted(gsm.GSM_CHARS)
EXTENSION = sorted(gsm.EXTENSION_CHARS)

ASTRAL = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
ANY_CHAR = st.one_of(
    st.sampled_from(GSM_ALPHABET),
    st.sampled_from(EXTENSION),
    ASTRAL,
    st.characters(exclude_categories=("Cs",)),
)
# Positions where a part boundary falls for one of the limits (160/153/152, 70/67/66).
NEAR_BOUNDARIES = [n + d for n in (66, 67, 70, 132, 134, 152, 153, 160, 304, 306) for d in (-1, 0)]


@st.composite
def long_texts(draw: st.DrawFn, chars: st.SearchStrategy[str]) -> str:
    """Texts of up to ~800 characters (plain `st.text` stays short): a repeated base with
    a few characters inserted, often where a part boundary falls."""
    length = draw(st.integers(0, 800))
    base = draw(st.text(chars, min_size=1, max_size=12))
    text = (base * (length // len(base) + 1))[:length]
    position = st.one_of(st.integers(0, length), st.sampled_from(NEAR_BOUNDARIES))
    inserts = draw(
        st.lists(st.tuples(position, st.text(chars, min_size=1, max_size=3)), max_size=6)
    )
    for at, piece in inserts:
        text = text[:at] + piece + text[at:]
    return text


gsm_texts = long_texts(st.sampled_from(GSM_ALPHABET + EXTENSION * 8))
any_texts = long_texts(ANY_CHAR)
ucs2_texts = long_texts(st.one_of(ASTRAL, st.sampled_from("жй€a"))).map(lambda t: "ж" + t)


def _inbound(plan: MessagePlan) -> list[InboundPart]:
    return [
        InboundPart(plan.data_coding, p.short_message, p.esm_class_flags, p.tlvs)
        for p in plan.parts
    ]


def _air_octets(plan: MessagePlan, short_message: bytes, udh_length: int) -> int:
    """Octets of TP user data on the air interface, where GSM septets are packed."""
    body = len(short_message) - udh_length
    if plan.encoding is Encoding.UCS2:
        return udh_length + body
    return udh_length + (gsm.fill_bits_for(udh_length) + 7 * body + 7) // 8


def _udh_length(method: LongMessageMethod, total: int) -> int:
    if total == 1 or method is M.SAR or method is M.PAYLOAD:
        return 0
    return 6 if method is M.UDH8 else 7


def _check_plan(text: str, plan: MessagePlan) -> None:
    assert "".join(part.text for part in plan.parts) == text
    assert reassemble(_inbound(plan)) == text
    assert plan.segments == count_parts(text, plan.method)
    single = 160 if plan.encoding is Encoding.GSM7 else 70
    total = len(plan.parts)
    if plan.method is M.PAYLOAD and plan.length > single:
        assert total == 1 and plan.parts[0].short_message == b""
        return
    assert plan.segments == total
    for part in plan.parts:
        assert (part.seq, part.total) == (plan.parts.index(part) + 1, total)
        udh = _udh_length(plan.method, total)
        limit = single if total == 1 else plan.method.part_limit(plan.encoding)
        assert part.length <= limit
        assert len(part.short_message) <= 254
        assert _air_octets(plan, part.short_message, udh) <= 140
        if plan.encoding is Encoding.UCS2:
            assert len(part.short_message) <= 140
            assert not 0xD800 <= ord(part.text[-1:] or "a") <= 0xDBFF
            body = part.short_message[udh:]
            assert len(body) % 2 == 0
            assert not (body and 0xD8 <= body[-2] <= 0xDB)
        else:
            assert not part.short_message[udh:].endswith(b"\x1b")
            assert gsm.septet_length(part.text) == part.length


@given(any_texts, st.sampled_from(METHODS), st.integers(0, 0xFF))
def test_plan_reassembles_any_text(text: str, method: LongMessageMethod, ref: int) -> None:
    _check_plan(text, plan_message(text, method, ref))


@given(gsm_texts, st.sampled_from(METHODS), st.integers(0, 0xFF))
def test_plan_reassembles_gsm_text(text: str, method: LongMessageMethod, ref: int) -> None:
    plan = plan_message(text, method, ref)
    assert plan.encoding is Encoding.GSM7 and plan.data_coding == 0
    assert plan.length == gsm.septet_length(text)
    _check_plan(text, plan)


@given(ucs2_texts, st.sampled_from(SPLITTING))
def test_no_ucs2_part_splits_a_surrogate_pair(text: str, method: LongMessageMethod) -> None:
    plan = plan_message(text, method, 1)
    for part in plan.parts:
        body = part.short_message[_udh_length(method, part.total) :]
        assert body.decode("utf-16-be") == part.text  # strict: a split pair would raise


@given(gsm_texts, st.sampled_from(SPLITTING))
def test_no_gsm_part_ends_with_escape(text: str, method: LongMessageMethod) -> None:
    plan = plan_message(text, method, 1)
    for part in plan.parts:
        udh = _udh_length(method, part.total)
        body = part.short_message[udh:]
        # Every ESC in the body is followed by its code in the same part.
        assert gsm.decode(body) == part.text
        assert gsm.encode(part.text) == body


@pytest.mark.parametrize(
    ("length", "parts"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)]
)
def test_gsm_boundaries_udh8(length: int, parts: int) -> None:
    plan = plan_message("a" * length, M.UDH8, 9)
    assert len(plan.parts) == parts == count_parts("a" * length, M.UDH8)
    if parts > 1:
        assert [p.length for p in plan.parts][:-1] == [153] * (parts - 1)


@pytest.mark.parametrize(("length", "parts"), [(160, 1), (161, 2), (304, 2), (305, 3)])
def test_gsm_boundaries_16bit_reference(length: int, parts: int) -> None:
    assert count_parts("a" * length, M.UDH16) == parts
    assert count_parts("a" * length, M.SAR) == parts


def test_extension_characters_count_double_only_in_gsm() -> None:
    assert count_parts("€" * 80, M.UDH8) == 1  # 160 septets
    assert count_parts("€" * 81, M.UDH8) == 2  # 162 septets
    # One non-GSM character: UCS-2, where € is one unit.
    assert count_parts("€" * 69 + "ж", M.UDH8) == 1


def test_escape_at_the_part_boundary_moves_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10  # ESC would be septet 153
    plan = plan_message(text, M.UDH8, 3)
    first, second = plan.parts
    assert first.length == 152 and first.short_message.endswith(b"a")
    assert second.short_message[6:8] == b"\x1b\x65"
    assert second.text.startswith("€")
    _check_plan(text, plan)


def test_escape_just_fitting_stays() -> None:
    text = "a" * 151 + "€" + "b" * 10  # ESC at 152, code at 153: fits
    first = plan_message(text, M.UDH8, 3).parts[0]
    assert first.length == 153 and first.text.endswith("€")


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_boundaries(length: int, parts: int) -> None:
    text = "ж" * length
    plan = plan_message(text, M.UDH8, 1)
    assert plan.encoding is Encoding.UCS2 and plan.data_coding == 8
    assert len(plan.parts) == parts
    assert all(len(p.short_message) <= 140 for p in plan.parts)


def test_ucs2_16bit_reference_boundaries() -> None:
    assert count_parts("ж" * 132, M.UDH16) == 2
    assert count_parts("ж" * 133, M.UDH16) == 3


def test_emoji_at_the_part_boundary_is_not_split() -> None:
    text = "ж" * 66 + "😀" + "ж" * 10  # high surrogate would be unit 67
    plan = plan_message(text, M.UDH8, 1)
    first, second = plan.parts
    assert first.length == 66 and first.text == "ж" * 66
    assert second.text.startswith("😀")
    _check_plan(text, plan)


def test_emoji_counts_two_units() -> None:
    assert plan_message("😀" * 35, M.UDH8).length == 70
    assert count_parts("😀" * 35, M.UDH8) == 1
    assert count_parts("😀" * 36, M.UDH8) == 2


def test_udh8_bytes() -> None:
    plan = plan_message("a" * 200, M.UDH8, 0xAB)
    assert [p.short_message[:6].hex() for p in plan.parts] == ["050003ab0201", "050003ab0202"]
    assert all(p.esm_class_flags == ESM_CLASS_UDHI and not p.tlvs for p in plan.parts)


def test_udh16_bytes() -> None:
    plan = plan_message("a" * 200, M.UDH16, 0x1234)
    assert [p.short_message[:7].hex() for p in plan.parts] == [
        "06080412340201",
        "06080412340202",
    ]


def test_sar_tlvs_without_udhi() -> None:
    plan = plan_message("a" * 200, M.SAR, 0x1234)
    for part in plan.parts:
        assert part.esm_class_flags == 0
        assert part.short_message == b"a" * part.length
        assert dict(part.tlvs) == {
            0x020C: b"\x12\x34",
            0x020E: b"\x02",
            0x020F: bytes([part.seq]),
        }


def test_message_payload_one_pdu() -> None:
    text = "a" * 400
    plan = plan_message(text, M.PAYLOAD)
    (part,) = plan.parts
    assert part.short_message == b"" and part.esm_class_flags == 0
    assert dict(part.tlvs) == {0x0424: b"a" * 400}
    assert plan.segments == 3


def test_short_text_is_plain_for_every_method() -> None:
    for method in METHODS:
        (part,) = plan_message("hello", method, 1).parts
        assert part.short_message == b"hello"
        assert part.esm_class_flags == 0 and not part.tlvs


def test_packed_gsm_parts_fit_140_octets() -> None:
    text = "x" * 500
    for method, udh in [(M.UDH8, 6), (M.UDH16, 7)]:
        plan = plan_message(text, method, 5, packed=True)
        for part in plan.parts:
            assert len(part.short_message) <= 140
            fill = gsm.fill_bits_for(udh)
            body = gsm.unpack_septets(part.short_message[udh:], part.length, fill)
            assert gsm.decode(body) == part.text
    (single,) = plan_message("x" * 160, M.UDH8, packed=True).parts
    assert len(single.short_message) == 140


def test_reference_range_is_checked() -> None:
    with pytest.raises(ValueError, match="reference: 256"):
        plan_message("a", M.UDH8, 256)
    with pytest.raises(ValueError, match="reference: -1"):
        plan_message("a", M.SAR, -1)
    assert plan_message("a" * 200, M.UDH16, 0xFFFF).reference == 0xFFFF


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 256 parts"):
        plan_message("a" * 153 * 256, M.UDH8)
    assert len(plan_message("a" * 153 * 255, M.UDH8).parts) == 255


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate U\\+D83D at index 1"):
        plan_message("a\ud83d", M.UDH8)
    with pytest.raises(ValueError, match="lone surrogate"):
        count_parts("\udc00", M.UDH8)


def test_payload_larger_than_a_tlv_is_refused() -> None:
    with pytest.raises(ValueError, match="exceed the 65535-octet message_payload"):
        plan_message("ж" * 40000, M.PAYLOAD)
    assert plan_message("a" * 65535, M.PAYLOAD).segments == 429


def test_concat_info_reads_what_plan_writes() -> None:
    for method, ref in [(M.UDH8, 0xAB), (M.UDH16, 0xABCD), (M.SAR, 0xABCD)]:
        plan = plan_message("a" * 400, method, ref)
        for part in plan.parts:
            info = concat_info(part.short_message, part.esm_class_flags, part.tlvs)
            assert info is not None
            assert (info.method, info.reference, info.total, info.seq) == (
                method,
                ref,
                3,
                part.seq,
            )
            assert info.body == gsm.encode(part.text)


@given(
    st.text(st.sampled_from(GSM_ALPHABET), max_size=170),
    st.sampled_from(list(LongMessageMethod)),
    st.integers(0, 0xFF),
    st.booleans(),
)
def test_one_gsm7_sms_is_planned_as_the_general_path_plans_it(
    text: str, method: LongMessageMethod, reference: int, packed: bool
) -> None:
    """The shortcut for a GSM-7 text that fits one SMS gives the same plan and count."""
    assert plan_message(text, method, reference, packed=packed) == _plan_units(
        text, method, reference, packed
    )
    assert count_parts(text, method) == _plan_units(text, method, reference, packed).segments
