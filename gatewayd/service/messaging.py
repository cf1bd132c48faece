"""Send, read and balance use-cases behind the Kimisms-compatible API.

`send` checks every rule before anything is written, so a refused send stores nothing and costs
nothing: callback URL, sender ID name, number, operator (from the prefix table, read through a
holder so a reload takes effect on the next send), the sender ID of that operator, opt-out,
units and parts. The one rule only the store can check atomically, the float, is enforced by
`store.accept`, which writes the message, its debit and its ledger entry in one transaction.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from billing.units import MessageError, measure
from billing.units import MessageTooLong as BillingTooLong
from gatewayd.service import errors
from gatewayd.service.callback_policy import MAX_URL_LENGTH, CallbackPolicy
from gatewayd.service.model import (
    Accepted,
    CampaignType,
    IdempotentResponse,
    Message,
    NewMessage,
    SenderId,
    SenderStatus,
)
from gatewayd.service.ports import (
    AcceptOutcome,
    BulkIdempotency,
    InsufficientBalance,
    NotFound,
    Store,
)
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
class BulkItem:
    """One message of a bulk send, its fields already well-formed (the HTTP layer's part)."""

    contact: str
    message: str
    callback_url: str | None = None  # None: the request's callback_url
    client_ref: str | None = None


BulkOutcome = Accepted | errors.SendRejected  # one item: accepted, or refused and why


@dataclass(frozen=True, slots=True)
class BulkKey:
    """A bulk request's Idempotency-Key. `answer` renders the response from every item's
    outcome, in order; the store calls it inside the accept's transaction, once it knows
    which messages the floats covered, and keeps the answer there."""

    key: str
    request_hash: str
    answer: Callable[[Sequence[BulkOutcome]], tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Per item, in order, its `Accepted` or the SendRejected send-sms would have answered.
    `replayed`: the key already had an answer, in `record`, and nothing was sent; otherwise
    `record` is the answer kept (None without a key, or when nothing was accepted)."""

    outcomes: tuple[BulkOutcome, ...]
    record: IdempotentResponse | None = None
    replayed: bool = False


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


_RANDOM_CHUNK = 8 * 512  # os.urandom bytes read at once: the randomness of 512 ids


class _RandomBytes:
    """os.urandom read a chunk at a time and handed out 8 bytes per id: the same source,
    one system call per 512 ids instead of one per id. Each call lets another thread (the
    store's writer) take the interpreter lock, and the event loop then waits to get it
    back. A forked child forgets the parent's unused bytes, so the two never share ids."""

    def __init__(self) -> None:
        self._chunk = b""
        self._at = 0

    def take(self, size: int) -> bytes:
        at = self._at
        if at + size > len(self._chunk):
            self._chunk, at = os.urandom(_RANDOM_CHUNK), 0
        self._at = at + size
        return self._chunk[at : at + size]

    def forget(self) -> None:
        self._chunk, self._at = b"", 0


_random = _RandomBytes()
os.register_at_fork(after_in_child=_random.forget)


def new_message_id() -> str:
    """A message id as seed 001 shows them: a UUID in its canonical text form, of version 7
    (RFC 9562): 48 bits of Unix milliseconds, 12 bits of the fraction of that millisecond
    (the RFC's method 3), the variant, then 62 random bits. Why not a random version 4:
    ids made one after the other sort one after the other, so each accept adds its id at
    the right edge of the store's unique index instead of on a random page of it, and every
    page a commit dirtied is written to the WAL in full (`bench/store_bench.py --lifecycle`:
    8.7 KB of WAL per accept with random ids, 4.9 KB with these). No logic reads the time
    back out of an id (it only orders), and ids were never a credential: another account's
    message is a 404 whatever its id."""
    ms, within = divmod(time.time_ns(), 1_000_000)
    high = (ms & _MS_MASK) << 16 | 0x7000 | within * 4096 // 1_000_000
    low = int.from_bytes(_random.take(8)) & _RAND_MASK | _VARIANT
    h = f"{high:016x}{low:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_MS_MASK = (1 << 48) - 1
_RAND_MASK = (1 << 62) - 1
_VARIANT = 0b10 << 62  # RFC 9562's variant


# As callback_policy.parse_callback_url checks them on the whole URL.
_BAD_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


def _origin(url: str) -> str:
    """`scheme://authority` of `url`: up to the first "/", "?" or "#" after "://" (the whole
    URL when it has no "://"), the part urlsplit takes scheme, host and port from."""
    start = url.find("://")
    if start < 0:
        return url
    end = len(url)
    for mark in "/?#":
        at = url.find(mark, start + 3)
        if 0 <= at < end:
            end = at
    return url[:end]


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
    # The operators the daemon has an SMSC for (enabled or not: a disabled one is paused, its
    # messages wait); a recipient on any other network is refused like an unrouted number
    # ("No matching sender"), not charged for a message that could only expire. None: all.
    served: Callable[[], Collection[str]] | None = None
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
            callback_on_sent=sender.account_callback_on_sent,
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

    async def send_bulk(
        self,
        account_id: str,
        actor: str,
        sender_names: Sequence[str],
        items: Sequence[BulkItem],
        callback_url: str | None = None,
        *,
        limit: int,
        priority: int = 0,
        now: datetime,
        idempotency: BulkKey | None = None,
    ) -> BulkResult:
        """Accept many messages in one store transaction, each checked as `send` checks one.

        The sender IDs of all `sender_names` form one pool, in the order given; each item takes
        the pool's first active sender ID of its recipient's operator. An item the pool cannot
        serve is refused as `send` would refuse it with that pool ("Sender ID not found" when
        no name exists, "Sender ID suspended" when none is active, else "No matching sender").
        The floats are the store's: once a sender's float falls short, its later items are
        refused with "Insufficient balance" and cost nothing."""
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            raise ValueError(f"priority: must be {PRIORITY_MIN}–{PRIORITY_MAX}, got {priority}")
        if not sender_names:
            raise ValueError("sender_names: at least one")
        pool = await self._pool(account_id, sender_names, now)
        outcomes: list[BulkOutcome | None] = []
        batch: list[NewMessage] = []
        slots: list[int] = []  # the item of each message in `batch`
        for item in items:
            try:
                new = await self._bulk_message(
                    account_id, actor, sender_names, pool, item, callback_url, limit,
                    priority, now,
                )  # fmt: skip
            except errors.SendRejected as exc:
                outcomes.append(exc)
                continue
            slots.append(len(outcomes))
            outcomes.append(None)
            batch.append(new)
        if not batch:
            return BulkResult(tuple(o for o in outcomes if o is not None))

        def merged(stored: Sequence[AcceptOutcome]) -> tuple[BulkOutcome, ...]:
            full = list(outcomes)
            for slot, new, outcome in zip(slots, batch, stored, strict=True):
                full[slot] = _bulk_outcome(new, outcome)
            return tuple(o for o in full if o is not None)

        key = None
        if idempotency is not None:
            answer = idempotency.answer
            key = BulkIdempotency(
                account_id, idempotency.key, idempotency.request_hash, now,
                lambda stored: answer(merged(stored)),
            )  # fmt: skip
        result = await self.store.accept_many(batch, idempotency=key)
        if result.replayed:
            return BulkResult((), result.record, True)
        done = merged(result.outcomes)
        for outcome in done:
            if isinstance(outcome, Accepted):
                self._accepted(outcome)
        return BulkResult(done, result.record)

    async def _pool(
        self, account_id: str, names: Sequence[str], now: datetime
    ) -> list[SenderId] | errors.SendRejected:
        """The active sender IDs of `names`, in order; when there is none, the refusal `send`
        gives for such a pool (suspended beats not found: a name exists)."""
        pool: list[SenderId] = []
        refusal: errors.SendRejected | None = None
        for name in dict.fromkeys(names):
            try:
                pool.extend(await self._active_senders(account_id, name, now))
            except errors.SenderSuspended as exc:
                refusal = exc
            except errors.SenderNotFound as exc:
                refusal = refusal or exc
        if pool:
            return pool
        assert refusal is not None
        return refusal

    async def _bulk_message(
        self,
        account_id: str,
        actor: str,
        names: Sequence[str],
        pool: list[SenderId] | errors.SendRejected,
        item: BulkItem,
        callback_url: str | None,
        limit: int,
        priority: int,
        now: datetime,
    ) -> NewMessage:
        """One item's message, checked in `send`'s order; SendRejected as `send` raises it."""
        url = item.callback_url if item.callback_url is not None else callback_url
        if url is not None:
            self._check_callback_url(url)
        if isinstance(pool, errors.SendRejected):
            raise pool
        msisdn, operator = self._route(item.contact)
        sender = _sender_for(pool, " or ".join(dict.fromkeys(names)), operator)
        units, encoding = _bill(item.message, limit)
        parts = _parts(item.message, self.long_method)
        await self._check_opt_out(sender, msisdn)
        return NewMessage(
            id=self.new_id(),
            account_id=account_id,
            sender_id=sender.id,
            sender_name=sender.name,
            contact=msisdn,
            operator=sender.operator,
            text=item.message,
            units=units,
            parts=parts,
            encoding=encoding,
            priority=priority,
            callback_url=url,
            client_ref=item.client_ref,
            actor=actor,
            created_at=now,
            callback_on_sent=sender.account_callback_on_sent,
        )

    def _check_callback_url(self, url: str) -> None:
        """`callback_policy.check_url`, remembered per (policy, origin): clients repeat one
        endpoint, often with a per-message query (`…/cb?id=42`), and parsing the URL was a
        good part of a send. Beyond the URL's length and characters, which are checked here on
        the whole URL, the verdict depends only on the scheme and the authority: the URL up to
        the first "/", "?" or "#" after "://". Without "://" the whole URL is the key."""
        if len(url) <= MAX_URL_LENGTH and _BAD_URL_CHARS.search(url) is None:
            key = (self.callback_policy, _origin(url))
        else:
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
        operator = match.operator
        if operator is not None and self.served is not None and operator not in self.served():
            return msisdn, None
        return msisdn, operator

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


def _bulk_outcome(new: NewMessage, stored: AcceptOutcome) -> BulkOutcome:
    """The store's outcome for one message of a bulk as `send` would answer it."""
    if isinstance(stored, Accepted):
        return stored
    if isinstance(stored, InsufficientBalance):
        return errors.InsufficientBalance(stored.needed, stored.available)
    if isinstance(stored, NotFound):  # the sender ID was removed between lookup and accept
        return errors.SenderNotFound(new.sender_name)
    raise stored


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
