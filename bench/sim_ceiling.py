"""The simulator's own ceiling: submit_sm → resp per second, with receipts, window 100.

The simulator runs in a child process (as the demo and the benchmarks run it); the client here
is as small as a client can be, so that the figure is the simulator's: submit_sm frames are
encoded once by the shared codec and only their sequence number is patched, responses are
counted from their headers, and every receipt is answered with a prebuilt deliver_sm_resp.

    .venv/bin/python bench/sim_ceiling.py [--seconds 5] [--window 100] [--binds 1]
                                          [--no-receipts]

The last line is one JSON object: submits_per_s, receipts_per_s, window, binds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--no-receipts", action="store_true")
    args = parser.parse_args()
    receipts = not args.no_receipts
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
    print(
        f"simulator ceiling, window {args.window}, {args.binds} bind(s), "
        f"receipts {'on' if receipts else 'off'}, {args.seconds:g} s"
    )
    print(f"  submit_sm→resp/s  {figures['submits_per_s']:>8,}")
    print(f"  receipts/s        {figures['receipts_per_s']:>8,}")
    print(
        f"  simulator: {snapshot['accepted']:,} accepted, "
        f"{snapshot['receipts_acked']:,} receipts acknowledged"
    )
    count = max(1, figures["submits_per_s"] * args.seconds)
    user_us = snapshot["user_s"] / count * 1e6
    system_us = snapshot["system_s"] / count * 1e6
    print(
        f"  simulator CPU per submit, its receipt included: {user_us:.1f} µs user "
        f"+ {system_us:.1f} µs system"
    )
    figures["sim_user_us_per_submit"] = round(user_us, 1)
    figures["sim_system_us_per_submit"] = round(system_us, 1)
    print(json.dumps({**figures, "window": args.window, "binds": args.binds}))


if __name__ == "__main__":
    main()
