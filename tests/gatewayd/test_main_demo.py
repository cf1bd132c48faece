"""`gatewayd demo` as a newcomer meets it: mostly delivered receipts, every printed curl line
working as pasted (the message it sends read back with its timeline), a plain send-sms line
whose answer is the API's JSON as it comes, and a busy port."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
from pathlib import Path

import pytest

from config.settings import Settings
from gatewayd.demo import DEMO_RECEIPT_MIX, DEMO_SENDER, demo, demo_personalities, free_port
from smpp.sim.config import kenyan_personalities


def test_the_demo_smscs_mostly_deliver() -> None:
    personalities = demo_personalities()
    assert [p.name for p in personalities] == [p.name for p in kenyan_personalities()]
    for personality in personalities:
        mix = personality.receipts.mix
        assert mix == DEMO_RECEIPT_MIX
        assert mix["DELIVRD"] / sum(mix.values()) >= 0.95
        assert set(mix) == {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"}
    safaricom = personalities[0]  # its other habits are kept (decimal ids in receipts)
    assert safaricom.receipts.id_format == kenyan_personalities()[0].receipts.id_format


async def test_every_printed_line_works_and_the_plain_send_shows_the_answer(
    tmp_path: Path,
) -> None:
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
        assert "/api/send-sms" in lines[-1] and lines[-1].startswith("curl ")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        shell = await asyncio.create_subprocess_exec(
            "bash", "-c", "set -e\n" + "\n".join(lines), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(shell.communicate(), 20)
        assert shell.returncode == 0, stderr.decode()
        shown, answer = stdout.decode().splitlines()  # the GET, then the plain send
        assert json.loads(shown)["contact"] == "254712345678"
        detail = json.loads(shown)  # the message $MID names, read back with $TOKEN
        assert detail["message_id"] and detail["provider"] == "Safaricom"
        assert (detail["sender_name"], detail["units"], detail["in_doubt"]) == (DEMO_SENDER, 1, 0)
        assert detail["timeline"][0]["status"] == "INITIATED"
        assert [e["status"] for e in detail["timeline"]][-1] == detail["status"]
        sent = json.loads(answer)
        assert sent["status"] == "INITIATED" and sent["provider"] == "Safaricom"
        assert sent["contact"] == "254712345678" and sent["message_id"]
        assert set(sent) >= {"message_id", "contact", "status", "description", "provider"}
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


def test_demo_port_falls_back_to_the_next_free_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        try:
            assert free_port("127.0.0.1", port) != port
        except OSError:
            pytest.skip("the port range above is not usable here")
