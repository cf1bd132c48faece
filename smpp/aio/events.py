"""What the pool tells its owner: part results, bind state changes, inbound deliver_sm.

All are frozen values; the daemon maps them to its store, metrics, logs and MQTT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from smpp.aio.config import BindRole
from smpp.core.pdu import DataSm, DeliverSm
from smpp.core.receipt import Receipt


class Outcome(StrEnum):
    """What became of one part. The first four are the status classes of `smpp.core.status`.

    - ``OK``: submit_sm_resp ESME_ROK; `message_id` is set.
    - ``RETRY``: still a transient error (a RETRY-class status, or no answer within the
      response timeout) after `max_attempts` sends; the daemon may try later.
    - ``THROTTLE``: still throttled after `max_throttle_retries`.
    - ``PERMANENT``: the SMSC refused the part for good (bad address, bad field ...).
    - ``NOT_SENT``: never written: an earlier part of the message failed, or the pool stopped
      first. Safe to send again.
    - ``IN_DOUBT``: written, but the pool stopped before its answer: the SMSC may hold it.
    """

    OK = "ok"
    RETRY = "retry"
    THROTTLE = "throttle"
    PERMANENT = "permanent"
    NOT_SENT = "not_sent"
    IN_DOUBT = "in_doubt"


class PartResult(NamedTuple):
    """The end of one part (one submit_sm) of a message.

    `message_key` is `message_id` normalised per the SMSC's id format (what receipts are
    matched on). `attempts` counts writes of this part; `in_doubt` is True when an earlier
    write got no answer (timeout or a dropped link), so the SMSC may hold a duplicate.

    A NamedTuple rather than a frozen dataclass: one is built per submit_sm, and building a
    frozen dataclass of ten fields costs several microseconds on the hot path.
    """

    part_index: int
    outcome: Outcome
    command_status: int | None = None
    message_id: str | None = None
    message_key: str | None = None
    bind_id: str | None = None
    attempts: int = 0
    throttled: int = 0
    in_doubt: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the SMSC accepted the part."""
        return self.outcome is Outcome.OK


class MessageResult(NamedTuple):
    """The results of every part of one message, in part order."""

    ref: Hashable | None
    parts: tuple[PartResult, ...]

    @property
    def ok(self) -> bool:
        """True when every part was accepted."""
        return all(p.outcome is Outcome.OK for p in self.parts)


class BindState(StrEnum):
    """The life of one bind slot."""

    DISCONNECTED = "disconnected"  # waiting to (re)connect
    CONNECTING = "connecting"
    BINDING = "binding"  # bind sent, waiting for its resp
    BOUND = "bound"
    UNBINDING = "unbinding"
    STOPPED = "stopped"  # the pool stopped; no reconnect


@dataclass(frozen=True, slots=True)
class BindStateChanged:
    """A bind moved from `previous` to `state`.

    `reason` says why in a few words (``bind refused``, ``link dead``, ``unbind from SMSC``);
    `command_status` is the SMSC's answer when there was one (bind_resp status);
    `retry_in` is the back-off before the next attempt when the state is DISCONNECTED.
    """

    smsc: str
    bind_id: str
    role: BindRole
    previous: BindState
    state: BindState
    at: float
    reason: str = ""
    command_status: int | None = None
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A deliver_sm (or data_sm) from the SMSC: a delivery receipt or an MO message.

    For a receipt, `receipt` is parsed (`smpp.core.receipt.parse_receipt`) and `receipt_key`
    is its message id normalised per the SMSC's id format, comparable with
    `PartResult.message_key`. `flagged_receipt` is True when esm_class marks a receipt: with
    `receipt` None, the SMSC sent a receipt we cannot read (acknowledge and count it; it is
    not a message from a subscriber). Duplicates are passed on as they come: deduplication
    belongs to the store.
    """

    smsc: str
    bind_id: str
    pdu: DeliverSm | DataSm
    receipt: Receipt | None
    receipt_key: str | None
    received_at: float
    flagged_receipt: bool = False

    @property
    def is_receipt(self) -> bool:
        """True for a delivery receipt, readable or not; False for an MO message."""
        return self.receipt is not None or self.flagged_receipt

    @property
    def unreadable_receipt(self) -> bool:
        """True for a deliver_sm flagged as a receipt whose message id could not be read."""
        return self.receipt is None and self.flagged_receipt


@dataclass(frozen=True, slots=True)
class LateAccept:
    """The SMSC accepted a part after its response timeout, when the part had already been
    written again (or given up): the SMSC holds a copy under `message_id`, whose receipt
    will come. The daemon can map that id to the same part and count the duplicate."""

    ref: Hashable | None
    part_index: int
    message_id: str
    message_key: str | None
    bind_id: str


DeliverHandler = Callable[[Inbound], Awaitable[int | None]]
"""Stores an inbound message, then returns the deliver_sm_resp status (None or 0 = ESME_ROK).
The resp is written only after it returns; an exception answers ESME_RX_T_APPN so the SMSC
delivers again later."""

BindStateHandler = Callable[[BindStateChanged], None]
"""Told of every bind state change; must not block."""


@dataclass(frozen=True, slots=True)
class PoolHandlers:
    """The daemon's callbacks (aiosmtpd's handler style)."""

    on_deliver: DeliverHandler
    on_bind_state: BindStateHandler | None = None
    on_late_accept: Callable[[LateAccept], None] | None = None
