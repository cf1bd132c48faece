"""The HTTP control port and the command line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from types import MappingProxyType

import aiohttp
import pytest

from smpp.sim import cli
from smpp.sim.cli import config_from_args
from smpp.sim.config import (
    BindMode,
    IdFormat,
    SimulatorConfig,
    ThrottleKind,
    kenyan_personalities,
)
from smpp.sim.simulator import start_simulator
from tests.smpp.sim.client import connect


async def test_control_port_mo_records_unbind() -> None:
    config = SimulatorConfig(smscs=kenyan_personalities(), control_port=0, seed=1)
    sim = await start_simulator(config)
    try:
        assert sim.control is not None
        base = f"http://{sim.control.host}:{sim.control.port}"
        client = await connect(*sim.address("airtel"))
        await client.bind("trx")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/smscs") as resp:
                smscs = await resp.json()
            assert smscs["telkom"]["port"] == sim.address("telkom")[1]
            mo = {"smsc": "airtel", "source": "254733000001", "dest": "22384", "text": "STOP"}
            async with http.post(f"{base}/mo", json=mo) as resp:
                assert resp.status == 200
                assert await resp.json() == {"parts": 1}
            assert client.delivers[0].short_message == b"STOP"
            await client.submit_one()
            async with http.get(f"{base}/records?submits=5") as resp:
                records = await resp.json()
            airtel = records["airtel"]
            assert (airtel["mo_acked"], airtel["accepted"]) == (1, 1)
            assert airtel["submits"][0]["message_id"] == "1000000000"
            assert records["safaricom"]["accepted"] == 0
            async with http.post(f"{base}/mo", json={"smsc": "nope"}) as resp:
                assert resp.status == 400
            async with http.post(f"{base}/mo", json={**mo, "smsc": "nope"}) as resp:
                assert resp.status == 404
            async with http.post(f"{base}/unbind", json={"smsc": "airtel"}) as resp:
                assert await resp.json() == {"count": 1}
        await client.wait_until(lambda: any(type(p).__name__ == "Unbind" for p in client.received))
        client.close()
    finally:
        await sim.close()


def test_command_line_to_config() -> None:
    config = config_from_args(
        [
            "--listen",
            "127.0.0.1:2775",
            "--name",
            "op",
            "--tps",
            "200",
            "--throttle",
            "bucket",
            "--window",
            "50",
            "--latency",
            "0.05",
            "--receipt-delay",
            "0.1:0.5",
            "--receipt-mix",
            "delivrd=9,undeliv=1",
            "--id-format",
            "decimal",
            "--receipt-id-format",
            "hex",
            "--reject-prefix",
            "25477",
            "--bind-modes",
            "tx,rx",
            "--drop-after",
            "30",
            "--duplicate-receipts",
            "0.1",
            "--seed",
            "5",
            "--control",
            "127.0.0.1:0",
        ]
    )
    (smsc,) = config.smscs
    assert (smsc.name, smsc.host, smsc.port) == ("op", "127.0.0.1", 2775)
    assert (smsc.throttle.tps, smsc.throttle.kind, smsc.window) == (200, ThrottleKind.BUCKET, 50)
    assert smsc.latency.fixed == 0.05
    assert (smsc.receipts.delay_min, smsc.receipts.delay_max) == (0.1, 0.5)
    assert smsc.receipts.mix == MappingProxyType({"DELIVRD": 9.0, "UNDELIV": 1.0})
    assert (smsc.message_id_format, smsc.receipts.id_format) == (IdFormat.DECIMAL, IdFormat.HEX)
    assert smsc.reject_prefixes == ("25477",)
    assert smsc.bind_modes == frozenset({BindMode.TX, BindMode.RX})
    assert (smsc.drop_after, smsc.receipts.duplicates, config.seed) == (30, 0.1, 5)
    assert config.control_port == 0
    kenya = config_from_args(["--kenya", "--listen", "127.0.0.1:3000"])
    assert [(s.name, s.port) for s in kenya.smscs] == [
        ("safaricom", 3000),
        ("airtel", 3001),
        ("telkom", 3002),
    ]


async def test_python_dash_m_serves_and_stops() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smpp.sim",
        "--listen",
        "127.0.0.1:0",
        "--tps",
        "50",
        "--nice",
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        info = None
        for _ in range(10):  # a few human lines, then the JSON one
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            if line.startswith(b"{"):
                info = json.loads(line)
                break
        assert info is not None
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == min(mine + 3, 19)
        port = info["smscs"]["smsc"]["port"]
        client = await connect("127.0.0.1", port)
        assert (await client.bind()).command_status == 0
        assert (await client.submit_one()).message_id == "3b9aca00"
        client.close()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0


def test_a_priority_the_process_may_not_take_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(_increment: int) -> int:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(cli.os, "nice", refuse)
    cli._renice(-10)
    assert "--nice -10 skipped: [Errno 1] Operation not permitted" in capsys.readouterr().err
    monkeypatch.setattr(cli.os, "sched_setscheduler", lambda *_args: refuse(0))
    cli._realtime(10)
    assert "--realtime 10 skipped: [Errno 1] Operation not permitted" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="a real-time policy needs root")
async def test_realtime_runs_the_simulator_under_sched_fifo() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smpp.sim", "--listen", "127.0.0.1:0", "--realtime", "10",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [await asyncio.wait_for(proc.stdout.readline(), 20) for _ in range(2)]
        assert lines[-1].startswith(b"{")  # the listening line, then the JSON one: it runs
        assert os.sched_getscheduler(proc.pid) == os.SCHED_FIFO
        assert os.sched_getparam(proc.pid).sched_priority == 10
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
