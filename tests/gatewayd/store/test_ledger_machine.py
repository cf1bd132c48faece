"""Property: whatever mix of top-ups, debits, accepts, refunds, approvals and rejections runs,
every float equals the sum of its ledger entries and never goes below zero."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gatewayd.service.model import (
    CampaignType,
    LedgerKind,
    Package,
    RefundPolicy,
    SenderType,
    TopUpMethod,
    TopUpStatus,
)
from gatewayd.service.ports import InsufficientBalance, Store
from gatewayd.store import open_store
from tests.fakes.memory_store import MemoryStore
from tests.gatewayd.store.conftest import T0, at, new_message
from tests.gatewayd.store.pg import fresh_schema

T = TypeVar("T")
SENDERS = ("s1", "s2")
units = st.integers(min_value=1, max_value=40)
senders = st.sampled_from(SENDERS)


Opener = Callable[[], Awaitable[tuple[Store, Callable[[], Awaitable[None]]]]]


def machine_for(open_: Opener) -> type:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.store, self._cleanup = self.run(open_())
            self.expected = dict.fromkeys(SENDERS, 0)
            self.pending: dict[str, tuple[str, int]] = {}
            self.settled: list[str] = []
            self.queued: dict[str, tuple[str, int]] = {}
            self.n = 0

        def run(self, coro: Coroutine[Any, Any, T]) -> T:
            return self.loop.run_until_complete(coro)

        def teardown(self) -> None:
            self.run(self.store.close())
            self.run(self._cleanup())
            self.loop.close()

        def next_id(self, prefix: str) -> str:
            self.n += 1
            return f"{prefix}{self.n}"

        @initialize()
        def setup(self) -> None:
            async def go() -> None:
                await self.store.migrate()
                await self.store.create_account("acc1", "Acme", T0)
                for sid, op in zip(SENDERS, ("safaricom", "airtel"), strict=True):
                    await self.store.create_sender(
                        sid, "acc1", "ACME", op, SenderType.ALPHANUMERIC,
                        CampaignType.TRANSACTIONAL, T0,
                    )  # fmt: skip
                    await self.store.create_package(Package(f"p-{op}", "Bronze", op, 80, 1, True))

            self.run(go())

        @rule(sender=senders, amount=units)
        def request_topup(self, sender: str, amount: int) -> None:
            tid = self.next_id("t")
            op = "safaricom" if sender == "s1" else "airtel"
            self.run(
                self.store.create_topup(
                    tid, "acc1", sender, f"p-{op}", amount, amount * 80, TopUpMethod.OFFLINE, T0
                )
            )
            self.pending[tid] = (sender, amount)

        @precondition(lambda self: bool(self.pending))
        @rule(data=st.data(), approve=st.booleans())
        def settle(self, data: st.DataObject, approve: bool) -> None:
            tid = data.draw(st.sampled_from(sorted(self.pending)))
            status = TopUpStatus.COMPLETED if approve else TopUpStatus.FAILED
            _, changed = self.run(self.store.settle_topup(tid, status, "admin:x", at(1)))
            assert changed
            sender, amount = self.pending.pop(tid)
            if approve:
                self.expected[sender] += amount
            self.settled.append(tid)

        @precondition(lambda self: bool(self.settled))
        @rule(data=st.data())
        def settle_again(self, data: st.DataObject) -> None:
            tid = data.draw(st.sampled_from(self.settled))
            _, changed = self.run(
                self.store.settle_topup(tid, TopUpStatus.COMPLETED, "mpesa", at(2))
            )
            assert not changed

        @rule(sender=senders, amount=units)
        def debit(self, sender: str, amount: int) -> None:
            try:
                self.run(
                    self.store.post_entry(
                        sender, LedgerKind.DEBIT, -amount, "api:c", "sms", "x", at(3)
                    )
                )
            except InsufficientBalance:
                assert self.expected[sender] < amount
            else:
                assert self.expected[sender] >= amount
                self.expected[sender] -= amount

        @rule(sender=senders, amount=units)
        def accept(self, sender: str, amount: int) -> None:
            mid = self.next_id("m")
            op = "safaricom" if sender == "s1" else "airtel"
            message = new_message(mid, sender=sender, units=amount, operator=op)
            try:
                self.run(self.store.accept(message))
            except InsufficientBalance:
                assert self.expected[sender] < amount
            else:
                assert self.expected[sender] >= amount
                self.expected[sender] -= amount
                self.queued[mid] = (sender, amount)

        @precondition(lambda self: bool(self.queued))
        @rule(data=st.data())
        def fail_unsent(self, data: st.DataObject) -> None:
            mid = data.draw(st.sampled_from(sorted(self.queued)))
            sender, amount = self.queued.pop(mid)
            self.run(self.store.fail_message(mid, "Expired", at(4)))
            self.run(self.store.fail_message(mid, "Expired twice", at(5)))
            self.expected[sender] += amount  # network_rejected: refunded once

        @rule(sender=senders, amount=units)
        def refund(self, sender: str, amount: int) -> None:
            self.run(
                self.store.post_entry(
                    sender, LedgerKind.REFUND, amount, "admin:x", "goodwill", "r", at(6)
                )
            )
            self.expected[sender] += amount

        @invariant()
        def float_is_the_ledger(self) -> None:
            for sender in SENDERS:
                balance = self.run(self.store.balance(sender))
                assert balance == self.run(self.store.ledger_sum(sender))
                assert balance == self.expected[sender]
                assert balance >= 0

    return LedgerMachine


async def _nothing() -> None:
    return None


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_ledger_machine_memory() -> None:
    async def open_() -> tuple[Store, Callable[[], Awaitable[None]]]:
        return MemoryStore(refund_policy=RefundPolicy.NETWORK_REJECTED), _nothing

    run_state_machine_as_test(machine_for(open_), settings=SETTINGS)


def test_ledger_machine_sqlite() -> None:
    async def open_() -> tuple[Store, Callable[[], Awaitable[None]]]:
        directory = tempfile.mkdtemp(prefix="gatewayd-ledger-")

        async def cleanup() -> None:
            shutil.rmtree(directory, ignore_errors=True)

        url = f"sqlite:///{directory}/store.db"
        return await open_store(url, refund_policy=RefundPolicy.NETWORK_REJECTED), cleanup

    run_state_machine_as_test(machine_for(open_), settings=SETTINGS)


@pytest.mark.postgres
def test_ledger_machine_postgres(postgres_dsn: str) -> None:
    async def open_() -> tuple[Store, Callable[[], Awaitable[None]]]:
        url, drop = await fresh_schema(postgres_dsn)
        return await open_store(url, refund_policy=RefundPolicy.NETWORK_REJECTED), drop

    run_state_machine_as_test(machine_for(open_), settings=settings(SETTINGS, max_examples=10))
