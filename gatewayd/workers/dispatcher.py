"""The dispatcher: queued messages of one operator → submit_sm through one SMSC's binds.

One `Dispatcher` per SMSC. It claims messages only when the pool has room (the claim marks
them SUBMITTING durably, before any PDU is written), plans their parts per the SMSC's
long-message method, submits the parts in order and records what each answer means:

- resp ok → `record_submit` with the id normalised per the SMSC's id format (receipt map);
- permanent error → the part fails with the SMSC's reason, and the parts not yet sent fail
  with it (a message with a hole in it is not worth sending);
- never written (no bind, throttling or temporary errors beyond the pool's retries) →
  `requeue` after a short back-off;
- written but never answered → queued again while running (the SMSC may have it: counted as
  `unanswered` and in doubt, on the message and in the metric); when the daemon is
  stopping it stays SUBMITTING, in doubt at the next start.

Recording an answer is retried a few times with back-off: a message the SMSC took whose answer
is never stored would stay SUBMITTING while the daemon runs (its receipt parked, no callback).
When the writes keep failing the message is queued again, counted in doubt; when even that
fails, the message has left `in_flight_ids` and the sweeper's orphan pass requeues it later.

The store orders the queue by priority, then age. `kick()` wakes an idle dispatcher at once
(the composition root calls it after an accept); otherwise it polls every `idle_poll` seconds,
which also picks up scheduled and back-off messages when they fall due.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gatewayd.logs import get_logger
from gatewayd.metrics import DaemonMetrics
from gatewayd.service.model import Message, MessagePart, PartStatus, SenderType, StatusEvent
from gatewayd.service.ports import MessageStore, NotFound
from gatewayd.workers.batching import TurnBatch
from gatewayd.workers.binds import SubmitOutcome, SubmitPool, SubmitRequest, SubmitResult
from smpp.core.msgid import MessageIdFormat, normalise_message_id
from smpp.core.text import LongMessageMethod, MessagePlan, PartPlan, plan_message

log = get_logger("gatewayd.dispatcher")

Clock = Callable[[], datetime]
SenderTypeLookup = Callable[[str], Awaitable[SenderType]]

_FALLBACK_METHODS = (LongMessageMethod.UDH8, LongMessageMethod.UDH16)
DESC_UNANSWERED = "No answer from the network: queued again (the recipient may get it twice)"
DESC_NOT_RECORDED = (
    "The network's answer could not be stored: queued again (the recipient may get it twice)"
)


def concat_reference(message_id: str, method: LongMessageMethod) -> int:
    """The concatenation reference of a message's parts, derived from its id: the same on
    every attempt, so parts sent before a requeue or a restart join the ones sent after."""
    return zlib.crc32(message_id.encode()) % (method.max_reference + 1)


@dataclass(frozen=True, slots=True)
class SmscProfile:
    """What the dispatcher needs to know about one SMSC (from its `[[smsc]]` table)."""

    name: str
    operator: str
    id_format: MessageIdFormat = MessageIdFormat.AS_IS
    long_message: LongMessageMethod = LongMessageMethod.UDH8
    ton_npi: Mapping[SenderType, tuple[int, int]] = field(
        default_factory=lambda: {SenderType.ALPHANUMERIC: (5, 0), SenderType.SHORTCODE: (3, 0)}
    )
    dest_ton: int = 1
    dest_npi: int = 1
    registered_delivery: int = 1


@dataclass(frozen=True, slots=True)
class DispatchTuning:
    """Timings of the loop; the defaults suit production and tests alike."""

    idle_poll: float = 0.25  # seconds between queue polls when nothing woke us
    max_claim: int = 500  # messages claimed at once, at most
    requeue_delay: float = 1.0  # seconds before a NOT_SENT message may be claimed again
    write_attempts: int = 4  # tries of one store write recording an answer
    write_backoff: float = 0.1  # seconds before the second try, doubled for each next one


class Dispatcher:
    """Feeds one SMSC's pool from its operator's queue until stopped."""

    def __init__(
        self,
        store: MessageStore,
        pool: SubmitPool,
        profile: SmscProfile,
        metrics: DaemonMetrics,
        clock: Clock,
        *,
        sender_type: SenderTypeLookup | None = None,
        tuning: DispatchTuning | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        # Submit answers recorded in the same loop turn share one store write.
        self._answers: TurnBatch[tuple[str, int, str, str, datetime], None] = TurnBatch(
            store.record_submits, "record-submits"
        )
        self._pool = pool
        self.profile = profile
        self._metrics = metrics
        self._clock = clock
        self._sender_type = sender_type
        self._tuning = tuning or DispatchTuning()
        self._rng = rng or random.Random()
        self._submits = {o: metrics.submits.labels(profile.name, o.value) for o in SubmitOutcome}
        self._wake = asyncio.Event()
        self._running = True
        self._in_flight = 0  # parts of claimed messages not yet answered
        # claimed messages being handled → whether their PDUs may have been written yet
        self._claimed: dict[str, bool] = {}
        self._in_doubt = metrics.in_doubt.labels("resend")
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- control ----------------------------------------------------------------------------

    def kick(self) -> None:
        """Something was queued: look at the queue now instead of at the next poll."""
        self._wake.set()

    def stop_claiming(self) -> None:
        """Stop taking messages from the queue; those already claimed carry on."""
        self._running = False
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return not self._running

    @property
    def in_flight(self) -> int:
        """Parts claimed and not yet answered."""
        return self._in_flight

    def has_in_flight(self, message_id: str) -> bool:
        """True while the message is claimed and being handled here: SUBMITTING on purpose.
        A message SUBMITTING on this SMSC that is not (any more) was lost track of."""
        return message_id in self._claimed

    async def wait_idle(self) -> None:
        """Return once every claimed message has been answered (or given up)."""
        await self._idle.wait()

    async def cancel_in_flight(self) -> None:
        """Abandon what is still waiting for an answer: it stays SUBMITTING (in doubt)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and submit until `stop_claiming()`; every iteration waits on something."""
        log.info("dispatcher_started", smsc=self.profile.name, operator=self.profile.operator)
        while self._running:
            await self._wait_for_bind()
            if not self._running:
                break
            capacity = self._pool.capacity()
            room = capacity - self._in_flight
            # Claim in batches (a quarter of the windows at least) unless nothing is in flight:
            # one claim is one write transaction.
            worth = room >= max(1, capacity // 4) or (room > 0 and self._in_flight == 0)
            try:
                claimed = await self._claim(room) if worth else []
            except Exception:  # the store is unreachable: keep the loop, try again shortly
                log.exception("claim_failed", smsc=self.profile.name)
                claimed = []
            if not claimed:
                await self._wait_for_work()
        log.info("dispatcher_stopped", smsc=self.profile.name, in_flight=self._in_flight)

    async def _wait_for_bind(self) -> None:
        room = asyncio.ensure_future(self._pool.wait_for_bind())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({room, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            room.cancel()
            woken.cancel()
        if not self._running:
            return
        self._wake.clear()

    async def _wait_for_work(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self._tuning.idle_poll)
        except TimeoutError:
            return
        self._wake.clear()

    async def _claim(self, room: int) -> Sequence[Message]:
        limit = min(room, self._tuning.max_claim)
        claimed = await self._store.claim_queued(
            self.profile.operator, limit, self._clock(), self.profile.name
        )
        if claimed:
            self._metrics.messages_claimed.labels(self.profile.name).inc(len(claimed))
        for message in claimed:
            self._start(message)
        return claimed

    def _start(self, message: Message) -> None:
        parts = max(1, sum(1 for p in message.part_list if p.status is PartStatus.SUBMITTING))
        self._in_flight += parts
        self._claimed[message.id] = False
        self._idle.clear()
        held = [parts]

        def release() -> None:
            """The SMSC answered: its window room is free while the answers are recorded."""
            self._in_flight -= held[0]
            held[0] = 0
            self._wake.set()

        task = asyncio.get_running_loop().create_task(self._send_guarded(message, release))
        self._tasks.add(task)

    async def _send_guarded(self, message: Message, release: Callable[[], None]) -> None:
        try:
            await self.send_message(message, release)
        except asyncio.CancelledError:
            raise
        except Exception:  # one message's trouble must not stop the SMSC's traffic
            log.exception("dispatch_failed", message_id=message.id, smsc=self.profile.name)
            await self._requeue_after_failure(message)
        finally:
            release()
            self._claimed.pop(message.id, None)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()

    # -- one message ------------------------------------------------------------------------

    async def send_message(
        self, message: Message, release: Callable[[], None] | None = None
    ) -> None:
        """Submit the claimed message's SUBMITTING parts in order and record each answer;
        `release` is called once the SMSC has answered, before the answers are stored."""
        plan = self._plan(message)
        if plan is None:
            await self._fail_rest(message, 1, "Message cannot be split as it was planned")
            return
        source = await self._source(message)
        by_index = {p.seq: p for p in plan.parts}
        parts = [
            p
            for p in sorted(message.part_list, key=lambda p: p.index)
            if p.status is PartStatus.SUBMITTING
        ]
        if not parts:
            return
        requests = [self._request(message, source, plan, by_index[p.index]) for p in parts]
        self._claimed[message.id] = True  # from here the SMSC may have it
        results = await self._pool.submit(requests)
        if release is not None:
            release()
        for part, result in zip(parts, results, strict=False):
            self._submits[result.outcome].inc()
            if not await self._record(message, part, result):
                return

    async def _requeue_after_failure(self, message: Message) -> None:
        """Handling the message failed (its answers could not be stored …): queue it again,
        in doubt when its PDUs may have reached the SMSC. Logged when even that fails: the
        sweeper's orphan pass finds it, since it is no longer in flight here."""
        in_doubt = self._claimed.get(message.id, False)
        now = self._clock()
        try:
            await self._write(
                "requeue",
                message.id,
                lambda: self._store.requeue(message.id, now, in_doubt=in_doubt),
            )
        except Exception:
            log.exception("requeue_failed", message_id=message.id, smsc=self.profile.name)
            return
        if in_doubt:
            self._in_doubt.inc()
            log.warning("message_in_doubt", message_id=message.id, smsc=self.profile.name)
            event = StatusEvent(message.id, message.status, DESC_NOT_RECORDED, now)
            with contextlib.suppress(Exception):  # the count is kept; the note is a courtesy
                await self._store.append_event(event)

    async def _write(self, what: str, message_id: str, op: Callable[[], Awaitable[None]]) -> None:
        """One store write, retried with doubling back-off (jittered) on anything but
        NotFound; the last failure is raised."""
        delay = self._tuning.write_backoff
        for attempt in range(1, self._tuning.write_attempts + 1):
            try:
                await op()
                return
            except NotFound:
                raise
            except Exception as exc:
                if attempt >= self._tuning.write_attempts:
                    raise
                log.warning(
                    "store_write_retry", what=what, message_id=message_id, attempt=attempt,
                    error=repr(exc),
                )  # fmt: skip
            await asyncio.sleep(delay * (1 + self._rng.random()))
            delay *= 2

    async def _record(self, message: Message, part: MessagePart, result: SubmitResult) -> bool:
        """Store one part's answer; False when the rest of the message must not be sent."""
        now = self._clock()
        if result.outcome is SubmitOutcome.ACCEPTED:
            smsc_id = self._normal_id(message, part, result.message_id)
            await self._write(
                "record_submit",
                message.id,
                lambda: self._answers.put(
                    (message.id, part.index, self.profile.name, smsc_id, now)
                ),
            )
            return True
        if result.outcome is SubmitOutcome.REJECTED:
            reason = result.reason or f"Provider error: status 0x{result.command_status:X}"
            log.info("submit_rejected", message_id=message.id, part=part.index, reason=reason)
            await self._write(
                "record_submit_failure",
                message.id,
                lambda: self._store.record_submit_failure(message.id, part.index, reason, now),
            )
            await self._fail_rest(message, part.index + 1, f"Not sent: part {part.index} failed")
            return False
        if result.outcome is SubmitOutcome.UNANSWERED and not self._running:
            log.warning("submit_in_doubt", message_id=message.id, part=part.index)
            return False  # stays SUBMITTING: in doubt at the next start
        delay = timedelta(seconds=self._tuning.requeue_delay * (1 + self._rng.random()))
        log.info(
            "submit_requeued",
            message_id=message.id,
            part=part.index,
            outcome=result.outcome.value,
            reason=result.reason,
        )
        unanswered = result.outcome is SubmitOutcome.UNANSWERED
        if unanswered:  # never silently: it may arrive twice (PRODUCT.md: counted, marked)
            event = StatusEvent(message.id, message.status, DESC_UNANSWERED, now, part.index)
            await self._write("append_event", message.id, lambda: self._store.append_event(event))
        await self._write(
            "requeue",
            message.id,
            lambda: self._store.requeue(
                message.id, now, not_before=now + delay, in_doubt=unanswered
            ),
        )
        if unanswered:
            self._in_doubt.inc()
        return False

    async def _fail_rest(self, message: Message, first: int, reason: str) -> None:
        now = self._clock()
        for part in message.part_list:
            if part.index >= first and part.status is PartStatus.SUBMITTING:
                await self._write(
                    "record_submit_failure",
                    message.id,
                    functools.partial(
                        self._store.record_submit_failure, message.id, part.index, reason, now
                    ),
                )

    def _normal_id(self, message: Message, part: MessagePart, raw: str) -> str:
        try:
            return normalise_message_id(raw, self.profile.id_format, from_receipt=False)
        except ValueError:
            log.warning("submit_resp_without_id", message_id=message.id, part=part.index)
            return f"none:{message.id}:{part.index}"  # never matches a receipt, still SENT

    # -- building the PDUs ------------------------------------------------------------------

    def _plan(self, message: Message) -> MessagePlan | None:
        """The SMSC's method when it yields the planned number of parts, else a UDH method
        that does (the parts were counted at accept time with the API's method)."""
        wanted = max(message.parts, 1)
        methods = (self.profile.long_message, *_FALLBACK_METHODS)
        for method in dict.fromkeys(methods):
            reference = concat_reference(message.id, method)
            try:
                plan = plan_message(message.text, method, reference)
            except ValueError:
                return None
            if len(plan.parts) == wanted:
                return plan
        return None

    async def _source(self, message: Message) -> tuple[str, int, int]:
        kind = await self._kind(message)
        ton, npi = self.profile.ton_npi.get(kind, (5, 0))
        return message.sender_name, ton, npi

    async def _kind(self, message: Message) -> SenderType:
        if self._sender_type is not None:
            try:
                return await self._sender_type(message.sender_id)
            except NotFound:
                pass
        name = message.sender_name
        return SenderType.SHORTCODE if name.isdigit() else SenderType.ALPHANUMERIC

    def _request(
        self, message: Message, source: tuple[str, int, int], plan: MessagePlan, part: PartPlan
    ) -> SubmitRequest:
        addr, ton, npi = source
        return SubmitRequest(
            source_addr=addr,
            source_ton=ton,
            source_npi=npi,
            destination_addr=message.contact,
            dest_ton=self.profile.dest_ton,
            dest_npi=self.profile.dest_npi,
            data_coding=plan.data_coding,
            short_message=part.short_message,
            esm_class=part.esm_class_flags,
            registered_delivery=self.profile.registered_delivery,
            tlvs=part.tlvs,
        )
