"""What the tools can do alone, so that a tool's limit is never taken for a gateway's.

- The simulator: bench/sim_ceiling.py (a direct pipelined client, window 100, receipts on)
  in a subprocess; its last line is JSON.
- The load generator: the same load process against a trivial HTTP server (raw asyncio, a
  canned 200 for every request, keep-alive) in its own process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def bulk_response(batch: int) -> bytes:
    """A canned answer of the bulk endpoint with `batch` accepted messages."""
    item = {"client_ref": None, "contact": "254712000000",
            "message_id": "00000000-0000-4000-8000-000000000000", "status": "INITIATED",
            "description": "Message queued for delivery", "provider": "Safaricom"}  # fmt: skip
    body = orjson.dumps({"accepted": batch, "rejected": 0, "units": batch,
                         "messages": [{"index": n, **item} for n in range(batch)]})  # fmt: skip
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: application/json"
    return head.encode() + b"\r\n\r\n" + body


class Trivial(asyncio.Protocol):
    """Answers every request head with a canned 200 (bodies are skipped: a JSON body holds no
    blank line)."""

    response = RESPONSE

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        heads = data.count(b"\r\n\r\n")
        self.tail = data[-3:]  # enough for a blank line split across two reads
        if heads and self.transport is not None:
            self.transport.write(self.response * heads)


def serve_trivial(pipe: Connection, batch: int = 1) -> None:
    """Child process entry: the trivial server until anything arrives on the pipe; with
    `batch` > 1 it answers as the bulk endpoint accepting `batch` messages."""

    class Canned(Trivial):
        response = bulk_response(batch) if batch > 1 else RESPONSE

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Canned, "127.0.0.1", 0, backlog=1024)
        pipe.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, pipe.recv)
        server.close()

    asyncio.run(main())


def simulator_ceiling(seconds: float) -> dict[str, Any]:
    """bench/sim_ceiling.py's figures (window 100, receipts on); {} when it fails."""
    script = Path(__file__).resolve().parent.parent / "sim_ceiling.py"
    try:
        done = subprocess.run(
            [sys.executable, str(script), "--seconds", str(seconds), "--window", "100"],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"error": str(exc)[:200]}
