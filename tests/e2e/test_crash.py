"""Crash and stop: the daemon as a real process, killed with SIGKILL while dispatching or
stopped with SIGTERM, against a simulator that outlives it (it runs in the test process)."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatewayd.service.model import LedgerKind, MessageStatus, PartStatus, ReceiptOutcome
from gatewayd.service.ports import Store
from smpp.sim.config import Latency, ReceiptPolicy, SimulatorConfig, SmscPersonality
from smpp.sim.simulator import start_simulator
from tests.e2e.harness import SAFARICOM, personalities
from tests.e2e.process import opened_store, seed, send_many, start_daemon, write_config
from tests.gatewayd.store.pg import fresh_schema

pytestmark = pytest.mark.slow

CRASH_MESSAGES = 5000
SENDER = "acme-kim-saf"
SEEDED_UNITS = 100  # what seed_world gives the sender


def safaricom() -> SmscPersonality:
    return replace(personalities()["safaricom"], name="safaricom")


async def top_up(state_dir: Path, units: int, url: str | None = None) -> None:
    async with opened_store(state_dir, url) as store:
        await store.post_entry(
            SENDER, LedgerKind.TOPUP, units, "test", "crash test", "t", datetime.now(UTC)
        )


async def count_final(store: Store, limit: int) -> int:
    total = 0
    for status in (MessageStatus.DELIVERED, MessageStatus.FAILED):
        page = await store.list_messages("acme", status=status, limit=limit * 2)
        total += len(page.items)
    return total


async def wait_all_final(state_dir: Path, url: str | None, count: int, timeout: float) -> None:
    """Poll the store (a second connection) until every message is final."""
    deadline = time.monotonic() + timeout
    async with opened_store(state_dir, url) as store:
        while (final := await count_final(store, count)) < count:
            assert time.monotonic() < deadline, f"only {final} of {count} final"
            await asyncio.sleep(0.5)  # a second process writes: nothing here to await


async def test_sigkill_while_dispatching_loses_nothing_and_charges_once(tmp_path: Path) -> None:
    await crash_and_restart(tmp_path, None, CRASH_MESSAGES)


@pytest.mark.postgres
async def test_sigkill_while_dispatching_on_postgresql(tmp_path: Path, postgres_dsn: str) -> None:
    url, drop = await fresh_schema(postgres_dsn)
    try:
        await crash_and_restart(tmp_path, url, 2000)
    finally:
        await drop()


async def crash_and_restart(tmp_path: Path, url: str | None, count: int) -> None:
    """`count` messages sent, SIGKILL at a random moment while dispatching, restart, check."""
    seed_value = random.randrange(1 << 30)
    rng = random.Random(seed_value)
    print(f"crash test seed {seed_value}")
    sim = await start_simulator(SimulatorConfig(smscs=(safaricom(),), seed=seed_value))
    daemons = []
    try:
        config = write_config(sim, tmp_path, window=20, tps=count / 8, store_url=url)
        await seed(tmp_path, url)
        await top_up(tmp_path, count, url)
        first = await start_daemon(config)
        daemons.append(first)
        texts = [f"Crash test {n:05d}" for n in range(count)]
        t0 = time.monotonic()
        ids = await send_many(first.url, SAFARICOM, texts)
        print(f"sent in {time.monotonic() - t0:.1f} s")
        record = sim.records("safaricom")
        left = count - record.submit_count
        assert left > 400, f"dispatching was nearly done ({left} left) before the kill"
        kill_at = record.submit_count + rng.randrange(100, left - 100)
        await sim.wait_until(lambda: record.submit_count >= kill_at, 60, "the kill moment")
        first.proc.send_signal(signal.SIGKILL)
        assert await first.exit_code(10) == -signal.SIGKILL

        second = await start_daemon(config)
        daemons.append(second)
        in_doubt = int((await second.wait_event("recovery_done"))["in_doubt"])
        print(f"restarted at {time.monotonic() - t0:.1f} s")
        await wait_all_final(tmp_path, url, count, timeout=90)
        print(f"all final at {time.monotonic() - t0:.1f} s")
        second.proc.send_signal(signal.SIGTERM)
        assert await second.exit_code(15) == 0
    finally:
        for daemon in daemons:
            if daemon.proc.returncode is None:
                daemon.proc.kill()
                await daemon.proc.wait()
        await sim.close()

    accepted = Counter(s.text for s in record.submits if s.status == 0)
    assert set(accepted) == set(texts), "a message never reached the SMSC"
    duplicates = sum(n - 1 for n in accepted.values())
    print(f"killed after {kill_at} submits; in doubt {in_doubt}, duplicates {duplicates}")
    assert duplicates <= in_doubt

    async with opened_store(tmp_path, url) as store:
        balance = await store.balance(SENDER)
        assert balance == SEEDED_UNITS + count - count  # one unit each
        assert await store.ledger_sum(SENDER) == balance
        debits = [e for e in await store.entries(SENDER) if e.kind is LedgerKind.DEBIT]
        assert sorted(e.reference for e in debits) == sorted(ids)  # exactly once each
        delivered = await store.list_messages(
            "acme", status=MessageStatus.DELIVERED, limit=count * 2
        )
        assert len(delivered.items) == count
        marked = [m for m in delivered.items if m.in_doubt]
        assert len(marked) == in_doubt
        for message in marked[:20]:
            full = await store.get_message(message.id)
            assert any("In doubt" in e.description for e in full.timeline)


async def test_sigterm_drains_unbinds_and_exits_zero(tmp_path: Path) -> None:
    late = replace(safaricom(), receipts=ReceiptPolicy(delay_min=60.0, delay_max=61.0))
    sim = await start_simulator(SimulatorConfig(smscs=(late,)))  # no receipt before the stop
    record = sim.records("safaricom")
    daemon = None
    try:
        config = write_config(sim, tmp_path, window=20, tps=300.0)
        await seed(tmp_path)
        await top_up(tmp_path, 1000)
        daemon = await start_daemon(config)
        await sim.wait_for_bind(1, timeout=5)
        daemon.proc.send_signal(signal.SIGHUP)  # nothing changed: the bind stays up
        await daemon.wait_event("reload_done")
        assert len(record.binds) == 1 and record.bound
        texts = [f"Stop test {n:04d}" for n in range(600)]
        await send_many(daemon.url, SAFARICOM, texts)
        assert record.submit_count < len(texts), "everything was sent before the stop"
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        code = await daemon.exit_code(15)
        took = time.monotonic() - started
        assert code == 0, daemon.tail()
        assert took < 3.0 + 1.0 + 2.0  # drain_timeout + unbind_timeout + start-up slack
        assert record.unbinds >= 1
    finally:
        if daemon is not None and daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
        await sim.close()

    async with opened_store(tmp_path) as store:
        sent = await store.list_messages("acme", status=MessageStatus.SENT, limit=1000)
        assert sent.items, "nothing was SENT before the stop"
        now = datetime.now(UTC)
        for item in sent.items:
            message = await store.get_message(item.id)
            for part in message.part_list:
                assert part.status is PartStatus.SENT and part.smsc_message_id
                # the receipt map entry is there: a late receipt still finds its message
                result = await store.record_receipt(
                    "safaricom-1", part.smsc_message_id, MessageStatus.DELIVERED, "late", now
                )
                assert result.outcome is ReceiptOutcome.APPLIED
        queued = await store.queue_depth("safaricom")
        print(f"stop left {len(sent.items)} SENT (awaiting receipts) and {queued} queued")


async def test_second_sigterm_cuts_the_drain_short(tmp_path: Path) -> None:
    slow = replace(safaricom(), latency=Latency(fixed=30.0))  # no answer within the drain
    sim = await start_simulator(SimulatorConfig(smscs=(slow,)))
    daemon = None
    try:
        config = write_config(sim, tmp_path, window=20, tps=300.0)
        await seed(tmp_path)
        daemon = await start_daemon(config)
        await send_many(daemon.url, SAFARICOM, [f"Slow {n}" for n in range(30)])
        await sim.wait_for_submits(20, timeout=10)
        daemon.proc.send_signal(signal.SIGTERM)
        await daemon.wait_event("stopping")
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert await daemon.exit_code(10) == 0
        assert time.monotonic() - started < 2.5  # not the 3 s drain + 1 s unbind budget
        await daemon.wait_event("drain_cut_short")
    finally:
        if daemon is not None and daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
        await sim.close()
    async with opened_store(tmp_path) as store:
        in_doubt = await store.recover_in_doubt(datetime.now(UTC))
        assert len(in_doubt) >= 20  # written, never answered: in doubt, not lost
