"""Framer: any chunking of a stream gives the same frames; bad lengths are refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.core.codec import Framer, PduDecodeError, decode, encode
from smpp.core.pdu import DeliverSm, EnquireLink, SubmitSmResp
from smpp.core.status import CommandStatus

PDUS = [
    SubmitSmResp(sequence_number=1, message_id="abc"),
    DeliverSm(sequence_number=2, source_addr="254700000001", short_message=b"id:1 stat:DELIVRD"),
    EnquireLink(sequence_number=3),
]
STREAM = b"".join(encode(p) for p in PDUS)


def test_every_split_point_gives_the_same_frames() -> None:
    for cut in range(len(STREAM) + 1):
        framer = Framer()
        frames = list(framer.feed(STREAM[:cut])) + list(framer.feed(STREAM[cut:]))
        assert [decode(f) for f in frames] == PDUS
        assert framer.buffered == 0


def test_byte_by_byte() -> None:
    framer = Framer()
    frames = [f for b in STREAM for f in framer.feed(bytes([b]))]
    assert [decode(f) for f in frames] == PDUS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=8))
def test_any_chunking(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    framer = Framer()
    assert [decode(f) for c in chunks for f in framer.feed(c)] == PDUS


def test_huge_command_length_is_refused_with_the_sequence_number() -> None:
    framer = Framer(max_pdu_size=1024)
    bad = struct.pack(">IIII", 10_000_000, 4, 0, 42)
    assert list(framer.feed(bad[:8])) == []  # waits for the header to read the sequence
    with pytest.raises(PduDecodeError) as err:
        list(framer.feed(bad[8:]))
    assert err.value.command_status == CommandStatus.ESME_RINVCMDLEN
    assert err.value.sequence_number == 42
    with pytest.raises(PduDecodeError):
        list(framer.feed(b"more"))  # no resync after a refused length


def test_command_length_below_header_size_is_refused() -> None:
    framer = Framer()
    with pytest.raises(PduDecodeError) as err:
        list(framer.feed(struct.pack(">IIII", 8, 0x15, 0, 7)))
    assert err.value.sequence_number == 7


def test_frames_before_a_bad_length_are_delivered_first() -> None:
    framer = Framer()
    got = []
    with pytest.raises(PduDecodeError):
        for f in framer.feed(STREAM + struct.pack(">IIII", 3, 0, 0, 0)):
            got.append(decode(f))
    assert got == PDUS


def test_close_reports_a_partial_frame() -> None:
    framer = Framer()
    list(framer.feed(STREAM[:40]))
    with pytest.raises(PduDecodeError) as err:
        framer.close()
    assert err.value.sequence_number == 2
    Framer().close()  # nothing buffered: nothing to say


def test_stopping_early_keeps_the_rest_for_the_next_feed() -> None:
    framer = Framer()
    frames = framer.feed(STREAM)
    first = next(frames)
    frames.close()
    assert decode(first) == PDUS[0]
    assert [decode(f) for f in framer.feed(b"")] == PDUS[1:]


def test_bytearray_and_memoryview_chunks_are_accepted() -> None:
    framer = Framer()
    got = list(framer.feed(bytearray(STREAM[:30]))) + list(framer.feed(memoryview(STREAM[30:])))
    assert [decode(f) for f in got] == PDUS
    assert all(type(f) is bytes for f in got)
