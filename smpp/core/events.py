"""Events an `EsmeSession` reports, as frozen values (`EsmeSession.next_event()`).

``ref`` is whatever the caller passed to `EsmeSession.submit` for that request; the session
never looks inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from smpp.core.pdu import AlertNotification, DataSm, DeliverSm, Outbind, Pdu
from smpp.core.status import StatusClass


class BindMode(Enum):
    """How a session binds."""

    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"


class CloseReason(Enum):
    """Why a session reached CLOSED."""

    UNBOUND = "unbound"  # we sent unbind and got unbind_resp
    UNBIND_TIMEOUT = "unbind_timeout"  # we sent unbind, no unbind_resp in time
    PEER_UNBOUND = "peer_unbound"  # the SMSC sent unbind (we answered)
    BIND_FAILED = "bind_failed"  # bind_resp with an error, or no bind_resp in time
    LINK_DEAD = "link_dead"  # an enquire_link went unanswered
    EOF = "eof"  # the connection ended (receive_data(b""))
    PROTOCOL_ERROR = "protocol_error"  # the byte stream cannot be framed any more


@dataclass(frozen=True, slots=True)
class Bound:
    """The bind succeeded. ``system_id`` is the SMSC's; ``sc_interface_version`` is from its
    TLV when sent."""

    bind_mode: BindMode
    system_id: str
    sc_interface_version: int | None


@dataclass(frozen=True, slots=True)
class BindFailed:
    """The SMSC refused the bind (``command_status``), or did not answer (``timed_out``).
    A `Closed` event follows."""

    command_status: int
    status_name: str
    timed_out: bool


@dataclass(frozen=True, slots=True)
class SubmitResponse:
    """The answer to a submitted request (submit_sm_resp, data_sm_resp, query_sm_resp, or a
    generic_nack matched by sequence number).

    ``status_class`` says what to do: OK (done, ``message_id`` set), THROTTLE (the session has
    paused; send the same PDU again later), RETRY, PERMANENT.
    """

    ref: object
    sequence_number: int
    command_status: int
    status_class: StatusClass
    message_id: str
    pdu: Pdu

    @property
    def ok(self) -> bool:
        """True when the SMSC accepted the request."""
        return self.status_class is StatusClass.OK


@dataclass(frozen=True, slots=True)
class ResponseTimeout:
    """No response within the response timeout: the outcome is unknown (the SMSC may have
    accepted it). The request left the window."""

    ref: object
    sequence_number: int


@dataclass(frozen=True, slots=True)
class LateResponse:
    """A response for a request that had already timed out (it tells whether the SMSC
    accepted it after all, and under which message_id)."""

    ref: object
    sequence_number: int
    command_status: int
    status_class: StatusClass
    message_id: str
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class DeliverReceived:
    """A deliver_sm or data_sm from the SMSC (an MO message or a delivery receipt). It is not
    acknowledged until the caller calls `EsmeSession.ack_deliver(sequence_number, ...)`."""

    sequence_number: int
    pdu: DeliverSm | DataSm


@dataclass(frozen=True, slots=True)
class AlertReceived:
    """An alert_notification (no response is due)."""

    pdu: AlertNotification


@dataclass(frozen=True, slots=True)
class OutbindReceived:
    """The SMSC sent outbind: it asks us to bind as receiver (on this connection)."""

    pdu: Outbind


@dataclass(frozen=True, slots=True)
class ThrottleLifted:
    """The pause after a throttle error is over; submits may resume."""

    at: float


@dataclass(frozen=True, slots=True)
class LinkDead:
    """An enquire_link went unanswered; ``last_received`` is when the SMSC was last heard.
    A `Closed` event follows."""

    last_received: float


@dataclass(frozen=True, slots=True)
class Unbound:
    """The unbind handshake completed (``by_peer``: the SMSC started it). `Closed` follows."""

    by_peer: bool


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The SMSC sent something malformed or unexpected. When ``answered``, a generic_nack (or
    a response with ``command_status``) was queued; when ``fatal``, the stream cannot be
    framed any more and `Closed` follows."""

    command_status: int
    sequence_number: int | None
    detail: str
    answered: bool
    fatal: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over (close the connection once `data_to_send` is flushed).
    ``in_flight`` are the refs still awaiting a response, oldest first: their outcome is
    unknown."""

    reason: CloseReason
    in_flight: tuple[object, ...]


Event = (
    Bound
    | BindFailed
    | SubmitResponse
    | ResponseTimeout
    | LateResponse
    | DeliverReceived
    | AlertReceived
    | OutbindReceived
    | ThrottleLifted
    | LinkDead
    | Unbound
    | ProtocolError
    | Closed
)
"""Everything `EsmeSession.next_event()` can return."""
