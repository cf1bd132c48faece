"""The frames the daemon and its API process exchange: a length, then a pickle."""

from __future__ import annotations

import asyncio

import pytest

from gatewayd.intake_process import MAX_FRAME, frame, read_frame
from http_api import BindState, Readiness


async def _read_all(data: bytes) -> list[object]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while True:
        try:
            out.append(await read_frame(reader))
        except asyncio.IncompleteReadError:
            return out


async def test_frames_come_back_as_they_were_sent_and_in_order() -> None:
    ready = Readiness(store_ok=True, binds=(BindState("s/trx0", "safaricom", "bound"),))
    sent = [("ready", 42), ("ask", 1, "metrics"), ("answer", 1, ready), ("accepted", ("airtel",))]
    assert await _read_all(b"".join(frame(m) for m in sent)) == sent


async def test_a_frame_cut_short_is_the_end_not_a_message() -> None:
    whole = frame(("depth", 7))
    assert await _read_all(whole + frame(("depth", 8))[:-1]) == [("depth", 7)]


async def test_a_length_beyond_the_limit_is_refused() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data((MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="frame of"):
        await read_frame(reader)
