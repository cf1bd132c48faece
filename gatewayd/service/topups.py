"""Top-up use-cases: offline (an admin approves or rejects) and M-Pesa STK push over Daraja.

A top-up buys `units` of a package for one sender ID. It is created PENDING and settles once:
COMPLETED credits the float and appends the ledger entry in the same store transaction
(`TopUpStore.settle_topup`, which is also what makes a repeated callback credit nothing), or
FAILED. The decisions come from billing.topups; this module fetches, decides and writes.

M-Pesa: the top-up is stored before the push is sent (so a fast callback finds a row to match
once the CheckoutRequestID is stored); a push Daraja refuses fails the top-up at once. The
callback endpoint cannot tell Daraja from anyone else, so by default a callback that reports a
payment is credited only after Daraja's status query (our credentials, outbound) confirms it.
A PENDING M-Pesa top-up with no result after `expiry` is asked about once through the status
query and, if still unresolved, FAILED. A payment reported after that is flagged for review
(`CallbackResult.review`, for the caller to log); it is never credited automatically.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from billing import mpesa as daraja_messages
from billing import packages, topups
from gatewayd.service.model import Package, SenderId, TopUp, TopUpMethod, TopUpStatus
from gatewayd.service.ports import AccountStore, NotFound, TopUpStore
from gatewayd.service.ports_mpesa import Daraja, DarajaError, DarajaRejected, DarajaUnavailable
from routing import InvalidNumber, normalise

MPESA_ACTOR = "mpesa"
SYSTEM_ACTOR = "system"
DEFAULT_EXPIRY = timedelta(seconds=120)
DEFAULT_GIVE_UP = timedelta(hours=24)  # Daraja unreachable this long: fail without an answer
TOPUP_DESCRIPTION = "SMS top-up"  # TransactionDesc: at most 13 characters


class TopUpStores(AccountStore, TopUpStore, Protocol):
    """What the top-up use-cases need from the store."""


class TopUpRejected(Exception):
    """A top-up request refused before anything was stored; `field` is the input at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    @property
    def messages(self) -> list[str]:
        return [self.reason]


class TopUpNotFound(Exception):
    """No top-up with that id (for that account)."""


class PaymentUnavailable(Exception):
    """M-Pesa top-ups are not configured, or Daraja could not take the request (it FAILED)."""

    def __init__(self, reason: str, topup: TopUp | None = None) -> None:
        super().__init__(reason)
        self.topup = topup


class CallbackOutcome(enum.StrEnum):
    CREDITED = "credited"
    FAILED = "failed"
    DUPLICATE = "duplicate"  # the top-up was already settled: nothing changed
    UNKNOWN_REQUEST = "unknown_request"  # no top-up has that CheckoutRequestID: nothing credited
    MALFORMED = "malformed"  # the body is not an STK callback
    UNCONFIRMED = "unconfirmed"  # "paid", but the status query could not confirm it yet


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """What one callback did. `review` is set when a human should look at it."""

    outcome: CallbackOutcome
    topup: TopUp | None
    detail: str
    review: str = ""


@dataclass(frozen=True, slots=True)
class Settled:
    """The top-up after an approve / reject / query, and whether this call changed it."""

    topup: TopUp
    changed: bool
    review: str = ""


class TopUps:
    """The top-up use-cases over the store and, for M-Pesa, the Daraja port."""

    def __init__(
        self,
        store: TopUpStores,
        daraja: Daraja | None = None,
        *,
        expiry: timedelta = DEFAULT_EXPIRY,
        confirm_payments: bool = True,
        give_up_after: timedelta = DEFAULT_GIVE_UP,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        """`confirm_payments`: check a "paid" callback with Daraja's status query first.
        `give_up_after`: how long expiry keeps asking an unreachable Daraja before failing."""
        if expiry <= timedelta(0):
            raise ValueError(f"expiry: must be positive, got {expiry}")
        self._store = store
        self._daraja = daraja
        self._expiry = expiry
        self._confirm = confirm_payments and daraja is not None
        self._give_up = max(give_up_after, expiry)
        self._new_id = new_id

    # -- requests ---------------------------------------------------------------------------

    async def request_offline(
        self, account_id: str, sender_id: str, package_id: str, units: int, now: datetime
    ) -> TopUp:
        """An offline top-up (bank transfer …), PENDING until an admin approves or rejects."""
        _sender, _package, quote = await self._priced(account_id, sender_id, package_id, units)
        return await self._store.create_topup(
            self._new_id(), account_id, sender_id, package_id, quote.units,
            quote.amount_cents, TopUpMethod.OFFLINE, now,
        )  # fmt: skip

    async def request_mpesa(
        self,
        account_id: str,
        sender_id: str,
        package_id: str,
        units: int,
        phone: str,
        now: datetime,
    ) -> TopUp:
        """Create a PENDING M-Pesa top-up and send the STK push to `phone`.

        The amount asked is the price rounded up to whole shillings (M-Pesa takes no cents);
        the top-up records that amount. PaymentUnavailable when Daraja refuses or cannot be
        reached: the top-up is then FAILED with Daraja's reason.
        """
        if self._daraja is None:
            raise PaymentUnavailable("M-Pesa top-ups are not configured")
        msisdn = _phone(phone)
        _sender, _package, quote = await self._priced(account_id, sender_id, package_id, units)
        amount_kes = quote.mpesa_amount_kes
        topup = await self._store.create_topup(
            self._new_id(), account_id, sender_id, package_id, quote.units,
            amount_kes * packages.CENTS_PER_KES, TopUpMethod.MPESA, now, phone=msisdn,
        )  # fmt: skip
        try:
            accepted = await self._daraja.stk_push(
                amount_kes=amount_kes,
                phone=msisdn,
                account_reference=topup.id[: daraja_messages.ACCOUNT_REFERENCE_MAX].upper(),
                description=TOPUP_DESCRIPTION,
                now=now,
            )
        except DarajaError as exc:
            failed, _ = await self._store.settle_topup(
                topup.id, TopUpStatus.FAILED, MPESA_ACTOR, now, result_desc=_why(exc)
            )
            reason = f"M-Pesa did not take the request: {_why(exc)}"
            raise PaymentUnavailable(reason, failed) from exc
        return await self._store.set_topup_checkout(
            topup.id, accepted.checkout_request_id, accepted.merchant_request_id
        )

    # -- offline settlement -------------------------------------------------------------------

    async def approve(self, topup_id: str, admin: str, now: datetime) -> Settled:
        """An admin approves a PENDING offline top-up: credit once, with a ledger entry."""
        topup = await self._get_offline(topup_id)
        decision = topups.on_approve(topups.TopUpStatus(topup.status.value))
        return await self._apply(topup, decision, f"admin:{admin}", now)

    async def reject(self, topup_id: str, admin: str, reason: str, now: datetime) -> Settled:
        """An admin rejects a PENDING offline top-up: FAILED, nothing credited."""
        topup = await self._get_offline(topup_id)
        decision = topups.on_reject(topups.TopUpStatus(topup.status.value), reason)
        return await self._apply(topup, decision, f"admin:{admin}", now)

    # -- M-Pesa settlement --------------------------------------------------------------------

    async def handle_callback(self, body: object, now: datetime) -> CallbackResult:
        """Settle the top-up a Daraja callback is about; credits once however often it comes."""
        try:
            result = daraja_messages.parse_stk_callback(body)
        except daraja_messages.DarajaError as exc:
            return CallbackResult(CallbackOutcome.MALFORMED, None, str(exc))
        try:
            topup = await self._store.find_topup_by_checkout(result.checkout_request_id)
        except NotFound:
            detail = f"no top-up has CheckoutRequestID {result.checkout_request_id}"
            review = ""
            if result.payment is not None:
                review = (
                    f"payment {result.payment.receipt} of {result.payment.amount_cents} cents "
                    f"from {result.payment.phone} matches no top-up"
                )
            return CallbackResult(CallbackOutcome.UNKNOWN_REQUEST, None, detail, review)
        if result.succeeded and self._confirm and topup.status is TopUpStatus.PENDING:
            return await self._confirmed_callback(topup, result, now)
        settled = await self._settle_on_result(topup, result, now)
        return CallbackResult(_outcome(settled), settled.topup, result.result_desc, settled.review)

    async def _confirmed_callback(
        self, topup: TopUp, claimed: daraja_messages.StkResult, now: datetime
    ) -> CallbackResult:
        """Credit a callback's payment only when Daraja's status query reports it too.

        The callback endpoint cannot authenticate its caller; the query goes out to Daraja
        with our credentials, so a forged "paid" callback credits nothing.
        """
        confirmed = await self._ask(topup, now)
        if confirmed is None:
            detail = "payment not confirmed by the status query yet; left PENDING"
            return CallbackResult(CallbackOutcome.UNCONFIRMED, topup, detail)
        if not confirmed.succeeded:
            settled = await self._settle_on_result(topup, confirmed, now)
            review = (
                f"callback claimed payment {_receipt(claimed)} but Daraja reports "
                f"{confirmed.result_code} {confirmed.result_desc}"
            )
            return CallbackResult(_outcome(settled), settled.topup, confirmed.result_desc, review)
        settled = await self._settle_on_result(topup, claimed, now)
        return CallbackResult(_outcome(settled), settled.topup, claimed.result_desc, settled.review)

    async def query(self, topup_id: str, now: datetime) -> Settled:
        """Ask Daraja about a PENDING M-Pesa top-up and settle it if Daraja knows the outcome."""
        topup = await self._get(topup_id)
        if topup.status is not TopUpStatus.PENDING or topup.method is not TopUpMethod.MPESA:
            return Settled(topup, changed=False)
        result = await self._ask(topup, now)
        if result is None:
            return Settled(topup, changed=False)
        return await self._settle_on_result(topup, result, now)

    async def expire(self, now: datetime) -> Sequence[Settled]:
        """Fail M-Pesa top-ups still PENDING `expiry` after they were created.

        Each is first asked about through the status query; Daraja's answer wins when it has
        one (a payment the callback never brought is credited), otherwise the top-up fails.
        While Daraja cannot be reached the top-up stays PENDING and is asked again at the next
        sweep, up to `give_up_after` after its creation: an outage must not fail paid top-ups.
        """
        settled: list[Settled] = []
        for topup in await self._store.pending_topups_before(now - self._expiry):
            if topup.method is TopUpMethod.MPESA:
                settled.append(await self._expire_one(topup, now))
        return settled

    # -- helpers ------------------------------------------------------------------------------

    async def _expire_one(self, topup: TopUp, now: datetime) -> Settled:
        try:
            result = await self._ask(topup, now, strict=True)
        except DarajaUnavailable:
            if now - topup.created_at < self._give_up:
                return Settled(topup, changed=False)  # ask again at the next sweep
            result = None
        if result is not None:
            outcome = await self._settle_on_result(topup, result, now)
            if outcome.topup.status is not TopUpStatus.PENDING:
                return outcome
        decision = topups.on_timeout(
            topups.TopUpStatus(topup.status.value),
            created_at=topup.created_at,
            now=now,
            timeout=self._expiry,
        )
        return await self._apply(topup, decision, SYSTEM_ACTOR, now)

    async def _ask(
        self, topup: TopUp, now: datetime, *, strict: bool = False
    ) -> daraja_messages.StkResult | None:
        """Daraja's result for the top-up; None while unknown. `strict`: Daraja being
        unreachable raises DarajaUnavailable instead of reading as unknown."""
        if self._daraja is None or topup.checkout_request_id is None:
            return None
        try:
            return await self._daraja.stk_query(topup.checkout_request_id, now=now)
        except DarajaUnavailable:
            if strict:
                raise
            return None
        except DarajaError:
            return None

    async def _settle_on_result(
        self, topup: TopUp, result: daraja_messages.StkResult, now: datetime
    ) -> Settled:
        decision = topups.on_stk_result(
            topups.TopUpStatus(topup.status.value),
            result,
            expected_amount_cents=topup.amount_cents,
        )
        receipt = result.payment.receipt if result.payment else None
        return await self._apply(
            topup, decision, MPESA_ACTOR, now, result_code=result.result_code, receipt=receipt
        )

    async def _apply(
        self,
        topup: TopUp,
        decision: topups.Settlement,
        actor: str,
        now: datetime,
        *,
        result_code: int | None = None,
        receipt: str | None = None,
    ) -> Settled:
        if not decision.changed:
            return Settled(topup, changed=False, review=decision.review)
        after, changed = await self._store.settle_topup(
            topup.id, TopUpStatus(decision.status.value), actor, now,
            result_code=result_code, result_desc=decision.reason, mpesa_receipt=receipt,
        )  # fmt: skip
        return Settled(after, changed=changed, review=decision.review)

    async def _priced(
        self, account_id: str, sender_id: str, package_id: str, units: int
    ) -> tuple[SenderId, Package, packages.Quote]:
        sender = await self._sender(account_id, sender_id)
        package = await self._package(package_id)
        if package.operator != sender.operator:
            raise TopUpRejected(
                "package_id",
                f"package {package.name!r} is for {package.operator} sender IDs, "
                f"{sender.name} is on {sender.operator}",
            )
        rate = packages.Rate(package.name, package.operator, package.rate_cents, package.min_units)
        try:
            return sender, package, packages.quote(rate, units)
        except packages.PackageError as exc:
            raise TopUpRejected(exc.field, str(exc).partition(": ")[2]) from None

    async def _sender(self, account_id: str, sender_id: str) -> SenderId:
        try:
            sender = await self._store.get_sender(sender_id)
        except NotFound:
            raise TopUpRejected("sender_id", "Sender ID not found") from None
        if sender.account_id != account_id:
            raise TopUpRejected("sender_id", "Sender ID not found")
        return sender

    async def _package(self, package_id: str) -> Package:
        try:
            package = await self._store.get_package(package_id)
        except NotFound:
            raise TopUpRejected("package_id", "Package not found") from None
        if not package.active:
            raise TopUpRejected("package_id", "Package is no longer offered")
        return package

    async def _get(self, topup_id: str) -> TopUp:
        try:
            return await self._store.get_topup(topup_id)
        except NotFound:
            raise TopUpNotFound(topup_id) from None

    async def _get_offline(self, topup_id: str) -> TopUp:
        topup = await self._get(topup_id)
        if topup.method is not TopUpMethod.OFFLINE:
            raise TopUpRejected("topup_id", "only offline top-ups are approved by an admin")
        return topup


def _phone(phone: str) -> str:
    try:
        return normalise(phone)
    except InvalidNumber as exc:
        raise TopUpRejected("phone", exc.reason) from None


def _why(exc: DarajaError) -> str:
    if isinstance(exc, DarajaRejected):
        return f"{exc.code} {exc.description}".strip()
    return str(exc) or type(exc).__name__


def _receipt(result: daraja_messages.StkResult) -> str:
    return result.payment.receipt if result.payment else result.checkout_request_id


def _outcome(settled: Settled) -> CallbackOutcome:
    if not settled.changed:
        return CallbackOutcome.DUPLICATE
    if settled.topup.status is TopUpStatus.COMPLETED:
        return CallbackOutcome.CREDITED
    return CallbackOutcome.FAILED
