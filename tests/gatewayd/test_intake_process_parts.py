"""Parts of the API's own process: the frames it exchanges with the daemon (a length, then
a pickle) and the listening socket the daemon opens for it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gatewayd import intake_child
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


@contextlib.asynccontextmanager
async def _daemon_pair() -> AsyncIterator[tuple[Any, asyncio.StreamReader, asyncio.StreamWriter]]:
    """The API process's `_Daemon`, listening on one end of a socket pair; the daemon's end
    (its reader and writer) for the test to script."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    their_reader, their_writer = await asyncio.open_connection(sock=theirs)
    daemon = intake_child._Daemon(writer)
    listening = asyncio.create_task(daemon.listen(reader, None))  # type: ignore[arg-type]
    try:
        yield daemon, their_reader, their_writer
    finally:
        their_writer.close()
        await listening  # the daemon's end closed: the API's side hears it and stops
        writer.close()


async def test_metrics_carry_the_daemons_part_and_say_so() -> None:
    async with _daemon_pair() as (daemon, their_reader, their_writer):
        asking = asyncio.create_task(daemon.metrics())
        kind, number, what = await read_frame(their_reader)
        assert (kind, what) == ("ask", "metrics")
        their_writer.write(frame(("answer", number, b"gatewayd_submits_total 7.0\n")))
        text = (await asking).decode()
    assert text.startswith("gatewayd_submits_total 7.0\n")
    assert text.endswith("gatewayd_daemon_metrics_available 1\n")


async def test_a_daemon_that_does_not_answer_leaves_the_apis_metrics_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake_child, "ASK_TIMEOUT", 0.05)
    async with _daemon_pair() as (daemon, _, _):  # the daemon's end reads and answers nothing
        text = (await daemon.metrics()).decode()
    assert text.endswith("gatewayd_daemon_metrics_available 0\n")
    assert "# TYPE gatewayd_daemon_metrics_available gauge" in text
