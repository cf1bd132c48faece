"""The daemon as a real process (`python -m gatewayd.cli -c FILE run`) against a simulator that
runs in the test process, so that it outlives the daemon being killed or stopped.

The daemon listens on port 0; its address is read from its `http_listening` log line (JSON on
stdout). Every log line is kept, parsed, for the test to read (`recovery_done`, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gatewayd.service.ports import Store
from gatewayd.store import open_store
from smpp.sim.simulator import Simulator
from tests.e2e.harness import ACME_CLIENT, ACME_SECRET, ID_FORMATS, seed_world

REPO = Path(__file__).resolve().parents[2]


def sqlite_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'gatewayd.db'}"


def write_config(
    sim: Simulator, state_dir: Path, *, window: int, tps: float, store_url: str | None = None
) -> Path:
    """A TOML file for the daemon: port 0, the simulator's SMSCs, a SQLite file store."""
    tables = "".join(
        f"""
[[smsc]]
name = "{name}-1"
operator = "{name}"
host = "{smsc.host}"
port = {smsc.port}
system_id = "gatewayd"
password = "secret"
window = {window}
tps = {tps}
id_format = "{ID_FORMATS[name]}"
reconnect_min = 0.05
reconnect_max = 0.5
"""
        for name, smsc in sim.smscs.items()
    )
    text = f"""
state_dir = "{state_dir}"

[http]
listen = "127.0.0.1:0"
rate_limit_per_minute = 0
max_queue_depth = 0

[store]
url = "{store_url or sqlite_url(state_dir)}"

[auth]
[auth.signing_keys]
e2e = "{"k" * 40}"

[log]
level = "info"
format = "json"

[shutdown]
drain_timeout = 3.0
unbind_timeout = 1.0
{tables}"""
    path = state_dir / "gatewayd.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


async def seed(state_dir: Path, store_url: str | None = None) -> None:
    """Create the schema and the e2e world before the daemon first starts."""
    store = await open_store(store_url or sqlite_url(state_dir))
    try:
        await store.migrate()
        await seed_world(store)
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def opened_store(state_dir: Path, store_url: str | None = None) -> AsyncIterator[Store]:
    store = await open_store(store_url or sqlite_url(state_dir))
    try:
        yield store
    finally:
        await store.close()


@dataclass
class DaemonProcess:
    """A running `gatewayd run` and what it logged."""

    proc: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _reader: asyncio.Task[None] | None = None
    _seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "non_json", "text": raw.decode(errors="replace")}
            self.lines.append(line)
            self._seen.set()

    async def wait_event(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first log line with this event name (waiting for it)."""
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines:
                    if line.get("event") == event:
                        return line
                if self.proc.returncode is not None and self._reader and self._reader.done():
                    raise AssertionError(f"daemon exited before {event!r}: {self.tail()}")
                self._seen.clear()
                await self._seen.wait()

    def tail(self, n: int = 15) -> Sequence[dict[str, Any]]:
        return self.lines[-n:]

    async def exit_code(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 5)
        return code


async def start_daemon(config: Path) -> DaemonProcess:
    """Start the daemon and wait until its API listens."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "GATEWAYD_CONFIG": str(config),  # what SIGHUP reads again
    }
    env.pop("NOTIFY_SOCKET", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd.cli", "-c", str(config), "run",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    daemon = DaemonProcess(proc)
    daemon._reader = asyncio.create_task(daemon._read())
    listening = await daemon.wait_event("http_listening")
    daemon.url = listening["url"]
    await daemon.wait_event("ready")
    return daemon


async def token(http: aiohttp.ClientSession, url: str) -> str:
    body = {"grant_type": "client_credentials", "client_id": ACME_CLIENT,
            "client_secret": ACME_SECRET}  # fmt: skip
    async with http.post(f"{url}/api/generate-token", json=body) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["access_token"])


async def send_many(
    url: str, contact: str, texts: Sequence[str], *, concurrency: int = 64
) -> list[str]:
    """POST send-sms for each text (KIMISMS), `concurrency` at a time; the message ids."""
    ids: list[str] = [""] * len(texts)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(texts)):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        headers = {"Authorization": f"Bearer {await token(http, url)}"}

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                body = {"sender_name": "KIMISMS", "contact": contact, "message": texts[i]}
                async with http.post(f"{url}/api/send-sms", json=body, headers=headers) as r:
                    assert r.status == 200, await r.text()
                    ids[i] = (await r.json())["message_id"]

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (a helper that must have ended, say)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
