"""EsmeSession: the ESME side of one SMPP 3.4 connection, without I/O.

Bytes and ``now`` go in, events and bytes come out, and the session says when it next needs
the clock (aioquic's shape; h11's pull API). It never reads a clock, never touches a socket.

Driving it (the asyncio client is exactly this loop)::

    s = EsmeSession(SessionConfig(system_id="acme", password="secret", window=50), bucket)
    s.bind(now)                          # queue bind_transceiver (or _transmitter/_receiver)
    # after EVERY input below: write s.data_to_send(), handle every s.next_event(),
    # and arm one timer at s.get_timer() that calls s.handle_timer(now).
    s.receive_data(chunk, now)           # bytes from the socket; b"" when it closed
    s.handle_timer(now)                  # the timer fired
    seq = s.submit(pdu, ref, now)        # SubmitSm | DataSm | QuerySm; returns the sequence no.
    s.ack_deliver(seq, status)           # answer a DeliverReceived once it is stored
    s.unbind(now)                        # polite close; wait for Closed

Inputs
    ``bind(now)``: queue the bind PDU of ``config.bind_mode``; state OPEN -> BINDING. A bind_resp
    with ESME_ROK gives `Bound`; an error or no answer within ``bind_timeout`` gives
    `BindFailed` then `Closed(BIND_FAILED)` (reconnect to try again; ESME_RALYBND means the SMSC
    still holds an old bind: wait before retrying).

    ``submit(pdu, ref, now) -> int``: number the PDU (1..0x7FFFFFFF, wrapping, never 0, never a
    number still in flight), queue it, track it in the window with deadline
    ``now + response_timeout``, take one token from the bucket, return the sequence number.
    Raises `NotBound` (not bound as transmitter/transceiver), `WindowFull`, `Throttled`
    (throttle pause or no token; ``.until`` says when to try), `PduEncodeError` (the PDU cannot
    be encoded; nothing is queued). Check `can_submit(now)` / `next_submit_time(now)` first.
    The ``sequence_number`` inside ``pdu`` is ignored; ``ref`` is anything, returned in events.

    ``receive_data(data, now)``: feed bytes (any chunking). ``b""`` is end of stream. Never
    raises: malformed input is answered with generic_nack and reported as `ProtocolError`; a
    broken stream (bad command_length) also closes the session. A response to a request in
    the window whose body does not decode is settled by its header's command_status (ESME_ROK:
    accepted with an empty message id), after the `ProtocolError`.

    ``handle_timer(now)``: call at (or after) ``get_timer()``. Response timeouts, the bind and
    unbind deadlines, enquire_link sending, the dead-link verdict and the end of a throttle
    pause happen here.

    ``ack_deliver(sequence_number, command_status=0)``: queue deliver_sm_resp (or data_sm_resp)
    for a `DeliverReceived`. Nothing acknowledges a deliver_sm but this call. Raises
    `SessionError` for a number with no pending deliver; does nothing once CLOSED.

    ``unbind(now)``: queue unbind; state -> UNBINDING. Responses still arriving are reported.
    unbind_resp gives `Unbound(by_peer=False)` then `Closed(UNBOUND)`; no answer within
    ``unbind_timeout`` gives `Closed(UNBIND_TIMEOUT)`. Before the bind completed: `Closed` now.

Outputs
    ``data_to_send() -> bytes``: everything queued since the last call (b"" when nothing).
    ``next_event() -> Event | None``: the next event (see `smpp.core.events`), None when none.
    ``get_timer() -> float | None``: when to call ``handle_timer``; None once CLOSED.

Queries (for the bind pool)
    ``state`` (`SessionState`), ``is_bound``, ``closed``, ``in_flight`` (requests awaiting a
    response), ``window_free``, ``can_submit(now)``, ``next_submit_time(now)`` (earliest time
    a submit could pass, None while not bound or the window is full: that waits for a
    response event), ``throttled_until`` (end of the current or last throttle pause, None if
    never throttled), ``pending_delivers``.

What the session does by itself
    Answers enquire_link (enquire_link_resp), unbind (unbind_resp, then Closed(PEER_UNBOUND)),
    and any request it does not serve (generic_nack ESME_RINVCMDID). Matches a generic_nack to
    the pending request with its sequence number. Sends enquire_link when nothing has been
    received for ``enquire_link_interval``; an enquire_link unanswered within
    ``min(response_timeout, enquire_link_interval)`` declares the link dead (`LinkDead`, then
    `Closed(LINK_DEAD)`): a dead link is found within two intervals of the last PDU received.
    On ESME_RTHROTTLED / ESME_RMSGQFUL (any status classed THROTTLE, see ``status_overrides``)
    it pauses submits with a growing, then recovering, back-off (`throttle.Backoff`) and
    reports the `SubmitResponse` with the ref so the caller sends the same PDU again.

Events carry refs, never PDUs to resend: the caller owns its PDUs. When the session closes,
`Closed.in_flight` lists the refs whose outcome is unknown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from smpp.core._codegen import make_builder
from smpp.core.codec import (
    DEFAULT_MAX_PDU_SIZE,
    MAX_SEQUENCE,
    Framer,
    PduDecodeError,
    decode,
    encode,
)
from smpp.core.events import (
    AlertReceived,
    BindFailed,
    BindMode,
    Bound,
    Closed,
    CloseReason,
    DeliverReceived,
    Event,
    LateResponse,
    LinkDead,
    OutbindReceived,
    ProtocolError,
    ResponseTimeout,
    SubmitResponse,
    ThrottleLifted,
    Unbound,
)
from smpp.core.pdu import (
    RESPONSE_BIT,
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnknownPdu,
)
from smpp.core.status import CommandStatus, StatusClass, status_class, status_name
from smpp.core.throttle import Backoff, TokenBucket
from smpp.core.tlv import Tag, TlvValueError, read_int
from smpp.core.window import Window

# --- configuration, states, local errors ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything a session needs to know; times in seconds."""

    system_id: str
    password: str
    system_type: str = ""
    bind_mode: BindMode = BindMode.TRANSCEIVER
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    window: int = 10
    response_timeout: float = 30.0
    bind_timeout: float = 10.0
    unbind_timeout: float = 5.0
    enquire_link_interval: float = 30.0
    tps: float | None = None  # per-bind token bucket when no shared bucket is given
    burst: float = 1.0
    backoff_initial: float = 1.0
    backoff_maximum: float = 16.0
    backoff_factor: float = 2.0
    backoff_recovery: float = 30.0
    max_pdu_size: int = DEFAULT_MAX_PDU_SIZE
    status_overrides: Mapping[int, StatusClass] = field(
        default_factory=lambda: MappingProxyType({})
    )
    late_memory: int = 1024  # timed-out requests remembered to report a LateResponse

    def __post_init__(self) -> None:
        for name in ("response_timeout", "bind_timeout", "unbind_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SessionConfig.{name} must be positive")
        if not self.enquire_link_interval > 0:
            raise ValueError("SessionConfig.enquire_link_interval must be positive")
        if self.window < 1:
            raise ValueError("SessionConfig.window must be at least 1")


class SessionState(Enum):
    """Where the session is (SMPP 3.4 §2.2 session states, ESME side)."""

    OPEN = "open"  # connected, not bound
    BINDING = "binding"  # bind sent
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"  # unbind sent
    CLOSED = "closed"


class SessionError(Exception):
    """The caller used the session wrongly (a local error, never the SMSC's fault)."""


class NotBound(SessionError):
    """submit while not bound as transmitter or transceiver."""


class WindowFull(SessionError):
    """submit with `window` requests already in flight."""


class Throttled(SessionError):
    """submit during a throttle pause or without a token; retry at ``until``."""

    def __init__(self, message: str, until: float) -> None:
        super().__init__(message)
        self.until = until


_BIND_PDU: Mapping[BindMode, type[BindTransmitter | BindReceiver | BindTransceiver]] = {
    BindMode.TRANSMITTER: BindTransmitter,
    BindMode.RECEIVER: BindReceiver,
    BindMode.TRANSCEIVER: BindTransceiver,
}
_BOUND_STATE = {
    BindMode.TRANSMITTER: SessionState.BOUND_TX,
    BindMode.RECEIVER: SessionState.BOUND_RX,
    BindMode.TRANSCEIVER: SessionState.BOUND_TRX,
}
_BOUND = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})
_CAN_SUBMIT = frozenset({SessionState.BOUND_TX, SessionState.BOUND_TRX})
_CAN_RECEIVE = frozenset({SessionState.BOUND_RX, SessionState.BOUND_TRX, SessionState.UNBINDING})
_SUBMITTABLE = (SubmitSm, DataSm, QuerySm)
_OK, _THROTTLE = StatusClass.OK, StatusClass.THROTTLE
_submit_response = make_builder(SubmitResponse)  # the hot event, built without __setattr__
_INF = float("inf")


class _Control(Enum):
    """Requests of ours that are not in the window."""

    BIND = "bind"
    ENQUIRE_LINK = "enquire_link"
    UNBIND = "unbind"


# --- the session ----------------------------------------------------------------------------


class EsmeSession:
    """One SMPP connection, ESME side. See the module docstring for the whole contract."""

    def __init__(
        self,
        config: SessionConfig,
        bucket: TokenBucket | None = None,
        *,
        initial_sequence: int = 1,
    ) -> None:
        if not 1 <= initial_sequence <= MAX_SEQUENCE:
            raise ValueError(f"initial_sequence must be 1..{MAX_SEQUENCE}")
        self.config = config
        if bucket is None and config.tps is not None:
            bucket = TokenBucket(config.tps, config.burst)
        self._bucket = bucket
        self._state = SessionState.OPEN
        self._bound = False  # state in _BOUND, kept as a flag: Enum hashing is slow
        self._submitting = False  # state in _CAN_SUBMIT
        self._receiving = False  # state in _CAN_RECEIVE
        self._framer = Framer(config.max_pdu_size)
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._window = Window(config.window)
        self._next_seq = initial_sequence
        self._control: dict[int, _Control] = {}
        self._late: dict[int, object] = {}
        self._delivers: dict[int, type[DeliverSmResp | DataSmResp]] = {}
        self._backoff = Backoff(
            config.backoff_initial,
            config.backoff_maximum,
            config.backoff_factor,
            config.backoff_recovery,
        )
        self._pause_reported = True  # no ThrottleLifted owed
        self._bind_deadline = _INF
        self._unbind_deadline = _INF
        self._enquire_deadline: float | None = None  # set while an enquire_link is pending
        self._last_received = 0.0
        self._overrides = config.status_overrides or None
        self._response_timeout = config.response_timeout
        self._handlers = self._handler_table()

    # --- queries ----------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current state."""
        return self._state

    @property
    def is_bound(self) -> bool:
        """Bound in any mode (and not unbinding)."""
        return self._bound

    @property
    def closed(self) -> bool:
        """The session is over."""
        return self._state is SessionState.CLOSED

    @property
    def in_flight(self) -> int:
        """Submitted requests awaiting a response."""
        return len(self._window)

    @property
    def window_free(self) -> int:
        """Requests that could be added to the window now."""
        return self._window.free

    @property
    def throttled_until(self) -> float | None:
        """End of the current (or last) throttle pause; None if never throttled."""
        until = self._backoff.until
        return None if until == -_INF else until

    @property
    def pending_delivers(self) -> int:
        """deliver_sm / data_sm received and not yet acknowledged."""
        return len(self._delivers)

    def can_submit(self, now: float) -> bool:
        """True when `submit` would succeed at `now` (bound, room, no pause, a token)."""
        if not self._submitting or self._window.full or self._backoff.active(now):
            return False
        bucket = self._bucket
        return bucket is None or bucket.next_available(now) <= now

    def next_submit_time(self, now: float) -> float | None:
        """The earliest time >= now a submit could pass; None while not bound as transmitter
        or the window is full (then wait for the next event)."""
        if not self._submitting or self._window.full:
            return None
        at = max(now, self._backoff.until)
        if self._bucket is not None:
            at = max(at, self._bucket.next_available(at))
        return at

    # --- outputs ----------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes queued for the SMSC since the last call."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def next_event(self) -> Event | None:
        """The next event, None when there is none."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When `handle_timer` must next be called; None once closed."""
        state = self._state
        if state is SessionState.CLOSED:
            return None
        at = self._window.next_deadline()
        t = _INF if at is None else at
        if state is SessionState.BINDING:
            t = min(t, self._bind_deadline)
        elif state is SessionState.UNBINDING:
            t = min(t, self._unbind_deadline)
        if self._bound:
            enquire = self._enquire_deadline
            if enquire is None:
                enquire = self._last_received + self.config.enquire_link_interval
            t = min(t, enquire)
        if not self._pause_reported:
            t = min(t, self._backoff.until)
        return None if t == _INF else t

    # --- inputs -----------------------------------------------------------------------------

    def bind(self, now: float) -> None:
        """Queue the bind PDU; OPEN -> BINDING."""
        if self._state is not SessionState.OPEN:
            raise SessionError(f"bind in state {self._state.value}; only an open session binds")
        c = self.config
        pdu = _BIND_PDU[c.bind_mode](
            system_id=c.system_id,
            password=c.password,
            system_type=c.system_type,
            interface_version=c.interface_version,
            addr_ton=c.addr_ton,
            addr_npi=c.addr_npi,
            address_range=c.address_range,
        )
        seq = self._allocate()
        self._out.append(encode(pdu, seq))
        self._control[seq] = _Control.BIND
        self._set_state(SessionState.BINDING)
        self._bind_deadline = now + c.bind_timeout
        self._last_received = now

    def submit(self, pdu: SubmitSm | DataSm | QuerySm, ref: object, now: float) -> int:
        """Number, queue and track `pdu`; returns its sequence number (see module doc)."""
        if not self._submitting:
            raise NotBound(f"submit in state {self._state.value}")
        window = self._window
        if len(window) >= window.size:
            raise WindowFull(f"{window.size} requests already in flight")
        if now < self._backoff.until:
            until = self._backoff.until
            raise Throttled(f"throttle pause until {until:.3f}", until)
        if not isinstance(pdu, _SUBMITTABLE):
            raise SessionError(f"submit takes SubmitSm, DataSm or QuerySm, not {type(pdu)}")
        seq = self._allocate()
        data = encode(pdu, seq)
        bucket = self._bucket
        if bucket is not None and not bucket.take(now):
            until = bucket.next_available(now)
            raise Throttled(f"no token before {until:.3f}", until)
        self._out.append(data)
        window.add(seq, ref, now + self._response_timeout)
        return seq

    def ack_deliver(self, sequence_number: int, command_status: int = 0) -> None:
        """Acknowledge a `DeliverReceived` (deliver_sm_resp or data_sm_resp)."""
        if self._state is SessionState.CLOSED:
            return
        resp = self._delivers.pop(sequence_number, None)
        if resp is None:
            raise SessionError(f"no deliver_sm or data_sm pending as {sequence_number}")
        self._send(resp(sequence_number=sequence_number, command_status=command_status))

    def unbind(self, now: float) -> None:
        """Start a polite close (see module doc)."""
        state = self._state
        if self._bound:
            seq = self._allocate()
            self._out.append(encode(Unbind(), seq))
            self._control[seq] = _Control.UNBIND
            self._set_state(SessionState.UNBINDING)
            self._unbind_deadline = now + self.config.unbind_timeout
        elif state is SessionState.OPEN or state is SessionState.BINDING:
            self._close(CloseReason.UNBOUND)

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the SMSC; b"" means the connection ended. Never raises."""
        if self._state is SessionState.CLOSED:
            return
        if not data:
            self._close(CloseReason.EOF)
            return
        try:
            for frame in self._framer.feed(data):
                self._last_received = now
                self._on_frame(frame, now)
                if self.closed:  # unbind from the SMSC, or a fatal error: ignore the rest
                    return
        except PduDecodeError as err:
            self._on_broken_stream(err)

    def handle_timer(self, now: float) -> None:
        """Act on every deadline due at `now`."""
        state = self._state
        if state is SessionState.CLOSED:
            return
        if state is SessionState.BINDING and now >= self._bind_deadline:
            self._bind_failed(CommandStatus.ESME_RBINDFAIL, timed_out=True)
            return
        if state is SessionState.UNBINDING and now >= self._unbind_deadline:
            self._close(CloseReason.UNBIND_TIMEOUT)
            return
        self._expire_requests(now)
        if not self._pause_reported and now >= self._backoff.until:
            self._pause_reported = True
            self._events.append(ThrottleLifted(self._backoff.until))
        if self._bound:
            self._check_link(now)

    # --- internals: output ------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        self._state = state
        self._bound = state in _BOUND
        self._submitting = state in _CAN_SUBMIT
        self._receiving = state in _CAN_RECEIVE and not (
            state is SessionState.UNBINDING and self.config.bind_mode is BindMode.TRANSMITTER
        )

    def _send(self, pdu: Pdu) -> None:
        self._out.append(encode(pdu))

    def _allocate(self) -> int:
        """The next free sequence number: 1..0x7FFFFFFF, wrapping, skipping numbers in flight
        (and timed-out ones still remembered, so a late response cannot be misattributed)."""
        seq = self._next_seq
        window, control, late = self._window, self._control, self._late
        while seq in window or seq in control or seq in late:
            seq = seq + 1 if seq < MAX_SEQUENCE else 1
        self._next_seq = seq + 1 if seq < MAX_SEQUENCE else 1
        return seq

    # --- internals: timers ------------------------------------------------------------------

    def _expire_requests(self, now: float) -> None:
        expired = self._window.expire(now)
        if not expired:
            return
        late = self._late
        for seq, ref in expired:
            late[seq] = ref
            self._events.append(ResponseTimeout(ref, seq))
        while len(late) > self.config.late_memory:
            del late[next(iter(late))]

    def _check_link(self, now: float) -> None:
        deadline = self._enquire_deadline
        if deadline is not None:
            if now >= deadline:
                self._events.append(LinkDead(self._last_received))
                self._close(CloseReason.LINK_DEAD)
            return
        interval = self.config.enquire_link_interval
        if now >= self._last_received + interval:
            seq = self._allocate()
            self._out.append(encode(EnquireLink(), seq))
            self._control[seq] = _Control.ENQUIRE_LINK
            self._enquire_deadline = now + min(self._response_timeout, interval)

    # --- internals: input -------------------------------------------------------------------

    def _handler_table(self) -> dict[type[Pdu], Callable[[Pdu, float], None]]:
        submit_resp = self._on_submit_resp
        bind_resp = self._on_bind_resp
        deliver = self._on_deliver
        table: dict[type[Pdu], Callable[[Pdu, float], None]] = {
            SubmitSmResp: submit_resp,
            DataSmResp: submit_resp,
            QuerySmResp: submit_resp,
            GenericNack: self._on_generic_nack,
            BindTransmitterResp: bind_resp,
            BindReceiverResp: bind_resp,
            BindTransceiverResp: bind_resp,
            EnquireLinkResp: self._on_enquire_link_resp,
            UnbindResp: self._on_unbind_resp,
            EnquireLink: self._on_enquire_link,
            Unbind: self._on_unbind,
            DeliverSm: deliver,
            DataSm: deliver,
            AlertNotification: self._on_alert,
            Outbind: self._on_outbind,
        }
        return table

    def _on_frame(self, frame: bytes, now: float) -> None:
        try:
            pdu = decode(frame)
        except PduDecodeError as err:
            self._on_malformed(err, frame, now)
            return
        handler = self._handlers.get(type(pdu))
        if handler is not None:
            handler(pdu, now)
        else:
            self._on_unserved(pdu)

    def _on_malformed(self, err: PduDecodeError, frame: bytes, now: float) -> None:
        """A frame that does not decode: nack a request; settle a response by its header."""
        cid = err.command_id
        answered = cid is not None and not cid & RESPONSE_BIT
        if answered:
            self._send(
                GenericNack(
                    sequence_number=err.sequence_number or 0, command_status=err.command_status
                )
            )
        self._events.append(
            ProtocolError(err.command_status, err.sequence_number, str(err), answered, False)
        )
        stand_in = _RESP_STAND_INS.get(cid) if cid is not None else None
        seq = err.sequence_number
        if stand_in is not None and seq is not None and (seq in self._window or seq in self._late):
            self._settle_unreadable(stand_in, seq, frame, now)

    def _settle_unreadable(
        self, stand_in: type[Pdu], seq: int, frame: bytes, now: float
    ) -> None:
        """Answer a request whose response has a readable header and a broken body, by the
        header's command_status: ESME_ROK is an acceptance with an empty message id (the
        SMSC holds the message; waiting for a timeout would send it a second time), any
        other status is that refusal."""
        status = int.from_bytes(frame[8:12], "big")
        self._on_submit_resp(stand_in(sequence_number=seq, command_status=status), now)

    def _on_broken_stream(self, err: PduDecodeError) -> None:
        answered = err.sequence_number is not None
        if answered:
            self._send(
                GenericNack(
                    sequence_number=err.sequence_number or 0, command_status=err.command_status
                )
            )
        self._events.append(
            ProtocolError(err.command_status, err.sequence_number, str(err), answered, True)
        )
        self._close(CloseReason.PROTOCOL_ERROR)

    def _on_unserved(self, pdu: Pdu) -> None:
        """A request we do not serve gets generic_nack ESME_RINVCMDID; an unexpected response
        is reported."""
        seq = pdu.sequence_number
        if pdu.is_response:
            self._unexpected(pdu, "response to nothing we sent")
            return
        status = CommandStatus.ESME_RINVCMDID
        self._send(GenericNack(sequence_number=seq, command_status=status))
        cid = pdu.raw_command_id if isinstance(pdu, UnknownPdu) else pdu.command_id
        self._events.append(
            ProtocolError(status, seq, f"command_id 0x{cid:08X} is not served", True, False)
        )

    def _unexpected(self, pdu: Pdu, why: str) -> None:
        self._events.append(
            ProtocolError(
                pdu.command_status,
                pdu.sequence_number,
                f"{type(pdu).__name__} {pdu.sequence_number}: {why}",
                False,
                False,
            )
        )

    def _on_submit_resp(self, pdu: Pdu, now: float) -> None:
        seq = pdu.sequence_number
        entry = self._window.pop(seq)
        status = pdu.command_status
        cls = _OK if status == 0 else status_class(status, self._overrides)
        message_id: str = getattr(pdu, "message_id", "")
        if entry is None:
            ref = self._late.pop(seq, _MISSING)
            if ref is _MISSING:
                self._unexpected(pdu, "no request in flight with this number")
            else:
                self._events.append(LateResponse(ref, seq, status, cls, message_id, pdu))
            return
        if cls is _THROTTLE:
            self._throttle(now)
        self._events.append(_submit_response(entry[0], seq, status, cls, message_id, pdu))

    def _throttle(self, now: float) -> None:
        self._backoff.trip(now)
        self._pause_reported = False

    def _on_generic_nack(self, pdu: Pdu, now: float) -> None:
        seq = pdu.sequence_number
        if seq in self._window or seq in self._late:
            self._on_submit_resp(pdu, now)
            return
        kind = self._control.pop(seq, None)
        if kind is _Control.BIND and self._state is SessionState.BINDING:
            self._bind_failed(pdu.command_status, timed_out=False)
        elif kind is _Control.ENQUIRE_LINK:
            self._enquire_deadline = None  # the SMSC answered: the link is alive
        elif kind is _Control.UNBIND:
            self._unbound(by_peer=False)
        else:
            self._unexpected(pdu, f"generic_nack {status_name(pdu.command_status)} unmatched")

    def _on_bind_resp(self, pdu: Pdu, now: float) -> None:
        seq = pdu.sequence_number
        if self._control.get(seq) is not _Control.BIND or self._state is not SessionState.BINDING:
            self._unexpected(pdu, "bind response without a bind pending")
            return
        del self._control[seq]
        if pdu.command_status:
            self._bind_failed(pdu.command_status, timed_out=False)
            return
        mode = self.config.bind_mode
        self._set_state(_BOUND_STATE[mode])
        try:
            version = read_int(pdu.tlvs, Tag.SC_INTERFACE_VERSION)
        except TlvValueError:
            version = None
        self._events.append(Bound(mode, getattr(pdu, "system_id", ""), version))

    def _bind_failed(self, status: int, *, timed_out: bool) -> None:
        self._events.append(BindFailed(status, status_name(status), timed_out))
        self._close(CloseReason.BIND_FAILED)

    def _on_enquire_link_resp(self, pdu: Pdu, now: float) -> None:
        if self._control.pop(pdu.sequence_number, None) is _Control.ENQUIRE_LINK:
            self._enquire_deadline = None
        else:
            self._unexpected(pdu, "enquire_link_resp without an enquire_link pending")

    def _on_unbind_resp(self, pdu: Pdu, now: float) -> None:
        if self._control.pop(pdu.sequence_number, None) is _Control.UNBIND:
            self._unbound(by_peer=False)
        else:
            self._unexpected(pdu, "unbind_resp without an unbind pending")

    def _on_enquire_link(self, pdu: Pdu, now: float) -> None:
        self._send(EnquireLinkResp(sequence_number=pdu.sequence_number))

    def _on_unbind(self, pdu: Pdu, now: float) -> None:
        self._send(UnbindResp(sequence_number=pdu.sequence_number))
        self._unbound(by_peer=True)

    def _unbound(self, *, by_peer: bool) -> None:
        self._events.append(Unbound(by_peer))
        self._close(CloseReason.PEER_UNBOUND if by_peer else CloseReason.UNBOUND)

    def _on_deliver(self, pdu: Pdu, now: float) -> None:
        assert isinstance(pdu, DeliverSm | DataSm)
        seq = pdu.sequence_number
        resp = DeliverSmResp if isinstance(pdu, DeliverSm) else DataSmResp
        if not self._receiving:
            status = CommandStatus.ESME_RINVBNDSTS
            self._send(resp(sequence_number=seq, command_status=status))
            self._events.append(
                ProtocolError(status, seq, f"deliver in state {self._state.value}", True, False)
            )
            return
        self._delivers[seq] = resp
        self._events.append(DeliverReceived(seq, pdu))

    def _on_alert(self, pdu: Pdu, now: float) -> None:
        assert isinstance(pdu, AlertNotification)
        self._events.append(AlertReceived(pdu))

    def _on_outbind(self, pdu: Pdu, now: float) -> None:
        assert isinstance(pdu, Outbind)
        self._events.append(OutbindReceived(pdu))

    def _close(self, reason: CloseReason) -> None:
        if self._state is SessionState.CLOSED:
            return
        self._set_state(SessionState.CLOSED)
        in_flight = tuple(ref for _, ref in self._window.drain())
        self._control.clear()
        self._delivers.clear()
        self._late.clear()
        self._enquire_deadline = None
        self._events.append(Closed(reason, in_flight))


_MISSING = object()

_RESP_STAND_INS: dict[int, type[Pdu]] = {
    CommandId.SUBMIT_SM_RESP: SubmitSmResp,
    CommandId.DATA_SM_RESP: DataSmResp,
    CommandId.QUERY_SM_RESP: QuerySmResp,
}
"""What a malformed response to a windowed request is reported as (its body left empty)."""
