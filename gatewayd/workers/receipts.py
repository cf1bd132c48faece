"""deliver_sm → the store, before the pool acknowledges it.

The pool awaits `ReceiptHandler.handle` for every deliver_sm and sends deliver_sm_resp only
when it returns, so a receipt or MO message is stored (or parked) before the SMSC forgets it:
a crash between the two makes the SMSC send it again, and the store's monotonic state machine
makes the repeat harmless. An exception from `handle` (the store is down) must not be acked;
the pool answers with a temporary error and the SMSC retries.

Receipts: read from TLVs or text (`smpp.core.receipt`), the id normalised per the SMSC's
format, then `record_receipt` (parked when the submit_sm_resp has not been recorded yet).
Intermediate and unreadable receipts are acknowledged and counted, not applied; a deliver_sm
flagged as a receipt (esm_class) whose id cannot be read is one of those, never an MO.

MO: single messages are stored at once; the parts of a long one are held in memory until the
last arrives (a restart in between loses the earlier parts of that one message). A stored MO
is then handed to the opt-out keywords (STOP, ONDOKA, TOKA, START to a short code), still
before the ack: a crash in between makes the SMSC resend it, and the keyword is applied then
(the stored copy is found again, and an opt-out repeated changes nothing).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from gatewayd.logs import get_logger
from gatewayd.metrics import DaemonMetrics, Tally
from gatewayd.service.model import (
    InboundMessage,
    MessageStatus,
    MoPart,
    ReceiptOutcome,
    ReceiptResult,
    SenderId,
)
from gatewayd.service.optouts import Action, Outcome
from gatewayd.service.ports import AccountStore, InboundStore, MessageStore
from gatewayd.workers.batching import TurnBatch
from gatewayd.workers.binds import DeliverPdu
from routing import InvalidNumber, normalise
from smpp.core.msgid import MessageIdFormat, normalise_message_id
from smpp.core.receipt import Receipt, is_flagged_receipt, parse_receipt
from smpp.core.text import (
    InboundPart,
    concat_info,
    decode_short_message,
    message_octets,
    reassemble,
    split_udh,
)
from smpp.core.tlv import pack_tlvs, unpack_tlvs

log = get_logger("gatewayd.receipts")

Clock = Callable[[], datetime]
DESC_DELIVERED = "Message delivered to handset"


# record_receipt's arguments: smsc, smsc_message_id, status, description, now.
_ReceiptArgs = tuple[str, str, MessageStatus, str, datetime]


class ReceiptStore(MessageStore, InboundStore, AccountStore, Protocol):
    """The ports the handler uses: messages and inbound, senders to find an MO's owner."""


class Keywords(Protocol):
    """What acts on opt-out keywords in MO messages (`gatewayd.service.optouts.OptOuts`)."""

    async def handle_keyword(self, inbound: InboundMessage) -> Outcome: ...


class SenderOwners:
    """(account, sender ID) owning a short code or sender name on one operator, for MO.

    Read from the store's senders and kept for `ttl` seconds; an unknown destination triggers
    one refresh per `ttl` at most, so a flood of MO to a stranger's number costs no queries.
    Names are unique per account only: a name two accounts hold on this operator is treated
    as unowned (logged), since picking one could hand a reply or a STOP to the wrong customer.
    `admin sender create` refuses such a short code; older data may still hold one.
    """

    def __init__(self, store: AccountStore, operator: str, ttl: float = 60.0) -> None:
        self._store = store
        self._operator = operator
        self._ttl = timedelta(seconds=ttl)
        self._owners: dict[str, tuple[str, str]] = {}
        self._loaded_at: datetime | None = None

    async def lookup(self, destination: str, now: datetime) -> tuple[str, str] | None:
        found = self._owners.get(destination)
        if found is None and (self._loaded_at is None or now - self._loaded_at >= self._ttl):
            self._owners = self._unambiguous(await self._store.list_senders())
            self._loaded_at = now
            found = self._owners.get(destination)
        return found

    def _unambiguous(self, senders: Sequence[SenderId]) -> dict[str, tuple[str, str]]:
        by_name: dict[str, list[tuple[str, str]]] = {}
        for s in senders:
            if s.operator == self._operator:
                by_name.setdefault(s.name, []).append((s.account_id, s.id))
        owners: dict[str, tuple[str, str]] = {}
        for name, held in by_name.items():
            if len({account for account, _ in held}) == 1:
                owners[name] = held[0]
            else:
                log.warning(
                    "sender_name_ambiguous", name=name, operator=self._operator,
                    accounts=sorted({account for account, _ in held}),
                )  # fmt: skip
        return owners


@dataclass(frozen=True, slots=True)
class ReceiptSource:
    """The SMSC a deliver_sm came from."""

    smsc: str
    operator: str
    id_format: MessageIdFormat = MessageIdFormat.AS_IS


class ReceiptHandler:
    """Handles the deliver_sm of one SMSC; give `handle` to its pool as the deliver handler."""

    def __init__(
        self,
        store: ReceiptStore,
        source: ReceiptSource,
        metrics: DaemonMetrics,
        clock: Clock,
        *,
        on_change: Callable[[ReceiptResult], None] | None = None,
        keywords: Keywords | None = None,
    ) -> None:
        self._store = store
        # Receipts read in the same loop turn share one store write.
        self._receipts: TurnBatch[_ReceiptArgs, ReceiptResult] = TurnBatch(
            store.record_receipts, "record-receipts"
        )
        self._keywords = keywords  # STOP/START in MO messages; None: MO only stored
        self._on_change = on_change  # told of each receipt that moved its message (callbacks)
        self.source = source
        self._metrics = metrics
        self._clock = clock
        self._owners = SenderOwners(store, source.operator)
        # Long MO messages whose record is under way: the SMSC repeating their last part
        # meanwhile (on another bind, say) must not record them twice.
        self._recording: set[str] = set()
        self._counters: dict[tuple[str, str], Tally] = {}
        self._lag = metrics.deferred.histogram(metrics.receipt_lag.labels(source.smsc))

    async def handle(self, pdu: DeliverPdu) -> None:
        """Store what the deliver_sm carries; returns only once it is durable."""
        await self.handle_parsed(pdu, parse_receipt(pdu.short_message, pdu.tlvs, pdu.esm_class))

    async def handle_parsed(
        self,
        pdu: DeliverPdu,
        receipt: Receipt | None,
        key: str | None = None,
        flagged: bool | None = None,
    ) -> None:
        """As `handle`, for a deliver_sm the pool already read: `receipt` is its parsed
        receipt (None for MO) and `key` its id normalised per the SMSC's format. `flagged`
        (from esm_class when None) marks a receipt: one without a readable id is counted and
        acknowledged, never stored as MO (nor read for STOP/START)."""
        if receipt is not None:
            await self.handle_receipt(receipt, key)
        elif flagged or (flagged is None and is_flagged_receipt(pdu.esm_class)):
            self._unreadable(pdu)
        else:
            await self._mo(pdu)

    # -- receipts ---------------------------------------------------------------------------

    async def handle_receipt(self, receipt: Receipt, key: str | None = None) -> None:
        """Store a receipt the pool already parsed (`key`: its id normalised, when known)."""
        smsc = self.source.smsc
        status = _status_of(receipt)
        if status is None:
            label = "intermediate" if receipt.intermediate or receipt.state else "unreadable"
            self._count("none", label)
            log.info("receipt_ignored", smsc=smsc, smsc_message_id=receipt.message_id, why=label)
            return
        if key is None:
            try:
                key = normalise_message_id(
                    receipt.message_id, self.source.id_format, from_receipt=True
                )
            except ValueError:
                self._count(status.value, "unreadable")
                return
        now = self._clock()
        args = (smsc, key, status, _description(receipt), now)
        result = await self._receipts.put_nowait(args)  # put's future, no coroutine
        self._count(status.value, result.outcome.value)
        if result.outcome is ReceiptOutcome.APPLIED and result.message_changed:
            self._observe_lag(result, now)
            if self._on_change is not None:
                self._on_change(result)

    def _unreadable(self, pdu: DeliverPdu) -> None:
        """A receipt whose message id cannot be read: it matches no message; counted and
        logged so that an SMSC sending them can be taken up with the operator."""
        self._count("none", "unreadable")
        log.warning(
            "receipt_unreadable",
            smsc=self.source.smsc,
            esm_class=pdu.esm_class,
            short_message=pdu.short_message[:160].decode("latin-1"),
            tlvs=sorted(pdu.tlvs),
        )

    def _count(self, status: str, outcome: str) -> None:
        """receipts{smsc, status, outcome} + 1, the labelled child looked up once."""
        tally = self._counters.get((status, outcome))
        if tally is None:
            child = self._metrics.receipts.labels(self.source.smsc, status, outcome)
            tally = self._counters[(status, outcome)] = self._metrics.deferred.counter(child)
        tally.pending += 1

    def _observe_lag(self, result: ReceiptResult, now: datetime) -> None:
        if result.created_at is None or result.status not in (
            MessageStatus.DELIVERED,
            MessageStatus.FAILED,
        ):
            return
        lag = (now - result.created_at).total_seconds()
        self._lag.observe(max(lag, 0.0))

    # -- mobile originated ------------------------------------------------------------------

    async def _mo(self, pdu: DeliverPdu) -> None:
        info = concat_info(pdu.short_message, pdu.esm_class, pdu.tlvs)
        if info is None or info.total == 1:
            body = info.body if info is not None else _body(pdu)
            text = decode_short_message(pdu.data_coding, body).text
            await self._keep_mo(pdu.source_addr, pdu.destination_addr, text)
            return
        key = f"{pdu.source_addr}|{pdu.destination_addr}|{info.reference}|{info.total}"
        part = MoPart(
            smsc=self.source.smsc, key=key, seq=info.seq, total=info.total,
            source=pdu.source_addr, destination=pdu.destination_addr,
            data_coding=pdu.data_coding, esm_class=pdu.esm_class,
            short_message=pdu.short_message, tlvs=pack_tlvs(pdu.tlvs),
            received_at=self._clock(),
        )  # fmt: skip
        parts = await self._store.keep_mo_part(part)  # kept before the ack: a restart loses none
        if parts is None or key in self._recording:  # a repeat while it is being recorded
            return
        self._recording.add(key)
        try:
            await self._whole_mo(parts)
        finally:
            self._recording.discard(key)

    async def recover_mo(self) -> int:
        """Record the long MO messages whose parts all came but that a stop kept from being
        recorded (between the last part and its record); how many. Run once at start."""
        complete = await self._store.complete_mo_parts(self.source.smsc)
        for parts in complete:
            await self._whole_mo(parts)
        return len(complete)

    async def _whole_mo(self, parts: Sequence[MoPart]) -> None:
        """Every part of a long MO is kept: reassemble it, record it, drop its parts."""
        first = parts[0]
        try:
            text = reassemble([
                InboundPart(p.data_coding, p.short_message, p.esm_class, unpack_tlvs(p.tlvs))
                for p in parts
            ])  # fmt: skip
        except ValueError as exc:
            log.warning("mo_unreadable", smsc=self.source.smsc, reason=str(exc))
            await self._store.drop_mo_parts(first.smsc, first.key)  # it will not read better
            return
        await self._keep_mo(
            first.source, first.destination, text, (first.smsc, first.key),
            repeat_key=long_mo_repeat_key(parts, self._clock()),
        )  # fmt: skip

    async def _keep_mo(
        self,
        source: str,
        destination: str,
        text: str | None,
        parts_of: tuple[str, str] | None = None,
        repeat_key: str | None = None,
    ) -> None:
        if text is None:
            log.warning("mo_binary_dropped", smsc=self.source.smsc, destination=destination)
            if parts_of is not None:  # nothing to keep: its parts need not wait for a day
                await self._store.drop_mo_parts(*parts_of)
            return
        now = self._clock()
        owner = await self._owners.lookup(destination, now)
        message = InboundMessage(
            id=str(uuid.uuid4()),
            smsc=self.source.smsc,
            operator=self.source.operator,
            source=_msisdn(source),
            destination=destination,
            text=text,
            received_at=now,
            account_id=owner[0] if owner else None,
            sender_id=owner[1] if owner else None,
            smsc_message_id=repeat_key,
        )
        kept, new = await self._store.record_inbound(message, parts_of=parts_of)
        if new:
            self._metrics.inbound.labels(self.source.smsc).inc()
        log.info("mo_received", smsc=self.source.smsc, inbound_id=kept.id, new=new)
        if self._keywords is not None:
            outcome = await self._keywords.handle_keyword(kept)
            if outcome.action is not Action.NOT_A_KEYWORD:
                log.info(
                    "mo_keyword", smsc=self.source.smsc, inbound_id=kept.id,
                    action=outcome.action.value, sender_ids=list(outcome.sender_ids),
                    changed=len(outcome.changed),
                )  # fmt: skip


def long_mo_repeat_key(parts: Sequence[MoPart], now: datetime) -> str:
    """What a long MO is recorded under, so that the same message delivered whole again is
    recognised (`record_inbound` keeps one message per SMSC and key) instead of recorded
    twice: an SMSC that got none of the parts' acknowledgements (the link dropped before
    they went out) delivers every part again, and its parts were dropped with the record.

    The key is the parts' own identity (sender, destination, concatenation reference and
    count: `MoPart.key`) and their bytes, on the day (UTC) it was put together. A single
    part MO has no such reference, so two identical ones stay two: "YES" sent twice is
    two answers. Within one day the same phone would have to send the same long text to
    the same number under the same reference (which handsets step by one per long message)
    to be taken for a repeat; across midnight a repeat is recorded twice, as before."""
    digest = hashlib.sha256(parts[0].key.encode())
    for part in parts:
        digest.update(b"|%d|%d|" % (part.seq, part.data_coding))
        digest.update(part.short_message)
    return f"long-mo:{digest.hexdigest()[:32]}:{now.astimezone(UTC).date().isoformat()}"


def _status_of(receipt: Receipt) -> MessageStatus | None:
    """DELIVERED or FAILED for a final receipt; None for one that changes nothing."""
    if receipt.intermediate or receipt.state is None or not receipt.is_final:
        return None
    return MessageStatus.DELIVERED if receipt.state.is_delivered else MessageStatus.FAILED


def _description(receipt: Receipt) -> str:
    """Words for the timeline: seed 000's for a delivery, the network's stat/err otherwise."""
    if receipt.state is not None and receipt.state.is_delivered:
        return DESC_DELIVERED
    stat = receipt.stat or (receipt.state.name if receipt.state is not None else "UNKNOWN")
    err = receipt.err if receipt.err is not None else receipt.error_code
    suffix = f" (error {err})" if err not in (None, "", "000", 0) else ""
    return f"Not delivered: {stat}{suffix}"


def _body(pdu: DeliverPdu) -> bytes:
    """The octets of a one-part MO message, any UDH removed."""
    return split_udh(message_octets(pdu.short_message, pdu.tlvs), pdu.esm_class)[1]


def _msisdn(raw: str) -> str:
    try:
        return normalise(raw)
    except InvalidNumber:
        return raw
