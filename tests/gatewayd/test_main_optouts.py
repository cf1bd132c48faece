"""Opt-out keywords end to end: a subscriber's STOP to a short code, injected at the simulated
SMSC, refuses that short code's promotional sends to the subscriber (seed: "Opted out", nothing
charged); START lets them through again. Promotional sends from other sender IDs are not
affected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gatewayd.service.model import CampaignType, LedgerKind, SenderType
from tests.e2e.harness import SAFARICOM, Gateway, running_gateway

SHORT_CODE = "22334"
PROMO = "acme-promo-sc"


async def _promotional_short_code(gw: Gateway) -> None:
    store = gw.daemon.store
    assert store is not None
    now = datetime.now(UTC)
    await store.create_sender(
        PROMO, "acme", SHORT_CODE, "safaricom", SenderType.SHORTCODE,
        CampaignType.PROMOTIONAL, now,
    )  # fmt: skip
    await store.post_entry(PROMO, LedgerKind.TOPUP, 10, "test", "seed", "t", now)


async def test_stop_then_start_to_a_short_code(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        await _promotional_short_code(gw)
        await gw.sim.inject_mo("safaricom", "0712345678", SHORT_CODE, "stop ")  # acked: applied

        status, body = await gw.send(SAFARICOM, "Offer: 2x bundles today", sender=SHORT_CODE)
        assert status == 400 and body == {"contact": ["Opted out"]}
        assert await gw.balance(PROMO) == 10
        assert gw.daemon.store is not None
        assert (await gw.daemon.store.list_messages("acme")).items == ()
        other, _ = await gw.send(SAFARICOM, "Hello", sender="KIMISMS")  # another sender ID
        assert other == 200

        await gw.sim.inject_mo("safaricom", "254712345678", SHORT_CODE, "START")
        status, body = await gw.send(SAFARICOM, "Offer: 2x bundles today", sender=SHORT_CODE)
        assert status == 200 and body["status"] == "INITIATED", body
        assert (await gw.wait_status(body["message_id"]))["status"] == "DELIVERED"
        assert await gw.balance(PROMO) == 9
