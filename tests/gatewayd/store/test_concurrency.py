"""Money under concurrency: 1,000 accepts racing for a float of 500 units."""

from __future__ import annotations

import asyncio

from gatewayd.service.model import LedgerKind
from gatewayd.service.ports import InsufficientBalance, Store
from tests.gatewayd.store.conftest import new_message, seed


async def test_thousand_concurrent_accepts_against_500_units(store: Store) -> None:
    await seed(store, units=500)
    results = await asyncio.gather(
        *(store.accept(new_message(f"m{i:04d}", created=i / 1000)) for i in range(1000)),
        return_exceptions=True,
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert len(accepted) == 500
    assert len(refused) == 500
    assert all(str(r) == "Insufficient balance" for r in refused)
    assert await store.balance("snd1") == 0
    assert await store.ledger_sum("snd1") == 0
    entries = await store.entries("snd1")
    debits = [e for e in entries if e.kind is LedgerKind.DEBIT]
    assert len(debits) == 500
    assert sorted(e.reference for e in debits) == sorted(m.id for m in accepted)
    assert [e.balance_after for e in entries] == list(range(500, -1, -1))
    assert await store.queue_depth() == 500
