"""Accepted messages per second through the store's group-commit writer, and p99 commit time.

64 concurrent producers each accept messages (message row + part + float debit + ledger entry
+ INITIATED status event, one unit of work each) until the bounded count is reached, on SQLite
(a temporary file, WAL, synchronous=NORMAL) and on PostgreSQL (a throw-away schema). The
latency of one accept is from the call to its committed answer.

    .venv/bin/python bench/store_bench.py [--count 20000] [--producers 64] [--pg DSN]
        [--sqlite-lanes N] [--pg-lanes N]

Lanes default to the store's own defaults (see `gatewayd.store.open_store`).

The last line is one JSON object: sqlite_accepts_per_s, sqlite_p99_ms, postgres_accepts_per_s,
postgres_p99_ms (postgres_* are null when the server is not reachable), and more.

`--lifecycle` measures a message's whole life instead: `--count` single-part messages with a
`callback_url` accepted, claimed (100 at a time), their submits recorded, DELIVERED receipts
recorded, their callback jobs claimed (32 at a time) and finished, each step through the store
as the daemon calls it (submits, receipts and finished callbacks in batches of `--batch`,
`--concurrency` batches in flight). Per step: CPU µs per message of the process and of the
SQLite writer thread alone, and (a second, traced pass) statements and rows changed per message.

    .venv/bin/python bench/store_bench.py --lifecycle [--count 5000] [--batch 16]
        [--concurrency 4] [--repeat 3] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gatewayd.service.messaging import new_message_id
from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    MessageStatus,
    NewMessage,
    SenderType,
)
from gatewayd.store import SqlStore, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_PG = os.environ.get("GATEWAYD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def message(n: int, created: datetime) -> NewMessage:
    return NewMessage(
        id=new_message_id(), account_id="acc", sender_id="snd", sender_name="KIMISMS",
        contact=f"2547{n % 100_000_000:08d}", operator="safaricom",
        text="Your OTP is 482910. It expires in 10 minutes.", units=1, parts=1,
        encoding="gsm7", priority=0, callback_url="https://client.example/cb",
        client_ref=None, actor="api:bench", created_at=created,
    )  # fmt: skip


async def seed(store: SqlStore, units: int) -> None:
    await store.migrate()
    await store.create_account("acc", "Bench", T0)
    await store.create_sender(
        "snd", "acc", "KIMISMS", "safaricom", SenderType.ALPHANUMERIC,
        CampaignType.TRANSACTIONAL, T0,
    )  # fmt: skip
    await store.post_entry("snd", LedgerKind.TOPUP, units, "admin:bench", "bench", "b", T0)


def server_cpu(store: SqlStore) -> float | None:
    """CPU seconds of the PostgreSQL backend serving the writer, when it runs on this host."""
    runner = store.writer._runner
    if not hasattr(runner, "server_pids"):
        return None
    total = 0
    for pid in runner.server_pids():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def drive(store: SqlStore, count: int, producers: int) -> dict[str, Any]:
    """`count` accepts from `producers` concurrent tasks; throughput and latency."""
    latencies: list[float] = []
    now = datetime.now(UTC)
    # Built before the clock starts, each with its own time as the use-case stamps them (one
    # shared time would make the account index take every row at a random place).
    todo = [message(n, now + timedelta(microseconds=n)) for n in range(count)]
    todo.reverse()

    async def producer() -> None:
        while todo:
            accept = store.accept(todo.pop())
            start = time.perf_counter()
            await accept
            latencies.append(time.perf_counter() - start)

    batches, units = store.writer.batches, store.writer.units
    cpu = time.process_time()
    server = server_cpu(store)
    start = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(producers)))
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    server_after = server_cpu(store)
    latencies.sort()
    result = {
        "accepts": len(latencies),
        "seconds": round(elapsed, 3),
        "accepts_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "mean_batch": round((store.writer.units - units) / (store.writer.batches - batches), 1),
        "process_cpu_ms_per_accept": round(cpu * 1000 / len(latencies), 3),
    }
    if server is not None and server_after is not None:
        result["server_cpu_ms_per_accept"] = round((server_after - server) * 1000 / count, 3)
    return result


async def run_backend(
    name: str,
    opener: Callable[[], Awaitable[tuple[SqlStore, Callable[[], Awaitable[None]]]]],
    count: int,
    producers: int,
) -> dict[str, Any]:
    store, cleanup = await opener()
    try:
        await seed(store, count + count // 10 + 1000)
        await drive(store, min(2000, count // 10), producers)  # warm up: caches, plans
        result = await drive(store, count, producers)
        assert await store.balance("snd") == await store.ledger_sum("snd")
    finally:
        await store.close()
        await cleanup()
    print(f"{name}: {json.dumps(result)}", flush=True)
    return result


def sqlite_opener(
    lanes: int | None,
) -> Callable[[], Awaitable[tuple[SqlStore, Callable[[], Awaitable[None]]]]]:
    async def open_sqlite() -> tuple[SqlStore, Callable[[], Awaitable[None]]]:
        directory = tempfile.mkdtemp(prefix="gatewayd-bench-")

        async def cleanup() -> None:
            shutil.rmtree(directory, ignore_errors=True)

        return await open_store(f"sqlite:///{directory}/bench.db", lanes=lanes), cleanup

    return open_sqlite


def pg_opener(
    dsn: str, lanes: int | None = None
) -> Callable[[], Awaitable[tuple[SqlStore, Callable[[], Awaitable[None]]]]]:
    async def open_pg() -> tuple[SqlStore, Callable[[], Awaitable[None]]]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(dsn)
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.close()
        sep = "&" if "?" in dsn else "?"

        async def cleanup() -> None:
            conn = await asyncpg.connect(dsn)
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.close()

        return await open_store(f"{dsn}{sep}search_path={schema}", lanes=lanes), cleanup

    return open_pg


async def pg_version(dsn: str) -> str | None:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# -- a message's whole life ----------------------------------------------------------------

STEPS = ("accept", "claim", "submits", "receipts", "claim_callbacks", "callbacks_done")


class Meter:
    """CPU of the process and of the SQLite writer thread, statements and rows changed."""

    def __init__(self, store: SqlStore, trace: bool) -> None:
        self.store = store
        self.statements = 0
        self._conn: Any = getattr(store.writer._runner, "_conn", None)
        self._tid = next(
            (t.native_id for t in threading.enumerate() if "sqlite-writer" in t.name), None
        )
        if trace and self._conn is not None:
            self._conn.set_trace_callback(self._count)

    def _count(self, _sql: str) -> None:
        self.statements += 1

    def writer_cpu(self) -> float:
        if self._tid is None:
            return 0.0
        with open(f"/proc/self/task/{self._tid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def writes(self) -> tuple[int, int]:
        """Write system calls and bytes written by the writer thread (WAL frames, mostly)."""
        if self._tid is None:
            return 0, 0
        with open(f"/proc/self/task/{self._tid}/io") as io:
            fields = dict(line.split(": ") for line in io.read().splitlines())
        return int(fields["syscw"]), int(fields["wchar"])

    def changes(self) -> int:
        return int(self._conn.total_changes) if self._conn is not None else 0

    def snapshot(self) -> tuple[float, ...]:
        return (
            time.process_time(), self.writer_cpu(), self.statements, self.changes(),
            *self.writes(),
        )  # fmt: skip


async def in_batches(
    items: Sequence[Any], batch: int, concurrency: int, write: Callable[[list[Any]], Awaitable[Any]]
) -> None:
    """`write` over `items` in batches, `concurrency` batches in flight."""
    chunks = [list(items[i : i + batch]) for i in range(0, len(items), batch)]
    chunks.reverse()

    async def worker() -> None:
        while chunks:
            outcomes = await write(chunks.pop())
            bad = [o for o in outcomes if isinstance(o, Exception)]
            assert not bad, bad[:3]

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def life(
    store: SqlStore, count: int, batch: int, concurrency: int, trace: bool
) -> dict[str, Any]:
    """One pass of `count` messages through every step; per step its measurements."""
    meter = Meter(store, trace)
    now = datetime.now(UTC)
    todo = [message(n, now + timedelta(microseconds=n)) for n in range(count)]
    out: dict[str, Any] = {}

    async def step(name: str, run: Callable[[], Awaitable[Any]]) -> Any:
        before = meter.snapshot()
        result = await run()
        after = meter.snapshot()
        cpu, writer, statements, changes, syscw, wchar = (
            b - a for a, b in zip(before, after, strict=True)
        )
        out[name] = {
            "cpu_us": round(cpu * 1e6 / count, 1),
            "writer_us": round(writer * 1e6 / count, 1),
            "writes": round(syscw / count, 2),
            "kb": round(wchar / count / 1024, 2),
        }
        if trace:
            out[name] |= {
                "statements": round(statements / count, 3),
                "rows": round(changes / count, 3),
            }
        return result

    async def accept() -> None:
        pending = list(reversed(todo))

        async def producer() -> None:
            while pending:
                await store.accept(pending.pop())

        await asyncio.gather(*(producer() for _ in range(64)))

    async def claim() -> list[Any]:
        claimed: list[Any] = []
        while True:
            got = await store.claim_queued("safaricom", 100, datetime.now(UTC), "smsc1")
            if not got:
                return claimed
            claimed.extend(got)

    await step("accept", accept)
    claimed = await step("claim", claim)
    assert len(claimed) == count, len(claimed)
    ids = {m.id: f"{n:08x}" for n, m in enumerate(claimed)}
    at = datetime.now(UTC)
    submits = [(mid, 1, "smsc1", smsc_id, at) for mid, smsc_id in ids.items()]
    await step("submits", lambda: in_batches(submits, batch, concurrency, store.record_submits))
    receipts = [
        ("smsc1", smsc_id, MessageStatus.DELIVERED, "Delivered to handset", at)
        for smsc_id in ids.values()
    ]
    await step("receipts", lambda: in_batches(receipts, batch, concurrency, store.record_receipts))

    async def claim_callbacks() -> list[Any]:
        jobs: list[Any] = []
        while True:
            got = await store.claim_callbacks(datetime.now(UTC), 32, timedelta(seconds=60))
            if not got:
                return jobs
            jobs.extend(got)

    jobs = await step("claim_callbacks", claim_callbacks)
    assert len(jobs) == count, len(jobs)
    done = [(job.id, datetime.now(UTC)) for job in jobs]
    await step("callbacks_done", lambda: in_batches(done, batch, concurrency, store.callbacks_done))
    sample = await store.get_message(claimed[0].id)
    assert sample.status is MessageStatus.DELIVERED, sample
    assert [e.status for e in sample.timeline] == [
        MessageStatus.INITIATED,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
    ], sample.timeline
    assert await store.callback_backlog() == 0
    assert await store.balance("snd") == await store.ledger_sum("snd")
    out["all"] = {
        key: round(sum(out[s][key] for s in STEPS), 1 if key.endswith("_us") else 3)
        for key in out["accept"]
    }
    return out


async def lifecycle_main(args: argparse.Namespace) -> None:
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    opener = sqlite_opener(1) if args.backend == "sqlite" else pg_opener(args.pg, 1)
    runs: list[dict[str, Any]] = []
    for n in range(args.repeat + 1):  # one more: traced, for the counts (its CPU is not kept)
        trace = n == args.repeat
        store, cleanup = await opener()
        try:
            await seed(store, 10 * args.count + 1000)
            await life(store, min(1000, args.count), args.batch, args.concurrency, False)
            result = await life(store, args.count, args.batch, args.concurrency, trace)
        finally:
            await store.close()
            await cleanup()
        if trace:
            counts = result
        else:
            runs.append(result)
        print(f"{'traced' if trace else f'run {n + 1}'}: {json.dumps(result)}", flush=True)
    summary: dict[str, Any] = {"backend": args.backend}
    sqlite = args.backend == "sqlite"  # the writer thread's figures are SQLite's alone
    for name in (*STEPS, "all"):
        for key in ("cpu_us", "writer_us", "writes", "kb") if sqlite else ("cpu_us",):
            summary[f"{name}_{key}"] = statistics.median(r[name][key] for r in runs)
        for key in ("statements", "rows") if sqlite else ():
            summary[f"{name}_{key}"] = counts[name][key]
    summary["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycle", action="store_true")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--sqlite-lanes", type=int, default=None)
    parser.add_argument("--pg-lanes", type=int, default=None)
    args = parser.parse_args()
    if args.lifecycle:
        await lifecycle_main(args)
        return
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
        f", {args.producers} producers, {args.count} accepts per backend",
        flush=True,
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    sqlite = await run_backend(
        "sqlite", sqlite_opener(args.sqlite_lanes), args.count, args.producers
    )
    version = await pg_version(args.pg)
    postgres: dict[str, Any] = {}
    if version is None:
        print(f"postgres: not reachable at {args.pg}; skipped", flush=True)
    else:
        print(f"postgres: server {version}", flush=True)
        postgres = await run_backend(
            "postgres", pg_opener(args.pg, args.pg_lanes), args.count, args.producers
        )
    summary = {f"sqlite_{k}": v for k, v in sqlite.items()}
    summary |= {f"postgres_{k}": postgres.get(k) for k in [*sqlite, "server_cpu_ms_per_accept"]}
    summary["producers"] = args.producers
    summary["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
