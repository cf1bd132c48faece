"""An in-memory `Store` with the same semantics as the SQL adapters.

For unit tests of the use-cases and the HTTP API. Every method runs without awaiting anything
in between, so on one event loop each call is atomic, as a transaction is. Money is exact, a
float never goes negative, messages only move forward, receipts park and match — the same
rules module as the SQL stores, checked by the same contract suite.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from gatewayd.service.model import (
    Accepted,
    Account,
    ApiClient,
    CallbackJob,
    CallbackState,
    CampaignType,
    DispatchState,
    IdempotentResponse,
    InboundMessage,
    InDoubtPolicy,
    LedgerEntry,
    LedgerKind,
    Message,
    MessagePage,
    MessagePart,
    MessageStatus,
    MoPart,
    NewMessage,
    OptOut,
    OptOutSource,
    Package,
    PartStatus,
    ReceiptOutcome,
    ReceiptResult,
    RefundPolicy,
    SenderId,
    SenderStatus,
    SenderType,
    StatusEvent,
    TopUp,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.ports import (
    AcceptedMany,
    AcceptOutcome,
    AlreadyExists,
    BulkIdempotency,
    InsufficientBalance,
    NotFound,
    StoreError,
)
from gatewayd.store import rules

_Key = tuple[str, str]
K = TypeVar("K")
V = TypeVar("V")


class MemoryStore:
    """Satisfies `gatewayd.service.ports.Store`; nothing survives the process."""

    def __init__(
        self,
        *,
        refund_policy: RefundPolicy = RefundPolicy.NEVER,
        receipt_ttl: timedelta = timedelta(days=3),
        parked_ttl: timedelta = timedelta(days=1),
    ) -> None:
        self.refund_policy = refund_policy
        self.receipt_ttl = receipt_ttl
        self.parked_ttl = parked_ttl
        self._accounts: dict[str, Account] = {}
        self._clients: dict[str, ApiClient] = {}
        self._senders: dict[str, SenderId] = {}
        self._floats: dict[str, int] = {}
        self._ledger: list[LedgerEntry] = []
        self._packages: dict[str, Package] = {}
        self._topups: dict[str, TopUp] = {}
        self._messages: dict[str, Message] = {}
        self._parts: dict[str, list[MessagePart]] = {}
        self._events: dict[str, list[StatusEvent]] = {}
        self._receipt_map: dict[_Key, tuple[str, int, datetime]] = {}
        self._parked: dict[_Key, tuple[MessageStatus, str, datetime]] = {}
        self._idempotent: dict[_Key, IdempotentResponse] = {}
        self._callbacks: dict[int, CallbackJob] = {}
        self._inbound: dict[str, InboundMessage] = {}
        self._mo_parts: dict[tuple[str, str], dict[int, MoPart]] = {}
        self._opt_outs: dict[_Key, OptOut] = {}
        self._ids = itertools.count(1)
        self.closed = False

    # -- lifecycle ------------------------------------------------------------------------

    async def migrate(self) -> int:
        return 0

    async def ping(self) -> None:
        if self.closed:
            raise RuntimeError("store is closed")

    async def close(self) -> None:
        self.closed = True

    # -- accounts, clients, senders -------------------------------------------------------

    async def create_account(self, account_id: str, name: str, now: datetime) -> Account:
        if account_id in self._accounts:
            raise AlreadyExists(f"account {account_id}")
        account = Account(account_id, name, now)
        self._accounts[account_id] = account
        return account

    async def get_account(self, account_id: str) -> Account:
        return _get(self._accounts, account_id, "account")

    async def list_accounts(self) -> Sequence[Account]:
        return sorted(self._accounts.values(), key=lambda a: (a.created_at, a.id))

    async def set_account_callback_on_sent(self, account_id: str, on: bool) -> Account:
        """The SQL stores read the setting with each sender ID; here the account's sender IDs
        are kept with it, so they are rewritten with the account."""
        account = dataclasses.replace(
            _get(self._accounts, account_id, "account"), callback_on_sent=on
        )
        self._accounts[account_id] = account
        for sender in [s for s in self._senders.values() if s.account_id == account_id]:
            self._senders[sender.id] = dataclasses.replace(sender, account_callback_on_sent=on)
        return account

    async def create_api_client(
        self, account_id: str, client_id: str, secret_hash: str, now: datetime
    ) -> ApiClient:
        _get(self._accounts, account_id, "account")
        if client_id in self._clients:
            raise AlreadyExists(f"client {client_id}")
        client = ApiClient(client_id, account_id, secret_hash, True, now)
        self._clients[client_id] = client
        return client

    async def get_api_client(self, client_id: str) -> ApiClient:
        return _get(self._clients, client_id, "client")

    async def list_api_clients(self, account_id: str) -> Sequence[ApiClient]:
        found = [c for c in self._clients.values() if c.account_id == account_id]
        return sorted(found, key=lambda c: (c.created_at, c.client_id))

    async def create_sender(
        self,
        sender_id: str,
        account_id: str,
        name: str,
        operator: str,
        type: SenderType,
        campaign: CampaignType,
        now: datetime,
    ) -> SenderId:
        account = _get(self._accounts, account_id, "account")
        taken = any(
            s.account_id == account_id and s.name == name and s.operator == operator
            for s in self._senders.values()
        )
        if taken or sender_id in self._senders:
            raise AlreadyExists(f"sender {name} ({operator})")
        sender = SenderId(
            sender_id, account_id, name, operator, type, campaign, SenderStatus.ACTIVE, now,
            account.callback_on_sent,
        )  # fmt: skip
        self._senders[sender_id] = sender
        self._floats[sender_id] = 0
        return sender

    async def get_sender(self, sender_id: str) -> SenderId:
        return _get(self._senders, sender_id, "sender")

    async def find_senders(self, account_id: str, name: str) -> Sequence[SenderId]:
        found = [s for s in self._senders.values() if s.account_id == account_id and s.name == name]
        return sorted(found, key=lambda s: (s.operator, s.id))

    async def list_senders(self, account_id: str | None = None) -> Sequence[SenderId]:
        found = [s for s in self._senders.values() if account_id in (None, s.account_id)]
        return sorted(found, key=lambda s: (s.account_id, s.name, s.operator, s.id))

    async def set_sender_status(self, sender_id: str, status: SenderStatus) -> SenderId:
        sender = dataclasses.replace(_get(self._senders, sender_id, "sender"), status=status)
        self._senders[sender_id] = sender
        return sender

    # -- ledger ---------------------------------------------------------------------------

    async def balance(self, sender_id: str) -> int:
        return _get(self._floats, sender_id, "sender")

    async def balances(self, account_id: str) -> dict[str, int]:
        return {
            s.id: self._floats[s.id] for s in self._senders.values() if s.account_id == account_id
        }

    async def post_entry(
        self,
        sender_id: str,
        kind: LedgerKind,
        units: int,
        actor: str,
        reason: str,
        reference: str,
        now: datetime,
    ) -> LedgerEntry:
        return self._post(sender_id, kind, units, actor, reason, reference, now)

    def _post(
        self,
        sender_id: str,
        kind: LedgerKind,
        units: int,
        actor: str,
        reason: str,
        reference: str,
        now: datetime,
    ) -> LedgerEntry:
        sender = _get(self._senders, sender_id, "sender")
        after = self._floats[sender_id] + units
        if after < 0:
            raise InsufficientBalance(sender_id, -units, self._floats[sender_id])
        self._floats[sender_id] = after
        entry = LedgerEntry(
            next(self._ids), sender.account_id, sender_id, kind, units, after,
            actor, reason, reference, now,
        )  # fmt: skip
        self._ledger.append(entry)
        return entry

    async def entries(self, sender_id: str) -> Sequence[LedgerEntry]:
        return [e for e in self._ledger if e.sender_id == sender_id]

    async def ledger_sum(self, sender_id: str) -> int:
        return sum(e.units for e in self._ledger if e.sender_id == sender_id)

    # -- messages: accept and read --------------------------------------------------------

    async def accept(
        self, message: NewMessage, *, idempotency: IdempotentResponse | None = None
    ) -> Accepted:
        if idempotency is not None:
            if idempotency.account_id != message.account_id:
                raise ValueError("idempotency record of another account")
            kept = self._idempotent.get((idempotency.account_id, idempotency.key))
            if kept is not None:
                return Accepted(message, kept, True)
        sender = _get(self._senders, message.sender_id, "sender")
        if sender.account_id != message.account_id:
            raise NotFound(f"sender {message.sender_id}")
        if message.id in self._messages:
            raise AlreadyExists(f"message {message.id}")
        if self._floats[sender.id] < message.units:
            raise InsufficientBalance(sender.id, message.units, self._floats[sender.id])
        self._post(
            sender.id, LedgerKind.DEBIT, -message.units, message.actor,
            "SMS sent", message.id, message.created_at,
        )  # fmt: skip
        stored = Message(
            id=message.id, account_id=message.account_id, sender_id=message.sender_id,
            sender_name=message.sender_name, contact=message.contact, operator=message.operator,
            text=message.text, units=message.units, parts=message.parts,
            encoding=message.encoding, priority=message.priority,
            status=MessageStatus.INITIATED, description=message.description,
            dispatch=DispatchState.QUEUED, callback_url=message.callback_url,
            client_ref=message.client_ref, created_at=message.created_at,
            updated_at=message.created_at, scheduled_at=message.scheduled_at,
            callback_on_sent=message.callback_on_sent,
        )  # fmt: skip
        self._messages[message.id] = stored
        self._parts[message.id] = [
            MessagePart(message.id, i, message.parts, PartStatus.PENDING)
            for i in range(1, message.parts + 1)
        ]
        self._events[message.id] = [
            StatusEvent(
                message.id, MessageStatus.INITIATED, message.description, message.created_at
            )
        ]
        if idempotency is not None:
            self._idempotent[(idempotency.account_id, idempotency.key)] = idempotency
        return Accepted(message, idempotency)

    async def accept_many(
        self, messages: Sequence[NewMessage], *, idempotency: BulkIdempotency | None = None
    ) -> AcceptedMany:
        # `accept` never suspends, so the whole request is still one atomic step.
        if not messages:
            return AcceptedMany(())
        account_id = messages[0].account_id
        if any(m.account_id != account_id for m in messages) or (
            idempotency is not None and idempotency.account_id != account_id
        ):
            raise ValueError("the messages of one accept_many belong to one account")
        if idempotency is not None:
            kept = self._idempotent.get((idempotency.account_id, idempotency.key))
            if kept is not None:
                return AcceptedMany((), kept, True)
        outcomes: list[AcceptOutcome] = []
        short: set[str] = set()
        for message in messages:
            if message.sender_id in short:
                left = self._floats[message.sender_id]
                outcomes.append(InsufficientBalance(message.sender_id, message.units, left))
                continue
            try:
                outcomes.append(await self.accept(message))
            except InsufficientBalance as exc:
                short.add(message.sender_id)
                outcomes.append(exc)
            except StoreError as exc:
                outcomes.append(exc)
        if not any(isinstance(o, Accepted) for o in outcomes):
            return AcceptedMany(tuple(outcomes))
        record = None
        if idempotency is not None:
            record = idempotency.record(outcomes)
            self._idempotent[(record.account_id, record.key)] = record
        return AcceptedMany(tuple(outcomes), record)

    async def get_message(self, message_id: str, account_id: str | None = None) -> Message:
        message = _get(self._messages, message_id, "message")
        if account_id is not None and message.account_id != account_id:
            raise NotFound(f"message {message_id}")
        return self._full(message_id)

    def _full(self, message_id: str) -> Message:
        return dataclasses.replace(
            self._messages[message_id],
            timeline=tuple(self._events[message_id]),
            part_list=tuple(self._parts[message_id]),
        )

    async def list_messages(
        self,
        account_id: str,
        *,
        status: MessageStatus | None = None,
        sender_id: str | None = None,
        contact: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> MessagePage:
        after = rules.decode_cursor(cursor) if cursor else None
        found = [
            m
            for m in self._messages.values()
            if m.account_id == account_id
            and status in (None, m.status)
            and sender_id in (None, m.sender_id)
            and contact in (None, m.contact)
            and (since is None or m.created_at >= since)
            and (until is None or m.created_at < until)
            and (after is None or (m.created_at, m.id) < after)
        ]
        found.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        page = tuple(found[:limit])
        more = len(found) > limit
        next_cursor = rules.encode_cursor(page[-1].created_at, page[-1].id) if more else None
        return MessagePage(page, next_cursor)

    async def queue_depth(self, operator: str | None = None) -> int:
        return sum(
            1
            for m in self._messages.values()
            if m.dispatch is DispatchState.QUEUED and operator in (None, m.operator)
        )

    async def append_event(self, event: StatusEvent) -> None:
        _get(self._events, event.message_id, "message").append(event)

    # -- messages: dispatch ---------------------------------------------------------------

    async def claim_queued(
        self, operator: str, limit: int, now: datetime, smsc: str
    ) -> Sequence[Message]:
        due = [
            m
            for m in self._messages.values()
            if m.operator == operator
            and m.dispatch is DispatchState.QUEUED
            and (m.scheduled_at is None or m.scheduled_at <= now)
        ]
        due.sort(key=lambda m: (-m.priority, m.created_at, m.id))
        claimed = []
        for m in due[:limit]:
            self._set(
                m.id, now, dispatch=DispatchState.SUBMITTING, smsc=smsc, attempts=m.attempts + 1
            )
            self._parts[m.id] = [
                dataclasses.replace(p, status=PartStatus.SUBMITTING)
                if p.status is PartStatus.PENDING
                else p
                for p in self._parts[m.id]
            ]
            claimed.append(dataclasses.replace(self._full(m.id), timeline=()))
        return claimed

    async def record_submit(
        self, message_id: str, part: int, smsc: str, smsc_message_id: str, now: datetime
    ) -> None:
        current = self._part(message_id, part)
        status = PartStatus.SENT if current.status not in rules.FINAL_PART else current.status
        self._put_part(
            dataclasses.replace(current, status=status, smsc=smsc, smsc_message_id=smsc_message_id)
        )
        key = (smsc, smsc_message_id)
        self._receipt_map[key] = (message_id, part, now + self.receipt_ttl)
        self._settle(message_id, now, f"{rules.DESC_SENT}")
        parked = self._parked.pop(key, None)
        if parked is not None and parked[2] > now:
            self._apply_receipt(message_id, part, parked[0], parked[1], now)

    async def record_submits(
        self, submits: Sequence[tuple[str, int, str, str, datetime]]
    ) -> Sequence[Exception | None]:
        outcomes: list[Exception | None] = []
        for item in submits:
            try:
                await self.record_submit(*item)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    async def record_submit_failure(
        self, message_id: str, part: int, description: str, now: datetime
    ) -> None:
        current = self._part(message_id, part)
        if current.status not in rules.FINAL_PART:
            self._put_part(
                dataclasses.replace(current, status=PartStatus.FAILED, error=description)
            )
        self._settle(message_id, now, description)

    async def requeue(
        self,
        message_id: str,
        now: datetime,
        *,
        not_before: datetime | None = None,
        in_doubt: bool = False,
    ) -> None:
        message = _get(self._messages, message_id, "message")
        if message.dispatch is not DispatchState.SUBMITTING:
            return
        if in_doubt:
            self._set(message_id, now, in_doubt=message.in_doubt + 1)
            message = self._messages[message_id]
        self._requeue(message, now, not_before)

    async def submitting_on(self, smsc: str, before: datetime) -> Sequence[str]:
        found = [
            m
            for m in self._messages.values()
            if m.dispatch is DispatchState.SUBMITTING and m.smsc == smsc and m.updated_at < before
        ]
        return [m.id for m in sorted(found, key=lambda m: (m.created_at, m.id))]

    def _requeue(self, message: Message, now: datetime, not_before: datetime | None) -> None:
        self._parts[message.id] = [
            dataclasses.replace(p, status=PartStatus.PENDING)
            if p.status is PartStatus.SUBMITTING
            else p
            for p in self._parts[message.id]
        ]
        scheduled = not_before if not_before is not None else message.scheduled_at
        self._set(message.id, now, dispatch=DispatchState.QUEUED, scheduled_at=scheduled)

    async def fail_message(self, message_id: str, description: str, now: datetime) -> Message:
        message = _get(self._messages, message_id, "message")
        if message.status not in rules.FINAL_MESSAGE:
            self._move(message, MessageStatus.FAILED, description, now, None)
        return self._full(message_id)

    async def expire_queued(
        self, before: datetime, description: str, now: datetime, limit: int = 500
    ) -> Sequence[str]:
        found = sorted(
            (
                m
                for m in self._messages.values()
                if m.dispatch is DispatchState.QUEUED and m.created_at < before
            ),
            key=lambda m: (m.created_at, m.id),
        )[:limit]
        for m in found:
            self._move(m, MessageStatus.FAILED, description, now, None, m.in_doubt == 0)
        return [m.id for m in found]

    async def recover_in_doubt(
        self, now: datetime, policy: InDoubtPolicy = InDoubtPolicy.RESEND
    ) -> Sequence[Message]:
        found = [
            m
            for m in self._messages.values()
            if m.dispatch is DispatchState.SUBMITTING and m.status not in rules.FINAL_MESSAGE
        ]
        found.sort(key=lambda m: (m.created_at, m.id))
        for found_message in found:
            self._set(found_message.id, now, in_doubt=found_message.in_doubt + 1)
            m = self._messages[found_message.id]
            if policy is InDoubtPolicy.FAIL:
                self._move(m, MessageStatus.FAILED, rules.DESC_IN_DOUBT_FAIL, now, None, False)
            else:
                self._events[m.id].append(
                    StatusEvent(m.id, m.status, rules.DESC_IN_DOUBT_RESEND, now)
                )
                self._requeue(m, now, None)
        return [self._full(m.id) for m in found]

    # -- receipts -------------------------------------------------------------------------

    async def record_receipts(
        self, receipts: Sequence[tuple[str, str, MessageStatus, str, datetime]]
    ) -> Sequence[ReceiptResult | Exception]:
        outcomes: list[ReceiptResult | Exception] = []
        for item in receipts:
            try:
                outcomes.append(await self.record_receipt(*item))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def record_receipt(
        self,
        smsc: str,
        smsc_message_id: str,
        status: MessageStatus,
        description: str,
        now: datetime,
    ) -> ReceiptResult:
        key = (smsc, smsc_message_id)
        mapped = self._receipt_map.get(key)
        if mapped is None or mapped[2] <= now:
            self._parked.setdefault(key, (status, description, now + self.parked_ttl))
            return ReceiptResult(ReceiptOutcome.PARKED)
        message_id, part, _ = mapped
        before = self._messages[message_id].status
        outcome = self._apply_receipt(message_id, part, status, description, now)
        message = self._messages[message_id]
        return ReceiptResult(
            outcome, message_id, message.status, message.status is not before,
            message.created_at, message.callback_url,
        )  # fmt: skip

    def _apply_receipt(
        self, message_id: str, part: int, status: MessageStatus, description: str, now: datetime
    ) -> ReceiptOutcome:
        current = self._part(message_id, part)
        new, outcome = rules.part_after_receipt(current.status, status)
        if outcome is not ReceiptOutcome.APPLIED:
            return outcome
        error = description if new is PartStatus.FAILED else None
        self._put_part(dataclasses.replace(current, status=new, error=error))
        message = self._messages[message_id]
        if message.parts > 1:
            self._events[message_id].append(StatusEvent(message_id, status, description, now, part))
        self._settle(message_id, now, description)
        return outcome

    async def purge_expired(self, now: datetime) -> int:
        gone = [k for k, v in self._receipt_map.items() if v[2] <= now]
        gone_parked = [k for k, v in self._parked.items() if v[2] <= now]
        for k in gone:
            del self._receipt_map[k]
        for k in gone_parked:
            del self._parked[k]
        cutoff = now - timedelta(days=1)  # the SQL stores' MO_PARTS_TTL
        dropped = 0
        for key, parts in list(self._mo_parts.items()):
            if max(p.received_at for p in parts.values()) <= cutoff:
                dropped += len(parts)
                del self._mo_parts[key]
        return len(gone) + len(gone_parked) + dropped

    # -- the message state machine --------------------------------------------------------

    def _settle(self, message_id: str, now: datetime, description: str) -> None:
        """Derive the message's status from its parts and move it when that changed."""
        message = self._messages[message_id]
        parts = self._parts[message_id]
        new = rules.message_status(message.status, (p.status for p in parts))
        if all(p.status in rules.ANSWERED_PART for p in parts):
            self._set(message_id, now, dispatch=DispatchState.DONE)
            message = self._messages[message_id]
        if new is not message.status:
            text = {
                MessageStatus.SENT: rules.DESC_SENT,
                MessageStatus.DELIVERED: rules.DESC_DELIVERED,
            }.get(new, description)
            self._move(message, new, text, now, None)

    def _move(
        self,
        message: Message,
        status: MessageStatus,
        description: str,
        now: datetime,
        part: int | None,
        refundable: bool = True,
    ) -> None:
        """Set the public status, append the event, write the callback, refund per policy."""
        changes: dict[str, Any] = {"status": status, "description": description}
        if status in rules.FINAL_MESSAGE:
            changes["dispatch"] = DispatchState.DONE
        ids = (p.smsc_message_id for p in self._parts[message.id])
        if (
            status is MessageStatus.FAILED
            and refundable
            and rules.refund_due(self.refund_policy, ids, message.refunded_units)
        ):
            self._post(
                message.sender_id, LedgerKind.REFUND, message.units, "system",
                rules.REFUND_REASON, message.id, now,
            )  # fmt: skip
            changes["refunded_units"] = message.units
        self._set(message.id, now, **changes)
        self._events[message.id].append(StatusEvent(message.id, status, description, now, part))
        if rules.wants_callback(status, message.callback_url, message.callback_on_sent):
            assert message.callback_url is not None
            job_id = next(self._ids)
            self._callbacks[job_id] = CallbackJob(
                id=job_id, message_id=message.id, account_id=message.account_id,
                url=message.callback_url, contact=message.contact, operator=message.operator,
                status=status, description=description, event_at=now,
                state=CallbackState.PENDING, attempts=0, next_attempt_at=now, created_at=now,
            )  # fmt: skip

    def _set(self, message_id: str, now: datetime, **changes: Any) -> None:
        message = self._messages[message_id]
        self._messages[message_id] = dataclasses.replace(message, updated_at=now, **changes)

    def _part(self, message_id: str, index: int) -> MessagePart:
        parts = _get(self._parts, message_id, "message")
        if not 1 <= index <= len(parts):
            raise NotFound(f"message {message_id} part {index}")
        return parts[index - 1]

    def _put_part(self, part: MessagePart) -> None:
        self._parts[part.message_id][part.index - 1] = part

    # -- callbacks ------------------------------------------------------------------------

    async def claim_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> Sequence[CallbackJob]:
        due = [
            j
            for j in self._callbacks.values()
            if j.state is CallbackState.PENDING and j.next_attempt_at <= now
        ]
        due.sort(key=lambda j: (j.next_attempt_at, j.id))
        claimed = []
        for due_job in due[:limit]:
            job = dataclasses.replace(
                due_job, attempts=due_job.attempts + 1, next_attempt_at=now + lease
            )
            self._callbacks[job.id] = job
            claimed.append(job)
        return claimed

    async def callback_done(self, job_id: int, now: datetime) -> None:
        self._finish(job_id, CallbackState.DONE, None, now)

    async def callbacks_done(
        self, jobs: Sequence[tuple[int, datetime]]
    ) -> Sequence[Exception | None]:
        outcomes: list[Exception | None] = []
        for job_id, now in jobs:
            try:
                self._finish(job_id, CallbackState.DONE, None, now)
            except NotFound as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    async def reschedule_callback(
        self, job_id: int, next_attempt_at: datetime, error: str, now: datetime
    ) -> None:
        job = _get(self._callbacks, job_id, "callback")
        self._callbacks[job_id] = dataclasses.replace(
            job, next_attempt_at=next_attempt_at, last_error=error
        )

    async def give_up_callback(self, job_id: int, error: str, now: datetime) -> None:
        self._finish(job_id, CallbackState.GIVEN_UP, error, now)

    def _finish(self, job_id: int, state: CallbackState, error: str | None, now: datetime) -> None:
        job = _get(self._callbacks, job_id, "callback")
        self._callbacks[job_id] = dataclasses.replace(
            job, state=state, finished_at=now, last_error=error or job.last_error
        )

    async def list_callbacks(self, message_id: str) -> Sequence[CallbackJob]:
        return sorted(
            (j for j in self._callbacks.values() if j.message_id == message_id),
            key=lambda j: j.id,
        )

    async def callback_backlog(self) -> int:
        return sum(1 for j in self._callbacks.values() if j.state is CallbackState.PENDING)

    # -- inbound --------------------------------------------------------------------------

    async def record_inbound(
        self, message: InboundMessage, *, parts_of: tuple[str, str] | None = None
    ) -> tuple[InboundMessage, bool]:
        if parts_of is not None:
            self._mo_parts.pop(parts_of, None)
        if message.smsc_message_id is not None:
            for kept in self._inbound.values():
                if (kept.smsc, kept.smsc_message_id) == (message.smsc, message.smsc_message_id):
                    return kept, False
        if message.id in self._inbound:
            return self._inbound[message.id], False
        self._inbound[message.id] = message
        return message, True

    async def keep_mo_part(self, part: MoPart) -> Sequence[MoPart] | None:
        parts = self._mo_parts.setdefault((part.smsc, part.key), {})
        kept = parts.get(part.seq)
        if kept is not None and kept.short_message != part.short_message:
            parts.clear()  # another message under the same key: the stale parts go
        parts.setdefault(part.seq, part)
        return self._whole_mo(parts)

    async def drop_mo_parts(self, smsc: str, key: str) -> None:
        self._mo_parts.pop((smsc, key), None)

    async def complete_mo_parts(self, smsc: str) -> Sequence[Sequence[MoPart]]:
        found = (self._whole_mo(p) for (s, _), p in self._mo_parts.items() if s == smsc)
        return [whole for whole in found if whole is not None]

    @staticmethod
    def _whole_mo(parts: dict[int, MoPart]) -> list[MoPart] | None:
        ordered = [parts[seq] for seq in sorted(parts)]
        if not ordered or set(parts) != set(range(1, ordered[0].total + 1)):
            return None
        return ordered

    async def list_inbound(
        self, account_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> Sequence[InboundMessage]:
        found = [
            m
            for m in self._inbound.values()
            if m.account_id == account_id and (before is None or m.received_at < before)
        ]
        found.sort(key=lambda m: (m.received_at, m.id), reverse=True)
        return found[:limit]

    # -- packages and top-ups -------------------------------------------------------------

    async def create_package(self, package: Package) -> Package:
        if package.id in self._packages:
            raise AlreadyExists(f"package {package.id}")
        self._packages[package.id] = package
        return package

    async def get_package(self, package_id: str) -> Package:
        return _get(self._packages, package_id, "package")

    async def list_packages(self, operator: str | None = None) -> Sequence[Package]:
        found = [p for p in self._packages.values() if operator in (None, p.operator)]
        return sorted(found, key=lambda p: (p.operator, p.min_units, p.id))

    async def create_topup(
        self,
        topup_id: str,
        account_id: str,
        sender_id: str,
        package_id: str,
        units: int,
        amount_cents: int,
        method: TopUpMethod,
        now: datetime,
        phone: str | None = None,
    ) -> TopUp:
        sender = _get(self._senders, sender_id, "sender")
        _get(self._packages, package_id, "package")
        if sender.account_id != account_id:
            raise NotFound(f"sender {sender_id}")
        if topup_id in self._topups:
            raise AlreadyExists(f"top-up {topup_id}")
        topup = TopUp(
            topup_id, account_id, sender_id, package_id, units, amount_cents, method,
            TopUpStatus.PENDING, now, phone=phone,
        )  # fmt: skip
        self._topups[topup_id] = topup
        return topup

    async def get_topup(self, topup_id: str) -> TopUp:
        return _get(self._topups, topup_id, "top-up")

    async def find_topup_by_checkout(self, checkout_request_id: str) -> TopUp:
        for topup in self._topups.values():
            if topup.checkout_request_id == checkout_request_id:
                return topup
        raise NotFound(f"top-up with checkout {checkout_request_id}")

    async def set_topup_checkout(
        self, topup_id: str, checkout_request_id: str, merchant_request_id: str
    ) -> TopUp:
        topup = dataclasses.replace(
            _get(self._topups, topup_id, "top-up"),
            checkout_request_id=checkout_request_id,
            merchant_request_id=merchant_request_id,
        )
        self._topups[topup_id] = topup
        return topup

    async def settle_topup(
        self,
        topup_id: str,
        status: TopUpStatus,
        actor: str,
        now: datetime,
        *,
        result_code: int | None = None,
        result_desc: str | None = None,
        mpesa_receipt: str | None = None,
    ) -> tuple[TopUp, bool]:
        if status is TopUpStatus.PENDING:
            raise ValueError("a top-up settles to COMPLETED or FAILED")
        topup = _get(self._topups, topup_id, "top-up")
        if topup.status is not TopUpStatus.PENDING:
            return topup, False
        if status is TopUpStatus.COMPLETED:
            self._post(
                topup.sender_id, LedgerKind.TOPUP, topup.units, actor,
                f"Top-up ({topup.method.value})", topup.id, now,
            )  # fmt: skip
        topup = dataclasses.replace(
            topup, status=status, settled_at=now, settled_by=actor, result_code=result_code,
            result_desc=result_desc, mpesa_receipt=mpesa_receipt,
        )  # fmt: skip
        self._topups[topup_id] = topup
        return topup, True

    async def list_topups(
        self, account_id: str | None = None, status: TopUpStatus | None = None
    ) -> Sequence[TopUp]:
        found = [
            t
            for t in self._topups.values()
            if account_id in (None, t.account_id) and status in (None, t.status)
        ]
        return sorted(found, key=lambda t: (t.created_at, t.id))

    async def pending_topups_before(self, cutoff: datetime) -> Sequence[TopUp]:
        found = [
            t
            for t in self._topups.values()
            if t.status is TopUpStatus.PENDING and t.created_at < cutoff
        ]
        return sorted(found, key=lambda t: (t.created_at, t.id))

    # -- opt-outs -------------------------------------------------------------------------

    async def opt_out(
        self,
        sender_id: str,
        contact: str,
        source: OptOutSource,
        now: datetime,
        reference: str = "",
    ) -> tuple[OptOut, bool]:
        sender = _get(self._senders, sender_id, "sender")
        standing = self._opt_outs.get((sender_id, contact))
        if standing is not None:
            return standing, False
        record = OptOut(sender.account_id, sender_id, contact, now, source, reference)
        self._opt_outs[(sender_id, contact)] = record
        return record, True

    async def opt_in(self, sender_id: str, contact: str) -> bool:
        return self._opt_outs.pop((sender_id, contact), None) is not None

    async def is_opted_out(self, sender_id: str, contact: str) -> bool:
        return (sender_id, contact) in self._opt_outs

    async def list_opt_outs(
        self,
        account_id: str,
        *,
        sender_id: str | None = None,
        contact: str | None = None,
        limit: int = 100,
    ) -> Sequence[OptOut]:
        found = [
            o
            for o in self._opt_outs.values()
            if o.account_id == account_id
            and sender_id in (None, o.sender_id)
            and contact in (None, o.contact)
        ]
        found.sort(key=lambda o: o.contact)
        found.sort(key=lambda o: o.since, reverse=True)
        return found[:limit]

    # -- idempotency ----------------------------------------------------------------------

    async def get_idempotent(self, account_id: str, key: str) -> IdempotentResponse | None:
        return self._idempotent.get((account_id, key))

    async def put_idempotent(self, response: IdempotentResponse) -> IdempotentResponse:
        return self._idempotent.setdefault((response.account_id, response.key), response)

    async def purge_idempotent(self, before: datetime) -> int:
        old = [k for k, v in self._idempotent.items() if v.created_at < before]
        for k in old:
            del self._idempotent[k]
        return len(old)


def _get(table: dict[K, V], key: K, what: str) -> V:
    try:
        return table[key]
    except KeyError:
        raise NotFound(f"{what} {key}") from None
