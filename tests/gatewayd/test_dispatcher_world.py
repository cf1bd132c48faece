"""A memory store with one account, Safaricom senders and a fake pool, for the worker tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from billing.units import measure
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    Message,
    NewMessage,
    SenderType,
)
from gatewayd.workers.binds import SubmitOutcome, SubmitRequest, SubmitResult
from gatewayd.workers.dispatcher import Dispatcher, DispatchTuning, SmscProfile
from smpp.core.text import LongMessageMethod, count_parts
from tests.fakes.memory_store import MemoryStore

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
Responder = Callable[[SubmitRequest, int], SubmitResult]


def accept_all(_request: SubmitRequest, n: int) -> SubmitResult:
    """Every submit accepted with a hex id, as the Safaricom SMSC writes them."""
    return SubmitResult(SubmitOutcome.ACCEPTED, message_id=f"{0x3B9ACA00 + n:08X}")


@dataclass
class FakePool:
    """A SubmitPool that answers at once (or when `gate` is set) through `responder`."""

    window: int = 10
    bound: bool = True
    responder: Responder = accept_all
    gate: asyncio.Event | None = None
    requests: list[SubmitRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    callbacks: bool = True  # False: `send_now` declines, every message goes through `submit`
    sent_now: int = 0  # messages taken by `send_now`
    holding: int = 0  # `hold_writes` depth
    sent_held: list[bool] = field(default_factory=list)  # per `send_now`: inside a hold?
    silent: bool = False  # messages taken and never answered
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _bound_event: asyncio.Event = field(default_factory=asyncio.Event)

    def capacity(self) -> int:
        return self.window if self.bound else 0

    async def wait_for_bind(self) -> None:
        if not self.bound:
            await self._bound_event.wait()

    def bring_up(self) -> None:
        self.bound = True
        self._bound_event.set()

    async def submit(self, parts: Sequence[SubmitRequest]) -> list[SubmitResult]:
        self.in_flight += len(parts)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.silent:
                await asyncio.Event().wait()
            return self._answer(parts)
        finally:
            self.in_flight -= len(parts)

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1

    def hold_writes(self) -> AbstractContextManager[None]:
        return self._held()

    def send_now(
        self, parts: Sequence[SubmitRequest], answered: Callable[[Sequence[SubmitResult]], None]
    ) -> bool:
        """`submit` without a coroutine: answered on the next loop turn; a gated pool (or
        one told to) leaves every message to `submit`."""
        if self.gate is not None or not self.callbacks or not self.bound:
            return False
        self.in_flight += len(parts)
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.sent_now += 1
        self.sent_held.append(self.holding > 0)
        if self.silent:
            return True
        results = self._answer(parts)

        def answer() -> None:
            self.in_flight -= len(parts)
            answered(results)

        asyncio.get_running_loop().call_soon(answer)
        return True

    def _answer(self, parts: Sequence[SubmitRequest]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        for request in parts:
            if results and results[-1].outcome is not SubmitOutcome.ACCEPTED:
                results.append(SubmitResult(SubmitOutcome.NOT_SENT, reason="earlier part"))
                continue
            self.requests.append(request)
            results.append(self.responder(request, next(self._counter)))
        return results


@dataclass
class Clock:
    now_: datetime = T0

    def now(self) -> datetime:
        return self.now_

    def advance(self, seconds: float) -> None:
        self.now_ += timedelta(seconds=seconds)


@dataclass
class Bench:
    store: MemoryStore
    clock: Clock
    metrics: DaemonMetrics
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def accept(
        self, text: str = "Your OTP is 482910", *, priority: int = 0, contact: str = "254712345678"
    ) -> Message:
        size = measure(text, limit=10_000)
        new = NewMessage(
            id=f"msg-{next(self.ids):04d}",
            account_id="acc",
            sender_id="s-saf",
            sender_name="KIMISMS",
            contact=contact,
            operator="safaricom",
            text=text,
            units=size.units,
            parts=count_parts(text, LongMessageMethod.UDH8),
            encoding=size.encoding.value,
            priority=priority,
            callback_url=None,
            client_ref=None,
            actor="test",
            created_at=self.clock.now(),
        )
        self.clock.advance(0.001)
        return await self.store.accept(new)


async def bench(units: int = 1000) -> Bench:
    store = MemoryStore()
    await store.create_account("acc", "ACC", T0)
    await store.create_sender(
        "s-saf", "acc", "KIMISMS", "safaricom", SenderType.ALPHANUMERIC,
        CampaignType.TRANSACTIONAL, T0,
    )  # fmt: skip
    await store.post_entry("s-saf", LedgerKind.TOPUP, units, "test", "seed", "t0", T0)
    return Bench(store, Clock(), DaemonMetrics())


@asynccontextmanager
async def running_dispatcher(
    b: Bench, pool: FakePool, profile: SmscProfile, tuning: DispatchTuning
) -> AsyncIterator[Dispatcher]:
    """A dispatcher over `b.store` and `pool`, running in a task; on the way out it stops
    claiming, its loop is awaited and what it still has in flight is cancelled."""
    dispatcher = Dispatcher(b.store, pool, profile, b.metrics, b.clock.now, tuning=tuning)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop_claiming()
        await asyncio.wait_for(task, 2)
        await dispatcher.cancel_in_flight()


@dataclass(frozen=True)
class Deliver:
    """The deliver_sm fields the receipt handler reads."""

    short_message: bytes
    esm_class: int = 0x04
    source_addr: str = "254712345678"
    destination_addr: str = "KIMISMS"
    data_coding: int = 0
    tlvs: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))


def receipt_text(smsc_id: str, stat: str = "DELIVRD", err: str = "000") -> bytes:
    return (
        f"id:{smsc_id} sub:001 dlvrd:001 submit date:2611220800 done date:2611220801 "
        f"stat:{stat} err:{err} text:Your OTP"
    ).encode()
