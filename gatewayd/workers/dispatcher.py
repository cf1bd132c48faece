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
from smpp.core.text import LongMessageMethod, MessagePlan, plan_message

log = get_logger("gatewayd.dispatcher")

Clock = Callable[[], datetime]
SenderTypeLookup = Callable[[str], Awaitable[SenderType]]
# record_submits' arguments: message id, part index, smsc, smsc message id, now.
_Submitted = tuple[str, int, str, str, datetime]
SENDER_KINDS = 10_000  # sender types remembered (they never change)

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
        self._answers: TurnBatch[_Submitted, None] = TurnBatch(
            store.record_submits, "record-submits"
        )
        self._pool = pool
        self.profile = profile
        self._metrics = metrics
        self._clock = clock
        self._sender_type = sender_type
        self._tuning = tuning or DispatchTuning()
        self._rng = rng or random.Random()
        self._submits = {  # per outcome, every one shown from the start
            o: metrics.deferred.counter(metrics.submits.labels(profile.name, o.value))
            for o in SubmitOutcome
        }
        self._wake = asyncio.Event()
        self._running = True
        self._in_flight = 0  # parts of claimed messages not yet answered
        # claimed messages being handled → whether their PDUs may have been written yet
        self._claimed: dict[str, bool] = {}
        self._in_doubt = metrics.in_doubt.labels("resend")
        self._tasks: set[asyncio.Task[None]] = set()
        # messages sent without a task (`_send_now`) → window room still held
        self._sent: dict[str, int] = {}
        self._kinds: dict[str, SenderType] = {}  # sender id → type, once looked up
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
        for message_id, held in self._sent.items():
            self._in_flight -= held
            self._claimed.pop(message_id, None)
        self._sent.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._check_idle()

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
        if self._pool.capacity() > 0:  # a bind is up: nothing to wait for
            self._wake.clear()
            return
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
        with self._pool.hold_writes():  # the batch's submits in one write, not one each
            for message in claimed:
                self._start(message)
        return claimed

    def _start(self, message: Message) -> None:
        parts = max(1, sum(1 for p in message.part_list if p.status is PartStatus.SUBMITTING))
        self._in_flight += parts
        self._claimed[message.id] = False
        self._idle.clear()
        # Messages in tasks may be overtaken (as a task waiting for a lookup or for room always
        # could be); the parts of one message stay in order in the pool.
        if self._send_now(message, parts):
            return
        release = self._releaser(parts)
        self._spawn(message, release, functools.partial(self.send_message, message, release))

    def _releaser(self, parts: int) -> Callable[[], None]:
        held = [parts]

        def release() -> None:
            """The SMSC answered: its window room is free while the answers are recorded."""
            self._in_flight -= held[0]
            held[0] = 0
            self._wake.set()

        return release

    def _spawn(
        self, message: Message, release: Callable[[], None], work: Callable[[], Awaitable[None]]
    ) -> None:
        """Go on with `message` in a task of its own (`_send_guarded` running `work()`)."""
        task = asyncio.get_running_loop().create_task(self._send_guarded(message, release, work))
        self._tasks.add(task)
        self._sent.pop(message.id, None)

    async def _send_guarded(
        self, message: Message, release: Callable[[], None], work: Callable[[], Awaitable[None]]
    ) -> None:
        try:
            await work()
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
            self._check_idle()

    def _check_idle(self) -> None:
        if not self._tasks and not self._sent:
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
        kind = await self._kind(message)
        parts = _submitting(message)
        if not parts:
            return
        requests = self._requests(message, kind, plan, parts)
        self._claimed[message.id] = True  # from here the SMSC may have it
        results = await self._pool.submit(requests)
        if release is not None:
            release()
        await self._record_all(message, parts, results)

    async def _record_all(
        self,
        message: Message,
        parts: Sequence[MessagePart],
        results: Sequence[SubmitResult],
        first: int = 0,
    ) -> None:
        """Record the answers from `parts[first]` on, in order, until one ends the message."""
        for part, result in zip(parts[first:], results[first:], strict=False):
            self._submits[result.outcome].pending += 1
            if not await self._record(message, part, result):
                return

    # -- one message without a task ---------------------------------------------------------
    #
    # The common case (the sender's type known, the parts planned, room in the pool, every
    # part accepted, each answer stored at the first try) runs in callbacks: the PDUs are
    # handed to the pool as the message is claimed, and each answer goes to the shared batch
    # write from the pool's callback. Whatever else happens (a lookup, no room, a refusal, a
    # failed write) goes on in a task from where it stands, through the code above.

    def _send_now(self, message: Message, held: int) -> bool:
        """Send `message` now, without a task; False when the task path must take it."""
        try:
            ready = self._prepare_now(message)
        except Exception:  # the task path meets it again, and handles it
            return False
        if ready is None:
            return False
        parts, requests = ready
        self._claimed[message.id] = True  # from here the SMSC may have it
        self._sent[message.id] = held
        try:
            sent = self._pool.send_now(requests, functools.partial(self._answered, message, parts))
        except Exception as exc:  # handled as in a task: requeued, in doubt
            release = self._releaser(self._sent.pop(message.id))
            self._spawn(message, release, functools.partial(_raise, exc))
            return True
        if not sent:
            del self._sent[message.id]
            self._claimed[message.id] = False
        return sent

    def _prepare_now(
        self, message: Message
    ) -> tuple[list[MessagePart], list[SubmitRequest]] | None:
        """The parts and their PDUs' fields, when they can be had without waiting."""
        plan = self._plan(message)
        if plan is None:
            return None
        if self._sender_type is None:
            kind: SenderType | None = _kind_by_name(message.sender_name)
        else:
            kind = self._kinds.get(message.sender_id)
        if kind is None:
            return None
        parts = _submitting(message)
        if not parts:
            return None
        return parts, self._requests(message, kind, plan, parts)

    def _answered(
        self, message: Message, parts: list[MessagePart], results: Sequence[SubmitResult]
    ) -> None:
        """The pool's answer to a message sent by `_send_now`."""
        held = self._sent.get(message.id)
        if held is None:  # abandoned by `cancel_in_flight`
            return
        if held:
            self._in_flight -= held
            self._sent[message.id] = 0
            self._wake.set()
        self._record_now(message, parts, results, 0)

    def _record_now(
        self,
        message: Message,
        parts: list[MessagePart],
        results: Sequence[SubmitResult],
        index: int,
    ) -> None:
        """Record answer `index` (accepted) into the shared batch write; a task takes over
        for anything else."""
        if index >= min(len(parts), len(results)):
            self._sent.pop(message.id, None)
            self._claimed.pop(message.id, None)
            self._check_idle()
            return
        part, result = parts[index], results[index]
        if result.outcome is not SubmitOutcome.ACCEPTED:
            rest = functools.partial(self._record_all, message, parts, results, index)
            self._spawn(message, _nothing, rest)
            return
        self._submits[SubmitOutcome.ACCEPTED].pending += 1
        item = self._accepted(message, part, result)
        written = self._answers.put_nowait(item)
        written.add_done_callback(
            functools.partial(self._recorded, message, parts, results, index, item)
        )

    def _recorded(
        self,
        message: Message,
        parts: list[MessagePart],
        results: Sequence[SubmitResult],
        index: int,
        item: _Submitted,
        written: asyncio.Future[None],
    ) -> None:
        if message.id not in self._sent:  # abandoned by `cancel_in_flight`
            return
        if written.cancelled():
            self._sent.pop(message.id, None)
            self._claimed.pop(message.id, None)
            self._check_idle()
            return
        error = written.exception()
        if error is not None:  # retried as `_record` retries it, then on as there
            resume = functools.partial(self._resume, message, parts, results, index, item, error)
            self._spawn(message, _nothing, resume)
            return
        self._record_now(message, parts, results, index + 1)

    async def _resume(
        self,
        message: Message,
        parts: list[MessagePart],
        results: Sequence[SubmitResult],
        index: int,
        item: _Submitted,
        error: BaseException,
    ) -> None:
        """The task path after the first write of answer `index` failed with `error`."""
        await self._write(
            "record_submit", message.id, lambda: self._answers.put(item), failed=error
        )
        await self._record_all(message, parts, results, index + 1)

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

    async def _write(
        self,
        what: str,
        message_id: str,
        op: Callable[[], Awaitable[None]],
        failed: BaseException | None = None,
    ) -> None:
        """One store write, retried with doubling back-off (jittered) on anything but
        NotFound; the last failure is raised. `failed`: the first try was made elsewhere
        and met this."""
        delay = self._tuning.write_backoff
        for attempt in range(1, self._tuning.write_attempts + 1):
            try:
                if attempt == 1 and failed is not None:
                    raise failed
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
        if result.outcome is SubmitOutcome.ACCEPTED:
            item = self._accepted(message, part, result)
            await self._write("record_submit", message.id, lambda: self._answers.put(item))
            return True
        now = self._clock()
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

    def _accepted(self, message: Message, part: MessagePart, result: SubmitResult) -> _Submitted:
        """What `record_submits` stores for an accepted part."""
        smsc_id = result.message_key or self._normal_id(message, part, result.message_id)
        return (message.id, part.index, self.profile.name, smsc_id, self._clock())

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

    async def _kind(self, message: Message) -> SenderType:
        if self._sender_type is not None:
            kind = self._kinds.get(message.sender_id)
            if kind is not None:
                return kind
            try:
                kind = await self._sender_type(message.sender_id)
            except NotFound:
                pass
            else:
                if len(self._kinds) >= SENDER_KINDS:
                    self._kinds.clear()
                self._kinds[message.sender_id] = kind
                return kind
        return _kind_by_name(message.sender_name)

    def _requests(
        self, message: Message, kind: SenderType, plan: MessagePlan, parts: list[MessagePart]
    ) -> list[SubmitRequest]:
        profile = self.profile
        ton, npi = profile.ton_npi.get(kind, (5, 0))
        by_index = {p.seq: p for p in plan.parts}
        requests = []
        for part in parts:
            planned = by_index[part.index]
            requests.append(
                SubmitRequest(
                    source_addr=message.sender_name,
                    source_ton=ton,
                    source_npi=npi,
                    destination_addr=message.contact,
                    dest_ton=profile.dest_ton,
                    dest_npi=profile.dest_npi,
                    data_coding=plan.data_coding,
                    short_message=planned.short_message,
                    esm_class=planned.esm_class_flags,
                    registered_delivery=profile.registered_delivery,
                    tlvs=planned.tlvs,
                )
            )
        return requests


def _submitting(message: Message) -> list[MessagePart]:
    """The message's parts still to send, in order."""
    parts = message.part_list
    if len(parts) == 1:
        return [parts[0]] if parts[0].status is PartStatus.SUBMITTING else []
    return [p for p in sorted(parts, key=lambda p: p.index) if p.status is PartStatus.SUBMITTING]


def _kind_by_name(name: str) -> SenderType:
    """A sender's type guessed from its name (the store does not know it)."""
    return SenderType.SHORTCODE if name.isdigit() else SenderType.ALPHANUMERIC


def _nothing() -> None:
    """`release` for a message whose window room was already given back."""


async def _raise(error: Exception) -> None:
    """A task's work that fails at once with `error` (met before the task was made)."""
    raise error
