"""The ports the use-cases need, as `typing.Protocol`s.

Adapters in `gatewayd.store` (SQLite, PostgreSQL) and the fakes in `tests/fakes/` satisfy them
structurally; nothing here imports an adapter. Every method that changes money or a message's
state is one transaction: it either happens whole or not at all.

Errors raised through the ports are the domain errors below, so that the HTTP layer can map
them without knowing which backend raised them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gatewayd.service.model import (
    Accepted,
    Account,
    ApiClient,
    CallbackJob,
    CampaignType,
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
    ReceiptResult,
    SenderId,
    SenderStatus,
    SenderType,
    StatusEvent,
    TopUp,
    TopUpMethod,
    TopUpStatus,
)


class StoreError(Exception):
    """Base of the domain errors a store raises."""


class NotFound(StoreError):
    """The named thing does not exist (or does not belong to the asking account)."""


class AlreadyExists(StoreError):
    """A unique name or key is taken (sender name per account, client id, …)."""


class InsufficientBalance(StoreError):
    """The float cannot cover the debit; nothing was written."""

    def __init__(self, sender_id: str, needed: int, available: int) -> None:
        super().__init__("Insufficient balance")
        self.sender_id = sender_id
        self.needed = needed
        self.available = available


AcceptOutcome = Accepted | StoreError  # one message of `accept_many`: accepted, or why not


@dataclass(frozen=True, slots=True)
class BulkIdempotency:
    """The Idempotency-Key of a request that accepts many messages (`accept_many`).

    Which messages the floats cover is only known inside the accept's transaction, so the
    answer is rendered there: `answer` gets the outcome of every message, in order, and returns
    (status, body) to keep under (account_id, key) in that same transaction."""

    account_id: str
    key: str
    request_hash: str
    created_at: datetime
    answer: Callable[[Sequence[AcceptOutcome]], tuple[int, bytes]]

    def record(self, outcomes: Sequence[AcceptOutcome]) -> IdempotentResponse:
        status, body = self.answer(outcomes)
        return IdempotentResponse(
            self.account_id, self.key, self.request_hash, status, body, self.created_at
        )


@dataclass(frozen=True, slots=True)
class AcceptedMany:
    """What `accept_many` answers: per message, in order, its `Accepted` or the store's
    refusal (InsufficientBalance; NotFound when its sender ID is gone or not the account's).

    `record` is the Idempotency-Key answer kept with the messages (None when nothing was
    accepted: nothing is kept then, as for a refused single accept), or, when `replayed`, the
    answer an earlier request with the key kept; a replay wrote nothing and has no outcomes."""

    outcomes: tuple[AcceptOutcome, ...]
    record: IdempotentResponse | None = None
    replayed: bool = False


class AccountStore(Protocol):
    async def create_account(self, account_id: str, name: str, now: datetime) -> Account: ...
    async def get_account(self, account_id: str) -> Account: ...  # NotFound
    async def list_accounts(self) -> Sequence[Account]: ...
    async def set_account_callback_on_sent(
        self, account_id: str, on: bool
    ) -> Account: ...  # NotFound; the account's sender IDs carry it from then on

    async def create_api_client(
        self, account_id: str, client_id: str, secret_hash: str, now: datetime
    ) -> ApiClient: ...
    async def get_api_client(self, client_id: str) -> ApiClient: ...  # NotFound
    async def list_api_clients(self, account_id: str) -> Sequence[ApiClient]: ...

    async def create_sender(
        self,
        sender_id: str,
        account_id: str,
        name: str,
        operator: str,
        type: SenderType,
        campaign: CampaignType,
        now: datetime,
    ) -> SenderId: ...  # AlreadyExists when the account already has that name for that operator
    async def get_sender(self, sender_id: str) -> SenderId: ...
    async def find_senders(self, account_id: str, name: str) -> Sequence[SenderId]: ...
    async def list_senders(self, account_id: str | None = None) -> Sequence[SenderId]: ...
    async def set_sender_status(self, sender_id: str, status: SenderStatus) -> SenderId: ...


class LedgerStore(Protocol):
    async def balance(self, sender_id: str) -> int: ...
    async def balances(self, account_id: str) -> dict[str, int]: ...  # sender_id → units
    async def post_entry(
        self,
        sender_id: str,
        kind: LedgerKind,
        units: int,
        actor: str,
        reason: str,
        reference: str,
        now: datetime,
    ) -> LedgerEntry: ...  # InsufficientBalance when units < 0 would overdraw
    async def entries(self, sender_id: str) -> Sequence[LedgerEntry]: ...
    async def ledger_sum(self, sender_id: str) -> int: ...  # rebuilt from the entries


class MessageStore(Protocol):
    async def accept(
        self, message: NewMessage, *, idempotency: IdempotentResponse | None = None
    ) -> Accepted:
        """Message + its parts' plan + debit + ledger entry + INITIATED event, in one transaction.

        Goes through the group-commit writer. InsufficientBalance: nothing was written.
        Answers a light `Accepted` (the message as written; `to_message()` for the full value).

        `idempotency`: the answer to keep for the request's Idempotency-Key (its body is known
        before the commit: the caller chose the message id). It is written in the same
        transaction as the message, so no crash can leave a message without it or the other
        way round. When an answer is already kept for (account, key), stored before or by an
        earlier accept in the same batch, nothing is written or debited and the result is
        `replayed` with that answer in `record` (the caller compares its request hash).
        Checked before the float, so a replay never fails for want of units. ValueError when
        the record's account is not the message's.
        """
        ...

    async def accept_many(
        self, messages: Sequence[NewMessage], *, idempotency: BulkIdempotency | None = None
    ) -> AcceptedMany:
        """Many messages in one transaction (one group-commit writer unit, a few multi-row
        statements): each checked in order as `accept` checks one, the floats as the earlier
        messages left them. Once a sender's float falls short of a message, every later
        message of that sender is refused too (InsufficientBalance, nothing debited), so what
        is accepted per sender is a prefix of its messages. Refused messages write nothing.

        `idempotency`: when an answer is already kept for (account, key), nothing is written
        and the result is `replayed`; otherwise, if any message was accepted, the answer
        rendered from the outcomes is written in the same transaction. ValueError (nothing
        written) when a message or the key belongs to another account than the first
        message's."""
        ...

    async def get_message(self, message_id: str, account_id: str | None = None) -> Message:
        """With its timeline and parts. NotFound also when account_id is given and differs."""
        ...

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
        """The account's messages, newest first (created_at, then id), without timelines or
        parts. `since` is inclusive, `until` exclusive. `cursor` is the previous page's
        `next_cursor`; ValueError when it is not one."""
        ...

    async def claim_queued(
        self, operator: str, limit: int, now: datetime, smsc: str
    ) -> Sequence[Message]:
        """Mark up to `limit` queued messages of that operator SUBMITTING (durably) and return
        them, highest priority first, then oldest; skips scheduled ones not yet due.

        Each claim counts one attempt. The returned messages carry `part_list` (no timeline):
        the parts to send now are the SUBMITTING ones; parts already SENT (a message re-queued
        after a crash mid-way) are not to be sent again."""
        ...

    async def record_submit(
        self, message_id: str, part: int, smsc: str, smsc_message_id: str, now: datetime
    ) -> None:
        """submit_sm_resp ok: the part is SENT, the receipt map gets (smsc, id) → part, and a
        receipt parked for that id (it overtook the resp) is applied now. When every part is
        SENT the message becomes SENT (event; callback when asked for). NotFound: no such
        message or part."""
        ...

    async def record_submits(
        self, submits: Sequence[tuple[str, int, str, str, datetime]]
    ) -> Sequence[Exception | None]:
        """`record_submit(message_id, part, smsc, smsc_message_id, now)` for each tuple, in
        order, in one write; per tuple None or the error that tuple alone met (NotFound), the
        others recorded regardless."""
        ...

    async def record_submit_failure(
        self, message_id: str, part: int, description: str, now: datetime
    ) -> None:
        """A permanent error for one part: the message fails (refund per policy)."""
        ...

    async def requeue(
        self,
        message_id: str,
        now: datetime,
        *,
        not_before: datetime | None = None,
        in_doubt: bool = False,
    ) -> None:
        """Back to QUEUED (a bind dropped before the PDU was written, throttling …); parts not
        yet SENT go back to PENDING. `not_before` delays the next claim. `in_doubt`: the SMSC
        may already have it (no answer, an answer we failed to store), so the resend may
        arrive twice: the message's `in_doubt` count goes up by one. No effect on a message
        that is not SUBMITTING."""
        ...

    async def submitting_on(self, smsc: str, before: datetime) -> Sequence[str]:
        """Ids of the messages SUBMITTING on that SMSC (the name `claim_queued` recorded)
        last changed before `before`: the candidates when a dispatcher lost track of them."""
        ...

    async def fail_message(self, message_id: str, description: str, now: datetime) -> Message:
        """Fail a message that has not reached a final status (expired in the queue, no route,
        operator refusal before any submit …): FAILED event, callback, refund per policy.
        A message already DELIVERED or FAILED is returned unchanged."""
        ...

    async def expire_queued(
        self, before: datetime, description: str, now: datetime, limit: int = 500
    ) -> Sequence[str]:
        """Fail (as `fail_message` does: event, callback, refund per policy) up to `limit`
        messages accepted before `before` that are still waiting in the queue, oldest first,
        in one write; their ids. SUBMITTING messages are not touched."""
        ...

    async def record_receipt(
        self,
        smsc: str,
        smsc_message_id: str,
        status: MessageStatus,
        description: str,
        now: datetime,
    ) -> ReceiptResult:
        """Apply a receipt through the monotonic state machine. With no map entry yet the
        receipt is parked (outcome PARKED) until its submit_sm_resp lands or it expires.
        Late, repeated or out-of-order receipts never move a message back (DUPLICATE, STALE).
        DELIVERED when every part is delivered, FAILED as soon as one part fails."""
        ...

    async def record_receipts(
        self, receipts: Sequence[tuple[str, str, MessageStatus, str, datetime]]
    ) -> Sequence[ReceiptResult | Exception]:
        """`record_receipt(smsc, smsc_message_id, status, description, now)` for each tuple,
        in order, in one write; per tuple its result or the error it alone met, the others
        recorded regardless."""
        ...

    async def recover_in_doubt(
        self, now: datetime, policy: InDoubtPolicy = InDoubtPolicy.RESEND
    ) -> Sequence[Message]:
        """At start: messages left SUBMITTING by a crash are counted as in doubt (`in_doubt`
        + 1, a timeline event) and re-queued (RESEND: their unanswered parts go back to PENDING)
        or failed (FAIL, never refunded). Returns them as they now stand."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Drop receipt map entries and parked receipts past their expiry, and parts of long
        MO messages kept for a day without the rest; the count dropped."""
        ...

    async def queue_depth(self, operator: str | None = None) -> int: ...
    async def append_event(self, event: StatusEvent) -> None: ...


class CallbackOutbox(Protocol):
    """The durable outbox of delivery callbacks.

    Rows are written by the store itself, in the transaction that moves a message with a
    callback_url to DELIVERED or FAILED (and SENT when the message asked for it).
    """

    async def claim_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> Sequence[CallbackJob]:
        """Up to `limit` PENDING jobs due at `now`, oldest due first; each one's attempts + 1
        and its next_attempt_at pushed to now + lease, so a sender that dies mid-POST has the
        job retried after the lease instead of lost."""
        ...

    async def callback_done(self, job_id: int, now: datetime) -> None: ...  # NotFound
    async def callbacks_done(
        self, jobs: Sequence[tuple[int, datetime]]
    ) -> Sequence[Exception | None]:
        """`callback_done(job_id, now)` for each pair, in one write; per pair, in order, None
        or the error that pair alone met (NotFound), the others recorded regardless."""
        ...

    async def reschedule_callback(
        self, job_id: int, next_attempt_at: datetime, error: str, now: datetime
    ) -> None: ...
    async def give_up_callback(self, job_id: int, error: str, now: datetime) -> None: ...
    async def list_callbacks(self, message_id: str) -> Sequence[CallbackJob]: ...
    async def callback_backlog(self) -> int: ...  # PENDING jobs, for metrics


class InboundStore(Protocol):
    async def record_inbound(
        self, message: InboundMessage, *, parts_of: tuple[str, str] | None = None
    ) -> tuple[InboundMessage, bool]:
        """Keep an MO message; returns it and False when (smsc, smsc_message_id) was already
        kept (a repeated deliver_sm), so the caller acks without handling it twice.
        `parts_of` (smsc, key): the kept parts it was reassembled from are dropped in the
        same transaction."""
        ...

    async def keep_mo_part(self, part: MoPart) -> Sequence[MoPart] | None:
        """Keep one part of a long MO message (a repeated part is kept once); once a part
        of every number 1…total is kept, all of them in order, else None. A repeat of a part
        of a whole message hands it out again (its record may have failed: the SMSC resends
        what was not acknowledged). They stay until `record_inbound(…, parts_of=…)` drops
        them, or for a day (`purge_expired`)."""
        ...

    async def drop_mo_parts(self, smsc: str, key: str) -> None:
        """Forget the kept parts of one long MO message (it could not be read)."""
        ...

    async def complete_mo_parts(self, smsc: str) -> Sequence[Sequence[MoPart]]:
        """The messages of `smsc` whose parts are all kept but that were never recorded (a
        stop between the last part and its record): their parts, in order."""
        ...

    async def list_inbound(
        self, account_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> Sequence[InboundMessage]: ...  # newest first


class TopUpStore(Protocol):
    async def create_package(self, package: Package) -> Package: ...
    async def get_package(self, package_id: str) -> Package: ...
    async def list_packages(self, operator: str | None = None) -> Sequence[Package]: ...

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
    ) -> TopUp: ...
    async def get_topup(self, topup_id: str) -> TopUp: ...
    async def find_topup_by_checkout(self, checkout_request_id: str) -> TopUp: ...  # NotFound
    async def set_topup_checkout(
        self, topup_id: str, checkout_request_id: str, merchant_request_id: str
    ) -> TopUp: ...
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
        """PENDING → COMPLETED (float credited + ledger entry, same transaction) or FAILED.

        Returns the top-up and whether this call changed it: settling an already settled
        top-up changes nothing and credits nothing (repeated M-Pesa callbacks).
        """
        ...

    async def list_topups(
        self, account_id: str | None = None, status: TopUpStatus | None = None
    ) -> Sequence[TopUp]: ...
    async def pending_topups_before(self, cutoff: datetime) -> Sequence[TopUp]: ...


class OptOutStore(Protocol):
    """Numbers opted out of a sender ID's promotional traffic (see `OptOut`)."""

    async def opt_out(
        self,
        sender_id: str,
        contact: str,
        source: OptOutSource,
        now: datetime,
        reference: str = "",
    ) -> tuple[OptOut, bool]:
        """Record the opt-out; returns it and whether this call made it (False: the number
        was opted out already, and keeps its first `since`). NotFound: no such sender ID."""
        ...

    async def opt_in(self, sender_id: str, contact: str) -> bool:
        """Lift the opt-out; whether there was one."""
        ...

    async def is_opted_out(self, sender_id: str, contact: str) -> bool: ...

    async def list_opt_outs(
        self,
        account_id: str,
        *,
        sender_id: str | None = None,
        contact: str | None = None,
        limit: int = 100,
    ) -> Sequence[OptOut]:
        """The account's opt-outs, newest first (since, then contact)."""
        ...


class IdempotencyStore(Protocol):
    async def get_idempotent(self, account_id: str, key: str) -> IdempotentResponse | None: ...
    async def put_idempotent(self, response: IdempotentResponse) -> IdempotentResponse:
        """Store unless a response for (account, key) exists; return the one that is kept."""
        ...

    async def purge_idempotent(self, before: datetime) -> int: ...


class Store(
    AccountStore,
    LedgerStore,
    MessageStore,
    TopUpStore,
    IdempotencyStore,
    CallbackOutbox,
    InboundStore,
    OptOutStore,
    Protocol,
):
    """Everything the daemon keeps. `close()` flushes the writer and closes connections."""

    async def migrate(self) -> int: ...  # applied migrations count
    async def ping(self) -> None: ...  # for /ready
    async def close(self) -> None: ...


__all__ = [
    "AcceptOutcome",
    "AcceptedMany",
    "AccountStore",
    "AlreadyExists",
    "BulkIdempotency",
    "CallbackOutbox",
    "IdempotencyStore",
    "InboundStore",
    "InsufficientBalance",
    "LedgerStore",
    "MessagePart",
    "MessageStore",
    "NotFound",
    "OptOutStore",
    "Store",
    "StoreError",
    "TopUpStore",
]
