"""Pure billing rules: SMS units, ledger, packages, M-Pesa (Daraja) messages, top-up states.

No I/O and no clock: callers hand in balances, `now` and parsed bodies; the functions decide.
"""

from billing.ledger import (
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
from billing.packages import PackageError, Quote, Rate, mpesa_amount_kes, price_cents, quote
from billing.topups import Settlement, TopUpStatus, on_approve, on_reject, on_stk_result
from billing.units import (
    EmptyMessage,
    Encoding,
    MessageError,
    MessageSize,
    MessageTooLong,
    UnitLimit,
    measure,
    units_for,
)

__all__ = [
    "DEFAULT_REFUND_POLICY",
    "EmptyMessage",
    "Encoding",
    "Entry",
    "EntryKind",
    "InsufficientBalance",
    "LedgerError",
    "MessageError",
    "MessageSize",
    "MessageTooLong",
    "PackageError",
    "Party",
    "Quote",
    "Rate",
    "RefundPolicy",
    "Settlement",
    "TopUpStatus",
    "UnitLimit",
    "adjust",
    "apply",
    "balance_of",
    "debit",
    "measure",
    "mpesa_amount_kes",
    "on_approve",
    "on_reject",
    "on_stk_result",
    "price_cents",
    "quote",
    "refund",
    "refund_due",
    "top_up",
    "units_for",
]
