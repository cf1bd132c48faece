"""The simulator in a child process (`python -m smpp.sim`), for real-time measurements that
must not share the event loop (and its stalls) with the client under test."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp


class SimProcess:
    """A running `python -m smpp.sim` on 127.0.0.1 with picked ports."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    @classmethod
    async def start(cls, *args: str) -> SimProcess:
        """Start it with extra command-line `args`; returns once it listens.

        Where the test may (as root), the simulator runs ahead of everything else on the
        machine (`--realtime 10`, with `--nice -10` where that is refused): an operator's SMSC
        is a machine of its own, and its clock must not take the test machine's scheduling
        delays for our jitter (under two busy loops, 2 of 4 runs of the 200 TPS test saw a
        throttle at nice 0, 0 of 6 at nice -10; at load 3, a full test run still saw one)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smpp.sim", "--listen", "127.0.0.1:0",
            "--control", "127.0.0.1:0", "--nice", "-10", "--realtime", "10", *args,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            if not line:
                raise RuntimeError("the simulator exited before listening")
            if line.startswith(b"{"):
                return cls(proc, json.loads(line))

    def address(self, name: str = "smsc") -> tuple[str, int]:
        """(host, port) of one SMSC."""
        smsc = self.info["smscs"][name]
        return smsc["host"], smsc["port"]

    async def records(self, name: str = "smsc") -> dict[str, Any]:
        """The SMSC's records as the control port gives them."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.info['control']}/records") as resp,
        ):
            data: dict[str, Any] = await resp.json()
        return dict(data[name])

    async def close(self) -> None:
        """SIGTERM, then wait for it to exit."""
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)

