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
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from gatewayd.service.model import CampaignType, LedgerKind, NewMessage, SenderType
from gatewayd.store import SqlStore, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_PG = os.environ.get("GATEWAYD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def message(n: int, created: datetime) -> NewMessage:
    return NewMessage(
        id=str(uuid.uuid4()), account_id="acc", sender_id="snd", sender_name="KIMISMS",
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--pg", default=DEFAULT_PG)
    parser.add_argument("--sqlite-lanes", type=int, default=None)
    parser.add_argument("--pg-lanes", type=int, default=None)
    args = parser.parse_args()
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
