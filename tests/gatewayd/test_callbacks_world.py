"""A world for the callback sender's tests: the fake store with messages that asked for
callbacks, a real aiohttp receiver on port 0 whose answers are scripted, a settable clock."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.model import (
    CallbackJob,
    CampaignType,
    LedgerKind,
    MessageStatus,
    NewMessage,
    SenderType,
)
from gatewayd.workers.callbacks import CallbackOutcome, CallbackSender, CallbackTuning
from tests.fakes.memory_store import MemoryStore

T0 = datetime(2026, 6, 23, 10, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"
SMSC = "safaricom-1"
HANG = "hang"  # a scripted answer: never respond (until the receiver closes)
LOOPBACK = CallbackPolicy.from_flags(allow_loopback=True)


@dataclass
class Clock:
    now_: datetime = T0

    def now(self) -> datetime:
        return self.now_

    def advance(self, seconds: float) -> None:
        self.now_ += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Seen:
    """One request as the receiver got it: the headers and the raw body bytes."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A client's callback endpoint: answers from `plan` in order (200 when it runs out),
    holds every answer while `gate` is clear, and counts requests in flight."""

    def __init__(self) -> None:
        self.plan: list[int | str] = []
        self.seen: list[Seen] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.peak = 0
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self.port = 0

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(Seen(request.path, dict(request.headers), body))
        await self._count(+1)
        try:
            answer = self.plan.pop(0) if self.plan else 200
            if answer == HANG:
                await self._closing.wait()
            await self.gate.wait()
            return web.Response(status=int(answer))
        finally:
            await self._count(-1)

    async def _count(self, step: int) -> None:
        async with self._changed:
            self.in_flight += step
            self.peak = max(self.peak, self.in_flight)
            self._changed.notify_all()

    async def wait_in_flight(self, n: int) -> None:
        """Return once `n` requests are being held at once."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.in_flight >= n), 5)

    def close(self) -> None:
        self._closing.set()
        self.gate.set()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", recv.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    recv.port = runner.addresses[0][1]
    try:
        yield recv
    finally:
        recv.close()
        await runner.cleanup()


class FakeResolver(AbstractResolver):
    """Resolves every name to `address` (a DNS that points a public-looking name inward)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(
                hostname=host, host=self.address, port=port, family=socket.AF_INET,
                proto=0, flags=socket.AI_NUMERICHOST,
            )
        ]  # fmt: skip

    async def close(self) -> None:
        return None


@dataclass
class World:
    store: MemoryStore
    clock: Clock
    outcomes: asyncio.Queue[tuple[CallbackJob, CallbackOutcome]] = field(
        default_factory=asyncio.Queue
    )
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def message(self, url: str, *, contact: str = "254712345678") -> str:
        """An accepted message that asked for callbacks to `url`."""
        new = NewMessage(
            id=f"msg-{next(self.ids):04d}", account_id="acc", sender_id="s-saf",
            sender_name="KIMISMS", contact=contact, operator="safaricom", text="hello",
            units=1, parts=1, encoding="gsm7", priority=0, callback_url=url,
            client_ref=None, actor="test", created_at=self.clock.now(),
        )  # fmt: skip
        return (await self.store.accept(new)).id

    async def delivered(self, url: str) -> str:
        """A message taken to DELIVERED by its receipt: one callback job written."""
        message_id = await self.message(url)
        now = self.clock.now()
        await self.store.claim_queued("safaricom", 10, now, SMSC)
        smsc_id = f"{next(self.ids):08x}"
        await self.store.record_submit(message_id, 1, SMSC, smsc_id, now)
        await self.store.record_receipt(
            SMSC, smsc_id, MessageStatus.DELIVERED, "Message delivered to handset", now
        )
        return message_id

    async def failed(self, url: str, reason: str = "Invalid number") -> str:
        """A message failed before sending: one callback job written."""
        message_id = await self.message(url)
        await self.store.fail_message(message_id, reason, self.clock.now())
        return message_id

    async def job(self, message_id: str) -> CallbackJob:
        [job] = await self.store.list_callbacks(message_id)
        return job

    def hook(self, job: CallbackJob, outcome: CallbackOutcome) -> None:
        self.outcomes.put_nowait((job, outcome))

    async def next_outcome(self) -> tuple[CallbackJob, CallbackOutcome]:
        return await asyncio.wait_for(self.outcomes.get(), 5)

    async def outcomes_of(self, n: int) -> list[CallbackOutcome]:
        return [(await self.next_outcome())[1] for _ in range(n)]

    def sender(
        self,
        *,
        policy: CallbackPolicy = LOOPBACK,
        tuning: CallbackTuning | None = None,
        **kwargs: Any,
    ) -> CallbackSender:
        """A sender on this world's store and clock; polls rarely, so tests drive it by wake."""
        kwargs.setdefault("signing_secret", SECRET)
        kwargs.setdefault("rng", random.Random(7))
        return CallbackSender(
            self.store,
            self.clock.now,
            policy=policy,
            tuning=tuning or CallbackTuning(poll_interval=60.0),
            on_outcome=self.hook,
            **kwargs,
        )


async def world() -> World:
    store = MemoryStore()
    await store.create_account("acc", "ACC", T0)
    await store.create_sender(
        "s-saf", "acc", "KIMISMS", "safaricom", SenderType.ALPHANUMERIC,
        CampaignType.TRANSACTIONAL, T0,
    )  # fmt: skip
    await store.post_entry("s-saf", LedgerKind.TOPUP, 10_000, "test", "seed", "t0", T0)
    return World(store, Clock())


@asynccontextmanager
async def running(sender: CallbackSender) -> AsyncIterator[asyncio.Task[None]]:
    """`sender.run()` as a task, stopped (and checked to have ended cleanly) on exit."""
    task = asyncio.create_task(sender.run())
    try:
        yield task
    finally:
        await asyncio.wait_for(sender.stop(budget=1.0), 5)
        await asyncio.wait_for(task, 5)


def count(jobs: list[CallbackJob], pred: Callable[[CallbackJob], bool]) -> int:
    return sum(1 for job in jobs if pred(job))
