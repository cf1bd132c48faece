"""The daemon's SMPP side alone: event-loop CPU per message from the queue to the receipt.

One SMSC link as the daemon builds it (`gatewayd.links.start_link`: bind pool, dispatcher,
receipt handler; one transceiver bind, window 100, the e2e bench's pace) against the e2e
bench's simulator in a child process (a receipt 0-50 ms after each submit, TLVs and text), over
a store that answers at once: claims hand out prepared single-part messages, submit answers and
receipts are taken without a database. What is measured is what the event-loop thread spends
between the first claim and the last receipt: claim, plan, submit_sm, submit_sm_resp, the
record-submits batch, deliver_sm, the receipt handler's batch and deliver_sm_resp.

    .venv/bin/python bench/smpp_path_bench.py [--messages 20000] [--runs 3]

To measure another checkout, run this file from that checkout: its parent directory comes first
on sys.path, before the virtualenv's editable install. The last line is one JSON object (the
median run): loop_cpu_us_per_msg, msgs_per_s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import uvloop  # the daemon's loop (gatewayd run)
from e2e import simproc
from prometheus_client import CollectorRegistry

from gatewayd import logs
from gatewayd.links import start_link
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.model import (
    CampaignType,
    DispatchState,
    Message,
    MessagePart,
    MessageStatus,
    PartStatus,
    ReceiptOutcome,
    ReceiptResult,
    SenderId,
    SenderStatus,
    SenderType,
)
from gatewayd.service.ports import Store
from gatewayd.workers.dispatcher import SmscProfile
from gatewayd.workers.receipts import ReceiptSource
from smpp.aio import BindMode, PoolConfig
from smpp.core.msgid import MessageIdFormat

T0 = datetime(2026, 11, 22, tzinfo=UTC)
TEXT = "Your verification code is 123456. It expires in 10 minutes."


class InstantStore:
    """The store calls of one SMSC link, answered at once without a database."""

    def __init__(self, count: int) -> None:
        self.queue = [self._message(i) for i in range(count)]
        self.claimed = self.submits = self.receipts = 0
        self.done = asyncio.Event()
        self.sender = SenderId(
            "s1", "a", "KIMISMS", "safaricom", SenderType.ALPHANUMERIC,
            CampaignType.TRANSACTIONAL, SenderStatus.ACTIVE, T0,
        )  # fmt: skip
        self.applied = ReceiptResult(ReceiptOutcome.APPLIED)

    @staticmethod
    def _message(i: int) -> Message:
        message_id = f"msg{i:08d}"
        return Message(
            id=message_id, account_id="a", sender_id="s1", sender_name="KIMISMS",
            contact=f"2547{i:08d}", operator="safaricom", text=TEXT, units=1, parts=1,
            encoding="gsm7", priority=0, status=MessageStatus.INITIATED, description="",
            dispatch=DispatchState.SUBMITTING, callback_url=None, client_ref=None,
            created_at=T0, updated_at=T0,
            part_list=(MessagePart(message_id, 1, 1, PartStatus.SUBMITTING),),
        )  # fmt: skip

    async def claim_queued(self, _op: str, limit: int, _now: datetime, _smsc: str) -> list[Message]:
        out = self.queue[self.claimed : self.claimed + limit]
        self.claimed += len(out)
        return out

    async def record_submits(self, items: Sequence[object]) -> list[None]:
        self.submits += len(items)
        return [None] * len(items)

    async def record_receipts(self, items: Sequence[object]) -> list[ReceiptResult]:
        self.receipts += len(items)
        if self.receipts >= len(self.queue):
            self.done.set()
        return [self.applied] * len(items)

    async def get_sender(self, _sender_id: str) -> SenderId:
        return self.sender

    async def list_senders(self, _account_id: str | None = None) -> list[SenderId]:
        return [self.sender]


async def one_run(port: int, count: int) -> dict[str, Any]:
    store = InstantStore(count)
    config = PoolConfig(
        name="bench", host="127.0.0.1", port=port, system_id="gatewayd", password="secret",
        bind_mode=BindMode.TRANSCEIVER, binds=1, window=100, tps=1_000_000.0,
        id_format=MessageIdFormat.HEX,
    )  # fmt: skip
    profile = SmscProfile(name="bench", operator="safaricom", id_format=MessageIdFormat.HEX)
    source = ReceiptSource("bench", "safaricom", MessageIdFormat.HEX)
    metrics = DaemonMetrics(CollectorRegistry())
    link = await start_link(
        "bench",
        config,
        profile,
        source,
        cast(Store, store),  # the calls one SMSC link makes, not the whole Store
        metrics,
        lambda: datetime.now(UTC),
    )
    try:
        await link.pool.wait_bound(1, 10)
        cpu, wall = time.thread_time(), time.perf_counter()
        link.dispatcher.kick()
        await asyncio.wait_for(store.done.wait(), 120)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    finally:
        await link.stop(2.0, 2.0)
    return {"loop_cpu_us_per_msg": cpu / count * 1e6, "msgs_per_s": count / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    logs.configure("warning", "console")
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sim = ctx.Process(target=simproc.serve, args=(child,), daemon=True)
    sim.start()
    port = parent.recv()[1]
    try:
        runs = []
        for n in range(args.runs):
            run = uvloop.run(one_run(port, args.messages))
            runs.append(run)
            print(
                f"run {n + 1}: {run['loop_cpu_us_per_msg']:.1f} us of event-loop CPU per message,"
                f" {run['msgs_per_s']:,.0f} messages/s"
            )
    finally:
        parent.send(("stop",))
        parent.poll(5)
        sim.join(5)
    median = sorted(runs, key=lambda r: r["loop_cpu_us_per_msg"])[(len(runs) - 1) // 2]
    print(json.dumps({k: round(v, 1) for k, v in median.items()}))


if __name__ == "__main__":
    main()
