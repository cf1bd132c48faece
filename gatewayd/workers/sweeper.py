"""The sweeper: drops what has outlived its use, on a period, until stopped.

Receipt map entries and parked receipts past their TTL (`purge_expired`) and Idempotency-Key
responses older than 24 hours (seed 001). Scheduled messages need nothing here: the queue
skips them until they are due and the dispatchers' polls pick them up then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from gatewayd.logs import get_logger
from gatewayd.service.ports import IdempotencyStore, MessageStore

log = get_logger("gatewayd.sweeper")

IDEMPOTENCY_TTL = timedelta(hours=24)


class SweepStore(MessageStore, IdempotencyStore, Protocol):
    """The ports the sweeper uses."""


class Sweeper:
    """Runs `sweep` every `period` seconds until `stop()`."""

    def __init__(
        self,
        store: SweepStore,
        clock: Callable[[], datetime],
        *,
        period: float = 60.0,
        idempotency_ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> None:
        self._store = store
        self._clock = clock
        self._period = period
        self._ttl = idempotency_ttl
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def sweep(self) -> tuple[int, int]:
        """One pass: (receipt entries dropped, idempotency keys dropped)."""
        now = self._clock()
        receipts = await self._store.purge_expired(now)
        keys = await self._store.purge_idempotent(now - self._ttl)
        if receipts or keys:
            log.info("sweep_done", receipt_entries=receipts, idempotency_keys=keys)
        return receipts, keys

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception:  # a failed pass is retried at the next period
                log.exception("sweep_failed")
            try:
                await asyncio.wait_for(self._stop.wait(), self._period)
            except TimeoutError:
                continue
