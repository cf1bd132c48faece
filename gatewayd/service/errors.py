"""Domain errors of the API use-cases: sending, reading, authenticating.

Each error says which request field is at fault (`field`) and the reason in the words seed 000
uses ("Sender ID not found", "No matching sender", "Insufficient balance", "Invalid number",
"Opted out"), so that the HTTP layer can render `{field: [reason]}` without knowing the rule
that failed. They are raised before anything is stored or charged.
"""

from __future__ import annotations

SENDER_ID_NOT_FOUND = "Sender ID not found"
SENDER_ID_SUSPENDED = "Sender ID suspended"
NO_MATCHING_SENDER = "No matching sender"
INSUFFICIENT_BALANCE = "Insufficient balance"
INVALID_NUMBER = "Invalid number"
OPTED_OUT = "Opted out"
INVALID_CREDENTIALS = "Invalid credentials"


class SendRejected(Exception):
    """A send refused by a business rule; nothing was stored or charged.

    `field` is the request field to blame, `reason` the client-facing words, `detail` an optional
    second sentence that says more (which digit count, which address class …).
    """

    code = "rejected"

    def __init__(self, field: str, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" + (f" ({detail})" if detail else ""))
        self.field = field
        self.reason = reason
        self.detail = detail

    @property
    def messages(self) -> list[str]:
        """The list rendered under `field`: the reason first, then the detail if any."""
        return [self.reason] if not self.detail else [self.reason, self.detail]


class SenderNotFound(SendRejected):
    code = "sender_not_found"

    def __init__(self, name: str) -> None:
        super().__init__("sender_name", SENDER_ID_NOT_FOUND)
        self.name = name


class SenderSuspended(SendRejected):
    code = "sender_suspended"

    def __init__(self, name: str) -> None:
        super().__init__("sender_name", SENDER_ID_SUSPENDED)
        self.name = name


class NoMatchingSender(SendRejected):
    code = "no_matching_sender"

    def __init__(self, name: str, provider: str | None) -> None:
        detail = (
            f"{name} has no Sender ID on {provider}, the recipient's network"
            if provider
            else f"no network we send to serves the recipient's number range for {name}"
        )
        super().__init__("sender_name", NO_MATCHING_SENDER, detail)


class InsufficientBalance(SendRejected):
    code = "insufficient_balance"

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            "sender_name",
            INSUFFICIENT_BALANCE,
            f"needs {_units(needed)}, {available} available",
        )
        self.needed = needed
        self.available = available


class InvalidNumber(SendRejected):
    code = "invalid_number"

    def __init__(self, detail: str) -> None:
        super().__init__("contact", INVALID_NUMBER, detail)


class OptedOut(SendRejected):
    code = "opted_out"

    def __init__(self) -> None:
        super().__init__("contact", OPTED_OUT)


class MessageTooLong(SendRejected):
    code = "message_too_long"

    def __init__(self, limit: int) -> None:
        super().__init__("message", f"Ensure this field has no more than {limit} characters.")
        self.limit = limit


class InvalidText(SendRejected):
    code = "invalid_text"

    def __init__(self, detail: str) -> None:
        super().__init__("message", "Invalid text", detail)


class CallbackUrlRejected(SendRejected):
    """The callback URL is not one we will call (scheme, address class, form)."""

    code = "callback_url_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__("callback_url", reason)


class MessageNotFound(Exception):
    """No such message for this account (another account's message is "not found" too)."""


class AuthError(Exception):
    """Base of authentication failures; `str()` is safe to show to the client."""


class InvalidCredentials(AuthError):
    """Unknown client, wrong secret or inactive client: one answer for all, on purpose."""

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


class InvalidToken(AuthError):
    """Malformed, badly signed, unknown key id, or its client was disabled."""

    def __init__(self, why: str = "Invalid token.") -> None:
        super().__init__(why)


class TokenExpired(InvalidToken):
    def __init__(self) -> None:
        super().__init__("Token has expired.")


def _units(count: int) -> str:
    return f"{count} SMS unit" + ("" if count == 1 else "s")
