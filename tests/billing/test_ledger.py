"""The money rules of billing.ledger: the entry kinds and when a failed message is refunded
(the store's ledger behaviour itself is proven by the store contract suite and its
hypothesis state machine, tests/gatewayd/store/test_ledger_machine.py)."""

from __future__ import annotations

import pytest

from billing import DEFAULT_REFUND_POLICY, EntryKind, RefundPolicy, refund_due
from gatewayd.service.model import LedgerKind
from gatewayd.service.model import RefundPolicy as ServiceRefundPolicy
from gatewayd.store import rules


def test_refund_policy_never_is_the_default_and_refunds_nothing() -> None:
    assert DEFAULT_REFUND_POLICY is RefundPolicy.NEVER
    assert not refund_due(RefundPolicy.NEVER, network_accepted=False)
    assert not refund_due(RefundPolicy.NEVER, network_accepted=True)


def test_network_rejected_refunds_only_what_the_network_never_accepted() -> None:
    assert refund_due(RefundPolicy.NETWORK_REJECTED, network_accepted=False)
    assert not refund_due(RefundPolicy.NETWORK_REJECTED, network_accepted=True)


@pytest.mark.parametrize(
    ("policy", "ids", "refunded", "due"),
    [
        (RefundPolicy.NETWORK_REJECTED, [None, None], 0, True),
        (RefundPolicy.NETWORK_REJECTED, [None, "abc"], 0, False),  # one part was accepted
        (RefundPolicy.NETWORK_REJECTED, [None], 2, False),  # refunded once already
        (RefundPolicy.NEVER, [None], 0, False),
    ],
)
def test_the_store_applies_the_same_rule_per_message(
    policy: RefundPolicy, ids: list[str | None], refunded: int, due: bool
) -> None:
    assert rules.refund_due(policy, ids, refunded) is due


def test_the_service_layer_uses_these_very_enums() -> None:
    assert LedgerKind is EntryKind and ServiceRefundPolicy is RefundPolicy
    assert [k.value for k in EntryKind] == ["topup", "debit", "refund", "adjustment"]
