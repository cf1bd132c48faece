"""Send, read and balance use-cases behind the Kimisms-compatible API.

`send` checks every rule before anything is written, so a refused send stores nothing and costs
nothing: callback URL, sender ID name, number, operator (from the prefix table, read through a
holder so a reload takes effect on the next send), the sender ID of that operator, opt-out,
units and parts. The one rule only the store can check atomically, the float, is enforced by
`store.accept`, which writes the message, its debit and its ledger entry in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from billing.units import MessageError, measure
from billing.units import MessageTooLong as BillingTooLong
from gatewayd.service import errors
from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.model import (
    Accepted,
    CampaignType,
    IdempotentResponse,
    Message,
    NewMessage,
    SenderId,
    SenderStatus,
)
from gatewayd.service.ports import InsufficientBalance, NotFound, Store
from routing import InvalidNumber, Operator, PrefixTable, normalise
from smpp.core.text.plan import LongMessageMethod, count_parts

PRIORITY_MIN = 0
PRIORITY_MAX = 10


class PrefixSource(Protocol):
    """Where the current prefix table is read from (routing.PrefixTableHolder)."""

    @property
    def current(self) -> PrefixTable: ...


class OptOuts(Protocol):
    """Numbers that sent STOP to a sender ID; promotional traffic to them is refused."""

    async def is_opted_out(self, sender_id: str, contact: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """The request's Idempotency-Key: the accept keeps the answer under it in the same
    transaction as the message, so a retry after a crash replays it instead of sending twice.

    `answer` renders the response (status, body) for the accepted message; it is called
    before the commit, which works because the message id is chosen here, not by the store.
    """

    key: str
    request_hash: str
    answer: Callable[[Accepted], tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class SenderBalance:
    sender_id: str
    name: str
    operator: Operator
    units: int


@dataclass(frozen=True, slots=True)
class Balances:
    """An account's float: per sender ID and summed per operator, in SMS units."""

    senders: tuple[SenderBalance, ...]
    operators: Mapping[Operator, int]

    @property
    def total(self) -> int:
        return sum(s.units for s in self.senders)


_URLS_KEPT = 1024  # callback URLs whose acceptance is remembered
_SENDERS_KEPT = 4096  # (account, sender name) lookups remembered


def new_message_id() -> str:
    """A message id as seed 001 shows them: a UUID in its canonical text form."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class MessagingService:
    """The API's use-cases over the store port; no I/O of its own."""

    store: Store
    prefixes: PrefixSource
    callback_policy: CallbackPolicy = field(default_factory=CallbackPolicy)
    opt_outs: OptOuts | None = None
    long_method: LongMessageMethod = LongMessageMethod.UDH8
    new_id: Callable[[], str] = new_message_id
    on_accepted: Callable[[Accepted], None] | None = None  # e.g. wake that operator's dispatcher
    # The same hook with the full Message (built for it, some 20 µs): prefer `on_accepted`.
    after_accept: Callable[[Message], None] | None = None
    # Seconds a sender lookup is reused (0: every send reads the store). The daemon sets a
    # second: the read was a store round trip per send, and a suspension or a campaign change
    # made elsewhere takes effect within that second. Refusals are never remembered.
    sender_cache_ttl: float = 0.0
    _urls_ok: set[tuple[CallbackPolicy, str]] = field(default_factory=set, init=False, repr=False)
    _senders_seen: dict[tuple[str, str], tuple[datetime, list[SenderId]]] = field(
        default_factory=dict, init=False, repr=False
    )

    async def send(
        self,
        account_id: str,
        actor: str,
        sender_name: str,
        contact: str,
        message: str,
        callback_url: str | None,
        *,
        limit: int,
        priority: int = 0,
        client_ref: str | None = None,
        now: datetime,
        idempotency: IdempotencyKey | None = None,
    ) -> Accepted:
        """Accept one message for delivery, or raise a SendRejected naming field and reason.

        With `idempotency`, the answer is kept with the message; when the key already has an
        answer the result is `replayed` (nothing sent, nothing debited) and carries it in
        `record`, for the caller to compare its request hash and answer with it."""
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise ValueError(f"priority: must be {PRIORITY_MIN}–{PRIORITY_MAX}, got {priority}")
        if callback_url is not None:
            self._check_callback_url(callback_url)
        senders = await self._active_senders(account_id, sender_name, now)
        msisdn, operator = self._route(contact)
        sender = _sender_for(senders, sender_name, operator)
        units, encoding = _bill(message, limit)
        parts = _parts(message, self.long_method)
        await self._check_opt_out(sender, msisdn)
        new = NewMessage(
            id=self.new_id(),
            account_id=account_id,
            sender_id=sender.id,
            sender_name=sender.name,
            contact=msisdn,
            operator=sender.operator,
            text=message,
            units=units,
            parts=parts,
            encoding=encoding,
            priority=priority,
            callback_url=callback_url,
            client_ref=client_ref,
            actor=actor,
            created_at=now,
        )
        record = None
        if idempotency is not None:
            status, body = idempotency.answer(Accepted(new))
            record = IdempotentResponse(
                account_id, idempotency.key, idempotency.request_hash, status, body, now
            )
        accepted = await self._accept(new, record)
        if accepted.replayed:
            return accepted
        self._accepted(accepted)
        return accepted

    def _check_callback_url(self, url: str) -> None:
        """`callback_policy.check_url`, remembered per (policy, URL): the verdict depends on
        nothing else, clients repeat one URL, and parsing it is a good part of a send."""
        key = (self.callback_policy, url)
        if key in self._urls_ok:
            return
        self.callback_policy.check_url(url)
        if len(self._urls_ok) >= _URLS_KEPT:
            self._urls_ok.clear()
        self._urls_ok.add(key)

    def _accepted(self, accepted: Accepted) -> None:
        if self.on_accepted is not None:
            self.on_accepted(accepted)
        if self.after_accept is not None:
            self.after_accept(accepted.to_message())

    async def get_message(self, account_id: str, message_id: str) -> Message:
        """The account's message with its timeline; MessageNotFound for anyone else's."""
        try:
            return await self.store.get_message(message_id, account_id)
        except NotFound:
            raise errors.MessageNotFound(message_id) from None

    async def balances(self, account_id: str) -> Balances:
        """Float per sender ID of the account and per operator."""
        senders = await self.store.list_senders(account_id)
        units = await self.store.balances(account_id)
        rows = tuple(
            SenderBalance(s.id, s.name, Operator.parse(s.operator), units.get(s.id, 0))
            for s in sorted(senders, key=lambda s: (s.name, s.operator))
        )
        per_operator = dict.fromkeys(Operator, 0)
        for row in rows:
            per_operator[row.operator] += row.units
        return Balances(rows, per_operator)

    async def _active_senders(self, account_id: str, name: str, now: datetime) -> list[SenderId]:
        """`_senders`, reused for `sender_cache_ttl` seconds of the callers' clock."""
        if self.sender_cache_ttl <= 0:
            return await self._senders(account_id, name)
        key = (account_id, name)
        seen = self._senders_seen.get(key)
        if seen is not None and now < seen[0]:
            return seen[1]
        active = await self._senders(account_id, name)
        if len(self._senders_seen) >= _SENDERS_KEPT:
            self._senders_seen.clear()
        self._senders_seen[key] = (now + timedelta(seconds=self.sender_cache_ttl), active)
        return active

    async def _senders(self, account_id: str, name: str) -> list[SenderId]:
        found = [s for s in await self.store.find_senders(account_id, name) if s.name == name]
        if not found:
            raise errors.SenderNotFound(name)
        active = [s for s in found if s.status is SenderStatus.ACTIVE]
        if not active:
            raise errors.SenderSuspended(name)
        return active

    def _route(self, contact: str) -> tuple[str, Operator | None]:
        """(canonical number, its operator or None when we route to no one there)."""
        try:
            msisdn = normalise(contact)
        except InvalidNumber as exc:
            raise errors.InvalidNumber(exc.reason) from None
        match = self.prefixes.current.match(msisdn)
        if match is None:
            raise errors.InvalidNumber("not an allocated Kenyan mobile number range")
        return msisdn, match.operator

    async def _check_opt_out(self, sender: SenderId, msisdn: str) -> None:
        if self.opt_outs is None or sender.campaign is not CampaignType.PROMOTIONAL:
            return
        if await self.opt_outs.is_opted_out(sender.id, msisdn):
            raise errors.OptedOut()

    async def _accept(self, new: NewMessage, record: IdempotentResponse | None) -> Accepted:
        try:
            if record is None:
                return await self.store.accept(new)
            return await self.store.accept(new, idempotency=record)
        except InsufficientBalance as exc:
            raise errors.InsufficientBalance(exc.needed, exc.available) from None
        except NotFound:  # the sender ID was removed between the lookup and the accept
            raise errors.SenderNotFound(new.sender_name) from None


def _sender_for(senders: Sequence[SenderId], name: str, operator: Operator | None) -> SenderId:
    for sender in senders:
        if operator is not None and sender.operator == operator.value:
            return sender
    raise errors.NoMatchingSender(name, operator.display_name if operator else None)


def _bill(text: str, limit: int) -> tuple[int, str]:
    """(units, encoding) per seed 000's table; the text's own errors as SendRejected."""
    try:
        size = measure(text, limit=limit)
    except BillingTooLong as exc:
        raise errors.MessageTooLong(exc.limit) from None
    except (MessageError, UnicodeError) as exc:
        raise errors.InvalidText(str(exc)) from None
    return size.units, size.encoding.value


def _parts(text: str, method: LongMessageMethod) -> int:
    """SMPP parts the text goes out as; a lone surrogate cannot be sent at all."""
    try:
        return count_parts(text, method)
    except ValueError as exc:
        raise errors.InvalidText(str(exc)) from None
