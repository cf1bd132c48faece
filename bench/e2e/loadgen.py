"""The HTTP load generator, in one or more child processes.

Each process sends its share of the messages at a fixed number of keep-alive connections, every
request built before the clock starts, with one of two clients:

- `aiohttp`: one ClientSession with TCPConnector(limit=concurrency);
- `raw` (default): one asyncio.Protocol per connection writing pre-encoded HTTP/1.1 requests
  and reading status line, Content-Length and body — about a fifth of aiohttp's CPU per
  request, which on a 2-core machine is CPU left to the gateway under test.

A request counts as accepted when the gateway says so (gatewayd: 200; Kannel: 202 "Accepted
for delivery"); its latency is from just before the request is written until its body is read.
Bounded: each request has a timeout and no request starts after `max_seconds`.

Message i goes to 254712000000 + i (Safaricom's 0712 range), a distinct destination per
message, so the simulator can tell a message submitted twice; the callback URL carries i.

With `batch` > 1 (gatewayd, and the trivial server for the ceiling) each request is a
`POST /api/v1/messages/bulk` of `batch` consecutive messages of the process's share, each
with its own callback URL; a message counts as accepted when its item in the answer is
INITIATED, and the latency is the whole request's.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from yarl import URL

SENDER = "BENCH"
BULK_PATH = "/api/v1/messages/bulk"
ACCEPTED = {"gatewayd": 200, "kannel": 202, "trivial": 200}


def contact(i: int) -> str:
    return f"254712{i:06d}"


def text(i: int) -> str:
    return f"Benchmark message {i:06d}: your code is {i % 1000000:06d}."


@dataclass(frozen=True, slots=True)
class Spec:
    """What one load process sends."""

    kind: str  # gatewayd | kannel | trivial
    base: str  # http://127.0.0.1:PORT
    indices: range
    total: int  # messages in the run (all processes)
    concurrency: int
    sink_port: int = 0
    token: str = ""
    dlr_mask: int = 3
    request_timeout: float = 30.0
    max_seconds: float = 600.0
    client: str = "raw"  # raw | aiohttp
    new_connections: bool = False  # one connection per request ("Connection: close")
    batch: int = 1  # messages per request; > 1: bulk requests (gatewayd, trivial)


Request = tuple[str, URL, bytes | None, dict[str, str] | None]
Ids = tuple[int, ...]  # the messages a request carries


def build(spec: Spec) -> list[tuple[Ids, Request]]:
    """Every request of this process, ready to send."""
    out: list[tuple[Ids, Request]] = []
    if spec.batch > 1:
        if spec.kind == "kannel":
            raise ValueError("Kannel's sendsms takes one message per request")
        url = URL(spec.base + BULK_PATH)
        headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
        share = list(spec.indices)
        for start in range(0, len(share), spec.batch):
            ids = tuple(share[start : start + spec.batch])
            messages = [
                {
                    "contact": contact(i),
                    "message": text(i),
                    "callback_url": f"http://127.0.0.1:{spec.sink_port}/g?i={i}",
                }
                for i in ids
            ]
            body = orjson.dumps({"sender_name": SENDER, "messages": messages})
            out.append((ids, ("POST", url, body, headers)))
    elif spec.kind == "gatewayd":
        url = URL(spec.base + "/api/send-sms")
        headers = {"Authorization": f"Bearer {spec.token}", "Content-Type": "application/json"}
        for i in spec.indices:
            body = orjson.dumps(
                {
                    "sender_name": SENDER,
                    "contact": contact(i),
                    "message": text(i),
                    "callback_url": f"http://127.0.0.1:{spec.sink_port}/g?i={i}",
                }
            )
            out.append(((i,), ("POST", url, body, headers)))
    elif spec.kind == "kannel":
        for i in spec.indices:
            query = urlencode(
                {
                    "username": "bench",
                    "password": "bench",
                    "from": SENDER,
                    "to": contact(i),
                    "text": text(i),
                    "dlr-mask": str(spec.dlr_mask),
                    "dlr-url": f"http://127.0.0.1:{spec.sink_port}/k?i={i}&s=%d",
                }
            )
            url = URL(f"{spec.base}/cgi-bin/sendsms?{query}", encoded=True)
            out.append(((i,), ("GET", url, None, None)))
    else:
        url = URL(spec.base + "/")
        out.extend(((i,), ("GET", url, None, None)) for i in spec.indices)
    return out


def mark(accepted: bytearray, ids: Ids, payload: bytes, bulk: bool, sample: dict[str, str]) -> int:
    """Mark the accepted messages of one answered request; how many there were."""
    if not bulk:
        accepted[ids[0]] = 1
        return 1
    count = 0
    for item in orjson.loads(payload)["messages"]:
        n = item["index"]
        if item.get("status") == "INITIATED" and n < len(ids):
            accepted[ids[n]] = 1
            count += 1
        else:
            sample.setdefault("bulk item", str(item)[:200])
    return count


def encode(request: Request, close: bool) -> bytes:
    """The request as HTTP/1.1 bytes."""
    method, url, body, headers = request
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {url.raw_host}:{url.port}"]
    if close:
        lines.append("Connection: close")
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)


class RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end])
        start = end + 4
        match = _LENGTH.search(head)
        if match is not None:
            stop = start + int(match.group(1))
            if len(buf) < stop:
                return
        elif _CHUNKED.search(head):
            last = buf.find(b"0\r\n\r\n", start)
            if last < 0:
                return
            stop = last + 5
        else:
            return  # the body ends when the connection closes: not used by either gateway
        body = bytes(buf[start:stop])
        del buf[:stop]
        keep = head.startswith(b"HTTP/1.1") and _CLOSE.search(head) is None
        waiter.set_result((int(head[9:12]), body, keep))

    async def request(self, data: bytes) -> tuple[int, bytes, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        try:
            return await self.waiter
        finally:
            self.waiter = None


async def send_raw(spec: Spec, encoded: list[tuple[Ids, bytes]]) -> dict[str, Any]:
    """`send_all` with RawConnection instead of aiohttp, from pre-encoded requests."""
    want = ACCEPTED[spec.kind]
    bulk = spec.batch > 1
    url = URL(spec.base)
    host, port = url.raw_host or "127.0.0.1", url.port or 80
    accepted = bytearray(spec.total)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    sample: dict[str, str] = {}
    pending = iter(encoded)
    loop = asyncio.get_running_loop()
    first_send = time.monotonic()
    deadline = first_send + spec.max_seconds
    last_accept = first_send

    async def worker() -> None:
        nonlocal last_accept
        clock = time.perf_counter
        conn: RawConnection | None = None
        for ids, data in pending:
            if time.monotonic() > deadline:
                statuses["not sent (time limit)"] += 1
                continue
            t0 = clock()
            try:
                async with asyncio.timeout(spec.request_timeout):
                    if conn is None or conn.closed:
                        _, conn = await loop.create_connection(RawConnection, host, port)
                    status, payload, keep = await conn.request(data)
            except (OSError, TimeoutError) as exc:
                key = type(exc).__name__
                statuses[key] += 1
                sample.setdefault(key, str(exc)[:200])
                if conn is not None and conn.transport is not None:
                    conn.transport.abort()
                conn = None
                continue
            if (spec.new_connections or not keep) and conn.transport is not None:
                conn.transport.close()
                conn = None
            if status == want:
                latencies.append(clock() - t0)
                if mark(accepted, ids, payload, bulk, sample):
                    last_accept = time.monotonic()
            else:
                sample.setdefault(str(status), payload[:200].decode("utf-8", "replace"))
            statuses[str(status)] += 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return {
        "accepted": bytes(accepted),
        "latencies": latencies,
        "statuses": dict(statuses),
        "samples": sample,
        "first_send": first_send,
        "last_accept": last_accept,
        "end": time.monotonic(),
    }


async def send_all(spec: Spec, requests: list[tuple[Ids, Request]]) -> dict[str, Any]:
    """Send every request at `spec.concurrency` connections; figures of this process."""
    want = ACCEPTED[spec.kind]
    bulk = spec.batch > 1
    accepted = bytearray(spec.total)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    sample: dict[str, str] = {}
    pending = iter(requests)
    first_send = time.monotonic()
    deadline = first_send + spec.max_seconds
    last_accept = first_send
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout)
    connector = aiohttp.TCPConnector(
        limit=spec.concurrency, limit_per_host=0, force_close=spec.new_connections
    )

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal last_accept
        clock = time.perf_counter
        for ids, (method, url, body, headers) in pending:
            if time.monotonic() > deadline:
                statuses["not sent (time limit)"] += 1
                continue
            t0 = clock()
            try:
                async with session.request(method, url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                key = type(exc).__name__
                statuses[key] += 1
                sample.setdefault(key, str(exc)[:200])
                continue
            if status == want:
                latencies.append(clock() - t0)
                if mark(accepted, ids, payload, bulk, sample):
                    last_accept = time.monotonic()
                statuses[str(status)] += 1
            else:
                statuses[str(status)] += 1
                sample.setdefault(str(status), payload[:200].decode("utf-8", "replace"))

    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:
        await asyncio.gather(*(worker(session) for _ in range(spec.concurrency)))
    return {
        "accepted": bytes(accepted),
        "latencies": latencies,
        "statuses": dict(statuses),
        "samples": sample,
        "first_send": first_send,
        "last_accept": last_accept,
        "end": time.monotonic(),
    }


def serve(pipe: Connection, spec: Spec) -> None:
    """Child process entry: build, say "ready", wait for "go", send, report."""
    requests = build(spec)
    raw = spec.client == "raw"
    encoded = [(i, encode(r, spec.new_connections)) for i, r in requests] if raw else []
    pipe.send("ready")
    pipe.recv()
    before = resource.getrusage(resource.RUSAGE_SELF)
    if spec.client == "raw":
        result = asyncio.run(send_raw(spec, encoded))
    else:
        result = asyncio.run(send_all(spec, requests))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pipe.send(result)
