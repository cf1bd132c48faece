"""The money rules of a float: the kinds of ledger entry and when a failed message is refunded.

A float is a count of SMS units per sender ID. Every movement is an append-only entry (top-up,
debit, refund, adjustment); the balance is the sum of the entries and never goes below zero.
The store applies these rules inside the transaction that reads the balance and appends the
entry (`gatewayd.store`), so the decision and the write cannot drift apart; the kinds and the
refund rule live here, once, for it and for the service layer.
"""

from __future__ import annotations

import enum


class EntryKind(enum.StrEnum):
    """Every movement of a float is one of these, appended, never edited (the service layer
    knows it as `gatewayd.service.model.LedgerKind`)."""

    TOPUP = "topup"
    DEBIT = "debit"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class RefundPolicy(enum.StrEnum):
    """When a failed message gives its units back.

    NEVER: seed 000 ("the units are not automatically refunded"), the default.
    NETWORK_REJECTED: refund messages the network never accepted (refused at submit_sm, or
    never submitted: expired in the queue, failed before any submit); a message the SMSC
    accepted and later reported undelivered is not refunded, nor one that was in doubt.
    """

    NEVER = "never"
    NETWORK_REJECTED = "network_rejected"


DEFAULT_REFUND_POLICY = RefundPolicy.NEVER


def refund_due(policy: RefundPolicy, *, network_accepted: bool) -> bool:
    """True when a failed message is refunded under `policy`: only under NETWORK_REJECTED,
    only when the network never accepted any part of it."""
    return policy is RefundPolicy.NETWORK_REJECTED and not network_accepted
