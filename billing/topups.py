"""The top-up state machine: PENDING → COMPLETED (credit once) or FAILED, never back.

M-Pesa top-ups settle on Daraja's result (callback or status query): ResultCode 0 completes and
credits, any other code fails. Offline top-ups settle when an admin approves or rejects. A
PENDING top-up with no result within the configured time fails. Whatever arrives for a top-up
that is already settled changes nothing and credits nothing; a payment reported for a top-up
that had already failed (a callback after the timeout) is flagged for review, since the money
was taken but no units were given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.mpesa import StkResult

RESULT_CODES: dict[int, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    1001: "A transaction is already in process for this subscriber.",
    1019: "Transaction has expired.",
    1025: "An error occurred while sending the push request.",
    1032: "Request cancelled by user.",
    1037: "The phone could not be reached.",
    2001: "The initiator information is invalid (wrong PIN).",
    9999: "An error occurred while sending the push request.",
}
USER_CANCELLED = 1032
TIMEOUT_REASON = "No payment confirmation before the top-up expired"


class TopUpStatus(enum.StrEnum):
    """Values match gatewayd.service.model.TopUpStatus."""

    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to do with a top-up: its status after, whether to credit now, and why.

    `changed` is False when the top-up was already settled (nothing to write). `review` is set
    when a human should look (money reported paid for a top-up that was not completed).
    """

    status: TopUpStatus
    credit: bool
    changed: bool
    reason: str
    review: str = ""


def on_stk_result(
    status: TopUpStatus, result: StkResult, *, expected_amount_cents: int | None = None
) -> Settlement:
    """Settle an M-Pesa top-up on Daraja's result for its CheckoutRequestID."""
    description = result.result_desc or RESULT_CODES.get(result.result_code, "Payment failed")
    if status is not TopUpStatus.PENDING:
        review = ""
        if result.succeeded and status is TopUpStatus.FAILED:
            review = f"payment reported after the top-up had failed: {_receipt(result)}"
        return Settlement(status, credit=False, changed=False, reason=description, review=review)
    if not result.succeeded:
        return Settlement(TopUpStatus.FAILED, credit=False, changed=True, reason=description)
    paid = result.payment.amount_cents if result.payment else None
    if expected_amount_cents is not None and paid is not None and paid < expected_amount_cents:
        reason = f"paid {paid} cents, expected {expected_amount_cents} cents"
        return Settlement(
            TopUpStatus.FAILED, credit=False, changed=True, reason=reason, review=reason
        )
    return Settlement(TopUpStatus.COMPLETED, credit=True, changed=True, reason=description)


def on_approve(status: TopUpStatus) -> Settlement:
    """An admin approved an offline top-up: credit it, once."""
    if status is not TopUpStatus.PENDING:
        return Settlement(status, credit=False, changed=False, reason=f"already {status.value}")
    return Settlement(TopUpStatus.COMPLETED, credit=True, changed=True, reason="Approved")


def on_reject(status: TopUpStatus, reason: str = "Rejected") -> Settlement:
    """An admin rejected an offline top-up."""
    if status is not TopUpStatus.PENDING:
        return Settlement(status, credit=False, changed=False, reason=f"already {status.value}")
    return Settlement(TopUpStatus.FAILED, credit=False, changed=True, reason=reason or "Rejected")


def is_expired(created_at: datetime, now: datetime, timeout: timedelta) -> bool:
    """True when a top-up created at `created_at` has waited `timeout` or longer by `now`."""
    if timeout <= timedelta(0):
        raise ValueError(f"timeout: must be positive, got {timeout}")
    return now - created_at >= timeout


def on_timeout(
    status: TopUpStatus, *, created_at: datetime, now: datetime, timeout: timedelta
) -> Settlement:
    """Fail a PENDING top-up that got no result in time; anything else stays as it is."""
    if status is not TopUpStatus.PENDING or not is_expired(created_at, now, timeout):
        return Settlement(status, credit=False, changed=False, reason="not expired")
    return Settlement(TopUpStatus.FAILED, credit=False, changed=True, reason=TIMEOUT_REASON)


def _receipt(result: StkResult) -> str:
    if result.payment is None:
        return result.checkout_request_id
    return f"{result.payment.receipt} for {result.payment.amount_cents} cents"
