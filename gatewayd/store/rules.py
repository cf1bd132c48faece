"""The message state machine and money rules every store applies the same way.

Pure functions over statuses, shared by the SQL adapters and the in-memory fake so that the
contract suite checks one set of rules, not three. No I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from billing import ledger
from gatewayd.service.model import (
    MessageStatus,
    PartStatus,
    ReceiptOutcome,
    RefundPolicy,
)

FINAL_MESSAGE = frozenset({MessageStatus.DELIVERED, MessageStatus.FAILED})
FINAL_PART = frozenset({PartStatus.DELIVERED, PartStatus.FAILED})
ANSWERED_PART = frozenset({PartStatus.SENT, PartStatus.DELIVERED, PartStatus.FAILED})

DESC_SENT = "Message dispatched to the network provider"
DESC_DELIVERED = "Message delivered to handset"
DESC_IN_DOUBT_RESEND = "In doubt after a restart: it may have been sent; queued again"
DESC_IN_DOUBT_FAIL = "In doubt after a restart: it may have been sent; failed by policy"
REFUND_REASON = "Refund: the network never accepted the message"
_RECEIPT_PART = {
    MessageStatus.DELIVERED: PartStatus.DELIVERED,
    MessageStatus.FAILED: PartStatus.FAILED,
}


def message_status(current: MessageStatus, parts: Iterable[PartStatus]) -> MessageStatus:
    """The message's status given its parts: never moves back from a final status.

    FAILED as soon as one part failed; DELIVERED when every part is; SENT when every part has
    been accepted by the network; otherwise unchanged.
    """
    if current in FINAL_MESSAGE:
        return current
    states = list(parts)
    if any(p is PartStatus.FAILED for p in states):
        return MessageStatus.FAILED
    if states and all(p is PartStatus.DELIVERED for p in states):
        return MessageStatus.DELIVERED
    if states and all(p in (PartStatus.SENT, PartStatus.DELIVERED) for p in states):
        return MessageStatus.SENT
    return current


def part_after_receipt(
    part: PartStatus, receipt: MessageStatus
) -> tuple[PartStatus, ReceiptOutcome]:
    """A part's new status under a receipt, and what the receipt did."""
    target = _RECEIPT_PART.get(receipt)
    if part in FINAL_PART:
        return part, ReceiptOutcome.DUPLICATE if part is target else ReceiptOutcome.STALE
    if target is None:
        return part, ReceiptOutcome.STALE
    return target, ReceiptOutcome.APPLIED


def refund_due(policy: RefundPolicy, network_ids: Iterable[str | None], refunded: int) -> bool:
    """Whether a message that just failed gets its units back (`billing.ledger.refund_due`):
    the network accepted it when any part got a network message id; and only once."""
    if refunded:
        return False
    accepted = any(i is not None for i in network_ids)
    return ledger.refund_due(policy, network_accepted=accepted)


def wants_callback(status: MessageStatus, url: str | None, on_sent: bool) -> bool:
    """A callback row is written for final statuses, and for SENT when the message asked."""
    if not url:
        return False
    return status in FINAL_MESSAGE or (on_sent and status is MessageStatus.SENT)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime: how SQLite keeps times (sortable)."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: times must be timezone-aware")
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)  # half the cost of fromtimestamp + replace


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(created_at: datetime, message_id: str) -> str:
    """An opaque listing cursor: the (created_at, id) of the last row of a page."""
    raw = f"{to_us(created_at)}|{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """ValueError when the cursor was not made by `encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        us, message_id = raw.split("|", 1)
        return from_us(int(us)), message_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
