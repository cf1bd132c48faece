"""End to end on loopback: a bulk request → store → dispatchers → simulator → receipts →
DELIVERED, with a signed callback per accepted message."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.e2e.harness import AIRTEL, SAFARICOM, TELKOM, running_gateway


async def test_bulk_messages_are_delivered_with_callbacks(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        body: dict[str, Any] = {
            "sender_name": ["KIMISMS", "SAFONLY"],
            "callback_url": gw.sink.url,
            "messages": [
                {"contact": SAFARICOM, "message": "Bulk one", "client_ref": "b-1"},
                {"contact": AIRTEL, "message": "Bulk two", "client_ref": "b-2"},
                {"contact": "12345", "message": "Bad number", "client_ref": "b-3"},
                {"contact": TELKOM, "message": "No float on Telkom", "client_ref": "b-4"},
                {"contact": "0712345678", "message": "Bulk five", "client_ref": "b-5"},
            ],
        }
        auth = {"Authorization": f"Bearer {await gw.token()}", "Idempotency-Key": "bulk-e2e"}
        async with gw.http.post(f"{gw.url}/api/v1/messages/bulk", json=body, headers=auth) as r:
            assert r.status == 200, await r.text()
            answer = await r.json()
        assert (answer["accepted"], answer["rejected"], answer["units"]) == (3, 2, 3)
        results = answer["messages"]
        assert [m["status"] for m in results] == [
            "INITIATED", "INITIATED", "REJECTED", "REJECTED", "INITIATED",
        ]  # fmt: skip
        assert results[2]["errors"]["contact"][0] == "Invalid number"
        assert results[3]["errors"]["sender_name"][0] == "Insufficient balance"
        accepted = [m for m in results if m["status"] == "INITIATED"]
        payloads = await asyncio.gather(
            *(gw.sink.wait_for(m["message_id"], "DELIVERED") for m in accepted)
        )
        assert [p["contact"] for p in payloads] == [SAFARICOM, AIRTEL, SAFARICOM]
        assert [p["provider"] for p in payloads] == ["Safaricom", "Airtel", "Safaricom"]
        for m in accepted:
            detail = await gw.wait_status(m["message_id"])
            assert detail["status"] == "DELIVERED" and detail["client_ref"] == m["client_ref"]
        assert {s.destination for s in gw.sim.records("safaricom").submits} == {SAFARICOM}
        assert len(gw.sim.records("safaricom").submits) == 2
        assert [s.source for s in gw.sim.records("airtel").submits] == ["KIMISMS"]
        assert await gw.balance("acme-kim-saf") == 98
        assert await gw.balance("acme-kim-air") == 99
        assert await gw.balance("acme-safonly") == 100  # KIMISMS comes first in the list
        # The same request again: the kept answer, nothing sent twice.
        async with gw.http.post(f"{gw.url}/api/v1/messages/bulk", json=body, headers=auth) as r:
            assert r.status == 200 and r.headers["Idempotent-Replayed"] == "true"
            assert await r.json() == answer
        assert await gw.balance("acme-kim-saf") == 98
