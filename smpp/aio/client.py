"""`SmppClient`: one TCP connection driving one sans-I/O `EsmeSession`.

Everything goes through one funnel, `_pump` (aioquic's `transmit`): after bytes arrive, a
timer fires or the owner asks for something, the client dispatches the session's events to
its listener, writes what the session has to send in one `transport.write`, and re-arms its
one timer (`loop.call_at`). Submits made while events are dispatched (the pool refills the
window as responses come in) ride in that same write; submits made from elsewhere are
coalesced by one `call_soon` per loop iteration, and written every `WRITE_BATCH` when many
come in a row. No task is created per PDU.

The timer is re-armed only when the session wants the clock earlier than already armed: a
timer that fires early just calls `handle_timer`, which finds nothing due and is re-armed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, cast

from smpp.core.events import (
    AlertReceived,
    BindFailed,
    Bound,
    Closed,
    CloseReason,
    DeliverReceived,
    LateResponse,
    LinkDead,
    OutbindReceived,
    ProtocolError,
    ResponseTimeout,
    SubmitResponse,
    ThrottleLifted,
    Unbound,
)
from smpp.core.pdu import SubmitSm
from smpp.core.session import EsmeSession
from smpp.core.status import status_name

log = logging.getLogger("smpp.aio.client")


class ClientListener(Protocol):
    """Who hears a client's events (the pool's bind slot). Calls never block."""

    def on_bound(self, client: SmppClient, event: Bound) -> None: ...
    def on_bind_failed(self, client: SmppClient, event: BindFailed) -> None: ...
    def on_submit_response(self, client: SmppClient, event: SubmitResponse) -> None: ...
    def on_response_timeout(self, client: SmppClient, event: ResponseTimeout) -> None: ...
    def on_late_response(self, client: SmppClient, event: LateResponse) -> None: ...
    def on_deliver(self, client: SmppClient, event: DeliverReceived) -> None: ...
    def on_throttle_lifted(self, client: SmppClient, event: ThrottleLifted) -> None: ...
    def on_closed(self, client: SmppClient, reason: str, in_flight: tuple[object, ...]) -> None:
        ...


WRITE_BATCH = 32
"""Submits made outside a pump are written at the latest every this many, so that a long run
of them (a dispatcher refilling a whole window) reaches the SMSC while the rest are encoded."""

UNBOUND = "unbound"
UNBOUND_BY_CLOSE = "closed after unbind"

_REASONS = {
    CloseReason.UNBOUND: UNBOUND,
    CloseReason.UNBIND_TIMEOUT: "unbind not answered",
    CloseReason.PEER_UNBOUND: "unbind from SMSC",
    CloseReason.BIND_FAILED: "bind refused",
    CloseReason.LINK_DEAD: "link dead",
    CloseReason.EOF: "connection closed by SMSC",
    CloseReason.PROTOCOL_ERROR: "protocol error",
}


class SmppClient(asyncio.Protocol):
    """One connection ↔ one session. Build it, hand it to `loop.create_connection`.

    `closed` resolves with a short reason once the connection is gone; the listener's
    `on_closed` is called exactly once before that, with the refs whose outcome is unknown.
    """

    def __init__(
        self,
        session: EsmeSession,
        listener: ClientListener,
        loop: asyncio.AbstractEventLoop,
        name: str = "",
    ) -> None:
        self.session = session
        self.listener = listener
        self.name = name
        self.loop = loop
        self.closed: asyncio.Future[str] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._flush_pending = False
        self._ended = False
        self._in_pump = False
        self._unwritten = 0
        self._unbinding = False
        self._close_reason = ""
        self._dispatch: dict[type, Callable[[SmppClient, Any], None]] = {
            SubmitResponse: listener.on_submit_response,
            DeliverReceived: listener.on_deliver,
            ResponseTimeout: listener.on_response_timeout,
            LateResponse: listener.on_late_response,
            ThrottleLifted: listener.on_throttle_lifted,
            Bound: listener.on_bound,
            BindFailed: self._on_bind_failed,
            Closed: self._on_closed,
            LinkDead: _log_link_dead,
            Unbound: _ignore,
            ProtocolError: _log_protocol_error,
            AlertReceived: _log_alert,
            OutbindReceived: _log_outbind,
        }

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the bind at once."""
        # A stream transport by construction; uvloop's are not asyncio.Transport subclasses.
        self.transport = cast(asyncio.Transport, transport)
        self.session.bind(self.loop.time())
        self._pump()

    def data_received(self, data: bytes) -> None:
        """Feed the session, then pump."""
        self.session.receive_data(data, self.loop.time())
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the session the stream ended, report, and resolve `closed`."""
        if not self._ended:
            self.session.receive_data(b"", self.loop.time())
            self._dispatch_events()
        self._finish(self._close_reason or ("connection lost" if exc else "connection closed"))

    # --- what the owner asks ----------------------------------------------------------------

    def submit(self, pdu: SubmitSm, ref: object, now: float) -> int:
        """Hand a request to the session (its refusals propagate); written soon after."""
        seq = self.session.submit(pdu, ref, now)
        self._unwritten += 1
        if self._unwritten >= WRITE_BATCH and not self._in_pump:
            self._write()  # a long run of submits: let the SMSC start on the first ones
        else:
            self._want_flush()
        return seq

    def flush(self) -> None:
        """Write what the session has to send now, not at the next loop turn nor at the end
        of the pump under way (a paced send: the pool counted it at this moment, and a pump
        over a read of a hundred answers takes milliseconds)."""
        self._write()

    def ack_deliver(self, sequence_number: int, command_status: int) -> None:
        """Answer a deliver_sm now that the owner has handled it."""
        if self._ended:
            return
        self.session.ack_deliver(sequence_number, command_status)
        self._want_flush()

    def unbind(self) -> None:
        """Start the unbind handshake; `closed` resolves when it ends (or times out)."""
        if self._ended:
            return
        self._unbinding = True
        self.session.unbind(self.loop.time())
        self._pump()

    def abort(self, reason: str) -> None:
        """Cut the connection now (a dead link, a stop that cannot wait)."""
        self._close_reason = self._close_reason or reason
        if self.transport is not None:
            self.transport.abort()
        else:
            self._finish(reason)

    @property
    def is_open(self) -> bool:
        """True until the session ended or the connection was lost."""
        return not self._ended

    # --- the pump ---------------------------------------------------------------------------

    def _want_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._pump)

    def _write(self) -> None:
        self._unwritten = 0
        transport = self.transport
        if transport is not None and not transport.is_closing():
            data = self.session.data_to_send()
            if data:
                transport.write(data)

    def _pump(self) -> None:
        self._flush_pending = False
        self._in_pump = True
        try:
            self._dispatch_events()
        finally:
            self._in_pump = False
        transport = self.transport
        if transport is None:
            return
        self._write()
        if self._ended:
            self._cancel_timer()
            transport.close()
            return
        self._arm(self.session.get_timer())

    def _dispatch_events(self) -> None:
        next_event = self.session.next_event
        dispatch = self._dispatch
        event = next_event()
        while event is not None:
            dispatch[type(event)](self, event)
            event = next_event()

    def _arm(self, when: float | None) -> None:
        if when is None:
            return
        at = self._timer_at
        if at is not None and at <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._ended:
            return
        self.session.handle_timer(self.loop.time())
        self._pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    # --- the end ----------------------------------------------------------------------------

    def _on_bind_failed(self, _client: SmppClient, event: BindFailed) -> None:
        if event.timed_out:
            self._close_reason = self._close_reason or "bind not answered"
        self.listener.on_bind_failed(self, event)

    def _on_closed(self, _client: SmppClient, event: Closed) -> None:
        self._ended = True
        reason = _REASONS.get(event.reason, event.reason.value)
        if event.reason is CloseReason.EOF and self._unbinding:
            reason = UNBOUND_BY_CLOSE  # some SMSCs hang up instead of answering unbind
        self._close_reason = self._close_reason or reason
        self.listener.on_closed(self, self._close_reason, event.in_flight)

    def _finish(self, reason: str) -> None:
        self._cancel_timer()
        if not self._ended:
            self._ended = True
            self._close_reason = reason
            self.listener.on_closed(self, reason, ())
        if not self.closed.done():
            self.closed.set_result(self._close_reason or reason)


def _ignore(_client: SmppClient, _event: object) -> None:
    """Events the owner does not act on (the session already did)."""


# The session already acted on these; they are logged so that an SMSC sending malformed or
# unexpected PDUs, a dead link or an alert can be seen and taken up with the operator.


def _log_protocol_error(client: SmppClient, event: ProtocolError) -> None:
    log.warning(
        "bind %s: protocol error %s (seq %s): %s%s%s",
        client.name,
        status_name(event.command_status),
        event.sequence_number,
        event.detail,
        ", answered" if event.answered else "",
        ", closing" if event.fatal else "",
    )


def _log_link_dead(client: SmppClient, event: LinkDead) -> None:
    silent = client.loop.time() - event.last_received
    log.warning("bind %s: link dead, nothing heard for %.1f s", client.name, silent)


def _log_alert(client: SmppClient, event: AlertReceived) -> None:
    pdu = event.pdu
    log.info("bind %s: alert_notification for %s", client.name, pdu.source_addr)


def _log_outbind(client: SmppClient, event: OutbindReceived) -> None:
    log.info("bind %s: outbind from %s ignored", client.name, event.pdu.system_id)
