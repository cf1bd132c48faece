"""`gatewayd demo`: the curl lines it prints work as pasted into a shell."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest

from config.settings import Settings
from gatewayd.demo import demo


async def test_demo_curl_lines_work_as_pasted(tmp_path: Path) -> None:
    out = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        demo(Settings(), state_dir=tmp_path / "demo", port=0, out=out, shutdown_trigger=stop.wait)
    )
    try:
        async with asyncio.timeout(20):
            while "Ctrl-C" not in out.getvalue():
                assert not task.done(), task.result()
                await asyncio.sleep(0.02)  # the demo prints once its daemon is ready
        lines = [
            line.strip()
            for line in out.getvalue().splitlines()
            if line.strip().startswith(("TOKEN=", "MID=", "curl "))
        ]
        assert len(lines) == 4
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        script = "set -e\n" + "\n".join(lines[:3])
        shell = await asyncio.create_subprocess_exec(
            "bash", "-c", script, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(shell.communicate(), 20)
        assert shell.returncode == 0, stderr.decode()
        message = json.loads(stdout)
        assert message["contact"] == "254712345678"
        assert message["status"] in {"INITIATED", "SENT", "DELIVERED", "FAILED"}
        assert message["provider"] == "Safaricom"
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


def test_demo_port_falls_back_to_the_next_free_one() -> None:
    import socket  # noqa: PLC0415

    from gatewayd.demo import free_port  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        try:
            assert free_port("127.0.0.1", port) != port
        except OSError:
            pytest.skip("the port range above is not usable here")
