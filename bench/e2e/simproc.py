"""The SMSC simulator in a child process, driven over a pipe.

One SMSC: any bind kind, hex message ids in the submit_sm_resp and in the receipts, a receipt
0–50 ms after each submit with the receipted_message_id/message_state TLVs and the standard
text, no TPS limit, a window of 1,000 per bind. Each gateway binds with its own system_id, so
its submits and receipts are told apart by bind. Every submit is recorded, so a message
submitted twice (same destination in one run) is seen.

Commands (tuples) on the pipe, each answered with one object:
    ("mark",)                       -> number of submits recorded so far
    ("bound", system_id)            -> open binds of that system_id
    ("stats", system_id, mark)      -> figures of that system_id's submits since the mark
    ("stop",)                       -> None, then the process ends
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from smpp.sim.config import (
    Credential,
    IdFormat,
    Latency,
    ReceiptPolicy,
    SimulatorConfig,
    SmscPersonality,
)
from smpp.sim.simulator import Simulator, start_simulator

ACCOUNTS = (Credential("gatewayd", "secret"), Credential("kannel", "secret"))
WINDOW = 1000


def personality() -> SmscPersonality:
    """The SMSC both gateways bind to."""
    return SmscPersonality(
        "bench",
        operator="Safaricom",
        credentials=ACCOUNTS,
        window=WINDOW,
        latency=Latency(),
        receipts=ReceiptPolicy(delay_min=0.0, delay_max=0.05, with_tlvs=True, with_text=True),
        message_id_format=IdFormat.HEX,
        record_submits=True,
    )


def stats(sim: Simulator, system_id: str, mark: int) -> dict[str, Any]:
    """What the SMSC saw from `system_id`'s binds since `mark` (a count of submits)."""
    rec = sim.records()
    mine = {b.bind_id for b in rec.binds if b.system_id == system_id}
    submits = [s for s in rec.submits[mark:] if s.bind_id in mine]
    accepted = [s for s in submits if s.status == 0]
    per_dest = Counter(s.pdu.destination_addr for s in accepted)
    binds = [b for b in rec.binds if b.system_id == system_id]
    return {
        "submits": len(submits),
        "accepted": len(accepted),
        "refused": len(submits) - len(accepted),
        "distinct": len(per_dest),
        "duplicated": sum(c - 1 for c in per_dest.values() if c > 1),
        "first_at": accepted[0].at if accepted else None,
        "last_at": accepted[-1].at if accepted else None,
        "receipts_sent": sum(b.delivers_sent for b in binds),
        "receipts_acked": sum(b.delivers_acked for b in binds),
        "max_in_flight": max((b.max_in_flight for b in binds), default=0),
        "binds": len(binds),
    }


def serve(pipe: Connection, seed: int = 1) -> None:
    """Child process entry: run the simulator until ("stop",)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sim = await start_simulator(SimulatorConfig(smscs=(personality(),), seed=seed))
        pipe.send(sim.address())
        try:
            while True:
                command = await loop.run_in_executor(None, pipe.recv)
                pipe.send(answer(sim, command))
                if command[0] == "stop":
                    break
        finally:
            await sim.close()

    asyncio.run(main())


def answer(sim: Simulator, command: tuple[Any, ...]) -> Any:
    """The reply to one pipe command."""
    kind = command[0]
    if kind == "mark":
        return len(sim.records().submits)
    if kind == "bound":
        return sum(1 for b in sim.records().bound if b.system_id == command[1])
    if kind == "stats":
        return stats(sim, command[1], command[2])
    if kind == "cpu":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    return None
