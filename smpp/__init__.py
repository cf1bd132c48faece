"""SMPP 3.4: sans-I/O core (`core`), asyncio adapter (`aio`) and SMSC simulator (`sim`)."""
