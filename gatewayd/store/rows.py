"""Stored rows to domain values, the same for both backends (times through `tx.datetime`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gatewayd.service.model import (
    Account,
    ApiClient,
    CallbackJob,
    CallbackState,
    CampaignType,
    DispatchState,
    IdempotentResponse,
    InboundMessage,
    LedgerEntry,
    LedgerKind,
    Message,
    MessagePart,
    MessageStatus,
    OptOut,
    OptOutSource,
    Package,
    PartStatus,
    SenderId,
    SenderStatus,
    SenderType,
    StatusEvent,
    TopUp,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.store.tx import Row, Tx

# Stored values to enum members by dict: an Enum call costs about 1 µs, a dict lookup 0.1.
MESSAGE_STATUS = {s.value: s for s in MessageStatus}
PART_STATUS = {s.value: s for s in PartStatus}
DISPATCH_STATE = {s.value: s for s in DispatchState}
CALLBACK_STATE = {s.value: s for s in CallbackState}


def _opt_time(tx: Tx, value: Any) -> datetime | None:
    return None if value is None else tx.datetime(value)


def account(tx: Tx, r: Row) -> Account:
    return Account(
        r["id"], r["name"], tx.datetime(r["created_at"]), bool(r["callback_on_sent"])
    )  # fmt: skip


def api_client(tx: Tx, r: Row) -> ApiClient:
    return ApiClient(
        r["client_id"], r["account_id"], r["secret_hash"], bool(r["active"]),
        tx.datetime(r["created_at"]),
    )  # fmt: skip


def sender(tx: Tx, r: Row) -> SenderId:
    """A row of `ops_ledger.SENDERS`: the sender ID with its account's callback setting."""
    return SenderId(
        r["id"], r["account_id"], r["name"], r["operator"], SenderType(r["type"]),
        CampaignType(r["campaign"]), SenderStatus(r["status"]), tx.datetime(r["created_at"]),
        bool(r["account_callback_on_sent"]),
    )  # fmt: skip


def ledger_entry(tx: Tx, r: Row) -> LedgerEntry:
    return LedgerEntry(
        int(r["id"]), r["account_id"], r["sender_id"], LedgerKind(r["kind"]), int(r["units"]),
        int(r["balance_after"]), r["actor"], r["reason"], r["reference"],
        tx.datetime(r["created_at"]),
    )  # fmt: skip


def package(r: Row) -> Package:
    return Package(
        r["id"], r["name"], r["operator"], int(r["rate_cents"]), int(r["min_units"]),
        bool(r["active"]),
    )  # fmt: skip


def topup(tx: Tx, r: Row) -> TopUp:
    return TopUp(
        id=r["id"], account_id=r["account_id"], sender_id=r["sender_id"],
        package_id=r["package_id"], units=int(r["units"]), amount_cents=int(r["amount_cents"]),
        method=TopUpMethod(r["method"]), status=TopUpStatus(r["status"]),
        created_at=tx.datetime(r["created_at"]), phone=r["phone"],
        checkout_request_id=r["checkout_request_id"],
        merchant_request_id=r["merchant_request_id"], mpesa_receipt=r["mpesa_receipt"],
        result_code=r["result_code"], result_desc=r["result_desc"],
        settled_at=_opt_time(tx, r["settled_at"]), settled_by=r["settled_by"],
    )  # fmt: skip


def part(message_id: str, r: Row) -> MessagePart:
    return MessagePart(
        message_id, int(r["idx"]), int(r["total"]), PART_STATUS[r["status"]], r["smsc"],
        r["smsc_message_id"], r["error"],
    )  # fmt: skip


def event(tx: Tx, message_id: str, r: Row) -> StatusEvent:
    return StatusEvent(
        message_id, MESSAGE_STATUS[r["status"]], r["description"], tx.datetime(r["at"]),
        r["part"],
    )  # fmt: skip


def message(
    tx: Tx,
    r: Row,
    timeline: tuple[StatusEvent, ...] = (),
    parts: tuple[MessagePart, ...] = (),
) -> Message:
    return Message(
        id=r["id"], account_id=r["account_id"], sender_id=r["sender_id"],
        sender_name=r["sender_name"], contact=r["contact"], operator=r["operator"],
        text=r["text"], units=int(r["units"]), parts=int(r["parts"]), encoding=r["encoding"],
        priority=int(r["priority"]), status=MESSAGE_STATUS[r["status"]],
        description=r["description"], dispatch=DISPATCH_STATE[r["dispatch"]],
        callback_url=r["callback_url"], client_ref=r["client_ref"],
        created_at=tx.datetime(r["created_at"]), updated_at=tx.datetime(r["updated_at"]),
        attempts=int(r["attempts"]), in_doubt=int(r["in_doubt"]), smsc=r["smsc"],
        timeline=timeline, part_list=parts, scheduled_at=_opt_time(tx, r["scheduled_at"]),
        refunded_units=int(r["refunded_units"]), callback_on_sent=bool(r["callback_on_sent"]),
    )  # fmt: skip


def callback(tx: Tx, r: Row) -> CallbackJob:
    return CallbackJob(
        id=int(r["id"]), message_id=r["message_id"], account_id=r["account_id"], url=r["url"],
        contact=r["contact"], operator=r["operator"], status=MESSAGE_STATUS[r["status"]],
        description=r["description"], event_at=tx.datetime(r["event_at"]),
        state=CALLBACK_STATE[r["state"]], attempts=int(r["attempts"]),
        next_attempt_at=tx.datetime(r["next_attempt_at"]),
        created_at=tx.datetime(r["created_at"]), last_error=r["last_error"],
        finished_at=_opt_time(tx, r["finished_at"]),
    )  # fmt: skip


def idempotent(tx: Tx, r: Row) -> IdempotentResponse:
    return IdempotentResponse(
        r["account_id"], r["key"], r["request_hash"], int(r["status_code"]), bytes(r["body"]),
        tx.datetime(r["created_at"]),
    )  # fmt: skip


def opt_out(tx: Tx, r: Row) -> OptOut:
    return OptOut(
        r["account_id"], r["sender_id"], r["contact"], tx.datetime(r["since"]),
        OptOutSource(r["source"]), r["reference"],
    )  # fmt: skip


def inbound(tx: Tx, r: Row) -> InboundMessage:
    return InboundMessage(
        id=r["id"], smsc=r["smsc"], operator=r["operator"], source=r["source"],
        destination=r["destination"], text=r["text"],
        received_at=tx.datetime(r["received_at"]), account_id=r["account_id"],
        sender_id=r["sender_id"], smsc_message_id=r["smsc_message_id"],
    )  # fmt: skip
