"""End to end on loopback: HTTP → store → dispatcher → simulator → receipt → GET (and callback)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import SAFARICOM, running_gateway


async def test_token_send_receipt_delivered_with_timeline(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        status, sent = await gw.send(SAFARICOM, "Your OTP is 482910")
        assert status == 200, sent
        assert sent["status"] == "INITIATED" and sent["contact"] == SAFARICOM
        assert sent["provider"] == "Safaricom"
        await gw.sim.wait_for_submits(1, timeout=5, smsc="safaricom")
        [submit] = gw.sim.records("safaricom").submits
        assert (submit.destination, submit.source, submit.text) == (
            SAFARICOM,
            "KIMISMS",
            "Your OTP is 482910",
        )
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "DELIVERED", body
        assert [e["status"] for e in body["timeline"]] == ["INITIATED", "SENT", "DELIVERED"]
        assert await gw.balance("acme-kim-saf") == 99
