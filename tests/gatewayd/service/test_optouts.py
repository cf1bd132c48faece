"""OptOuts: STOP/ONDOKA/TOKA to a short code opts the number out of that short code's sender
IDs, START lifts it; an opted-out number's promotional send fails with "Opted out" and costs
nothing, while transactional traffic still goes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gatewayd.service import errors
from gatewayd.service.model import (
    CampaignType,
    InboundMessage,
    OptOutSource,
    SenderType,
)
from gatewayd.service.optouts import Action, KeywordScope, OptOuts, normalise_keyword
from tests.fakes.memory_store import MemoryStore
from tests.http_api.world import SAFARICOM_NUMBER, T0, World, build_world

SHORTCODE = "22334"


async def add_shortcode(store: MemoryStore, sender_id: str, account: str, operator: str) -> None:
    await store.create_sender(
        sender_id, account, SHORTCODE, operator, SenderType.SHORTCODE,
        CampaignType.PROMOTIONAL, T0,
    )  # fmt: skip


@pytest.fixture
async def world() -> World:
    world = await build_world()
    await add_shortcode(world.store, "sc-saf", "acc-a", "safaricom")
    await add_shortcode(world.store, "sc-air", "acc-a", "airtel")
    world.messaging.opt_outs = OptOuts(world.store)
    return world


def mo(text: str, *, source: str = "0712 345 678", destination: str = SHORTCODE) -> InboundMessage:
    return InboundMessage(
        id="mo-1", smsc="safaricom-1", operator="safaricom", source=source,
        destination=destination, text=text, received_at=T0 + timedelta(minutes=5),
    )  # fmt: skip


def opt_outs(world: World, **options: object) -> OptOuts:
    return OptOuts.with_words(world.store, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["STOP", " stop\n", "Ondoka", "t o k a", "\tSToP "])
async def test_stop_keywords_opt_out_of_the_short_codes_senders(world: World, text: str) -> None:
    outcome = await opt_outs(world).handle_keyword(mo(text))
    assert outcome.action is Action.OPTED_OUT
    assert outcome.contact == SAFARICOM_NUMBER
    assert outcome.sender_ids == outcome.changed == ("sc-air", "sc-saf")
    assert await world.store.is_opted_out("sc-saf", SAFARICOM_NUMBER)
    assert not await world.store.is_opted_out("s-a-promo", SAFARICOM_NUMBER)  # another sender
    [record, _] = await world.store.list_opt_outs("acc-a")
    assert (record.source, record.reference, record.since) == (
        OptOutSource.KEYWORD, "mo-1", T0 + timedelta(minutes=5),
    )  # fmt: skip


async def test_start_opts_back_in_and_repeats_change_nothing(world: World) -> None:
    service = opt_outs(world)
    await service.handle_keyword(mo("STOP"))
    again = await service.handle_keyword(mo("STOP"))
    assert again.action is Action.OPTED_OUT and again.changed == ()
    back = await service.handle_keyword(mo("start"))
    assert back.action is Action.OPTED_IN and back.changed == ("sc-air", "sc-saf")
    assert not await world.store.is_opted_out("sc-saf", SAFARICOM_NUMBER)
    assert (await service.handle_keyword(mo("START"))).changed == ()


async def test_other_messages_and_unknown_targets_are_left_alone(world: World) -> None:
    service = opt_outs(world)
    assert (await service.handle_keyword(mo("STOP sending me"))).action is Action.NOT_A_KEYWORD
    assert (await service.handle_keyword(mo("Hello"))).action is Action.NOT_A_KEYWORD
    unknown = await service.handle_keyword(mo("STOP", destination="99999"))
    assert unknown.action is Action.UNKNOWN_SHORTCODE
    invalid = await service.handle_keyword(mo("STOP", source="12345"))
    assert invalid.action is Action.INVALID_CONTACT
    assert await world.store.list_opt_outs("acc-a") == []


async def test_keywords_are_configurable(world: World) -> None:
    service = opt_outs(world, stop_words=["acha", "Unsubscribe"], start_words=["anza"])
    assert (await service.handle_keyword(mo("STOP"))).action is Action.NOT_A_KEYWORD
    assert (await service.handle_keyword(mo("UNSUBSCRIBE"))).action is Action.OPTED_OUT
    assert (await service.handle_keyword(mo("Anza"))).action is Action.OPTED_IN
    with pytest.raises(ValueError, match="STOP"):
        opt_outs(world, stop_words=["stop"], start_words=["Stop"])
    assert normalise_keyword(" o n d o k a ") == "ONDOKA"


async def test_account_scope_also_covers_its_promotional_senders(world: World) -> None:
    service = opt_outs(world, scope=KeywordScope.ACCOUNT_PROMOTIONAL)
    outcome = await service.handle_keyword(mo("STOP"))
    assert outcome.sender_ids == ("s-a-promo", "sc-air", "sc-saf")
    assert not await world.store.is_opted_out("s-a-saf", SAFARICOM_NUMBER)  # transactional


async def test_opted_out_promotional_send_fails_and_costs_nothing(world: World) -> None:
    service = opt_outs(world)
    await service.opt_out("s-a-promo", "+254 712 345 678", OptOutSource.API, T0)
    before = await world.store.balance("s-a-promo")
    with pytest.raises(errors.OptedOut) as refused:
        await world.messaging.send(
            "acc-a", "api:client-a", "PROMO", "0712345678", "Sale!", None, limit=960, now=T0
        )
    assert refused.value.field == "contact" and refused.value.messages == ["Opted out"]
    assert await world.store.balance("s-a-promo") == before
    assert await world.store.queue_depth() == 0
    sent = await world.messaging.send(  # transactional traffic is not refused
        "acc-a", "api:client-a", "KIMISMS", "0712345678", "OTP 1234", None, limit=960, now=T0
    )
    assert sent.contact == SAFARICOM_NUMBER
    assert await service.opt_in("s-a-promo", "0712345678")
    promo = await world.messaging.send(
        "acc-a", "api:client-a", "PROMO", "0712345678", "Sale!", None, limit=960, now=T0
    )
    assert promo.units == 1


async def test_admin_opt_out_needs_a_valid_number(world: World) -> None:
    with pytest.raises(ValueError, match="12345"):
        await opt_outs(world).opt_out("s-a-promo", "12345", OptOutSource.ADMIN, T0)
