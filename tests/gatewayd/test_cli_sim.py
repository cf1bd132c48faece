"""`gatewayd sim` and `python -m gatewayd` as real processes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from gatewayd import __version__

REPO = Path(__file__).resolve().parents[2]
SIM_CONFIG = """
state_dir = "{state_dir}"

[sim]
seed = 7
control_listen = "127.0.0.1:0"

[[sim.smsc]]
name = "saf"
operator = "safaricom"
listen = "127.0.0.1:0"
receipt_mix = {{ DELIVRD = 0.95, UNDELIV = 0.05 }}

[[sim.smsc]]
name = "air"
operator = "airtel"
listen = "127.0.0.1:0"
tps = 5
window = 3
id_format = "decimal-padded"
reject_prefixes = ["25473"]
"""


async def _listening(proc: asyncio.subprocess.Process, wanted: int) -> list[dict[str, Any]]:
    """The first `wanted` "…listening" log lines the process prints."""
    assert proc.stdout is not None
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(found) < wanted:
            raw = await proc.stdout.readline()
            assert raw, "the simulator ended before it listened"
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # not a log line
            if str(line.get("event", "")).endswith("listening"):
                found.append(line)
    return found


async def test_gatewayd_sim_prints_its_ports_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "gatewayd.toml"
    config.write_text(SIM_CONFIG.format(state_dir=tmp_path), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd", "-c", str(config), "sim", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        lines = await _listening(proc, 3)
        ports = {line["smsc"]: line["port"] for line in lines if line["event"] == "sim_listening"}
        assert set(ports) == {"saf", "air"} and all(port > 0 for port in ports.values())
        (control,) = [line for line in lines if line["event"] == "sim_control_listening"]
        url = f"http://127.0.0.1:{control['port']}/smscs"
        async with aiohttp.ClientSession() as http, http.get(url) as answer:
            smscs = await answer.json()
        assert {name: s["port"] for name, s in smscs.items()} == ports
        assert smscs["air"]["operator"] == "airtel"
        for port in ports.values():  # the SMSC listeners take connections
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_python_m_gatewayd_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatewayd", "--version"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == f"gatewayd {__version__}"
