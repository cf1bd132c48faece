"""SQL adapters for the service ports: SQLite (aiosqlite) and PostgreSQL (asyncpg)."""
