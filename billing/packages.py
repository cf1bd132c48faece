"""SMS packages: a rate per unit for one operator's sender IDs, and what a purchase costs.

Money is integer cents of KES throughout (a rate of KES 0.35 per unit is `rate_cents=35`).
M-Pesa takes whole shillings, so an STK push asks for the price rounded up to the next
shilling (`mpesa_amount_kes`): the customer never pays less than the price.
"""

from __future__ import annotations

from dataclasses import dataclass

CENTS_PER_KES = 100
MAX_UNITS_PER_TOPUP = 100_000_000  # a typo guard, far above any real purchase


class PackageError(ValueError):
    """A package or purchase that is invalid; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Rate:
    """The priced part of a package: operator value, cents per unit, smallest purchase."""

    name: str
    operator: str  # routing.Operator value ("safaricom", "airtel", "telkom")
    rate_cents: int
    min_units: int

    def __post_init__(self) -> None:
        validate_package(self.name, self.operator, self.rate_cents, self.min_units)


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced purchase: units bought and the price in cents."""

    units: int
    amount_cents: int

    @property
    def mpesa_amount_kes(self) -> int:
        return mpesa_amount_kes(self.amount_cents)


def validate_package(name: str, operator: str, rate_cents: int, min_units: int) -> None:
    """Raise PackageError naming the first field that is wrong."""
    if not name.strip():
        raise PackageError("name", "must not be empty")
    if not operator or operator != operator.strip().lower():
        raise PackageError("operator", f"must be a lower-case operator value, got {operator!r}")
    _whole("rate_cents", rate_cents, minimum=1)
    _whole("min_units", min_units, minimum=1)


def quote(rate: Rate, units: int) -> Quote:
    """The price of `units` at `rate`: units × rate in cents, at least the package minimum."""
    _whole("units", units, minimum=1)
    if units < rate.min_units:
        raise PackageError("units", f"package {rate.name!r} sells at least {rate.min_units} units")
    if units > MAX_UNITS_PER_TOPUP:
        raise PackageError("units", f"at most {MAX_UNITS_PER_TOPUP} units per top-up")
    return Quote(units, units * rate.rate_cents)


def price_cents(rate_cents: int, units: int) -> int:
    """units × rate, in integer cents."""
    _whole("rate_cents", rate_cents, minimum=1)
    _whole("units", units, minimum=1)
    return units * rate_cents


def mpesa_amount_kes(amount_cents: int) -> int:
    """Whole shillings to ask M-Pesa for: the price rounded up."""
    _whole("amount_cents", amount_cents, minimum=1)
    return -(-amount_cents // CENTS_PER_KES)


def _whole(field: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PackageError(field, f"must be a whole number, got {value!r}")
    if value < minimum:
        raise PackageError(field, f"must be at least {minimum}, got {value}")
