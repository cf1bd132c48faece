"""`BindPool`: the binds of one SMSC, one shared pace, and messages in, results out.

    pool = BindPool(config, PoolHandlers(on_deliver=store_inbound, on_bind_state=report))
    await pool.start()                       # binds come up in the background
    await pool.wait_capacity()               # the dispatcher's backpressure
    result = await pool.submit(parts, ref=message_id)   # MessageResult, one PartResult a part
    report = await pool.stop(drain_budget=20.0)

How a part travels: `send` queues the first part of a message; `_drain` hands ready parts to
bound binds with room in their window (the one that took the message's previous part first),
at the shared pace (`pacing.Pacer`: one TPS per SMSC, spread evenly). The ordering rule is in
`message.py`: a message's next part is queued only after the SMSC accepted the previous one.

What the answers do:

- ESME_ROK: the part is done; its id is normalised per the SMSC's id format.
- THROTTLE (ESME_RTHROTTLED, ESME_RMSGQFUL): the session pauses the bind (growing back-off);
  the same part goes back to the front of the queue. Given up after `max_throttle_retries`.
- RETRY-class status: sent again after `retry_delay`, up to `max_attempts` sends.
- PERMANENT: reported; the message's later parts are NOT_SENT.
- no answer (response timeout, or the connection ended): the part is `in_doubt` (the SMSC may
  hold it) and goes back to the front, up to `max_attempts` sends and, when set,
  `max_unanswered_resends` resends after unanswered sends; a later answer to a timed
  out part that is still waiting to be resent settles it without a resend.

Capacity (`has_capacity` / `wait_capacity`) is the room in the windows of the bound binds,
less what already waits in the queue, and with a TPS limit no more than 200 ms of sends, so
the daemon keeps messages in its durable queue instead of in this process. Parts that wait
through an outage longer than `queue_timeout` are given up (NOT_SENT).

Ownership of a message ends with its future: cancelling an `await pool.submit(...)` does not
withdraw parts already queued or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass

from smpp.aio.client import SmppClient
from smpp.aio.config import BindRole, PoolConfig
from smpp.aio.events import (
    BindState,
    BindStateChanged,
    LateAccept,
    MessageResult,
    Outcome,
    PoolHandlers,
)
from smpp.aio.inbound import answer_after, read_inbound
from smpp.aio.message import Message, Part, PartCallback
from smpp.aio.pacing import Pacer
from smpp.aio.slot import BindSlot
from smpp.aio.stats import BindStats
from smpp.core.codec import PduEncodeError
from smpp.core.events import DeliverReceived, LateResponse, SubmitResponse
from smpp.core.msgid import normalise_message_id
from smpp.core.pdu import SubmitSm
from smpp.core.session import EsmeSession
from smpp.core.status import CommandStatus, StatusClass, status_name

log = logging.getLogger("smpp.aio.pool")

PartRef = tuple[Hashable | None, int]
"""(message ref, part index)."""

_PACE_BACKLOG = 0.2  # seconds of sends the pool may hold beyond its windows' in-flight
_UVLOOP_GRAIN = 0.001  # uvloop's clock and timers count whole milliseconds


def _timer_grain(loop: asyncio.AbstractEventLoop) -> float:
    """0 for asyncio's loop, whose clock is the monotonic clock; a millisecond for others
    (uvloop: its clock is the monotonic clock truncated to whole milliseconds, and a timer's
    delay is rounded to the nearest one)."""
    return 0.0 if isinstance(loop, asyncio.BaseEventLoop) else _UVLOOP_GRAIN


class PoolStopped(RuntimeError):
    """The pool is stopping or stopped: it takes no more messages."""


@dataclass(frozen=True, slots=True)
class StopReport:
    """What `stop` left behind.

    `in_doubt`: parts written whose answer never came (the SMSC may hold them);
    `not_sent`: parts that were never written (safe to send again);
    `unbound`: binds that completed the unbind handshake;
    `drained`: every window emptied within the budget.
    """

    in_doubt: tuple[PartRef, ...]
    not_sent: tuple[PartRef, ...]
    unbound: tuple[str, ...]
    drained: bool


class BindPool:
    """N binds to one SMSC (see the module doc)."""

    def __init__(
        self,
        config: PoolConfig,
        handlers: PoolHandlers,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.handlers = handlers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = rng or random.Random()
        self._ready: deque[Part] = deque()
        self._pacer = (
            Pacer(config.tps * config.pace_share, config.tps) if config.tps is not None else None
        )
        self._backlog = (
            max(1, math.ceil(config.tps * _PACE_BACKLOG)) if config.tps is not None else math.inf
        )
        self._slots: list[BindSlot] = []
        self._submitters: list[BindSlot] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._inbound: set[asyncio.Task[None]] = set()
        self._retries: dict[Part, asyncio.TimerHandle] = {}
        self._wake: asyncio.TimerHandle | None = None
        self._orphan_timer: asyncio.TimerHandle | None = None
        self._wake_at = math.inf
        self._timer_grain = 0.0
        self._room = asyncio.Event()
        self._room_waiters = 0
        self._holds = 0  # `hold_writes` depth
        self._held: list[BindSlot] = []  # slots with paced submits to write when it ends
        self._changed = asyncio.Event()
        self._stopping = False
        self._drained: asyncio.Event | None = None
        self._in_doubt: list[PartRef] = []
        self._not_sent: list[PartRef] = []

    # --- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every bind's supervisor; returns at once (binds come up in the background)."""
        if self._loop is not None:
            raise RuntimeError("pool already started")
        loop = self._loop = asyncio.get_running_loop()
        self._timer_grain = _timer_grain(loop)
        cfg = self.config
        for bind_id, role in zip(cfg.bind_ids(), cfg.roles, strict=True):
            slot = BindSlot(self, cfg, bind_id, role, self._new_session, loop, self._rng)
            self._slots.append(slot)
            if role.submits:
                self._submitters.append(slot)
        self._tasks = [loop.create_task(s.run(), name=s.bind_id) for s in self._slots]

    def _new_session(self, role: BindRole) -> EsmeSession:
        return EsmeSession(self.config.session_config(role))

    async def stop(self, drain_budget: float) -> StopReport:
        """Stop intake, wait up to `drain_budget` s for answers in flight, unbind every bind,
        and report what was left (queued parts NOT_SENT, unanswered ones IN_DOUBT)."""
        loop = self._require_loop()
        deadline = loop.time() + drain_budget
        self._stopping = True
        self._room.set()
        self._cancel_wake()
        self._cancel_orphan_timer()
        while self._ready:
            self._abandon(self._ready.popleft(), Outcome.NOT_SENT, "pool stopped")
        for part, handle in list(self._retries.items()):
            handle.cancel()
            self._abandon(part, Outcome.NOT_SENT, "pool stopped")
        self._retries.clear()
        for slot in self._slots:
            slot.stop()
        drained = await self._wait_drained(deadline - loop.time())
        if self._inbound:
            await asyncio.wait(set(self._inbound), timeout=max(0.0, deadline - loop.time()))
        timeout = max(self.config.unbind_timeout, deadline - loop.time())
        unbound = await asyncio.gather(*(s.unbind(timeout) for s in self._slots))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in list(self._inbound):
            task.cancel()
        return StopReport(
            in_doubt=tuple(self._in_doubt),
            not_sent=tuple(self._not_sent),
            unbound=tuple(s.bind_id for s, ok in zip(self._slots, unbound, strict=True) if ok),
            drained=drained,
        )

    async def _wait_drained(self, budget: float) -> bool:
        self._drained = asyncio.Event()
        self._check_drained()
        try:
            await asyncio.wait_for(self._drained.wait(), max(0.0, budget))
        except TimeoutError:
            return False
        return True

    def _check_drained(self) -> None:
        if self._drained is not None and not any(s.parts for s in self._slots):
            self._drained.set()

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("pool not started")
        return self._loop

    # --- capacity ---------------------------------------------------------------------------

    def has_capacity(self) -> bool:
        """True when a new message would be written without waiting for a window slot."""
        if self._stopping:
            return False
        room = 0
        for slot in self._submitters:
            if slot.client is not None:
                room += slot.window - len(slot.parts)
        queued = len(self._ready)
        return queued < room and queued < self._backlog

    async def wait_capacity(self) -> None:
        """Return when `has_capacity()`; raises PoolStopped once the pool stops."""
        while not self.has_capacity():
            if self._stopping:
                raise PoolStopped(self.config.name)
            self._room.clear()
            self._room_waiters += 1
            try:
                await self._room.wait()
            finally:
                self._room_waiters -= 1

    def _notify_room(self) -> None:
        if self._room_waiters and not self._room.is_set() and self.has_capacity():
            self._room.set()

    # --- submitting -------------------------------------------------------------------------

    def send(
        self,
        pdus: Sequence[SubmitSm],
        ref: Hashable | None = None,
        on_part: PartCallback | None = None,
    ) -> asyncio.Future[MessageResult]:
        """Queue the parts of one message without waiting for capacity; the future resolves
        when every part has a result. `on_part` is called as each part ends (store the
        message id at once: its receipt may come before the rest of the message)."""
        loop = self._require_loop()
        if self._stopping:
            raise PoolStopped(self.config.name)
        if not pdus:
            raise ValueError("a message has at least one part")
        future: asyncio.Future[MessageResult] = loop.create_future()
        message = Message(pdus, ref, future, on_part)
        first = message.first()
        if not self._ready and self._pacer is None:  # the common case: straight to a bind
            slot = self._pick(first)
            if slot is not None and self._send_on(slot, first, loop.time()):
                return future
        self._ready.append(first)
        self._drain()
        if self._ready:
            self._watch_orphans()
        return future

    async def submit(
        self,
        pdus: Sequence[SubmitSm],
        ref: Hashable | None = None,
        on_part: PartCallback | None = None,
    ) -> MessageResult:
        """Wait for capacity, send the message, and return its result. Cancelling the wait
        for the result does not withdraw a message already queued."""
        await self.wait_capacity()
        return await self.send(pdus, ref, on_part)

    def _drain(self) -> None:
        """Hand ready parts to binds while window, pace and throttle allow."""
        ready = self._ready
        if not ready:
            self._notify_room()
            return
        pacer = self._pacer
        if pacer is not None:
            self._drain_paced(pacer)
            return
        loop = self._loop
        assert loop is not None
        now = loop.time()
        while ready:
            part = ready[0]
            slot = self._pick(part)
            if slot is None:
                break
            if self._send_on(slot, part, now):
                ready.popleft()
            # else the slot marked itself paused: pick again
        self._notify_room()

    def _drain_paced(self, pacer: Pacer) -> None:
        """`_drain` under a TPS limit. The pace is kept on the monotonic clock at full
        resolution (the one asyncio's loop reads; uvloop's loop counts whole milliseconds,
        which would let a send go up to 1 ms early by the 100 ms cap), and the sends are
        written before this returns rather than at the next loop turn, so that the time the
        pacer counted is the time the SMSC reads them, give or take the network."""
        ready = self._ready
        now = time.monotonic()
        written: list[BindSlot] = []
        while ready:
            at = pacer.ready_at()
            if now < at:
                self._arm(at)
                break
            part = ready[0]
            slot = self._pick(part)
            if slot is None:
                break
            if self._send_on(slot, part, now):
                ready.popleft()
                if slot not in written:
                    written.append(slot)
            # else the slot marked itself paused: pick again
        if not ready:
            pacer.idle()  # nothing waits: the time until the next part is not owed
        for slot in written:
            if not self._holds:
                slot.flush()
            elif slot not in self._held:
                self._held.append(slot)
        self._notify_room()

    @contextlib.contextmanager
    def hold_writes(self) -> Iterator[None]:
        """Within it, paced submits are written together when the outermost hold ends, not
        one `send` each: for a caller handing over many messages at one moment (a claimed
        batch), which made one write, and one read at the SMSC, per message. The hold spans
        only the caller's own loop, so what the pacer counted is still what the SMSC sees,
        give or take that loop's few hundred microseconds."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                held, self._held = self._held, []
                for slot in held:
                    slot.flush()

    def _send_on(self, slot: BindSlot, part: Part, now: float) -> bool:
        """Write `part` on `slot`; True when the part is done with the queue (written, or
        refused by the codec and reported PERMANENT), False when the slot would not take it."""
        try:
            if not slot.send(part, now):
                return False
        except PduEncodeError as exc:
            part.message.settle(part, part.result(Outcome.PERMANENT, error=f"not encodable: {exc}"))
            return True
        part.message.last_bind = slot
        if self._pacer is not None:
            self._pacer.take(now)
        return True

    def _pick(self, part: Part) -> BindSlot | None:
        """The bind that took this message's previous part if it has room, else the bind
        with the most room."""
        last = part.message.last_bind
        if last is not None and last.has_room():
            return last
        best: BindSlot | None = None
        best_room = 0
        for slot in self._submitters:
            if slot.client is not None and not slot.paused:
                room = slot.window - len(slot.parts)
                if room > best_room:
                    best, best_room = slot, room
        return best

    def _arm(self, at: float) -> None:
        """Wake at monotonic time `at`, never before it: a wake that came early would find
        the pace not yet due and arm again at once."""
        if self._wake is not None:
            if self._wake_at <= at:
                return
            self._wake.cancel()
        loop = self._loop
        assert loop is not None
        self._wake_at = at
        grain = self._timer_grain
        if grain:  # count from the loop's own truncated clock, in whole grains, rounded up
            delay = math.ceil((at - loop.time()) / grain - 1e-6) * grain
            self._wake = loop.call_later(delay, self._on_wake)
        else:  # asyncio's loop.time() is the monotonic clock itself
            self._wake = loop.call_at(at, self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._wake_at = math.inf
        self._drain()

    def _cancel_wake(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
            self._wake_at = math.inf

    # --- SlotOwner: answers -----------------------------------------------------------------

    def slot_ready(self, slot: BindSlot) -> None:
        """A bind came up or its throttle pause ended."""
        self._drain()

    def part_answered(self, slot: BindSlot, part: Part, event: SubmitResponse) -> None:
        """Act on a submit_sm_resp (see the module doc)."""
        cls = event.status_class
        if cls is StatusClass.OK:
            self._accepted(slot, part, event.command_status, event.message_id)
            if not self._ready and not self._stopping:  # nothing waits: only the room grew
                if self._room_waiters:
                    self._notify_room()
                return
        elif cls is StatusClass.THROTTLE:
            part.throttled += 1
            if self._pacer is not None:
                self._pacer.throttled()  # make up nothing against an SMSC that refuses
            if part.throttled > self.config.max_throttle_retries:
                self._settle_failed(slot, part, Outcome.THROTTLE, event.command_status)
            elif self._stopping:
                self._abandon(part, Outcome.NOT_SENT, "pool stopped")
            else:
                self._ready.appendleft(part)
        elif cls is StatusClass.RETRY and part.attempts < self.config.max_attempts:
            if self._stopping:
                self._abandon(part, Outcome.NOT_SENT, "pool stopped")
            else:
                self._retry_later(part)
        else:
            outcome = Outcome.RETRY if cls is StatusClass.RETRY else Outcome.PERMANENT
            self._settle_failed(slot, part, outcome, event.command_status)
        if self._stopping:
            self._check_drained()
        self._drain()

    def _accepted(self, slot: BindSlot, part: Part, status: int, message_id: str) -> None:
        key = self._message_key(message_id)
        result = part.result(
            Outcome.OK,
            status=status,
            message_id=message_id,
            message_key=key,
            bind_id=slot.bind_id,
        )
        nxt = part.message.settle(part, result)
        if nxt is not None:
            if self._stopping:
                self._abandon(nxt, Outcome.NOT_SENT, "pool stopped")
            else:
                self._ready.appendleft(nxt)

    def _message_key(self, message_id: str) -> str | None:
        try:
            return normalise_message_id(message_id, self.config.id_format, from_receipt=False)
        except ValueError:
            return None

    def _settle_failed(self, slot: BindSlot, part: Part, outcome: Outcome, status: int) -> None:
        name = status_name(status)
        part.message.settle(
            part, part.result(outcome, status=status, bind_id=slot.bind_id, error=name)
        )

    def _retry_later(self, part: Part) -> None:
        loop = self._loop
        assert loop is not None
        self._retries[part] = loop.call_later(self.config.retry_delay, self._retry_now, part)

    def _retry_now(self, part: Part) -> None:
        if self._retries.pop(part, None) is not None:
            self._ready.appendleft(part)
            self._drain()

    def part_unanswered(self, slot: BindSlot, parts: list[Part], reason: str) -> None:
        """Parts whose answer will never come on `slot` (timeout or connection lost)."""
        cfg = self.config
        for part in reversed(parts):
            part.in_doubt = True
            part.unanswered += 1
            if self._stopping:
                self._abandon(part, Outcome.IN_DOUBT, reason)
            elif part.attempts >= cfg.max_attempts or (
                cfg.max_unanswered_resends is not None
                and part.unanswered > cfg.max_unanswered_resends
            ):
                part.message.settle(
                    part, part.result(Outcome.RETRY, bind_id=slot.bind_id, error=reason)
                )
            else:
                self._ready.appendleft(part)
        if self._stopping:
            self._check_drained()
        self._drain()

    def late_answer(self, slot: BindSlot, part: Part, event: LateResponse) -> None:
        """An acceptance after the timeout settles a part still waiting to be resent;
        otherwise the SMSC holds a copy, reported as a `LateAccept`."""
        if event.status_class is not StatusClass.OK:
            return
        if not part.message.done and part in self._ready:
            self._ready.remove(part)
            self._accepted(slot, part, event.command_status, event.message_id)
            self._drain()
            return
        handler = self.handlers.on_late_accept
        if handler is not None:
            key = self._message_key(event.message_id)
            message = part.message
            late = LateAccept(message.ref, part.index, event.message_id, key, slot.bind_id)
            try:  # called from the connection's read callback: it must not end the bind
                handler(late)
            except Exception:
                log.exception("late accept handler failed", extra={"bind_id": slot.bind_id})

    def _abandon(self, part: Part, outcome: Outcome, reason: str) -> None:
        ref = part.message.ref
        first = part.index
        if outcome is Outcome.IN_DOUBT:
            self._in_doubt.append((ref, first))
            first += 1
        self._not_sent.extend((ref, i) for i in range(first, len(part.message.pdus)))
        part.message.abandon(part, outcome, reason)

    # --- SlotOwner: inbound and states ------------------------------------------------------

    def deliver(self, slot: BindSlot, client: SmppClient, event: DeliverReceived) -> None:
        """Hand a deliver_sm to the daemon; the resp is written after its handler returns."""
        loop = self._loop
        assert loop is not None
        try:  # called from the connection's read callback: it must not end the bind
            inbound = read_inbound(self.config, slot.bind_id, event.pdu, loop.time())
        except Exception:
            log.exception("deliver_sm not readable", extra={"bind_id": slot.bind_id})
            client.ack_deliver(event.sequence_number, CommandStatus.ESME_RX_T_APPN)
            return
        handling = answer_after(self.handlers.on_deliver, client, event.sequence_number, inbound)
        task = loop.create_task(handling)
        self._inbound.add(task)
        task.add_done_callback(self._inbound.discard)

    def state_changed(self, event: BindStateChanged) -> None:
        """Report a bind state change to the daemon."""
        log.info(
            "bind %s: %s -> %s (%s)",
            event.bind_id,
            event.previous.value,
            event.state.value,
            event.reason,
        )
        self._changed.set()
        self._changed = asyncio.Event()
        handler = self.handlers.on_bind_state
        if handler is not None:
            try:
                handler(event)
            except Exception:
                log.exception("bind state handler failed", extra={"bind_id": event.bind_id})
        if event.state is BindState.BOUND:
            self._cancel_orphan_timer()
        else:
            self._notify_room()
            self._watch_orphans()

    def _watch_orphans(self) -> None:
        """With parts queued and no bind able to take them, give them up after
        `queue_timeout` (NOT_SENT) rather than hold them through a long outage."""
        timeout = self.config.queue_timeout
        if (
            timeout is None
            or self._orphan_timer is not None
            or not self._ready
            or self._stopping
            or any(s.client is not None for s in self._submitters)
        ):
            return
        loop = self._loop
        assert loop is not None
        self._orphan_timer = loop.call_later(timeout, self._give_up_orphans)

    def _give_up_orphans(self) -> None:
        self._orphan_timer = None
        if any(s.client is not None for s in self._submitters):
            return
        reason = f"no bind for {self.config.queue_timeout:g} s"
        while self._ready:
            self._abandon(self._ready.popleft(), Outcome.NOT_SENT, reason)
        self._notify_room()

    def _cancel_orphan_timer(self) -> None:
        if self._orphan_timer is not None:
            self._orphan_timer.cancel()
            self._orphan_timer = None

    # --- queries ----------------------------------------------------------------------------

    def bind_states(self) -> dict[str, BindState]:
        """Every bind's state, by bind id."""
        return {s.bind_id: s.state for s in self._slots}

    @property
    def bound(self) -> int:
        """Binds currently bound."""
        return sum(1 for s in self._slots if s.state is BindState.BOUND)

    async def wait_bound(self, count: int | None = None, within: float = 10.0) -> None:
        """Until `count` binds (default: all) are bound; TimeoutError after `within` s."""
        want = len(self._slots) if count is None else count

        async def until_bound() -> None:
            while self.bound < want:
                await self._changed.wait()

        await asyncio.wait_for(until_bound(), within)

    def stats(self) -> list[BindStats]:
        """A snapshot of every bind, for metrics."""
        now = self._require_loop().time()
        return [s.stats(now) for s in self._slots]

    @property
    def queued(self) -> int:
        """Parts waiting for a window slot, the pace or a throttle pause to end."""
        return len(self._ready)
