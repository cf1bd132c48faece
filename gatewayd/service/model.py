"""Domain values shared by the use-cases, the store adapters and the HTTP API.

Plain frozen dataclasses and enums: no I/O, no clock. Times are timezone-aware UTC datetimes
handed in by the caller. Money is integer: SMS units for floats, integer cents for KES.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from billing import ledger


class SenderType(enum.StrEnum):
    """An alphanumeric sender name or a numeric short code (two-way)."""

    ALPHANUMERIC = "alphanumeric"
    SHORTCODE = "shortcode"


class CampaignType(enum.StrEnum):
    """Safaricom separates promotional and transactional sender IDs."""

    PROMOTIONAL = "promotional"
    TRANSACTIONAL = "transactional"


class SenderStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


# The money rules are billing.ledger's, defined once: every movement of a float is a
# LedgerKind; RefundPolicy says when a failed message's units go back.
LedgerKind = ledger.EntryKind
RefundPolicy = ledger.RefundPolicy


class MessageStatus(enum.StrEnum):
    """The public statuses of seed 000. A message only ever moves forward."""

    INITIATED = "INITIATED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class DispatchState(enum.StrEnum):
    """Where a message is in the outbound pipeline, below its public status.

    QUEUED: waiting for a bind. SUBMITTING: durably marked before its submit_sm is written; after a
    crash such messages are "in doubt". DONE: every part answered (or the message failed).
    """

    QUEUED = "queued"
    SUBMITTING = "submitting"
    DONE = "done"


class InDoubtPolicy(enum.StrEnum):
    """What start-up does with messages a crash left SUBMITTING (their submit_sm may be out).

    RESEND (default): re-queue them; the handset may get a duplicate. FAIL: fail them, no refund
    (the network may have accepted them). Either way each is counted in `Message.in_doubt` and
    a timeline event says so.
    """

    RESEND = "resend"
    FAIL = "fail"


class ReceiptOutcome(enum.StrEnum):
    """What a delivery receipt did, so the caller can count duplicates and strays."""

    APPLIED = "applied"  # a part reached its final state (the message may have moved)
    DUPLICATE = "duplicate"  # the part was already in that final state
    STALE = "stale"  # intermediate receipt, or the part was final with another outcome
    PARKED = "parked"  # no receipt map entry yet: kept until its submit_sm_resp lands


class CallbackState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    GIVEN_UP = "given_up"


class TopUpMethod(enum.StrEnum):
    OFFLINE = "offline"
    MPESA = "mpesa"


class TopUpStatus(enum.StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    created_at: datetime
    # Also call back when a message becomes SENT (DELIVERED and FAILED always are); copied
    # onto each message when it is accepted, so changing it leaves accepted messages alone.
    callback_on_sent: bool = False


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An OAuth client-credentials pair; only a hash of the secret is ever stored."""

    client_id: str
    account_id: str
    secret_hash: str
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SenderId:
    id: str
    account_id: str
    name: str
    operator: str  # routing.Operator value: "safaricom" | "airtel" | "telkom"
    type: SenderType
    campaign: CampaignType
    status: SenderStatus
    created_at: datetime
    # The owning account's `Account.callback_on_sent`, read with the sender ID: an accept
    # looks the sender ID up anyway, so the account's setting costs it no read of its own.
    account_callback_on_sent: bool = False


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    account_id: str
    sender_id: str
    kind: LedgerKind
    units: int  # signed: debits negative
    balance_after: int
    actor: str  # who: "api:<client_id>", "admin:<name>", "mpesa", "system"
    reason: str  # why, in words
    reference: str  # message id, top-up id, ticket …
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Package:
    id: str
    name: str
    operator: str
    rate_cents: int  # KES cents per SMS unit
    min_units: int
    active: bool


@dataclass(frozen=True, slots=True)
class TopUp:
    id: str
    account_id: str
    sender_id: str
    package_id: str
    units: int
    amount_cents: int
    method: TopUpMethod
    status: TopUpStatus
    created_at: datetime
    phone: str | None = None
    checkout_request_id: str | None = None
    merchant_request_id: str | None = None
    mpesa_receipt: str | None = None
    result_code: int | None = None
    result_desc: str | None = None
    settled_at: datetime | None = None
    settled_by: str | None = None


class PartStatus(enum.StrEnum):
    """One SMPP part's own progress; the message's status is derived from all of its parts."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MessagePart:
    message_id: str
    index: int  # 1-based
    total: int
    status: PartStatus
    smsc: str | None = None
    smsc_message_id: str | None = None  # normalised per the SMSC's id format
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What the accept use-case hands the store: stored, debited and queued in one transaction."""

    id: str
    account_id: str
    sender_id: str
    sender_name: str
    contact: str  # canonical 254XXXXXXXXX
    operator: str
    text: str
    units: int  # billed units (seed 000's table)
    parts: int  # SMPP parts it will be sent as
    encoding: str  # "gsm7" | "ucs2"
    priority: int  # 0–10, higher first
    callback_url: str | None
    client_ref: str | None
    actor: str  # who asked, for the ledger
    created_at: datetime
    scheduled_at: datetime | None = None
    description: str = "Message queued for delivery"
    callback_on_sent: bool = False  # also call back when the message becomes SENT


@dataclass(frozen=True, slots=True)
class StatusEvent:
    message_id: str
    status: MessageStatus
    description: str
    at: datetime
    part: int | None = None  # the part a receipt was about, when it was about one


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    account_id: str
    sender_id: str
    sender_name: str
    contact: str
    operator: str
    text: str
    units: int
    parts: int
    encoding: str
    priority: int
    status: MessageStatus
    description: str
    dispatch: DispatchState
    callback_url: str | None
    client_ref: str | None
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    in_doubt: int = 0  # how many times it was found submitting after a crash
    smsc: str | None = None
    timeline: tuple[StatusEvent, ...] = field(default=())
    part_list: tuple[MessagePart, ...] = field(default=())
    scheduled_at: datetime | None = None
    refunded_units: int = 0  # units given back to the float under the refund policy
    callback_on_sent: bool = False


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of a message listing, newest first; `next_cursor` fetches the next page."""

    items: tuple[Message, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ReceiptResult:
    """The outcome of `record_receipt`: what happened and, unless the receipt was parked, the
    few facts about its message that its callers use (the status as it now stands, when it
    was accepted, whether a callback may be due). `get_message` reads the whole message."""

    outcome: ReceiptOutcome
    message_id: str | None = None  # None when parked (and so are the fields below)
    status: MessageStatus | None = None  # the message's public status after the receipt
    message_changed: bool = False  # the message's public status moved
    created_at: datetime | None = None  # when the message was accepted
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackJob:
    """One row of the callback outbox: a status change to POST to the client's callback_url.

    Written in the same transaction that moved the message, so a crash never loses one. The
    payload (seed 000) is built from message_id, contact, status, description and operator.
    """

    id: int
    message_id: str
    account_id: str
    url: str
    contact: str
    operator: str
    status: MessageStatus
    description: str
    event_at: datetime
    state: CallbackState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A mobile-originated message (deliver_sm that is not a receipt)."""

    id: str
    smsc: str
    operator: str
    source: str  # the subscriber, canonical 254XXXXXXXXX when it parses
    destination: str  # the short code or sender it was sent to
    text: str
    received_at: datetime
    account_id: str | None = None  # owner of the destination sender ID, when known
    sender_id: str | None = None
    # What a repeat of the same deliver_sm is known by: for a long MO put together from its
    # parts, `workers.receipts.long_mo_repeat_key`; None for a single part (no such id).
    smsc_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class MoPart:
    """One part of a long MO message, kept until every part of it is in (InboundStore): a
    part is acknowledged to the SMSC once it is kept, so a restart between the parts loses
    nothing. `key` names its message (source, destination, concatenation reference and part
    count); `tlvs` are its optional parameters as on the wire (tag, length, value)."""

    smsc: str
    key: str
    seq: int
    total: int
    source: str
    destination: str
    data_coding: int
    esm_class: int
    short_message: bytes
    tlvs: bytes
    received_at: datetime


class OptOutSource(enum.StrEnum):
    """How a number came to be opted out."""

    KEYWORD = "keyword"  # the subscriber sent STOP (or another configured keyword)
    ADMIN = "admin"  # an operator of the gateway, e.g. on a complaint
    API = "api"  # the account, through the API


@dataclass(frozen=True, slots=True)
class OptOut:
    """A number that must get no promotional traffic from one sender ID.

    The scope is the sender ID (one row of `senders`: an account's name on one operator), as
    Safaricom's rule for promotional traffic has it: a STOP to one brand does not silence
    the account's other brands, and a subscriber is on one operator, so the sender ID of
    that operator is the one that matters.
    """

    account_id: str
    sender_id: str
    contact: str  # canonical 254XXXXXXXXX
    since: datetime
    source: OptOutSource
    reference: str = ""  # the MO message id of a STOP, an admin's note, …


@dataclass(frozen=True, slots=True)
class IdempotentResponse:
    """A stored answer to a request made with an Idempotency-Key (kept 24 hours)."""

    account_id: str
    key: str
    request_hash: str
    status_code: int
    body: bytes
    created_at: datetime


_INITIATED = MessageStatus.INITIATED  # looked up once: Enum attribute access is slow in 3.11
_QUEUED = DispatchState.QUEUED


@dataclass(frozen=True, slots=True)
class Accepted:
    """What `accept` answers: the message as written, without reading it back.

    A light value on purpose (three fields; everything else is read through to the
    `NewMessage`): accepts are the hot path, and a full `Message` costs some 20 µs to build.
    `to_message()` gives the full value when one is needed.

    `record` is the Idempotency-Key answer kept for the request: the one written with this
    message, or, when `replayed`, the one an earlier accept with the same key wrote. A replay
    wrote nothing and debited nothing; its message fields describe the request that was *not*
    stored, so a caller answers it from `record`.
    """

    message: NewMessage
    record: IdempotentResponse | None = None
    replayed: bool = False

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def account_id(self) -> str:
        return self.message.account_id

    @property
    def sender_id(self) -> str:
        return self.message.sender_id

    @property
    def sender_name(self) -> str:
        return self.message.sender_name

    @property
    def contact(self) -> str:
        return self.message.contact

    @property
    def operator(self) -> str:
        return self.message.operator

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def units(self) -> int:
        return self.message.units

    @property
    def parts(self) -> int:
        return self.message.parts

    @property
    def encoding(self) -> str:
        return self.message.encoding

    @property
    def priority(self) -> int:
        return self.message.priority

    @property
    def callback_url(self) -> str | None:
        return self.message.callback_url

    @property
    def client_ref(self) -> str | None:
        return self.message.client_ref

    @property
    def created_at(self) -> datetime:
        return self.message.created_at

    @property
    def status(self) -> MessageStatus:
        return _INITIATED

    @property
    def description(self) -> str:
        return self.message.description

    @property
    def dispatch(self) -> DispatchState:
        return _QUEUED

    def to_message(self) -> Message:
        """The stored message as `get_message` would read it back right after the accept."""
        m = self.message
        return Message(
            id=m.id, account_id=m.account_id, sender_id=m.sender_id, sender_name=m.sender_name,
            contact=m.contact, operator=m.operator, text=m.text, units=m.units, parts=m.parts,
            encoding=m.encoding, priority=m.priority, status=_INITIATED,
            description=m.description, dispatch=_QUEUED, callback_url=m.callback_url,
            client_ref=m.client_ref, created_at=m.created_at, updated_at=m.created_at,
            timeline=(StatusEvent(m.id, _INITIATED, m.description, m.created_at),),
            part_list=tuple(
                MessagePart(m.id, i, m.parts, PartStatus.PENDING) for i in range(1, m.parts + 1)
            ),
            scheduled_at=m.scheduled_at, callback_on_sent=m.callback_on_sent,
        )  # fmt: skip
