"""The port to Safaricom's Daraja API (Lipa na M-Pesa Online) that the top-up use-cases need.

The adapter (gatewayd.adapters.daraja) holds the shortcode, passkey, consumer key and secret
and the callback URL; the use-cases only say what to charge and ask what happened. Its errors
are the two below, so that callers never see an HTTP library's exceptions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.mpesa import StkPushAccepted, StkResult


class DarajaError(Exception):
    """Base of the errors the Daraja port raises."""


class DarajaUnavailable(DarajaError):
    """Daraja could not be reached or answered with a server error or a timeout: try later."""


class DarajaRejected(DarajaError):
    """Daraja refused the request (bad credentials, invalid phone, …): retrying will not help.

    `code` is Daraja's errorCode (or ResponseCode), `description` its words.
    """

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"Daraja rejected the request: {code} {description}")
        self.code = code
        self.description = description


class Daraja(Protocol):
    async def stk_push(
        self,
        *,
        amount_kes: int,
        phone: str,
        account_reference: str,
        description: str,
        now: datetime,
    ) -> StkPushAccepted:
        """Send an STK push to `phone` (254XXXXXXXXX) for `amount_kes` whole shillings."""
        ...

    async def stk_query(self, checkout_request_id: str, *, now: datetime) -> StkResult | None:
        """The outcome of an STK push, or None while Daraja is still processing it."""
        ...
