"""One simulated operator SMSC: its listener, binds, limits, message ids and deliveries.

Rules, in the order they are applied to a submit_sm on a bound transmitter or transceiver:

1. more than `window` outstanding on this bind (resp not yet written) → ESME_RMSGQFUL;
2. the SMSC's `ThrottleRule` says no → ESME_RTHROTTLED (does not count against the TPS);
3. destination starts with a `reject_prefixes` entry → ESME_RINVDSTADR;
4. otherwise accepted: a message id, a resp after the configured latency, and a receipt if
   registered_delivery asks for one.

Refusals are answered at once; only accepted submits wait out the latency, so "outstanding"
(what the window limit and `max_in_flight` count) is the accepted submits whose resp has not
been written yet. With zero latency a resp is written in the same write as the read that
carried its submit and the in-flight count never exceeds 1.

Receipts and MO go out through the `Outbox` (see there): to a receiver or transceiver bind of
the same system_id, resent until acknowledged.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from itertools import accumulate

from smpp.core.codec import HEADER, encode
from smpp.core.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    EnquireLink,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smpp.core.status import CommandStatus as St
from smpp.core.tlv import Tag
from smpp.sim.config import BindMode, SmscPersonality
from smpp.sim.connection import SmscConnection
from smpp.sim.delivery import DateCache, DeliveryKind, Outgoing, receipt_frame
from smpp.sim.limits import make_limiter
from smpp.sim.outbox import Outbox
from smpp.sim.records import BindRecord, SmscRecord, SubmitRecord
from smpp.sim.ticks import TickScheduler

_BIND_KINDS: dict[type, tuple[BindMode, type]] = {
    BindTransmitter: (BindMode.TX, BindTransmitterResp),
    BindReceiver: (BindMode.RX, BindReceiverResp),
    BindTransceiver: (BindMode.TRX, BindTransceiverResp),
}
_SUBMIT_SM_RESP = int(CommandId.SUBMIT_SM_RESP)
_INTERFACE_VERSION = {Tag.SC_INTERFACE_VERSION: b"\x34"}

RECEIPT_TICK = 0.005
"""Receipts due within the same 5 ms go out together, in one write per connection: a write
is a system call, and at tens of thousands of receipts a second one write per receipt (or per
millisecond) costs more than building the receipts."""

# (system_id, submit, message number, state, submit wall time)
DueReceipt = tuple[str, SubmitSm, int, str, float]


def submit_resp_ok(sequence_number: int, message_id: bytes) -> bytes:
    """An accepted submit_sm_resp: the codec's header layout plus the NUL-ended id.

    The same bytes as ``encode(SubmitSmResp(seq, 0, message_id=...))`` (a test holds them
    equal) without building a PDU object: this is the simulator's hottest path.
    """
    return HEADER.pack(17 + len(message_id), _SUBMIT_SM_RESP, 0, sequence_number) + (
        message_id + b"\0"
    )


class Smsc:
    """A simulated SMSC with one listener; see the module doc for its rules."""

    def __init__(
        self,
        personality: SmscPersonality,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
        notify: Callable[[], None],
        max_pdu_size: int = 65_536,
    ) -> None:
        self.personality = p = personality
        self.loop = loop
        self.record = SmscRecord(p.name)
        self.connections: set[SmscConnection] = set()
        self._rng = rng
        self._notify = notify
        self._max_pdu_size = max_pdu_size
        self._server: asyncio.Server | None = None
        self._limiter = make_limiter(p.throttle)
        self._next_id = p.first_message_id
        self.outbox = Outbox(loop, self.record, p.receipts, self._after_timer)
        self._dirty: dict[SmscConnection, None] = {}
        self._resps: TickScheduler[tuple[SmscConnection, BindRecord, bytes]] = TickScheduler(
            loop, self._send_due_resps
        )
        self._receipts: TickScheduler[DueReceipt] = TickScheduler(
            loop, self._send_receipts, resolution=RECEIPT_TICK
        )
        self._dates = DateCache()
        self._bind_ids = 0
        receipts = p.receipts
        self._states = tuple(receipts.mix) or ("DELIVRD",)
        self._cum_weights = tuple(accumulate(receipts.mix.values())) or (1.0,)
        self._receipt_ids = receipts.id_format or p.message_id_format

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The personality's name."""
        return self.personality.name

    @property
    def port(self) -> int:
        """The port listened on (known after `start`)."""
        return self.record.port

    @property
    def host(self) -> str:
        """The address listened on."""
        return self.personality.host

    async def start(self) -> None:
        """Listen on the personality's host and port (0 = pick one)."""
        p = self.personality
        self._server = await self.loop.create_server(
            lambda: SmscConnection(self, self._max_pdu_size), p.host, p.port
        )
        self.record.port = self._server.sockets[0].getsockname()[1]
        self.outbox.start()

    async def close(self) -> None:
        """Stop listening, cut every connection; MO still unacknowledged fails."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.drop()
        self._resps.cancel()
        never_sent = len(self._receipts.cancel())
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost of the cut connections run
        self.record.unacked_at_close = self.unacked + never_sent
        self.outbox.stop()

    # --- connections ------------------------------------------------------------------------

    def on_connection(self, conn: SmscConnection) -> None:
        """A TCP connection was accepted."""
        self.connections.add(conn)
        self.record.connections += 1

    def on_connection_lost(self, conn: SmscConnection, reason: str) -> None:
        """Close the bind record, requeue the connection's unacknowledged deliveries."""
        self.connections.discard(conn)
        self._dirty.pop(conn, None)
        bind = conn.bind
        if bind is not None and bind.closed_at is None:
            bind.closed_at = self.loop.time()
            bind.close_reason = bind.close_reason or reason
        self.outbox.connection_lost(conn)
        self.flush()
        self._notify()

    def _after_timer(self) -> None:
        self.flush()
        self._notify()

    def on_delivery_answered(
        self, conn: SmscConnection, item: Outgoing, status: int, now: float
    ) -> None:
        """A deliver_sm_resp (or generic_nack) for one of our deliver_sm arrived."""
        self.outbox.answered(conn, item, status)

    def mark_dirty(self, conn: SmscConnection) -> None:
        """`conn` has output to write at the next flush."""
        self._dirty[conn] = None

    def after_read(self, conn: SmscConnection) -> None:
        """End of one read: write everything queued, then tell the waiters."""
        self.flush()
        conn.flush()
        self._notify()

    def flush(self) -> None:
        """Write the output of every connection that has some, in the order it was queued."""
        if self._dirty:
            dirty = list(self._dirty)
            self._dirty.clear()
            for conn in dirty:
                conn.flush()

    # --- bind / unbind ----------------------------------------------------------------------

    def on_bind(
        self,
        conn: SmscConnection,
        pdu: BindTransmitter | BindReceiver | BindTransceiver,
        now: float,
    ) -> None:
        """Check the bind against the personality and answer it."""
        mode, resp_cls = _BIND_KINDS[type(pdu)]
        status = self._bind_status(conn, pdu, mode)
        seq = pdu.sequence_number
        if status:
            self.record.bind_failures.append((pdu.system_id, status))
            conn.out.append(encode(resp_cls(seq, status)))
            return
        conn.out.append(encode(resp_cls(seq, 0, _INTERFACE_VERSION, system_id=self.name[:15])))
        self._bind_ids += 1
        conn.mode, conn.system_id = mode, pdu.system_id
        conn.bind = BindRecord(
            self._bind_ids, self.name, pdu.system_id, mode, conn.peer, bound_at=now
        )
        self.record.binds.append(conn.bind)
        self._start_bind_timers(conn)
        if mode.can_receive:
            self.outbox.add_receiver(conn, now)

    def _bind_status(
        self,
        conn: SmscConnection,
        pdu: BindTransmitter | BindReceiver | BindTransceiver,
        mode: BindMode,
    ) -> int:
        p = self.personality
        if conn.bind is not None:
            return St.ESME_RALYBND
        cred = p.credential(pdu.system_id)
        if cred is None:
            return St.ESME_RINVSYSID
        if cred.password != pdu.password:
            return St.ESME_RINVPASWD
        if mode not in p.bind_modes:
            return St.ESME_RBINDFAIL
        if p.max_binds is not None:
            bound = sum(1 for b in self.record.bound if b.system_id == pdu.system_id)
            if bound >= p.max_binds:
                return St.ESME_RBINDFAIL
        return St.ESME_ROK

    def _start_bind_timers(self, conn: SmscConnection) -> None:
        p = self.personality
        if p.drop_after is not None:
            conn.call_later(p.drop_after, lambda: self.drop(conn))
        if p.enquire_link_every is not None:
            self._enquire_loop(conn, p.enquire_link_every)

    def _enquire_loop(self, conn: SmscConnection, every: float) -> None:
        def tick() -> None:
            if conn.closed or conn.closing:
                return
            conn.send_pdu(EnquireLink(conn.next_sequence()))
            self.flush()
            conn.call_later(every, tick)

        conn.call_later(every, tick)

    def on_unbind(self, conn: SmscConnection, now: float) -> None:
        """The ESME unbinds: record it; the connection closes after the unbind_resp."""
        self.record.unbinds += 1
        bind = conn.bind
        if bind is not None:
            bind.unbinds += 1
            bind.close_reason = "unbind"

    def drop(self, conn: SmscConnection) -> None:
        """Cut `conn` like a broken link."""
        if conn.closed:
            return
        self.record.drops += 1
        if conn.bind is not None:
            conn.bind.close_reason = "dropped by the SMSC"
        conn.drop()

    def drop_all(self) -> int:
        """Cut every connection; the number cut."""
        conns = [c for c in self.connections if not c.closed]
        for conn in conns:
            self.drop(conn)
        return len(conns)

    def unbind_all(self, answer_within: float = 5.0) -> int:
        """Send unbind on every bound connection (the SMSC ends the sessions); a connection
        whose unbind_resp has not come within `answer_within` seconds is closed anyway."""
        count = 0
        for conn in list(self.connections):
            if conn.bind is not None and not conn.closing:
                conn.bind.close_reason = "unbound by the SMSC"
                conn.send_pdu(Unbind(conn.next_sequence()))
                conn.call_later(answer_within, conn.close)
                count += 1
        self.flush()
        return count

    # --- submit_sm --------------------------------------------------------------------------

    def on_submit(self, conn: SmscConnection, pdu: SubmitSm, now: float) -> None:
        """Apply the rules of the module doc and answer (now or after the latency)."""
        bind = conn.bind
        if bind is None or conn.mode is BindMode.RX:
            conn.out.append(encode(SubmitSmResp(pdu.sequence_number, St.ESME_RINVBNDSTS)))
            return
        p = self.personality
        rec = self.record
        rec.submit_count += 1
        bind.submits += 1
        slot = int(now * 10)
        slots = rec.slots
        slots[slot] = slots.get(slot, 0) + 1
        status = self._submit_status(bind, pdu, now)
        number = 0
        if status:
            resp = encode(SubmitSmResp(pdu.sequence_number, status))
            message_id = ""
        else:
            number = self._next_id
            self._next_id += 1
            message_id = p.message_id_format.render(number)
            resp = submit_resp_ok(pdu.sequence_number, message_id.encode("ascii"))
            rec.accepted += 1
            bind.accepted += 1
        if p.record_submits:
            self._record(SubmitRecord(now, bind.bind_id, pdu, status, message_id))
        if not number:
            conn.out.append(resp)  # refusals are answered at once, never held
            return
        if pdu.registered_delivery & 0x03:
            self._plan_receipt(conn, pdu, number, now)
        self._respond(conn, bind, resp, now)

    def _record(self, submit: SubmitRecord) -> None:
        submits = self.record.submits
        limit = self.personality.max_recorded_submits
        if limit is not None and len(submits) >= limit:
            del submits[: max(1, limit // 2)]
        submits.append(submit)

    def _submit_status(self, bind: BindRecord, pdu: SubmitSm, now: float) -> int:
        p = self.personality
        rec = self.record
        if p.window is not None and bind.in_flight >= p.window:
            rec.queue_full += 1
            bind.queue_full += 1
            return St.ESME_RMSGQFUL
        if not self._limiter.allow(now):
            rec.throttled += 1
            bind.throttled += 1
            return St.ESME_RTHROTTLED
        if p.reject_prefixes and pdu.destination_addr.startswith(p.reject_prefixes):
            rec.rejected += 1
            bind.rejected += 1
            return St.ESME_RINVDSTADR
        return St.ESME_ROK

    def _respond(self, conn: SmscConnection, bind: BindRecord, resp: bytes, now: float) -> None:
        latency = self.personality.latency
        if latency.is_zero:
            conn.out.append(resp)
            if bind.max_in_flight == 0:
                bind.max_in_flight = 1
                self.record.max_in_flight = max(self.record.max_in_flight, 1)
            return
        bind.in_flight += 1
        if bind.in_flight > bind.max_in_flight:
            bind.max_in_flight = bind.in_flight
            self.record.max_in_flight = max(self.record.max_in_flight, bind.in_flight)
        delay = latency.fixed
        if latency.jitter > 0:
            delay += self._rng.random() * latency.jitter
        self._resps.at(now + delay, (conn, bind, resp))

    def _send_due_resps(self, due: list[tuple[SmscConnection, BindRecord, bytes]]) -> None:
        for conn, bind, resp in due:
            bind.in_flight -= 1
            if conn.closed:
                self.record.dropped_responses += 1
                continue
            conn.out.append(resp)
            self._dirty[conn] = None
        self.flush()
        self._notify()

    # --- receipts ---------------------------------------------------------------------------

    def _plan_receipt(self, conn: SmscConnection, pdu: SubmitSm, number: int, now: float) -> None:
        policy = self.personality.receipts
        rng = self._rng
        states = self._states
        state = (
            states[0] if len(states) == 1 else rng.choices(states, cum_weights=self._cum_weights)[0]
        )
        if pdu.registered_delivery & 0x03 == 2 and state == "DELIVRD":
            return  # failure receipts only
        due: DueReceipt = (conn.system_id, pdu, number, state, time.time())
        if policy.before_resp > 0 and rng.random() < policy.before_resp:
            self._send_receipts([due])
            return
        delay = policy.delay_min
        if policy.delay_max > policy.delay_min:
            delay += rng.random() * (policy.delay_max - policy.delay_min)
        self._receipts.at(now + delay, due)

    def _send_receipts(self, due: list[DueReceipt]) -> None:
        policy = self.personality.receipts
        fmt = self._receipt_ids
        done_date = self._dates.now()
        rng = self._rng
        now = self.loop.time()
        for system_id, pdu, number, state, submitted in due:
            frame = receipt_frame(
                pdu,
                fmt.render(number),
                state,
                self._dates.at(submitted),
                done_date,
                with_tlvs=policy.with_tlvs,
                with_text=policy.with_text,
            )
            self.record.receipts_sent += 1
            self.outbox.send(Outgoing(DeliveryKind.RECEIPT, system_id, frame), now)
            if policy.duplicates > 0 and rng.random() < policy.duplicates:
                self.record.receipts_duplicated += 1
                self.outbox.send(Outgoing(DeliveryKind.RECEIPT, system_id, frame), now)
        self.flush()
        self._notify()

    # --- deliveries (receipts and MO) -------------------------------------------------------

    def deliver(self, item: Outgoing) -> None:
        """Send an SMSC-originated deliver_sm (MO) now or when a receiver binds."""
        if item.kind is DeliveryKind.MO:
            self.record.mo_sent += 1
        self.outbox.send(item, self.loop.time())
        self.flush()

    @property
    def unacked(self) -> int:
        """Deliveries sent or waiting that were not acknowledged yet."""
        pending = sum(len(c.pending) for c in self.connections)
        return self.outbox.waiting + pending + len(self._receipts)
