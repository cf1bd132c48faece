"""The top-up state machine: PENDING → COMPLETED once, or FAILED; never back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.mpesa import Payment, StkResult
from billing.topups import (
    TIMEOUT_REASON,
    TopUpStatus,
    is_expired,
    on_approve,
    on_reject,
    on_stk_result,
    on_timeout,
)

PENDING, COMPLETED, FAILED = TopUpStatus.PENDING, TopUpStatus.COMPLETED, TopUpStatus.FAILED
PAID = StkResult(
    "m-1", "ws_CO_1", 0, "The service request is processed successfully.",
    Payment(43_200, "NLJ7RT61SV", "254708374149", None),
)  # fmt: skip
CANCELLED = StkResult("m-1", "ws_CO_1", 1032, "Request cancelled by user")
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_result_code_0_completes_and_credits() -> None:
    settlement = on_stk_result(PENDING, PAID, expected_amount_cents=43_200)
    assert (settlement.status, settlement.credit, settlement.changed) == (COMPLETED, True, True)


def test_user_cancel_and_other_codes_fail_without_credit() -> None:
    settlement = on_stk_result(PENDING, CANCELLED)
    assert (settlement.status, settlement.credit, settlement.changed) == (FAILED, False, True)
    assert settlement.reason == "Request cancelled by user"
    unknown = on_stk_result(PENDING, StkResult("m", "c", 1037, ""))
    assert unknown.status is FAILED and unknown.reason == "The phone could not be reached."


@pytest.mark.parametrize("status", [COMPLETED, FAILED])
@pytest.mark.parametrize("result", [PAID, CANCELLED])
def test_a_repeated_result_for_a_settled_top_up_changes_nothing(
    status: TopUpStatus, result: StkResult
) -> None:
    settlement = on_stk_result(status, result)
    assert (settlement.status, settlement.credit, settlement.changed) == (status, False, False)


def test_a_payment_after_the_top_up_failed_is_flagged_for_review() -> None:
    assert "NLJ7RT61SV" in on_stk_result(FAILED, PAID).review
    assert on_stk_result(COMPLETED, PAID).review == ""


def test_a_short_payment_fails_and_asks_for_review() -> None:
    settlement = on_stk_result(PENDING, PAID, expected_amount_cents=50_000)
    assert (settlement.status, settlement.credit) == (FAILED, False)
    assert settlement.review == "paid 43200 cents, expected 50000 cents"


def test_offline_approve_credits_once_and_reject_fails() -> None:
    assert on_approve(PENDING).credit and on_approve(PENDING).status is COMPLETED
    assert not on_approve(COMPLETED).credit and not on_approve(COMPLETED).changed
    assert not on_approve(FAILED).changed
    rejected = on_reject(PENDING, "no bank transfer seen")
    assert (rejected.status, rejected.credit, rejected.reason) == (
        FAILED, False, "no bank transfer seen",
    )  # fmt: skip
    assert not on_reject(COMPLETED).changed


def test_timeout_fails_only_pending_top_ups_past_their_time() -> None:
    timeout = timedelta(minutes=2)
    early = on_timeout(PENDING, created_at=T0, now=T0 + timedelta(seconds=119), timeout=timeout)
    assert not early.changed and early.status is PENDING
    late = on_timeout(PENDING, created_at=T0, now=T0 + timeout, timeout=timeout)
    assert (late.status, late.credit, late.changed, late.reason) == (
        FAILED, False, True, TIMEOUT_REASON,
    )  # fmt: skip
    assert not on_timeout(COMPLETED, created_at=T0, now=T0 + timeout, timeout=timeout).changed
    with pytest.raises(ValueError, match=r"^timeout:"):
        is_expired(T0, T0, timedelta(0))
