"""The top-up use-cases as one account sees them through the API.

`gatewayd.service.topups.TopUps` holds the rules (pricing, settlement, Daraja); this adds what an
authenticated caller needs around them: the packages on offer, a sender ID named by name and
operator, and reads scoped to the caller's account, where another account's top-up is simply
not found (a 404, so ids of other tenants cannot be probed). The composition root builds it over
the same store the use-cases write to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gatewayd.service.errors import SENDER_ID_NOT_FOUND
from gatewayd.service.model import Package, TopUp, TopUpMethod, TopUpStatus
from gatewayd.service.ports import NotFound
from gatewayd.service.topups import (
    CallbackResult,
    TopUpNotFound,
    TopUpRejected,
    TopUps,
    TopUpStores,
)


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    """A parsed `POST /api/v1/topups`: the sender by id, or by name (and operator)."""

    package_id: str
    units: int
    method: TopUpMethod
    sender_id: str | None = None
    sender_name: str | None = None
    operator: str | None = None
    phone: str | None = None


class AccountTopUps:
    """Tenant-scoped top-ups: requests, reads and the Daraja callback for the HTTP API."""

    def __init__(self, topups: TopUps, store: TopUpStores) -> None:
        self.topups = topups
        self._store = store

    async def packages(self, operator: str | None = None) -> Sequence[Package]:
        """The packages on sale (active), optionally for one operator's sender IDs."""
        return [p for p in await self._store.list_packages(operator) if p.active]

    async def request(self, account_id: str, form: TopUpRequest, now: datetime) -> TopUp:
        """Create the top-up (and, for M-Pesa, send the STK push).

        TopUpRejected names the request field at fault; PaymentUnavailable when M-Pesa is not
        configured or Daraja did not take the push (the top-up is then FAILED, not PENDING).
        """
        sender_id = await self._sender_id(account_id, form)
        if form.method is TopUpMethod.MPESA:
            return await self.topups.request_mpesa(
                account_id, sender_id, form.package_id, form.units, form.phone or "", now
            )
        return await self.topups.request_offline(
            account_id, sender_id, form.package_id, form.units, now
        )

    async def get(self, account_id: str, topup_id: str) -> TopUp:
        """The account's top-up; TopUpNotFound when it is missing or another account's."""
        try:
            topup = await self._store.get_topup(topup_id)
        except NotFound:
            raise TopUpNotFound(topup_id) from None
        if topup.account_id != account_id:
            raise TopUpNotFound(topup_id)
        return topup

    async def refresh(self, account_id: str, topup_id: str, now: datetime) -> TopUp:
        """The account's top-up after asking Daraja about it when it is a PENDING M-Pesa one.

        Daraja being unreachable or still processing leaves it as it is (PENDING).
        """
        topup = await self.get(account_id, topup_id)
        if topup.status is not TopUpStatus.PENDING or topup.method is not TopUpMethod.MPESA:
            return topup
        return (await self.topups.query(topup.id, now)).topup

    async def list(self, account_id: str, status: TopUpStatus | None = None) -> Sequence[TopUp]:
        """The account's top-ups, newest first."""
        found = await self._store.list_topups(account_id, status)
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)

    async def callback(self, body: object, now: datetime) -> CallbackResult:
        """Hand a Daraja STK callback to the use-case (which credits once at most)."""
        return await self.topups.handle_callback(body, now)

    async def _sender_id(self, account_id: str, form: TopUpRequest) -> str:
        """The sender ID the request names; by name, narrowed by operator when the account
        has that name on several operators."""
        if form.sender_id is not None:
            return form.sender_id
        named = [
            s
            for s in await self._store.find_senders(account_id, form.sender_name or "")
            if form.operator in (None, s.operator)
        ]
        if not named:
            raise TopUpRejected("sender_name", SENDER_ID_NOT_FOUND)
        if len(named) > 1:
            operators = ", ".join(sorted(s.operator for s in named))
            raise TopUpRejected(
                "operator", f"Required: {form.sender_name} is on several operators ({operators})"
            )
        return named[0].id
