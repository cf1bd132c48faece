"""SQLite writers of one file take turns through `<file>-writer.lock`, not by polling; only
the file's owner checkpoints its WAL."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gatewayd.store import SqlStore, open_store
from gatewayd.store.tx import Tx
from tests.gatewayd.store.conftest import T0


def _held_elsewhere(lock_path: Path) -> bool:
    """Whether another open file description holds the lock (a process's view of it)."""
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock if we took it
    return False


async def _open(path: Path, owner: bool = False) -> SqlStore:
    store = await open_store(f"sqlite:///{path}", final_checkpoint=owner)
    assert isinstance(store, SqlStore)
    await store.migrate()
    return store


def _blocking_unit(
    started: threading.Event, go_on: threading.Event, account_id: str
) -> Callable[[Tx], Coroutine[Any, Any, None]]:
    async def run(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            account_id, account_id, tx.time(T0),
        )  # fmt: skip
        started.set()
        go_on.wait(10)  # on the writer thread: holds the transaction open

    return run


async def test_the_lock_is_held_for_the_transaction_only(tmp_path: Path) -> None:
    store = await _open(tmp_path / "g.db")
    lock = tmp_path / "g.db-writer.lock"
    try:
        started, go_on = threading.Event(), threading.Event()
        unit = asyncio.ensure_future(store.writer.submit(_blocking_unit(started, go_on, "a1")))
        assert await asyncio.to_thread(started.wait, 10)
        assert _held_elsewhere(lock)
        go_on.set()
        await unit
        assert not _held_elsewhere(lock)
    finally:
        await store.close()


async def test_a_second_writer_waits_for_the_first_and_then_commits(tmp_path: Path) -> None:
    """The other process's write sleeps on the lock while the first transaction is open and
    commits as soon as that one has. Its busy timeout is 0, so had it reached SQLite's own
    lock it would have failed at once with "database is locked"."""
    first, second = await _open(tmp_path / "g.db"), await _open(tmp_path / "g.db")
    try:
        await second.writer.submit(lambda tx: tx.execute("PRAGMA busy_timeout=0"))
        started, go_on = threading.Event(), threading.Event()
        held = asyncio.ensure_future(first.writer.submit(_blocking_unit(started, go_on, "a1")))
        assert await asyncio.to_thread(started.wait, 10)
        waiting = asyncio.ensure_future(second.create_account("a2", "Two", T0))
        done, _ = await asyncio.wait({waiting}, timeout=0.2)
        assert not done  # behind the first writer's open transaction
        go_on.set()
        await held
        await asyncio.wait_for(waiting, 5)
        names = await second.writer.submit(
            lambda tx: tx.fetch("SELECT id FROM accounts ORDER BY id")
        )
        assert [r["id"] for r in names] == ["a1", "a2"]
    finally:
        await first.close()
        await second.close()


async def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    store = await _open(tmp_path / "g.db")
    await store.close()
    lock = tmp_path / "g.db-writer.lock"
    assert lock.is_file()
    assert lock.stat().st_mode & 0o077 == 0  # the owner's alone, as the database is


def _checkpoint_threads() -> int:
    return sum(t.name.startswith("gatewayd-sqlite-checkpoint") for t in threading.enumerate())


async def test_only_the_owner_checkpoints(tmp_path: Path) -> None:
    before = _checkpoint_threads()
    owner = await _open(tmp_path / "g.db", owner=True)
    other = await _open(tmp_path / "g.db")
    try:
        assert _checkpoint_threads() == before + 1  # the owner's; the other process has none
        for n in range(70):  # past CHECKPOINT_EVERY commits of the other's own
            await other.create_account(f"a{n}", f"A{n}", T0)
        assert _checkpoint_threads() == before + 1
    finally:
        await other.close()
        await owner.close()
    assert not (tmp_path / "g.db-wal").exists() or (tmp_path / "g.db-wal").stat().st_size == 0
