"""The mobile network operators gatewayd holds binds to."""

from __future__ import annotations

import enum


class Operator(enum.StrEnum):
    """A Kenyan operator we route to; the value is what the store and config files hold."""

    SAFARICOM = "safaricom"
    AIRTEL = "airtel"
    TELKOM = "telkom"

    @property
    def display_name(self) -> str:
        """The name seed 000 shows in `provider` ("Safaricom", "Airtel", "Telkom")."""
        return _DISPLAY[self]

    @classmethod
    def parse(cls, value: str) -> Operator:
        """The operator named by `value` (case-insensitive value or display name)."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            known = ", ".join(op.value for op in cls)
            raise ValueError(f"operator: unknown operator {value!r} (known: {known})") from None


_DISPLAY = {
    Operator.SAFARICOM: "Safaricom",
    Operator.AIRTEL: "Airtel",
    Operator.TELKOM: "Telkom",
}
