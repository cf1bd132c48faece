"""Ledger rules: which entry to append to a sender ID's float, given its current balance.

A float is a count of SMS units per sender ID. Every movement is an append-only entry (top-up,
debit, refund, adjustment) saying who made it, why and what it refers to; the balance is the sum
of the entries and never goes below zero. These functions decide the entry; the store appends it
in the same transaction that read the balance, so the decision and the write cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class EntryKind(enum.StrEnum):
    """The kinds of movement; values match gatewayd.service.model.LedgerKind."""

    TOPUP = "topup"
    DEBIT = "debit"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class RefundPolicy(enum.StrEnum):
    """When a failed message gives its units back.

    NEVER: seed 000 ("the units are not automatically refunded"), the default.
    NETWORK_REJECTED: refund messages the network never accepted (refused at submit_sm, or
    never submitted: expired in the queue, opted out, no route); a message the SMSC accepted and
    later reported undelivered is not refunded.
    """

    NEVER = "never"
    NETWORK_REJECTED = "network_rejected"


DEFAULT_REFUND_POLICY = RefundPolicy.NEVER


class LedgerError(ValueError):
    """An entry that breaks a ledger rule; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InsufficientBalance(LedgerError):
    """The float cannot cover the movement; nothing may be appended."""

    def __init__(self, sender_id: str, needed: int, available: int) -> None:
        ValueError.__init__(self, "Insufficient balance")
        self.field = "units"
        self.sender_id = sender_id
        self.needed = needed
        self.available = available


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement to append: `units` is signed (debits negative)."""

    account_id: str
    sender_id: str
    kind: EntryKind
    units: int
    actor: str  # who: "api:<client_id>", "admin:<name>", "mpesa", "system"
    reason: str  # why, in words
    reference: str  # message id, top-up id, ticket …
    balance_after: int


@dataclass(frozen=True, slots=True)
class Party:
    """Whose float, and who moves it why: the part every entry shares."""

    account_id: str
    sender_id: str
    actor: str
    reason: str
    reference: str


def top_up(balance: int, party: Party, units: int) -> Entry:
    """Credit `units` bought by a completed top-up."""
    _positive("units", units)
    return _entry(balance, party, EntryKind.TOPUP, units)


def debit(balance: int, party: Party, units: int) -> Entry:
    """Take `units` for an accepted message; InsufficientBalance when the float is short."""
    _positive("units", units)
    return _entry(balance, party, EntryKind.DEBIT, -units)


def adjust(balance: int, party: Party, units: int) -> Entry:
    """An admin's correction, either sign; a negative one may not overdraw the float."""
    if isinstance(units, bool) or not isinstance(units, int) or units == 0:
        raise LedgerError("units", f"an adjustment must be a non-zero whole number, got {units!r}")
    return _entry(balance, party, EntryKind.ADJUSTMENT, units)


def refund(
    balance: int,
    party: Party,
    units: int,
    *,
    policy: RefundPolicy,
    network_accepted: bool,
    debited: int,
) -> Entry | None:
    """Give back a failed message's `units` when `policy` says so, else None.

    `debited` is what the message was charged: a refund never returns more than that.
    """
    _positive("units", units)
    if units > debited:
        raise LedgerError("units", f"refund of {units} exceeds the {debited} units debited")
    if not refund_due(policy, network_accepted=network_accepted):
        return None
    return _entry(balance, party, EntryKind.REFUND, units)


def refund_due(policy: RefundPolicy, *, network_accepted: bool) -> bool:
    """True when a failed message is refunded under `policy`."""
    return policy is RefundPolicy.NETWORK_REJECTED and not network_accepted


def apply(balance: int, entry: Entry) -> int:
    """The balance after `entry`, checked: entries apply in order and never overdraw."""
    after = balance + entry.units
    if after != entry.balance_after:
        raise LedgerError(
            "balance_after", f"entry expects {entry.balance_after}, balance gives {after}"
        )
    return after


def balance_of(entries: Iterable[Entry | int]) -> int:
    """The float rebuilt from its entries (or their unit amounts)."""
    return sum(e if isinstance(e, int) else e.units for e in entries)


def _entry(balance: int, party: Party, kind: EntryKind, units: int) -> Entry:
    if balance < 0:
        raise LedgerError("balance", f"a float is never negative, got {balance}")
    for name in ("account_id", "sender_id", "actor", "reason", "reference"):
        if not getattr(party, name):
            raise LedgerError(name, "must not be empty")
    after = balance + units
    if after < 0:
        raise InsufficientBalance(party.sender_id, -units, balance)
    return Entry(
        account_id=party.account_id,
        sender_id=party.sender_id,
        kind=kind,
        units=units,
        actor=party.actor,
        reason=party.reason,
        reference=party.reference,
        balance_after=after,
    )


def _positive(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LedgerError(field, f"must be a positive whole number of units, got {value!r}")
