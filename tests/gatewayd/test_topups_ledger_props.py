"""Stateful property: random top-ups (offline and M-Pesa), approvals, rejections, callbacks
(repeated, cancelled, unknown), expiry, debits and adjustments keep every sender ID's float equal
to the sum of its ledger and never negative, and credit each completed top-up exactly once."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from billing.mpesa import StkPushAccepted, StkResult
from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    Package,
    SenderType,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.ports import InsufficientBalance
from gatewayd.service.topups import TopUps
from tests.fakes.memory_store import MemoryStore

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SENDERS = ["snd-a", "snd-b"]
T = TypeVar("T")


class StubDaraja:
    """The Daraja port in memory: pushes are accepted, outcomes set by the test."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.amounts: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}

    async def stk_push(
        self, *, amount_kes: int, phone: str, account_reference: str, description: str,
        now: datetime,
    ) -> StkPushAccepted:  # fmt: skip
        n = next(self._ids)
        checkout = f"ws_CO_{n}"
        self.amounts[checkout] = amount_kes
        return StkPushAccepted(f"m-{n}", checkout, "0", "Accepted", "Accepted")

    async def stk_query(self, checkout_request_id: str, *, now: datetime) -> StkResult | None:
        code = self.outcomes.get(checkout_request_id)
        return None if code is None else StkResult("m", checkout_request_id, code, "")

    def callback(self, checkout: str, code: int) -> dict[str, Any]:
        self.outcomes[checkout] = code
        body: dict[str, Any] = {
            "MerchantRequestID": "m", "CheckoutRequestID": checkout,
            "ResultCode": code, "ResultDesc": "",
        }  # fmt: skip
        if code == 0:
            body["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": self.amounts.get(checkout, 1)},
                    {"Name": "MpesaReceiptNumber", "Value": f"R{checkout}"},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            }
        return {"Body": {"stkCallback": body}}


class TopUpLedger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.store = MemoryStore()
        self.daraja = StubDaraja()
        self.topups = TopUps(self.store, self.daraja, expiry=timedelta(seconds=120))
        self.now = T0
        self.credited: dict[str, int] = {}  # top-up id → units, for each COMPLETED one
        self.run(self._seed())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    async def _seed(self) -> None:
        await self.store.create_account("acc", "Acme", T0)
        for sender in SENDERS:
            await self.store.create_sender(
                sender, "acc", sender.upper(), "safaricom", SenderType.ALPHANUMERIC,
                CampaignType.TRANSACTIONAL, T0,
            )  # fmt: skip
        await self.store.create_package(Package("pkg", "Bulk", "safaricom", 35, 1, True))

    def pending(self, method: TopUpMethod) -> list[Any]:
        return [
            t for t in self.run(self.store.list_topups(status=TopUpStatus.PENDING))
            if t.method is method
        ]  # fmt: skip

    @rule(sender=st.sampled_from(SENDERS), units=st.integers(1, 500))
    def request_offline(self, sender: str, units: int) -> None:
        self.run(self.topups.request_offline("acc", sender, "pkg", units, self.now))

    @rule(sender=st.sampled_from(SENDERS), units=st.integers(1, 500))
    def request_mpesa(self, sender: str, units: int) -> None:
        self.run(self.topups.request_mpesa("acc", sender, "pkg", units, "0708374149", self.now))

    @precondition(lambda self: self.pending(TopUpMethod.OFFLINE))
    @rule(data=st.data(), approve=st.booleans())
    def settle_offline(self, data: st.DataObject, approve: bool) -> None:
        topup = data.draw(st.sampled_from(self.pending(TopUpMethod.OFFLINE)))
        if approve:
            self.run(self.topups.approve(topup.id, "alice", self.now))
        else:
            self.run(self.topups.reject(topup.id, "alice", "no transfer", self.now))

    @rule(data=st.data(), code=st.sampled_from([0, 0, 1032, 1037]), times=st.integers(1, 3))
    def callback(self, data: st.DataObject, code: int, times: int) -> None:
        topups = self.run(self.store.list_topups())
        mpesa = [t.checkout_request_id for t in topups if t.checkout_request_id]
        checkout = data.draw(st.sampled_from([*mpesa, "ws_CO_unknown"]))
        for _ in range(times):
            self.run(self.topups.handle_callback(self.daraja.callback(checkout, code), self.now))

    @rule(seconds=st.integers(1, 200))
    def time_passes_and_expiry_runs(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.run(self.topups.expire(self.now))

    @rule(sender=st.sampled_from(SENDERS), units=st.integers(1, 300), sign=st.sampled_from([-1, 1]))
    def debit_or_adjust(self, sender: str, units: int, sign: int) -> None:
        kind = LedgerKind.DEBIT if sign < 0 else LedgerKind.ADJUSTMENT
        before = self.run(self.store.balance(sender))
        try:
            self.run(self.store.post_entry(sender, kind, sign * units, "t", "r", "x", self.now))
        except InsufficientBalance:
            assert units > before

    @invariant()
    def floats_equal_their_ledgers_and_never_go_negative(self) -> None:
        for sender in SENDERS:
            balance = self.run(self.store.balance(sender))
            assert balance == self.run(self.store.ledger_sum(sender)) >= 0

    @invariant()
    def each_completed_top_up_is_credited_exactly_once(self) -> None:
        entries = [e for s in SENDERS for e in self.run(self.store.entries(s))]
        credits = [e for e in entries if e.kind is LedgerKind.TOPUP]
        completed = [
            t for t in self.run(self.store.list_topups()) if t.status is TopUpStatus.COMPLETED
        ]
        assert sorted(e.reference for e in credits) == sorted(t.id for t in completed)
        by_id = {t.id: t.units for t in completed}
        assert all(e.units == by_id[e.reference] for e in credits)


TopUpLedger.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_top_up_ledger = TopUpLedger.TestCase
