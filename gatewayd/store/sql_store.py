"""`SqlStore`: the `Store` port over either backend.

Writes go through the group-commit writer as units of work; reads go around it on the
backend's read connection(s). The operations themselves are in the `ops_*` modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from gatewayd.service.model import (
    Accepted,
    Account,
    ApiClient,
    CallbackJob,
    CallbackState,
    CampaignType,
    IdempotentResponse,
    InboundMessage,
    InDoubtPolicy,
    LedgerEntry,
    LedgerKind,
    Message,
    MessagePage,
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
from gatewayd.service.ports import AcceptedMany, AlreadyExists, BulkIdempotency, Store
from gatewayd.store import ops_ledger as ledger
from gatewayd.store import ops_lifecycle as life
from gatewayd.store import ops_messages as msgs
from gatewayd.store import ops_optouts as optouts
from gatewayd.store import ops_other as other
from gatewayd.store.migrations import apply_migrations
from gatewayd.store.ops_messages import Policy
from gatewayd.store.tx import Tx
from gatewayd.store.writer import GroupWriter

T = TypeVar("T")
Read = Callable[[Callable[[Tx], Coroutine[Any, Any, T]]], Awaitable[T]]


class SqlStore:
    """Satisfies `gatewayd.service.ports.Store` for SQLite and PostgreSQL."""

    def __init__(
        self,
        writer: GroupWriter,
        reader: Callable[[], Tx] | None,
        policy: Policy,
        closers: Sequence[Callable[[], Awaitable[None]]],
        *,
        pool_read: Callable[[Callable[[Tx], Coroutine[Any, Any, Any]]], Awaitable[Any]]
        | None = None,
    ) -> None:
        self.writer = writer
        self._reader = reader
        self._pool_read = pool_read
        self.policy = policy
        self._closers = closers

    async def _read(self, op: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        if self._pool_read is not None:
            result: T = await self._pool_read(op)
            return result
        assert self._reader is not None
        return await op(self._reader())

    async def _write(self, op: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        return await self.writer.submit(op)

    async def _write_plain(self, op: Callable[[Tx], Coroutine[Any, Any, T]]) -> T:
        """For an operation that raises its domain errors before writing: no savepoint."""
        return await self.writer.submit(op, savepoint=False)

    # -- lifecycle --------------------------------------------------------------------------

    async def migrate(self) -> int:
        now = datetime.now(UTC)
        return await self._write(lambda tx: apply_migrations(tx, now))

    async def ping(self) -> None:
        await self._read(lambda tx: tx.fetchval("SELECT 1"))

    async def close(self) -> None:
        """Drain the writer, then close the connections."""
        await self.writer.close()
        for close in self._closers:
            await close()

    # -- accounts, clients, senders, ledger ---------------------------------------------------

    async def create_account(self, account_id: str, name: str, now: datetime) -> Account:
        return await self._write(lambda tx: ledger.create_account(tx, account_id, name, now))

    async def get_account(self, account_id: str) -> Account:
        return await self._read(lambda tx: ledger.get_account(tx, account_id))

    async def list_accounts(self) -> Sequence[Account]:
        return await self._read(ledger.list_accounts)

    async def set_account_callback_on_sent(self, account_id: str, on: bool) -> Account:
        return await self._write(
            lambda tx: ledger.set_account_callback_on_sent(tx, account_id, on)
        )

    async def create_api_client(
        self, account_id: str, client_id: str, secret_hash: str, now: datetime
    ) -> ApiClient:
        return await self._write(
            lambda tx: ledger.create_api_client(tx, account_id, client_id, secret_hash, now)
        )

    async def get_api_client(self, client_id: str) -> ApiClient:
        return await self._read(lambda tx: ledger.get_api_client(tx, client_id))

    async def list_api_clients(self, account_id: str) -> Sequence[ApiClient]:
        return await self._read(lambda tx: ledger.list_api_clients(tx, account_id))

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
        return await self._write(
            lambda tx: ledger.create_sender(
                tx, sender_id, account_id, name, operator, type, campaign, now
            )
        )

    async def get_sender(self, sender_id: str) -> SenderId:
        return await self._read(lambda tx: ledger.get_sender(tx, sender_id))

    async def find_senders(self, account_id: str, name: str) -> Sequence[SenderId]:
        return await self._read(lambda tx: ledger.find_senders(tx, account_id, name))

    async def list_senders(self, account_id: str | None = None) -> Sequence[SenderId]:
        return await self._read(lambda tx: ledger.list_senders(tx, account_id))

    async def set_sender_status(self, sender_id: str, status: SenderStatus) -> SenderId:
        return await self._write(lambda tx: ledger.set_sender_status(tx, sender_id, status))

    async def balance(self, sender_id: str) -> int:
        return await self._read(lambda tx: ledger.balance(tx, sender_id))

    async def balances(self, account_id: str) -> dict[str, int]:
        return await self._read(lambda tx: ledger.balances(tx, account_id))

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
        return await self._write(
            lambda tx: ledger.post(tx, sender_id, kind, units, actor, reason, reference, now)
        )

    async def entries(self, sender_id: str) -> Sequence[LedgerEntry]:
        return await self._read(lambda tx: ledger.entries(tx, sender_id))

    async def ledger_sum(self, sender_id: str) -> int:
        return await self._read(lambda tx: ledger.ledger_sum(tx, sender_id))

    # -- messages ---------------------------------------------------------------------------

    async def accept(
        self, message: NewMessage, *, idempotency: IdempotentResponse | None = None
    ) -> Accepted:
        if idempotency is None:
            await self.writer.accept(message)
            return Accepted(message)
        msgs.check_record(message, idempotency)
        try:
            kept = await self.writer.accept(message, idempotency)
        except AlreadyExists:
            # Another process kept an answer for the key between this batch's lookup and its
            # insert (the key's primary key refused ours; nothing of this accept was written).
            kept = await self.get_idempotent(idempotency.account_id, idempotency.key)
            if kept is None:
                raise
        return Accepted(message, idempotency) if kept is None else Accepted(message, kept, True)

    async def accept_many(
        self, messages: Sequence[NewMessage], *, idempotency: BulkIdempotency | None = None
    ) -> AcceptedMany:
        if not messages:
            return AcceptedMany(())
        try:
            return await self.writer.accept_many(messages, idempotency)
        except AlreadyExists:
            # As in `accept`: another process kept an answer for the key meanwhile.
            if idempotency is None:
                raise
            kept = await self.get_idempotent(idempotency.account_id, idempotency.key)
            if kept is None:
                raise
            return AcceptedMany((), kept, True)

    async def get_message(self, message_id: str, account_id: str | None = None) -> Message:
        return await self._read(lambda tx: msgs.load_message(tx, message_id, account_id))

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
        return await self._read(
            lambda tx: msgs.list_messages(
                tx, account_id, status=status, sender_id=sender_id, contact=contact,
                since=since, until=until, limit=limit, cursor=cursor,
            )
        )

    async def claim_queued(
        self, operator: str, limit: int, now: datetime, smsc: str
    ) -> Sequence[Message]:
        return await self._write_plain(
            lambda tx: msgs.claim_queued(tx, operator, limit, now, smsc)
        )

    async def record_submit(
        self, message_id: str, part: int, smsc: str, smsc_message_id: str, now: datetime
    ) -> None:
        await self._write_plain(
            lambda tx: life.record_submit(
                tx, self.policy, message_id, part, smsc, smsc_message_id, now
            )
        )

    async def record_submits(
        self, submits: Sequence[tuple[str, int, str, str, datetime]]
    ) -> Sequence[Exception | None]:
        if not submits:
            return []
        batch = list(submits)
        try:
            return await self._write_plain(lambda tx: life.record_submits(tx, self.policy, batch))
        except Exception:
            if len(batch) == 1:
                raise
        outcomes: list[Exception | None] = []  # the batch failed as a whole: one by one
        for item in batch:
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
        await self._write(
            lambda tx: life.record_submit_failure(
                tx, self.policy, message_id, part, description, now
            )
        )

    async def requeue(
        self,
        message_id: str,
        now: datetime,
        *,
        not_before: datetime | None = None,
        in_doubt: bool = False,
    ) -> None:
        await self._write_plain(
            lambda tx: life.requeue(tx, message_id, now, not_before, in_doubt)
        )

    async def submitting_on(self, smsc: str, before: datetime) -> Sequence[str]:
        return await self._read(lambda tx: life.submitting_on(tx, smsc, before))

    async def fail_message(self, message_id: str, description: str, now: datetime) -> Message:
        return await self._write(
            lambda tx: life.fail_message(tx, self.policy, message_id, description, now)
        )

    async def expire_queued(
        self, before: datetime, description: str, now: datetime, limit: int = 500
    ) -> Sequence[str]:
        return await self._write(
            lambda tx: life.expire_queued(tx, self.policy, before, description, now, limit)
        )

    async def record_receipts(
        self, receipts: Sequence[tuple[str, str, MessageStatus, str, datetime]]
    ) -> Sequence[ReceiptResult | Exception]:
        if not receipts:
            return []
        batch = list(receipts)
        try:
            return await self._write_plain(
                lambda tx: life.record_receipts(tx, self.policy, batch)
            )
        except Exception:
            if len(batch) == 1:
                raise
        outcomes: list[ReceiptResult | Exception] = []  # the batch failed as a whole: one by one
        for item in batch:
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
        return await self._write_plain(
            lambda tx: life.record_receipt(
                tx, self.policy, smsc, smsc_message_id, status, description, now
            )
        )

    async def recover_in_doubt(
        self, now: datetime, policy: InDoubtPolicy = InDoubtPolicy.RESEND
    ) -> Sequence[Message]:
        return await self._write(lambda tx: life.recover_in_doubt(tx, self.policy, now, policy))

    async def purge_expired(self, now: datetime) -> int:
        async def op(tx: Tx) -> int:
            return await life.purge_expired(tx, now) + await other.purge_mo_parts(tx, now)

        return await self._write(op)

    async def queue_depth(self, operator: str | None = None) -> int:
        return await self._read(lambda tx: msgs.queue_depth(tx, operator))

    async def append_event(self, event: StatusEvent) -> None:
        await self._write_plain(lambda tx: msgs.append_event(tx, event))

    # -- callbacks --------------------------------------------------------------------------

    async def claim_callbacks(
        self, now: datetime, limit: int, lease: timedelta
    ) -> Sequence[CallbackJob]:
        return await self._write_plain(lambda tx: other.claim_callbacks(tx, now, limit, lease))

    async def callback_done(self, job_id: int, now: datetime) -> None:
        await self._write_plain(
            lambda tx: other.finish_callback(tx, job_id, CallbackState.DONE.value, None, now)
        )

    async def callbacks_done(
        self, jobs: Sequence[tuple[int, datetime]]
    ) -> Sequence[Exception | None]:
        if not jobs:
            return []
        batch = list(jobs)
        return await self._write_plain(
            lambda tx: other.finish_callbacks_done(tx, batch, CallbackState.DONE.value)
        )

    async def reschedule_callback(
        self, job_id: int, next_attempt_at: datetime, error: str, now: datetime
    ) -> None:
        await self._write_plain(
            lambda tx: other.reschedule_callback(tx, job_id, next_attempt_at, error)
        )

    async def give_up_callback(self, job_id: int, error: str, now: datetime) -> None:
        await self._write_plain(
            lambda tx: other.finish_callback(tx, job_id, CallbackState.GIVEN_UP.value, error, now)
        )

    async def list_callbacks(self, message_id: str) -> Sequence[CallbackJob]:
        return await self._read(lambda tx: other.list_callbacks(tx, message_id))

    async def callback_backlog(self) -> int:
        return await self._read(other.callback_backlog)

    # -- inbound ----------------------------------------------------------------------------

    async def record_inbound(
        self, message: InboundMessage, *, parts_of: tuple[str, str] | None = None
    ) -> tuple[InboundMessage, bool]:
        async def op(tx: Tx) -> tuple[InboundMessage, bool]:
            kept = await other.record_inbound(tx, message)
            if parts_of is not None:
                await other.drop_mo_parts(tx, *parts_of)
            return kept

        return await self._write(op)

    async def keep_mo_part(self, part: MoPart) -> Sequence[MoPart] | None:
        return await self._write(lambda tx: other.keep_mo_part(tx, part))

    async def drop_mo_parts(self, smsc: str, key: str) -> None:
        await self._write(lambda tx: other.drop_mo_parts(tx, smsc, key))

    async def complete_mo_parts(self, smsc: str) -> Sequence[Sequence[MoPart]]:
        return await self._read(lambda tx: other.complete_mo_parts(tx, smsc))

    async def list_inbound(
        self, account_id: str, *, limit: int = 50, before: datetime | None = None
    ) -> Sequence[InboundMessage]:
        return await self._read(lambda tx: other.list_inbound(tx, account_id, limit, before))

    # -- packages and top-ups ---------------------------------------------------------------

    async def create_package(self, package: Package) -> Package:
        return await self._write(lambda tx: other.create_package(tx, package))

    async def get_package(self, package_id: str) -> Package:
        return await self._read(lambda tx: other.get_package(tx, package_id))

    async def list_packages(self, operator: str | None = None) -> Sequence[Package]:
        return await self._read(lambda tx: other.list_packages(tx, operator))

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
        return await self._write(
            lambda tx: other.create_topup(
                tx, topup_id, account_id, sender_id, package_id, units, amount_cents, method,
                now, phone,
            )
        )

    async def get_topup(self, topup_id: str) -> TopUp:
        return await self._read(lambda tx: other.get_topup(tx, topup_id))

    async def find_topup_by_checkout(self, checkout_request_id: str) -> TopUp:
        return await self._read(lambda tx: other.find_topup_by_checkout(tx, checkout_request_id))

    async def set_topup_checkout(
        self, topup_id: str, checkout_request_id: str, merchant_request_id: str
    ) -> TopUp:
        return await self._write(
            lambda tx: other.set_topup_checkout(
                tx, topup_id, checkout_request_id, merchant_request_id
            )
        )

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
        return await self._write(
            lambda tx: other.settle_topup(
                tx, topup_id, status, actor, now, result_code, result_desc, mpesa_receipt
            )
        )

    async def list_topups(
        self, account_id: str | None = None, status: TopUpStatus | None = None
    ) -> Sequence[TopUp]:
        return await self._read(lambda tx: other.list_topups(tx, account_id, status))

    async def pending_topups_before(self, cutoff: datetime) -> Sequence[TopUp]:
        return await self._read(lambda tx: other.pending_topups_before(tx, cutoff))

    # -- opt-outs ---------------------------------------------------------------------------

    async def opt_out(
        self,
        sender_id: str,
        contact: str,
        source: OptOutSource,
        now: datetime,
        reference: str = "",
    ) -> tuple[OptOut, bool]:
        return await self._write(
            lambda tx: optouts.opt_out(tx, sender_id, contact, source, now, reference)
        )

    async def opt_in(self, sender_id: str, contact: str) -> bool:
        return await self._write(lambda tx: optouts.opt_in(tx, sender_id, contact))

    async def is_opted_out(self, sender_id: str, contact: str) -> bool:
        return await self._read(lambda tx: optouts.is_opted_out(tx, sender_id, contact))

    async def list_opt_outs(
        self,
        account_id: str,
        *,
        sender_id: str | None = None,
        contact: str | None = None,
        limit: int = 100,
    ) -> Sequence[OptOut]:
        return await self._read(
            lambda tx: optouts.list_opt_outs(tx, account_id, sender_id, contact, limit)
        )

    # -- idempotency ------------------------------------------------------------------------

    async def get_idempotent(self, account_id: str, key: str) -> IdempotentResponse | None:
        return await self._read(lambda tx: other.get_idempotent(tx, account_id, key))

    async def put_idempotent(self, response: IdempotentResponse) -> IdempotentResponse:
        return await self._write(lambda tx: other.put_idempotent(tx, response))

    async def purge_idempotent(self, before: datetime) -> int:
        return await self._write(lambda tx: other.purge_idempotent(tx, before))


def _satisfies_the_port(store: SqlStore) -> Store:
    """mypy checks here that SqlStore structurally satisfies the Store port."""
    return store
