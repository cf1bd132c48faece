"""Opt-out keywords end to end: a subscriber's STOP to a short code, injected at the simulated
SMSC, refuses that short code's promotional sends to the subscriber (seed: "Opted out", nothing
charged); START lets them through again. Promotional sends from other sender IDs are not
affected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import Settings
from gatewayd import main
from gatewayd.service.model import CampaignType, InboundMessage, LedgerKind, SenderType
from gatewayd.service.optouts import Action
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


async def test_configured_words_and_scope_reach_the_daemons_opt_outs(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "state_dir": tmp_path,
            "http": {"listen": "127.0.0.1:0"},
            "auth": {"signing_keys": {"t": "k" * 40}},
            "optouts": {
                "stop_words": ["acha", "Stop"],
                "start_words": ["anza"],
                "scope": "account_promotional",
            },
        }
    )
    daemon = main.Daemon(settings)
    await daemon.start()
    try:
        store, opt_outs = daemon.store, daemon.opt_outs
        assert store is not None and opt_outs is not None
        now = datetime.now(UTC)
        await store.create_account("acme", "ACME", now)
        for sender_id, name, kind, campaign in (
            ("sc", SHORT_CODE, SenderType.SHORTCODE, CampaignType.TRANSACTIONAL),
            ("promo", "OFFERS", SenderType.ALPHANUMERIC, CampaignType.PROMOTIONAL),
            ("otp", "KIMISMS", SenderType.ALPHANUMERIC, CampaignType.TRANSACTIONAL),
        ):
            await store.create_sender(sender_id, "acme", name, "safaricom", kind, campaign, now)

        def mo(text: str) -> InboundMessage:
            return InboundMessage(
                "mo-1", "safaricom-1", "safaricom", SAFARICOM, SHORT_CODE, text, now,
                account_id="acme", sender_id="sc",
            )  # fmt: skip

        assert (await opt_outs.handle_keyword(mo("TOKA"))).action is Action.NOT_A_KEYWORD
        stopped = await opt_outs.handle_keyword(mo(" Acha "))
        assert stopped.action is Action.OPTED_OUT and stopped.sender_ids == ("promo", "sc")
        assert await opt_outs.is_opted_out("promo", SAFARICOM)
        assert not await opt_outs.is_opted_out("otp", SAFARICOM)
        assert (await opt_outs.handle_keyword(mo("ANZA"))).action is Action.OPTED_IN
        assert not await opt_outs.is_opted_out("promo", SAFARICOM)
    finally:
        await daemon.stop()


def test_a_word_both_stop_and_start_is_refused() -> None:
    with pytest.raises(ValueError, match="both in stop_words and start_words"):
        Settings.model_validate({"optouts": {"stop_words": ["STOP"], "start_words": ["stop"]}})
