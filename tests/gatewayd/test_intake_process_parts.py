"""Parts of the API's own process: the frames it exchanges with the daemon (a length, then
a pickle) and the listening socket the daemon opens for it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gatewayd.intake_process import MAX_FRAME, frame, listening_socket, read_frame
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


@pytest.mark.parametrize(
    ("host", "family"),
    [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6), ("localhost", socket.AF_INET)],
)
def test_the_listening_socket_is_bound_listening_and_inheritable(
    host: str, family: socket.AddressFamily
) -> None:
    with listening_socket(host, 0, 8) as sock:
        assert sock.family == family
        assert sock.get_inheritable()  # the API's process gets it across exec
        port = sock.getsockname()[1]
        assert port > 0
        with socket.create_connection((host, port), timeout=5):
            pass  # the kernel queues the connection: it listens before anyone accepts
