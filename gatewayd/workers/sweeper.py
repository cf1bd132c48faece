"""The sweepers: periodic housekeeping, each on its own period, until stopped.

`Sweeper` drops what has outlived its use: receipt map entries and parked receipts past their
TTL (`purge_expired`) and Idempotency-Key responses older than 24 hours (seed 001). Scheduled
messages need nothing here: the queue skips them until they are due and the dispatchers' polls
pick them up then. It also requeues orphans: messages SUBMITTING on one of this process's
SMSCs that its dispatcher no longer has in flight (the writes recording the SMSC's answer and
the requeue after them all failed). The SMSC may have them, so they are counted in doubt. Only
messages unchanged for `orphan_grace` are looked at, which leaves a claim that just committed
time to reach its dispatcher. A second process running an SMSC of the same name against the
same store would see the first one's messages as orphans: names are per process. And it
expires the queue: a message still waiting for a bind `queue_expiry` after it was accepted
(its operator has no SMSC configured, the SMSC has been down for that long, a backlog) fails
with "Expired: not sent within …", its callback and refund as for any failure, instead of
waiting for ever with its units spent.

`TopUpSweeper` settles M-Pesa top-ups whose callback never came (`TopUps.expire`: Daraja's
status query first, FAILED when it has no answer either). What needs a person (a payment
reported for a top-up that already failed …) is logged as a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from gatewayd.logs import get_logger
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.ports import IdempotencyStore, MessageStore
from gatewayd.service.topups import Settled

log = get_logger("gatewayd.sweeper")

IDEMPOTENCY_TTL = timedelta(hours=24)
TOPUP_SWEEP_PERIOD = 30.0  # seconds between two expiry passes over PENDING M-Pesa top-ups
ORPHAN_GRACE = timedelta(seconds=60)
EXPIRE_BATCH = 500  # messages failed per write when the queue expires


def expired_description(expiry: timedelta) -> str:
    """The timeline's words for a message the queue expired."""
    seconds = expiry.total_seconds()
    if seconds % 3600 == 0:
        size, unit = 3600, "hour"
    elif seconds % 60 == 0:
        size, unit = 60, "minute"
    else:
        size, unit = 1, "second"
    count = seconds / size
    return f"Expired: not sent within {count:g} {unit}{'' if count == 1 else 's'}"


class InFlight(Protocol):
    """What the orphan pass asks of a dispatcher (`Dispatcher.has_in_flight`)."""

    def has_in_flight(self, message_id: str) -> bool: ...


Dispatchers = Callable[[], Mapping[str, InFlight]]  # SMSC name → its running dispatcher


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
        dispatchers: Dispatchers | None = None,
        orphan_grace: timedelta = ORPHAN_GRACE,
        queue_expiry: timedelta | None = None,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._period = period
        self._ttl = idempotency_ttl
        self._dispatchers = dispatchers
        self._grace = orphan_grace
        self._expiry = queue_expiry
        self._metrics = metrics
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def sweep(self) -> tuple[int, int]:
        """One pass: (receipt map entries, parked receipts and stale MO parts dropped,
        idempotency keys dropped)."""
        now = self._clock()
        receipts = await self._store.purge_expired(now)
        keys = await self._store.purge_idempotent(now - self._ttl)
        if receipts or keys:
            log.info("sweep_done", expired_rows=receipts, idempotency_keys=keys)
        return receipts, keys

    async def requeue_orphans(self) -> list[str]:
        """One pass over the running SMSCs: their SUBMITTING messages no dispatcher has in
        flight go back to the queue, counted in doubt; their ids."""
        if self._dispatchers is None:
            return []
        now = self._clock()
        requeued: list[str] = []
        for smsc in list(self._dispatchers()):
            candidates = await self._store.submitting_on(smsc, now - self._grace)
            dispatcher = self._dispatchers().get(smsc)  # looked up again: a reload may run
            if dispatcher is None:
                continue
            for message_id in candidates:
                if dispatcher.has_in_flight(message_id):
                    continue
                await self._store.requeue(message_id, now, in_doubt=True)
                requeued.append(message_id)
                log.warning("orphan_requeued", message_id=message_id, smsc=smsc)
        if requeued and self._metrics is not None:
            self._metrics.in_doubt.labels("resend").inc(len(requeued))
        return requeued

    async def expire_queue(self) -> list[str]:
        """Fail what has waited in the queue longer than `queue_expiry` (nothing without one),
        EXPIRE_BATCH messages per write until none is left; counted and logged; their ids."""
        if self._expiry is None:
            return []
        now = self._clock()
        description = expired_description(self._expiry)
        expired: list[str] = []
        while True:
            batch = await self._store.expire_queued(
                now - self._expiry, description, now, EXPIRE_BATCH
            )
            expired.extend(batch)
            if len(batch) < EXPIRE_BATCH:
                break
        if expired:
            log.warning("messages_expired", count=len(expired), first=expired[0],
                        queue_expiry=self._expiry.total_seconds())  # fmt: skip
            if self._metrics is not None:
                self._metrics.expired.inc(len(expired))
        return expired

    async def _pass(self) -> None:
        try:
            await self.sweep()
        finally:
            try:
                await self.requeue_orphans()
            finally:
                await self.expire_queue()

    async def run(self) -> None:
        await _every(self._period, self._stop, self._pass, "sweep_failed")


class ExpiringTopUps(Protocol):
    """What the top-up sweeper drives: `gatewayd.service.topups.TopUps.expire`."""

    async def expire(self, now: datetime) -> Sequence[Settled]: ...


class TopUpSweeper:
    """Runs `TopUps.expire` every `period` seconds until `stop()`."""

    def __init__(
        self,
        topups: ExpiringTopUps,
        clock: Callable[[], datetime],
        *,
        period: float = TOPUP_SWEEP_PERIOD,
    ) -> None:
        self._topups = topups
        self._clock = clock
        self._period = period
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def sweep(self) -> Sequence[Settled]:
        """One pass: every overdue M-Pesa top-up asked about and settled where it can be."""
        swept = await self._topups.expire(self._clock())
        for one in swept:
            topup = one.topup
            if one.changed:
                log.info(
                    "topup_expired", topup_id=topup.id, status=topup.status.value,
                    description=topup.result_desc,
                )  # fmt: skip
            if one.review:
                log.warning(
                    "topup_review", topup_id=topup.id, status=topup.status.value,
                    review=one.review,
                )  # fmt: skip
        return swept

    async def run(self) -> None:
        await _every(self._period, self._stop, self.sweep, "topup_sweep_failed")


async def _every(
    period: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]], failed: str
) -> None:
    """`work()` now and then every `period` seconds until `stop` is set; a failed pass is
    logged as `failed` and retried at the next period."""
    while not stop.is_set():
        try:
            await work()
        except Exception:
            log.exception(failed)
        try:
            await asyncio.wait_for(stop.wait(), period)
        except TimeoutError:
            continue
