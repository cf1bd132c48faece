"""The HTTP load generator, in one or more child processes.

Each process sends its share of the messages at a fixed number of connections (one aiohttp
ClientSession, TCPConnector(limit=concurrency)), every request built before the clock starts.
A request counts as accepted when the gateway says so (gatewayd: 200; Kannel: 202 "Accepted
for delivery"); its latency is from just before the request is written until its body is read.
Bounded: each request has a timeout and no request starts after `max_seconds`.

Message i goes to 254712000000 + i (Safaricom's 0712 range), a distinct destination per
message, so the simulator can tell a message submitted twice; the callback URL carries i.
"""

from __future__ import annotations

import asyncio
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


Request = tuple[str, URL, bytes | None, dict[str, str] | None]


def build(spec: Spec) -> list[tuple[int, Request]]:
    """Every request of this process, ready to send."""
    out: list[tuple[int, Request]] = []
    if spec.kind == "gatewayd":
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
            out.append((i, ("POST", url, body, headers)))
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
            out.append((i, ("GET", url, None, None)))
    else:
        url = URL(spec.base + "/")
        out.extend((i, ("GET", url, None, None)) for i in spec.indices)
    return out


async def send_all(spec: Spec, requests: list[tuple[int, Request]]) -> dict[str, Any]:
    """Send every request at `spec.concurrency` connections; figures of this process."""
    want = ACCEPTED[spec.kind]
    accepted = bytearray(spec.total)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    sample: dict[str, str] = {}
    pending = iter(requests)
    first_send = time.monotonic()
    deadline = first_send + spec.max_seconds
    last_accept = first_send
    timeout = aiohttp.ClientTimeout(total=spec.request_timeout)
    connector = aiohttp.TCPConnector(limit=spec.concurrency, limit_per_host=0)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal last_accept
        clock = time.perf_counter
        for i, (method, url, body, headers) in pending:
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
                accepted[i] = 1
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
    pipe.send("ready")
    pipe.recv()
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(send_all(spec, requests))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pipe.send(result)
