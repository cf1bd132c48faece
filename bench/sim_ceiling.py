"""The simulator's own ceiling: submit_sm → resp per second, with receipts, window 100.

The simulator runs in a child process (as the demo and the benchmarks run it); the client here
is as small as a client can be, so that the figure is the simulator's: submit_sm frames are
encoded once by the shared codec and only their sequence number is patched, responses are
counted from their headers, and every receipt is answered with a prebuilt deliver_sm_resp.

    .venv/bin/python bench/sim_ceiling.py [--seconds 5] [--window 100] [--binds 1]
                                          [--runs 3] [--no-receipts]

Besides the rate, each run prints the simulator's CPU time per submit (its receipt included)
and the rate one free core would give at that cost: the machine is shared, and the CPU cost is
the steadier figure. The last line is one JSON object (the median run): submits_per_s,
receipts_per_s, sim_cpu_us_per_submit, sim_cpu_bound_per_s, window, binds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import struct
import time
from multiprocessing.connection import Connection

from smpp.core.codec import encode
from smpp.core.pdu import BindTransceiver, SubmitSm
from smpp.sim.config import Latency, ReceiptPolicy, SimulatorConfig, SmscPersonality
from smpp.sim.simulator import start_simulator

HEADER = struct.Struct(">IIII")
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005


def serve(pipe: Connection, receipts: bool) -> None:
    """Child process: one SMSC, no latency, receipts 0-50 ms after each submit."""

    async def main() -> None:
        policy = ReceiptPolicy(delay_max=0.05 if receipts else 0.0)
        personality = SmscPersonality(
            "bench", latency=Latency(), receipts=policy, record_submits=False
        )
        sim = await start_simulator(SimulatorConfig(smscs=(personality,), seed=1))
        pipe.send(sim.address())
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        after = resource.getrusage(resource.RUSAGE_SELF)
        snapshot = sim.snapshot()
        snapshot["bench"]["user_s"] = after.ru_utime - before.ru_utime
        snapshot["bench"]["system_s"] = after.ru_stime - before.ru_stime
        pipe.send(snapshot)
        await sim.close()

    asyncio.run(main())


class Esme(asyncio.Protocol):
    """Pipelined transceiver: keeps `window` submits outstanding until `deadline`."""

    def __init__(self, window: int, registered_delivery: int) -> None:
        self.window = window
        self.template = bytearray(
            encode(
                SubmitSm(
                    source_addr="KIMISMS",
                    destination_addr="254712345678",
                    registered_delivery=registered_delivery,
                    short_message=b"benchmark message text",
                )
            )
        )
        self.ack = bytearray(HEADER.pack(17, 0x80000005, 0, 0) + b"\0")
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.seq = 1
        self.outstanding = 0
        self.resps = 0
        self.receipts = 0
        self.sending = False
        self.bound = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(encode(BindTransceiver(1, system_id="gatewayd", password="secret")))

    def fill(self) -> None:
        """Top the window up with submits in one write."""
        if not self.sending or self.transport is None:
            return
        out = []
        template = self.template
        while self.outstanding < self.window:
            self.seq += 1
            struct.pack_into(">I", template, 12, self.seq)
            out.append(bytes(template))
            self.outstanding += 1
        if out:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos, end, acks = 0, len(buf), []
        while end - pos >= 16:
            length, cid, _status, seq = HEADER.unpack_from(buf, pos)
            if end - pos < length:
                break
            if cid == SUBMIT_SM_RESP:
                self.outstanding -= 1
                self.resps += 1
            elif cid == DELIVER_SM:
                self.receipts += 1
                struct.pack_into(">I", self.ack, 12, seq)
                acks.append(bytes(self.ack))
            elif cid == 0x80000009 and not self.bound.done():
                self.bound.set_result(None)
            pos += length
        del buf[:pos]
        if acks and self.transport is not None:
            self.transport.write(b"".join(acks))
        self.fill()


async def run_client(
    host: str,
    port: int,
    seconds: float,
    window: int,
    binds: int,
    receipts: bool,
    pipe: Connection,
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    esmes: list[Esme] = []
    for _ in range(binds):
        _, esme = await loop.create_connection(
            lambda: Esme(window, 1 if receipts else 0), host, port
        )
        await esme.bound
        esmes.append(esme)
    await asyncio.sleep(0.2)  # let the child settle before timing
    for esme in esmes:
        esme.sending = True
        esme.fill()
    pipe.send("start")
    start = time.perf_counter()
    r0 = sum(e.resps for e in esmes)
    d0 = sum(e.receipts for e in esmes)
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    resps = sum(e.resps for e in esmes) - r0
    dlrs = sum(e.receipts for e in esmes) - d0
    for esme in esmes:
        esme.sending = False
    return {"submits_per_s": round(resps / elapsed), "receipts_per_s": round(dlrs / elapsed)}


def one_run(args: argparse.Namespace, receipts: bool) -> dict[str, float]:
    """Start a simulator process, drive it for `args.seconds`, return the figures."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=serve, args=(child, receipts), daemon=True)
    proc.start()
    host, port = parent.recv()
    figures = asyncio.run(
        run_client(host, port, args.seconds, args.window, args.binds, receipts, parent)
    )
    parent.send("stop")
    snapshot = parent.recv()["bench"]
    proc.join(10)
    count = max(1, figures["submits_per_s"] * args.seconds)
    cpu_us = (snapshot["user_s"] + snapshot["system_s"]) / count * 1e6
    figures["sim_cpu_us_per_submit"] = round(cpu_us, 1)
    figures["sim_cpu_bound_per_s"] = round(1e6 / cpu_us) if cpu_us else 0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="the median run is reported")
    parser.add_argument("--no-receipts", action="store_true")
    args = parser.parse_args()
    receipts = not args.no_receipts
    print(
        f"simulator ceiling: window {args.window}, {args.binds} bind(s), receipts "
        f"{'on' if receipts else 'off'}, {args.runs} x {args.seconds:g} s, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    runs = []
    for n in range(args.runs):
        figures = one_run(args, receipts)
        runs.append(figures)
        print(
            f"  run {n + 1}: {figures['submits_per_s']:>7,} submit_sm→resp/s, "
            f"{figures['receipts_per_s']:>7,} receipts/s, simulator CPU "
            f"{figures['sim_cpu_us_per_submit']} µs per submit (one free core: "
            f"{figures['sim_cpu_bound_per_s']:,}/s)"
        )
    median = sorted(runs, key=lambda f: f["submits_per_s"])[len(runs) // 2]
    print(json.dumps({**median, "window": args.window, "binds": args.binds}))


if __name__ == "__main__":
    main()
