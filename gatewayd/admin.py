"""Operator commands over the Store protocol: accounts, API clients, sender IDs, floats,
packages and offline top-ups. `gatewayd admin …` parses the command line and calls these.
Top-ups go through gatewayd.service.topups.TopUps, as the HTTP API's do, so the rules of
pricing and settling a top-up live in one place.

Accounts are named by id or by name; sender IDs by id or by name (narrowed with the account
and the operator when a name is used more than once). Every change to money goes through the
ledger with the acting operator's name (`admin:<user>`). Errors a person can fix are
`AdminError`s (exit status 1); nothing here prints.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.packages import PackageError, validate_package
from gatewayd.service.model import (
    Account,
    ApiClient,
    CampaignType,
    LedgerEntry,
    LedgerKind,
    Package,
    SenderId,
    SenderStatus,
    SenderType,
    TopUp,
    TopUpStatus,
)
from gatewayd.service.ports import AlreadyExists, InsufficientBalance, NotFound, Store
from gatewayd.service.topups import Settled, TopUpNotFound, TopUpRejected, TopUps

OPERATORS = ("safaricom", "airtel", "telkom")


class AdminError(Exception):
    """A request that cannot be done as asked (not found, ambiguous, taken, no balance …)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class NewClient:
    """A created API client and its secret, which is shown this once and never stored."""

    client: ApiClient
    client_secret: str


@dataclass(frozen=True, slots=True)
class SenderFloat:
    sender: SenderId
    balance: int


@dataclass(frozen=True, slots=True)
class FloatStatement:
    sender: SenderId
    balance: int
    entries: Sequence[LedgerEntry]


class Admin:
    """The admin use-cases, one method per command."""

    def __init__(
        self,
        store: Store,
        *,
        actor: str,
        hash_secret: Callable[[str], str],
        new_credentials: Callable[[], tuple[str, str]],
        clock: Callable[[], datetime] = utc_now,
        make_id: Callable[[], str] = new_id,
        topups: TopUps | None = None,
    ) -> None:
        """`topups`: the top-up use-cases over the same store (offline ones need no Daraja;
        the expiry sweep does); by default one without Daraja, with `make_id` for ids."""
        self.store = store
        self.topups = topups or TopUps(store, new_id=make_id)
        self._user = actor
        self.actor = f"admin:{actor}"
        self._hash = hash_secret
        self._credentials = new_credentials
        self._now = clock
        self._id = make_id

    # -- accounts and API clients -----------------------------------------------------------

    async def create_account(self, name: str) -> Account:
        name = name.strip()
        if not name:
            raise AdminError("account name must not be empty")
        if any(a.name == name for a in await self.store.list_accounts()):
            raise AdminError(f"an account named {name!r} exists already")
        return await self.store.create_account(self._id(), name, self._now())

    async def list_accounts(self) -> Sequence[Account]:
        return await self.store.list_accounts()

    async def account(self, ref: str) -> Account:
        """The account whose id or name is `ref`."""
        try:
            return await self.store.get_account(ref)
        except NotFound:
            pass
        named = [a for a in await self.store.list_accounts() if a.name == ref]
        if len(named) == 1:
            return named[0]
        if named:
            ids = ", ".join(a.id for a in named)
            raise AdminError(f"several accounts are named {ref!r}; use an id: {ids}")
        raise AdminError(f"no account with id or name {ref!r}")

    async def set_callback_on_sent(self, account_ref: str, on: bool) -> Account:
        """Whether the account's messages also call back when they become SENT (issue 4).

        Messages take the setting when they are accepted: those accepted before the change
        keep the old one, and a running daemon, which reuses sender lookups for a second,
        applies it to messages accepted from a second after the change."""
        account = await self.account(account_ref)
        try:
            return await self.store.set_account_callback_on_sent(account.id, on)
        except NotFound:  # removed between the lookup and the write
            raise AdminError(f"no account with id or name {account_ref!r}") from None

    async def create_client(self, account_ref: str) -> NewClient:
        account = await self.account(account_ref)
        client_id, secret = self._credentials()
        client = await self.store.create_api_client(
            account.id, client_id, self._hash(secret), self._now()
        )
        return NewClient(client, secret)

    async def list_clients(self, account_ref: str) -> Sequence[ApiClient]:
        account = await self.account(account_ref)
        return await self.store.list_api_clients(account.id)

    # -- sender IDs and floats ----------------------------------------------------------------

    async def create_sender(
        self,
        account_ref: str,
        name: str,
        operator: str,
        type: SenderType = SenderType.ALPHANUMERIC,
        campaign: CampaignType = CampaignType.TRANSACTIONAL,
    ) -> SenderId:
        account = await self.account(account_ref)
        _check_sender_name(name, type)
        if type is SenderType.SHORTCODE:
            await self._check_short_code_free(account.id, name, _operator(operator))
        try:
            return await self.store.create_sender(
                self._id(), account.id, name, _operator(operator), type, campaign, self._now()
            )
        except AlreadyExists:
            raise AdminError(
                f"account {account.name!r} already has sender {name!r} on {operator}"
            ) from None

    async def _check_short_code_free(self, account_id: str, name: str, operator: str) -> None:
        """A short code receives MO (replies, STOP): the operator delivers it by number alone,
        so one number on one operator must belong to one account, or replies and opt-outs
        could land with the wrong customer. Names are otherwise unique per account only."""
        others = sorted(
            {
                s.account_id
                for s in await self.store.list_senders()
                if s.name == name and s.operator == operator and s.account_id != account_id
            }
        )
        if others:
            owners = ", ".join([repr((await self.store.get_account(a)).name) for a in others])
            raise AdminError(
                f"short code {name!r} on {operator} already belongs to account {owners}: "
                "replies and STOP to it could not be told apart"
            )

    async def list_senders(self, account_ref: str | None = None) -> list[SenderFloat]:
        account_id = (await self.account(account_ref)).id if account_ref else None
        senders = await self.store.list_senders(account_id)
        return [SenderFloat(s, await self.store.balance(s.id)) for s in senders]

    async def sender(
        self, ref: str, *, account_ref: str | None = None, operator: str | None = None
    ) -> SenderId:
        """The sender ID whose id is `ref`, or the one named `ref` (narrowed by account and
        operator when the name is used more than once)."""
        try:
            return await self.store.get_sender(ref)
        except NotFound:
            pass
        account_id = (await self.account(account_ref)).id if account_ref else None
        named = [
            s
            for s in await self.store.list_senders(account_id)
            if s.name == ref and operator in (None, s.operator)
        ]
        if len(named) == 1:
            return named[0]
        if named:
            choices = ", ".join(f"{s.id} ({s.operator}, account {s.account_id})" for s in named)
            raise AdminError(
                f"several sender IDs are named {ref!r}; give --account/--operator or an id: "
                f"{choices}"
            )
        raise AdminError(f"no sender ID with id or name {ref!r}")

    async def set_sender_status(self, sender: SenderId, status: SenderStatus) -> SenderId:
        """Suspend a sender ID (sends from it are refused) or make it active again."""
        return await self.store.set_sender_status(sender.id, status)

    async def credit_float(self, sender: SenderId, units: int, reason: str) -> LedgerEntry:
        """Add units to a float (a manual adjustment, e.g. a goodwill or migration credit)."""
        if units <= 0:
            raise AdminError("units must be a positive whole number")
        return await self._post(sender, units, reason or "manual credit")

    async def debit_float(self, sender: SenderId, units: int, reason: str) -> LedgerEntry:
        """Take units off a float (a correction); refused if the float would go negative."""
        if units <= 0:
            raise AdminError("units must be a positive whole number")
        if not reason:
            raise AdminError("a debit needs --reason")
        return await self._post(sender, -units, reason)

    async def _post(self, sender: SenderId, units: int, reason: str) -> LedgerEntry:
        try:
            return await self.store.post_entry(
                sender.id, LedgerKind.ADJUSTMENT, units, self.actor, reason, "admin", self._now()
            )
        except InsufficientBalance as exc:
            raise AdminError(
                f"float of {sender.name!r} ({sender.operator}) is {exc.available} units; "
                f"cannot take {exc.needed}"
            ) from None

    async def statement(self, sender: SenderId) -> FloatStatement:
        entries = await self.store.entries(sender.id)
        return FloatStatement(sender, await self.store.balance(sender.id), entries)

    # -- packages and offline top-ups ---------------------------------------------------------

    async def create_package(
        self, name: str, operator: str, rate_cents: int, min_units: int
    ) -> Package:
        try:
            validate_package(name, _operator(operator), rate_cents, min_units)
        except PackageError as exc:
            raise AdminError(str(exc)) from None
        package = Package(self._id(), name, operator, rate_cents, min_units, True)
        return await self.store.create_package(package)

    async def list_packages(self, operator: str | None = None) -> Sequence[Package]:
        return await self.store.list_packages(_operator(operator) if operator else None)

    async def request_topup(self, sender: SenderId, package_id: str, units: int) -> TopUp:
        """An offline top-up (bank transfer, cash …), PENDING until approved or rejected."""
        package = await self._package(package_id)
        try:
            return await self.topups.request_offline(
                sender.account_id, sender.id, package.id, units, self._now()
            )
        except TopUpRejected as exc:
            raise AdminError(exc.reason) from None

    async def list_topups(
        self, status: TopUpStatus | None = None, account_ref: str | None = None
    ) -> Sequence[TopUp]:
        account_id = (await self.account(account_ref)).id if account_ref else None
        return await self.store.list_topups(account_id, status)

    async def approve_topup(self, topup_id: str) -> TopUp:
        """Credit the float once, with its ledger entry, and mark the top-up COMPLETED."""
        return _settled(topup_id, await self._offline(self.topups.approve, topup_id))

    async def reject_topup(self, topup_id: str, reason: str) -> TopUp:
        """Mark a PENDING offline top-up FAILED with `reason`; nothing is credited."""
        reject = functools.partial(self.topups.reject, reason=reason or "rejected")
        return _settled(topup_id, await self._offline(reject, topup_id))

    async def query_topup(self, topup_id: str) -> TopUp:
        """Ask Daraja about a PENDING M-Pesa top-up and settle it if Daraja knows the outcome."""
        try:
            return (await self.topups.query(topup_id, self._now())).topup
        except TopUpNotFound:
            raise AdminError(f"no top-up {topup_id!r}") from None

    async def expire_topups(self) -> Sequence[Settled]:
        """One expiry sweep (the daemon runs it on a timer): M-Pesa top-ups PENDING past the
        expiry are asked about through Daraja's status query, then credited or FAILED."""
        return await self.topups.expire(self._now())

    async def _offline(self, settle: Callable[..., Awaitable[Settled]], topup_id: str) -> Settled:
        try:
            return await settle(topup_id, self._user, now=self._now())
        except TopUpNotFound:
            raise AdminError(f"no top-up {topup_id!r}") from None
        except TopUpRejected:
            raise AdminError(
                f"top-up {topup_id} is paid by M-Pesa; Daraja's result settles it"
            ) from None

    async def _package(self, package_id: str) -> Package:
        try:
            return await self.store.get_package(package_id)
        except NotFound:
            pass
        named = [p for p in await self.store.list_packages() if p.name == package_id]
        if len(named) == 1:
            return named[0]
        raise AdminError(f"no package with id or name {package_id!r}")


def _settled(topup_id: str, settled: Settled) -> TopUp:
    if not settled.changed:
        raise AdminError(f"top-up {topup_id} is {settled.topup.status.value} already")
    return settled.topup


def _operator(value: str) -> str:
    operator = value.strip().lower()
    if operator not in OPERATORS:
        raise AdminError(f"operator must be one of {', '.join(OPERATORS)}, not {value!r}")
    return operator


def _check_sender_name(name: str, type: SenderType) -> None:
    """Alphanumeric sender names are 1–11 characters (GSM 03.40); short codes 3–8 digits."""
    if type is SenderType.SHORTCODE:
        if not (name.isdigit() and 3 <= len(name) <= 8):
            raise AdminError(f"a short code is 3 to 8 digits, not {name!r}")
    elif not (1 <= len(name) <= 11 and name.isascii() and name.strip() == name):
        raise AdminError(f"an alphanumeric sender name is 1 to 11 ASCII characters, not {name!r}")


# -- output -------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and datetimes as plain JSON values; secret hashes left out, and the
    account setting a sender ID is read with (shown with the account, where it is set)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out.pop("secret_hash", None)
        if isinstance(value, SenderId):
            out.pop("account_callback_on_sent", None)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain left-aligned text table (numbers right-aligned) for people."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [_numeric([row[i] for row in rows]) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


def _numeric(column: Sequence[Any]) -> bool:
    values = [v for v in column if v is not None]
    return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def kes(cents: int) -> str:
    return f"KES {cents // 100:,}.{cents % 100:02d}"
