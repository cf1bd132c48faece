"""One SMSC wired up: its bind pool, the adapter the dispatcher talks to, the dispatcher and
the deliver_sm handler. Part of the composition root: `gatewayd.main` turns the settings into
the plain values taken here.

`PoolPort` satisfies `gatewayd.workers.binds.SubmitPool` over `smpp.aio.BindPool`: it turns
`SubmitRequest`s into submit_sm PDUs, maps each part's outcome onto what the message must
become, and reports the bound binds' windows so the dispatcher claims only what they carry.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from gatewayd.logs import get_logger
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.model import ReceiptResult, SenderType
from gatewayd.service.ports import Store
from gatewayd.workers.binds import Answered, SubmitOutcome, SubmitRequest, SubmitResult
from gatewayd.workers.dispatcher import Dispatcher, SmscProfile
from gatewayd.workers.receipts import Keywords, ReceiptHandler, ReceiptSource
from smpp.aio import (
    BindPool,
    BindState,
    BindStateChanged,
    Inbound,
    MessageResult,
    Outcome,
    PartResult,
    PoolConfig,
    PoolHandlers,
    PoolStopped,
)
from smpp.core.pdu import SubmitSm

log = get_logger("gatewayd.links")

Clock = Callable[[], datetime]
SENDER_CACHE = 10_000  # sender types remembered per SMSC (they never change)


def submit_outcome(part: PartResult) -> SubmitOutcome:
    """The pool's part outcome as what the message must become."""
    if part.outcome is Outcome.OK:
        return SubmitOutcome.ACCEPTED
    if part.outcome is Outcome.PERMANENT:
        return SubmitOutcome.REJECTED
    if part.outcome is Outcome.IN_DOUBT or part.in_doubt:
        return SubmitOutcome.UNANSWERED
    return SubmitOutcome.NOT_SENT  # NOT_SENT, or RETRY/THROTTLE with nothing left unanswered


def _result(part: PartResult) -> SubmitResult:
    reason = part.error
    if part.outcome is Outcome.PERMANENT:
        reason = f"Provider error: {part.error}" if part.error else "Provider error"
    return SubmitResult(
        submit_outcome(part),
        message_id=part.message_id or "",
        command_status=part.command_status or 0,
        reason=reason,
        message_key=part.message_key,
    )


def _pdu(request: SubmitRequest) -> SubmitSm:
    return SubmitSm(
        source_addr_ton=request.source_ton,
        source_addr_npi=request.source_npi,
        source_addr=request.source_addr,
        dest_addr_ton=request.dest_ton,
        dest_addr_npi=request.dest_npi,
        destination_addr=request.destination_addr,
        esm_class=request.esm_class,
        registered_delivery=request.registered_delivery,
        data_coding=request.data_coding,
        short_message=request.short_message,
        tlvs=request.tlvs,
    )


class PoolPort:
    """`SubmitPool` over one `BindPool`."""

    def __init__(self, pool: BindPool) -> None:
        self.pool = pool
        config = pool.config
        self._window = config.window
        self._submitters = frozenset(
            b for b, role in zip(config.bind_ids(), config.roles, strict=True) if role.submits
        )
        self._bound = asyncio.Event()

    def on_state(self, _event: BindStateChanged) -> None:
        if self.capacity() > 0:
            self._bound.set()
        else:
            self._bound.clear()

    def capacity(self) -> int:
        states = self.pool.bind_states()
        up = sum(1 for b in self._submitters if states.get(b) is BindState.BOUND)
        return up * self._window

    async def wait_for_bind(self) -> None:
        await self._bound.wait()

    async def submit(self, parts: Sequence[SubmitRequest]) -> Sequence[SubmitResult]:
        try:
            result = await self.pool.submit([_pdu(r) for r in parts])
        except PoolStopped:
            return [SubmitResult(SubmitOutcome.NOT_SENT, reason="stopping")] * len(parts)
        return [_result(p) for p in result.parts]

    def hold_writes(self) -> AbstractContextManager[None]:
        return self.pool.hold_writes()

    def send_now(self, parts: Sequence[SubmitRequest], answered: Answered) -> bool:
        if not self.pool.has_capacity():  # `submit` would wait (or the pool is stopping)
            return False
        sent = self.pool.send([_pdu(r) for r in parts])
        sent.add_done_callback(functools.partial(_tell, answered, len(parts)))
        return True


def _tell(answered: Answered, count: int, sent: asyncio.Future[MessageResult]) -> None:
    """The pool's result of a message as `answered` wants it. The pool never cancels the
    future nor fails it; should it, every part is taken as unanswered (the SMSC may have it)."""
    if sent.cancelled() or sent.exception() is not None:
        results = [SubmitResult(SubmitOutcome.UNANSWERED, reason="no result")] * count
    else:
        results = [_result(p) for p in sent.result().parts]
    answered(results)


@dataclass(frozen=True, slots=True)
class _Deliver:
    """A data_sm seen through the fields of a deliver_sm (it has no short_message)."""

    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: Mapping[int, bytes] = field(default_factory=lambda: MappingProxyType({}))


@dataclass
class SmscLink:
    """One SMSC's running parts."""

    key: Hashable  # the settings it was built from: unchanged on reload → left alone
    name: str
    operator: str
    pool: BindPool
    port: PoolPort
    dispatcher: Dispatcher
    handler: ReceiptHandler
    task: asyncio.Task[None] | None = None

    def bind_states(self) -> dict[str, str]:
        return {bind_id: state.value for bind_id, state in self.pool.bind_states().items()}

    def bound_count(self) -> int:
        return self.pool.bound

    def bind_total(self) -> int:
        return len(self.pool.bind_states())

    def sample(self, metrics: DaemonMetrics) -> None:
        """Window occupancy, achieved TPS and bind states into the gauges."""
        for stats in self.pool.stats():
            metrics.window_in_flight.labels(stats.bind_id).set(stats.in_flight)
            metrics.window_size.labels(stats.bind_id).set(stats.window)
            metrics.achieved_tps.labels(stats.bind_id).set(stats.achieved_tps)
            metrics.bind_up.labels(stats.bind_id, self.name).set(
                1 if stats.state is BindState.BOUND else 0
            )

    async def stop(self, drain_timeout: float, unbind_timeout: float) -> None:
        """Stop claiming, let the windows drain (bounded), unbind; what is still unanswered
        stays SUBMITTING (in doubt at the next start)."""
        self.dispatcher.stop_claiming()
        if self.task is not None:
            try:
                await self.task
            except Exception:  # a dead loop must not keep the binds from unbinding
                log.exception("dispatcher_failed", smsc=self.name)
        report = await self.pool.stop(drain_budget=drain_timeout)
        try:
            await asyncio.wait_for(self.dispatcher.wait_idle(), unbind_timeout)
        except TimeoutError:
            await self.dispatcher.cancel_in_flight()
        log.info(
            "smsc_stopped",
            smsc=self.name,
            drained=report.drained,
            in_doubt=len(report.in_doubt),
            not_sent=len(report.not_sent),
            unbound=len(report.unbound),
        )


async def start_link(
    key: Hashable,
    config: PoolConfig,
    profile: SmscProfile,
    source: ReceiptSource,
    store: Store,
    metrics: DaemonMetrics,
    clock: Clock,
    on_state: Callable[[BindStateChanged], None] | None = None,
    on_change: Callable[[ReceiptResult], None] | None = None,
    keywords: Keywords | None = None,
) -> SmscLink:
    """Build and start one SMSC's pool (binding in the background) and its dispatcher.
    `on_change` is told of each receipt that moved its message; `keywords` acts on STOP/START in
    MO messages once they are stored."""
    handler = ReceiptHandler(store, source, metrics, clock, on_change=on_change, keywords=keywords)
    ports: list[PoolPort] = []

    async def on_deliver(inbound: Inbound) -> None:
        if inbound.receipt is not None:
            await handler.handle_receipt(inbound.receipt, inbound.receipt_key)
            return
        pdu = inbound.pdu
        short = getattr(pdu, "short_message", b"")
        view = _Deliver(
            pdu.source_addr, pdu.destination_addr, pdu.esm_class, pdu.data_coding, short, pdu.tlvs
        )
        await handler.handle_parsed(view, None, None, inbound.flagged_receipt)

    def state_changed(event: BindStateChanged) -> None:
        log.info(
            "bind_state",
            smsc=event.smsc,
            bind=event.bind_id,
            state=event.state.value,
            previous=event.previous.value,
            reason=event.reason,
        )
        for port in ports:
            port.on_state(event)
        if on_state is not None:
            on_state(event)

    pool = BindPool(config, PoolHandlers(on_deliver=on_deliver, on_bind_state=state_changed))
    port = PoolPort(pool)
    ports.append(port)
    dispatcher = Dispatcher(store, port, profile, metrics, clock, sender_type=_sender_types(store))
    link = SmscLink(key, config.name, profile.operator, pool, port, dispatcher, handler)
    try:  # long MO messages whose last part came just before a stop
        recovered = await handler.recover_mo()
    except Exception:  # the store is busy or down: they are found again at the next start
        log.exception("mo_recovery_failed", smsc=config.name)
    else:
        if recovered:
            log.info("mo_recovered", smsc=config.name, messages=recovered)
    await pool.start()
    link.task = asyncio.get_running_loop().create_task(
        dispatcher.run(), name=f"dispatch:{config.name}"
    )
    return link


def _sender_types(store: Store) -> Callable[[str], Awaitable[SenderType]]:
    cache: dict[str, SenderType] = {}

    async def lookup(sender_id: str) -> SenderType:
        kind = cache.get(sender_id)
        if kind is None:
            kind = (await store.get_sender(sender_id)).type
            if len(cache) >= SENDER_CACHE:
                cache.clear()
            cache[sender_id] = kind
        return kind

    return lookup
