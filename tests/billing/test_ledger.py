"""Ledger rules: signed entries, no overdraft, refund policy, balance == sum(entries) >= 0."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import (
    DEFAULT_REFUND_POLICY,
    Entry,
    EntryKind,
    InsufficientBalance,
    LedgerError,
    Party,
    RefundPolicy,
    adjust,
    apply,
    balance_of,
    debit,
    refund,
    refund_due,
    top_up,
)

PARTY = Party("acc-1", "snd-1", actor="api:client-1", reason="send", reference="msg-1")


def test_top_up_credits_and_debit_takes_with_signed_units() -> None:
    credit = top_up(0, PARTY, 500)
    assert (credit.kind, credit.units, credit.balance_after) == (EntryKind.TOPUP, 500, 500)
    taken = debit(500, PARTY, 3)
    assert (taken.kind, taken.units, taken.balance_after) == (EntryKind.DEBIT, -3, 497)
    assert (taken.account_id, taken.sender_id, taken.actor, taken.reason, taken.reference) == (
        "acc-1", "snd-1", "api:client-1", "send", "msg-1",
    )  # fmt: skip


def test_a_debit_that_would_overdraw_raises_insufficient_balance() -> None:
    assert debit(2, PARTY, 2).balance_after == 0
    with pytest.raises(InsufficientBalance) as caught:
        debit(2, PARTY, 3)
    assert str(caught.value) == "Insufficient balance"
    assert (caught.value.sender_id, caught.value.needed, caught.value.available) == ("snd-1", 3, 2)


def test_negative_adjustment_may_not_overdraw_but_may_empty() -> None:
    assert adjust(10, PARTY, -10).balance_after == 0
    assert adjust(10, PARTY, 5).units == 5
    with pytest.raises(InsufficientBalance):
        adjust(10, PARTY, -11)


@pytest.mark.parametrize("units", [0, -1, True, 1.5])
def test_credit_and_debit_units_must_be_positive_whole_numbers(units: object) -> None:
    for rule in (top_up, debit):
        with pytest.raises(LedgerError, match=r"^units: must be a positive whole number"):
            rule(100, PARTY, units)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match=r"^units:"):
        adjust(100, PARTY, 0)


@pytest.mark.parametrize("field", ["account_id", "sender_id", "actor", "reason", "reference"])
def test_who_why_and_reference_are_required(field: str) -> None:
    values = {
        "account_id": "a", "sender_id": "s", "actor": "admin:x", "reason": "r", "reference": "t"
    }  # fmt: skip
    values[field] = ""
    with pytest.raises(LedgerError) as caught:
        top_up(0, Party(**values), 1)
    assert caught.value.field == field


def test_refund_policy_never_is_the_default_and_refunds_nothing() -> None:
    assert DEFAULT_REFUND_POLICY is RefundPolicy.NEVER
    assert refund(0, PARTY, 2, policy=RefundPolicy.NEVER, network_accepted=False, debited=2) is None


def test_network_rejected_policy_refunds_only_what_the_network_never_accepted() -> None:
    policy = RefundPolicy.NETWORK_REJECTED
    entry = refund(5, PARTY, 2, policy=policy, network_accepted=False, debited=2)
    assert entry is not None and (entry.kind, entry.units, entry.balance_after) == (
        EntryKind.REFUND, 2, 7,
    )  # fmt: skip
    assert refund(5, PARTY, 2, policy=policy, network_accepted=True, debited=2) is None
    assert refund_due(policy, network_accepted=False)
    assert not refund_due(RefundPolicy.NEVER, network_accepted=False)


def test_a_refund_never_returns_more_than_was_debited() -> None:
    with pytest.raises(LedgerError, match="refund of 3 exceeds the 2 units debited"):
        refund(0, PARTY, 3, policy=RefundPolicy.NETWORK_REJECTED, network_accepted=False, debited=2)


def test_apply_checks_entries_chain_and_balances_rebuild() -> None:
    first = top_up(0, PARTY, 10)
    second = debit(10, PARTY, 4)
    assert apply(apply(0, first), second) == 6 == balance_of([first, second])
    with pytest.raises(LedgerError, match=r"^balance_after:"):
        apply(3, second)
    with pytest.raises(LedgerError, match=r"^balance: a float is never negative"):
        top_up(-1, PARTY, 1)


# One step of a random history: (kind, units).
steps = st.lists(
    st.tuples(
        st.sampled_from(["topup", "debit", "refund", "adjust", "adjust-", "approve-topup"]),
        st.integers(min_value=1, max_value=1_000),
        st.booleans(),
    ),
    max_size=80,
)


@given(steps, st.sampled_from(list(RefundPolicy)))
def test_random_histories_keep_balance_equal_to_the_ledger_and_never_negative(
    history: list[tuple[str, int, bool]], policy: RefundPolicy
) -> None:
    balance = 0
    ledger: list[Entry] = []
    debits: list[int] = []
    for kind, units, accepted in history:
        try:
            entry = _step(balance, kind, units, accepted, policy, debits)
        except InsufficientBalance:
            assert units > balance  # refused only when the float really is short
            continue
        if entry is None:
            continue
        balance = apply(balance, entry)
        ledger.append(entry)
        assert balance == balance_of(ledger) >= 0


def _step(
    balance: int,
    kind: str,
    units: int,
    accepted: bool,
    policy: RefundPolicy,
    debits: list[int],
) -> Entry | None:
    if kind in ("topup", "approve-topup"):
        return top_up(balance, PARTY, units)
    if kind == "debit":
        entry = debit(balance, PARTY, units)
        debits.append(units)
        return entry
    if kind == "refund":
        if not debits:
            return None
        debited = debits.pop()
        return refund(
            balance, PARTY, debited, policy=policy, network_accepted=accepted, debited=debited
        )
    return adjust(balance, PARTY, units if kind == "adjust" else -units)
