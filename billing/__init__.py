"""Pure billing rules: SMS units, ledger, packages, M-Pesa (Daraja) messages, top-up states.

No I/O and no clock: callers hand in balances, `now` and parsed bodies; the functions decide.
"""

from billing.ledger import DEFAULT_REFUND_POLICY, EntryKind, RefundPolicy, refund_due
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
    "EntryKind",
    "MessageError",
    "MessageSize",
    "MessageTooLong",
    "PackageError",
    "Quote",
    "Rate",
    "RefundPolicy",
    "Settlement",
    "TopUpStatus",
    "UnitLimit",
    "measure",
    "mpesa_amount_kes",
    "on_approve",
    "on_reject",
    "on_stk_result",
    "price_cents",
    "quote",
    "refund_due",
    "units_for",
]
