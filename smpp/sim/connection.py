"""One TCP connection to a simulated SMSC: framing, dispatch by PDU type, batched writes.

Everything a read produces is appended to `out` and written once per read (or per timer
batch) by `Smsc.flush`, so a pipelined client gets its responses in one segment. The policy
(credentials, limits, receipts) lives in `Smsc`; this class only speaks the protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from smpp.core.codec import HEADER, Framer, PduDecodeError, decode, encode
from smpp.core.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandId,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    SubmitSm,
    Unbind,
    UnbindResp,
)
from smpp.core.status import CommandStatus
from smpp.sim.config import BindMode
from smpp.sim.delivery import Outgoing
from smpp.sim.records import BindRecord

if TYPE_CHECKING:
    from smpp.sim.smsc import Smsc

_MAX_SEQUENCE = 0x7FFFFFFF
_DELIVER_SM_RESP = int(CommandId.DELIVER_SM_RESP)


class SmscConnection(asyncio.Protocol):
    """The SMSC side of one ESME connection."""

    def __init__(self, smsc: Smsc, max_pdu_size: int) -> None:
        self.smsc = smsc
        self.framer = Framer(max_pdu_size)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.mode: BindMode | None = None
        self.system_id = ""
        self.bind: BindRecord | None = None
        self.out: list[bytes] = []
        self.pending: dict[int, tuple[Outgoing, float]] = {}  # seq -> (delivery, sent at)
        self.closed = False
        self.closing = False
        self._seq = 0
        self._timers: list[asyncio.TimerHandle] = []
        self._dispatch: dict[type[Pdu], Callable[[Pdu, float], None]] = {
            SubmitSm: self._on_submit,
            DeliverSmResp: self._on_deliver_resp,
            EnquireLink: self._on_enquire_link,
            EnquireLinkResp: _ignore,
            Unbind: self._on_unbind,
            UnbindResp: self._on_unbind_resp,
            GenericNack: self._on_generic_nack,
            BindTransmitter: self._on_bind,
            BindReceiver: self._on_bind,
            BindTransceiver: self._on_bind,
        }

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport and count the connection."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        self.smsc.on_connection(self)

    def data_received(self, data: bytes) -> None:
        """Frame, decode and handle every PDU in `data`, then write all answers at once."""
        now = self.smsc.loop.time()
        handle = self._handle_frame
        try:
            for frame in self.framer.feed(data):
                handle(frame, now)
        except PduDecodeError as exc:  # framing lost: answer, then hang up
            self.nack(exc.sequence_number or 0, exc.command_status)
            self.closing = True
        self.smsc.after_read(self)

    def pause_writing(self) -> None:
        """The ESME reads slower than we answer: stop reading its requests until it catches up
        (an SMSC holds no unbounded output for one client)."""
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The output drained below the low-water mark: read again."""
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the SMSC, which requeues unacknowledged deliveries."""
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        self.smsc.on_connection_lost(self, "dropped" if exc else "closed")

    # --- sending ----------------------------------------------------------------------------

    def next_sequence(self) -> int:
        """The next sequence number for a request the SMSC sends (1..0x7FFFFFFF, wrapping)."""
        self._seq = 1 if self._seq >= _MAX_SEQUENCE else self._seq + 1
        return self._seq

    def send_delivery(self, item: Outgoing, now: float) -> None:
        """Queue a deliver_sm and keep it pending until its deliver_sm_resp."""
        seq = self.next_sequence()
        item.attempts += 1
        self.pending[seq] = (item, now)
        self.out.append(item.wire(seq))
        if self.bind is not None:
            self.bind.delivers_sent += 1
        self.smsc.mark_dirty(self)

    def send_pdu(self, pdu: Pdu) -> None:
        """Queue an encoded PDU (its sequence number as given)."""
        self.out.append(encode(pdu))
        self.smsc.mark_dirty(self)

    def nack(self, sequence_number: int, status: int) -> None:
        """Queue generic_nack with `status` for the request numbered `sequence_number`."""
        self.out.append(encode(GenericNack(sequence_number, status)))
        self.smsc.record.generic_nacks_sent += 1
        if self.bind is not None:
            self.bind.generic_nacks_sent += 1
        self.smsc.mark_dirty(self)

    def flush(self) -> None:
        """Write everything queued in one call; close afterwards if asked to."""
        transport = self.transport
        if transport is None or self.closed:
            self.out.clear()
            return
        if self.out:
            data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
            self.out.clear()
            transport.write(data)
        if self.closing:
            transport.close()

    def close(self) -> None:
        """Close after writing what is queued."""
        if self.transport is not None and not self.closed:
            self.flush()
            self.transport.close()

    def drop(self) -> None:
        """Cut the connection as a broken link would (no unbind, unsent data lost)."""
        if self.transport is not None and not self.closed:
            self.out.clear()
            self.transport.abort()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """A timer that dies with the connection."""
        loop = self.smsc.loop
        if len(self._timers) > 8:  # forget the ones that already fired
            now = loop.time()
            self._timers = [t for t in self._timers if t.when() > now]
        self._timers.append(loop.call_later(delay, callback))

    # --- receiving --------------------------------------------------------------------------

    def _handle_frame(self, frame: bytes, now: float) -> None:
        _, command_id, status, seq = HEADER.unpack_from(frame)
        if command_id == _DELIVER_SM_RESP and seq in self.pending:
            # The answer to a receipt or MO, half of all traffic: its header says it all.
            self.smsc.on_delivery_answered(self, self.pending.pop(seq)[0], status, now)
            return
        try:
            pdu = decode(frame)
        except PduDecodeError as exc:
            self.nack(exc.sequence_number or 0, exc.command_status)
            return
        handler = self._dispatch.get(type(pdu))
        if handler is not None:
            handler(pdu, now)
        elif not pdu.is_response:
            self.nack(pdu.sequence_number, CommandStatus.ESME_RINVCMDID)

    def _on_submit(self, pdu: Pdu, now: float) -> None:
        assert isinstance(pdu, SubmitSm)
        self.smsc.on_submit(self, pdu, now)

    def _on_bind(self, pdu: Pdu, now: float) -> None:
        assert isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver)
        self.smsc.on_bind(self, pdu, now)

    def _on_deliver_resp(self, pdu: Pdu, now: float) -> None:
        entry = self.pending.pop(pdu.sequence_number, None)
        if entry is not None:
            self.smsc.on_delivery_answered(self, entry[0], pdu.command_status, now)

    def _on_generic_nack(self, pdu: Pdu, now: float) -> None:
        entry = self.pending.pop(pdu.sequence_number, None)
        if entry is not None:
            status = pdu.command_status or CommandStatus.ESME_RUNKNOWNERR
            self.smsc.on_delivery_answered(self, entry[0], status, now)

    def _on_enquire_link(self, pdu: Pdu, now: float) -> None:
        self.out.append(encode(EnquireLinkResp(pdu.sequence_number)))
        self.smsc.record.enquire_links += 1
        if self.bind is not None:
            self.bind.enquire_links += 1

    def _on_unbind(self, pdu: Pdu, now: float) -> None:
        self.out.append(encode(UnbindResp(pdu.sequence_number)))
        self.smsc.on_unbind(self, now)
        self.closing = True

    def _on_unbind_resp(self, pdu: Pdu, now: float) -> None:
        self.closing = True


def _ignore(pdu: Pdu, now: float) -> None:
    """Responses the SMSC has nothing to do with."""
