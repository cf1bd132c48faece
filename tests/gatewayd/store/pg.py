"""A throw-away PostgreSQL schema per test, so tests never see each other's rows."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg


async def fresh_schema(dsn: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Create a schema; return a store URL whose search_path is that schema, and its dropper."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    sep = "&" if "?" in dsn else "?"
    url = f"{dsn}{sep}search_path={schema}"

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()

    return url, drop
