"""The keep-alive POST client against a raw server: answer framings, reuse, closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.workers.keepalive import KeepAlivePoster

LOOPBACK = CallbackPolicy.from_flags(allow_loopback=True)


@asynccontextmanager
async def raw_server(answers: list[bytes]) -> AsyncIterator[tuple[int, list[bytes], list[int]]]:
    """Answers each request (read up to its body) with the next scripted bytes; b"" closes."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                requests.append(head + await reader.readexactly(length))
                answer = answers.pop(0)
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, requests, connections
    finally:
        server.close()


def poster() -> KeepAlivePoster:
    return KeepAlivePoster(aiohttp.ThreadedResolver(), 4, "gatewayd/test")


async def test_framings_are_read_and_the_connection_reused() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    ]
    async with raw_server(answers) as (port, requests, connections):
        client = poster()
        target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/hook?x=1")
        statuses = [await client.post(target, [("X-A", "1")], b"{}") for _ in range(4)]
        client.close()
    assert statuses == [200, 204, 500, 201]
    assert len(connections) == 1
    first = requests[0].decode()
    assert first.startswith("POST /hook?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in first
    assert "X-A: 1\r\n" in first and first.endswith("\r\n\r\n{}")


async def test_another_url_of_the_target_is_requested_at_its_own_path() -> None:
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 4
    async with raw_server(answers) as (port, requests, connections):
        client = poster()
        target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/hook?x=1")
        base = f"http://127.0.0.1:{port}"
        for url in (f"{base}/b?m=2#frag", f"{base}?m=3", base, f"{base}#/x?y"):
            assert await client.post(target, [], b"{}", url) == 200
        client.close()
    lines = [r.decode().split("\r\n", 1)[0] for r in requests]
    assert lines == [
        "POST /b?m=2 HTTP/1.1",
        "POST /?m=3 HTTP/1.1",
        "POST / HTTP/1.1",
        "POST / HTTP/1.1",
    ]
    assert all(f"Host: 127.0.0.1:{port}\r\n" in r.decode() for r in requests)
    assert len(connections) == 1


async def test_a_close_delimited_answer_and_a_dropped_idle_connection() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"",  # the server closes the kept connection instead of answering
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    ]
    async with raw_server(answers) as (port, _requests, connections):
        client = poster()
        target = LOOPBACK.check_url(f"http://localhost:{port}/")
        assert await client.post(target, [], b"a") == 200
        assert await client.post(target, [], b"b") == 200
        assert await client.post(target, [], b"c") == 202  # retried on a fresh connection
        client.close()
    assert len(connections) == 3


async def test_a_refused_connection_is_an_oserror_naming_the_target() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = poster()
    target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/")
    try:
        await client.post(target, [], b"x")
    except OSError as exc:
        assert f"127.0.0.1:{port}" in str(exc)
    else:
        raise AssertionError("no error")


@asynccontextmanager
async def gated_server(
    gate: asyncio.Event, arrived: asyncio.Event | None = None
) -> AsyncIterator[tuple[int, list[int]]]:
    """Answers each request 200 once `gate` is set (never, if it stays clear); sets `arrived`
    when a request has been read."""
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if arrived is not None:
                    arrived.set()
                await gate.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()


async def test_a_budget_bounds_a_post_left_unanswered() -> None:
    gate = asyncio.Event()
    async with gated_server(gate) as (port, connections):
        client = poster()
        target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/")
        gate.set()
        assert await client.post(target, [], b"a", budget=5.0) == 200
        gate.clear()  # the pooled connection now gets no answer: not retried elsewhere
        started = asyncio.get_running_loop().time()
        try:
            await client.post(target, [], b"b", budget=0.2)
        except TimeoutError:
            pass
        else:
            raise AssertionError("no timeout")
        assert 0.2 <= asyncio.get_running_loop().time() - started < 2.0
        assert len(connections) == 1
        gate.set()
        assert await client.post(target, [], b"c", budget=5.0) == 200  # on a fresh connection
        client.close()
    assert len(connections) == 2


async def test_posts_beyond_the_limit_wait_for_a_slot_and_a_cancelled_waiter_leaves_it() -> None:
    gate, arrived = asyncio.Event(), asyncio.Event()
    async with gated_server(gate, arrived) as (port, connections):
        client = KeepAlivePoster(aiohttp.ThreadedResolver(), 1, "gatewayd/test")
        target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/")
        first = asyncio.create_task(client.post(target, [], b"1"))
        cancelled = asyncio.create_task(client.post(target, [], b"2"))
        rest = [asyncio.create_task(client.post(target, [], b"3")) for _ in range(3)]
        await arrived.wait()  # the first holds the only slot, the others are queued
        cancelled.cancel()
        gate.set()
        assert await first == 200
        assert [await task for task in rest] == [200, 200, 200]
        assert cancelled.cancelled()
        client.close()
    assert len(connections) == 1  # one slot: one connection, reused in turn


async def test_a_budget_also_bounds_the_wait_for_a_slot() -> None:
    gate, arrived = asyncio.Event(), asyncio.Event()
    async with gated_server(gate, arrived) as (port, connections):
        client = KeepAlivePoster(aiohttp.ThreadedResolver(), 1, "gatewayd/test")
        target = LOOPBACK.check_url(f"http://127.0.0.1:{port}/")
        first = asyncio.create_task(client.post(target, [], b"1"))
        await arrived.wait()  # the first holds the only slot
        try:
            await client.post(target, [], b"2", budget=0.2)  # queued behind the first
        except TimeoutError:
            pass
        else:
            raise AssertionError("no timeout")
        gate.set()
        assert await first == 200
        assert await client.post(target, [], b"3", budget=5.0) == 200  # the slot came back
        client.close()
    assert len(connections) == 1
