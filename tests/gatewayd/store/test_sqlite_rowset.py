"""SQLite's multi-row source (`SqliteTx.rowset`): exactly the rows given, in order, typed as
bound, whatever their number (the VALUES list is padded to a power of two; beyond its limit
the rows go as one JSON array)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from gatewayd.store import sqlite
from gatewayd.store.tx import run_sync

TYPES = ("int8", "text", "timestamptz")


def _rows(count: int) -> list[tuple[Any, ...]]:
    return [(n, f"r{n}" if n % 3 else None, 1_700_000_000_000_000 + n) for n in range(count)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 64, 65, sqlite._VALUES_ROWS + 3])
def test_rowset_gives_back_the_rows_in_order(count: int) -> None:
    tx = sqlite.SqliteTx(sqlite3.connect(":memory:"))
    source, args = tx.rowset(2, TYPES, _rows(count))
    found = run_sync(
        tx.fetch(f"WITH v(a, b, c) AS ({source}) SELECT $1, a, b, c FROM v", "x", *args)
    )
    assert [tuple(r) for r in found] == [("x", *r) for r in _rows(count)]
