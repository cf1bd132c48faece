"""MessagingService: every refusal names seed 000's reason and leaves store and float as they
were; an accepted message is routed, billed and stored with its debit."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import pytest

from gatewayd.service import errors
from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.messaging import new_message_id
from gatewayd.service.model import LedgerKind, MessageStatus, SenderStatus
from routing import Operator, PrefixTable
from tests.http_api.world import (
    AIRTEL_NUMBER,
    SAFARICOM_NUMBER,
    T0,
    TELKOM_NUMBER,
    UNALLOCATED_NUMBER,
    UNROUTED_NUMBER,
    World,
    build_world,
)


@pytest.fixture
async def world() -> World:
    return await build_world()


async def send(world: World, **overrides: object) -> object:
    args: dict[str, object] = {
        "account_id": "acc-a",
        "actor": "api:client-a",
        "sender_name": "KIMISMS",
        "contact": "0712 345 678",
        "message": "Your OTP is 482910",
        "callback_url": None,
        "limit": 10_000,
        "now": T0,
    }
    args.update(overrides)
    return await world.messaging.send(**args)  # type: ignore[arg-type]


async def test_accept_routes_bills_and_debits(world: World) -> None:
    message = await send(world, message="x" * 161, client_ref="ref-1", priority=7)
    assert message.contact == SAFARICOM_NUMBER
    assert message.operator == "safaricom"
    assert message.sender_id == "s-a-saf"
    assert (message.units, message.parts, message.encoding) == (2, 2, "gsm7")
    assert message.status is MessageStatus.INITIATED
    assert message.description == "Message queued for delivery"
    assert (message.priority, message.client_ref) == (7, "ref-1")
    assert await world.store.balance("s-a-saf") == 98
    entries = await world.store.entries("s-a-saf")
    assert entries[-1].units == -2 and entries[-1].actor == "api:client-a"


async def test_ucs2_text_is_billed_per_70(world: World) -> None:
    message = await send(world, message="Habari 😀 " * 10)
    assert message.encoding == "ucs2"
    assert message.units == 2  # 110 UTF-16 units
    assert message.parts == 2


@pytest.mark.parametrize(
    ("overrides", "error", "field", "reason"),
    [
        ({"sender_name": "NOPE"}, errors.SenderNotFound, "sender_name", "Sender ID not found"),
        ({"sender_name": "BETA"}, errors.SenderNotFound, "sender_name", "Sender ID not found"),
        ({"contact": TELKOM_NUMBER}, errors.NoMatchingSender, "sender_name", "No matching sender"),
        (
            {"contact": UNROUTED_NUMBER},
            errors.NoMatchingSender,
            "sender_name",
            "No matching sender",
        ),
        (
            {"contact": AIRTEL_NUMBER},
            errors.InsufficientBalance,
            "sender_name",
            "Insufficient balance",
        ),
        ({"contact": "12345"}, errors.InvalidNumber, "contact", "Invalid number"),
        ({"contact": UNALLOCATED_NUMBER}, errors.InvalidNumber, "contact", "Invalid number"),
        ({"message": "x" * 10_001}, errors.MessageTooLong, "message", None),
        (
            {"callback_url": "ftp://example.com/cb"},
            errors.CallbackUrlRejected,
            "callback_url",
            "Callback URL must use http or https",
        ),
    ],
)
async def test_refusals_store_and_charge_nothing(
    world: World, overrides: dict[str, object], error: type, field: str, reason: str | None
) -> None:
    with pytest.raises(error) as caught:
        await send(world, **overrides)
    assert caught.value.field == field
    if reason is not None:
        assert caught.value.reason == reason
    assert await world.store.queue_depth() == 0
    assert await world.store.balances("acc-a") == {"s-a-saf": 100, "s-a-air": 0, "s-a-promo": 10}


async def test_message_too_long_names_the_limit(world: World) -> None:
    with pytest.raises(errors.MessageTooLong) as caught:
        await send(world, message="x" * 961, limit=960)
    assert caught.value.messages == ["Ensure this field has no more than 960 characters."]


async def test_insufficient_balance_says_how_much(world: World) -> None:
    with pytest.raises(errors.InsufficientBalance) as caught:
        await send(world, contact=AIRTEL_NUMBER)
    assert caught.value.messages == ["Insufficient balance", "needs 1 SMS unit, 0 available"]


async def test_suspended_sender_is_refused(world: World) -> None:
    await world.store.set_sender_status("s-a-saf", SenderStatus.SUSPENDED)
    await world.store.set_sender_status("s-a-air", SenderStatus.SUSPENDED)
    with pytest.raises(errors.SenderSuspended):
        await send(world)


async def test_a_cached_sender_lookup_lasts_its_ttl_and_refusals_are_not_cached(
    world: World,
) -> None:
    world.messaging.sender_cache_ttl = 1.0
    await send(world)
    await world.store.set_sender_status("s-a-saf", SenderStatus.SUSPENDED)
    await world.store.set_sender_status("s-a-air", SenderStatus.SUSPENDED)
    await send(world, now=T0 + timedelta(seconds=0.5))  # within the second: reused
    with pytest.raises(errors.SenderSuspended):
        await send(world, now=T0 + timedelta(seconds=1))
    await world.store.set_sender_status("s-a-saf", SenderStatus.ACTIVE)
    await send(world, now=T0 + timedelta(seconds=1))  # the refusal was not remembered


async def test_prefix_reload_applies_to_the_next_send(world: World) -> None:
    world.prefixes.replace(PrefixTable({"2547": Operator.AIRTEL}))
    with pytest.raises(errors.InsufficientBalance):  # now routed to the Airtel sender
        await send(world)


class StopList:
    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = set(pairs)

    async def is_opted_out(self, sender_id: str, contact: str) -> bool:
        return (sender_id, contact) in self.pairs


async def test_opted_out_number_fails_promotional_only(world: World) -> None:
    world.messaging.opt_outs = StopList(
        ("s-a-promo", SAFARICOM_NUMBER), ("s-a-saf", SAFARICOM_NUMBER)
    )
    with pytest.raises(errors.OptedOut) as caught:
        await send(world, sender_name="PROMO")
    assert (caught.value.field, caught.value.reason) == ("contact", "Opted out")
    assert await world.store.balance("s-a-promo") == 10
    transactional = await send(world)  # OTPs still go out
    assert transactional.sender_id == "s-a-saf"


async def test_loopback_callback_only_when_allowed(world: World) -> None:
    with pytest.raises(errors.CallbackUrlRejected):
        await send(world, callback_url="http://127.0.0.1:9000/cb")
    world.messaging.callback_policy = CallbackPolicy.from_flags(allow_loopback=True)
    message = await send(world, callback_url="http://127.0.0.1:9000/cb")
    assert message.callback_url == "http://127.0.0.1:9000/cb"


async def test_a_remembered_callback_endpoint_still_checks_each_url(world: World) -> None:
    """The verdict is remembered per scheme and authority; each URL's own length and
    characters are still checked, and a refusal is never remembered."""
    world.messaging.callback_policy = CallbackPolicy.from_flags(allow_loopback=True)
    for n in range(3):
        url = f"http://127.0.0.1:9000/cb?id={n}#x"
        assert (await send(world, callback_url=url)).callback_url == url
    for bad in (
        "http://127.0.0.1:9000/cb?id=1 2",
        "http://127.0.0.1:9000/cb?id=\x7f",
        "http://127.0.0.1:9000/" + "x" * 2048,
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:9000@10.0.0.1/cb",
        "ftp://127.0.0.1:9000/cb",
    ):
        with pytest.raises(errors.CallbackUrlRejected):
            await send(world, callback_url=bad)
    world.messaging.callback_policy = CallbackPolicy()  # another policy: judged afresh
    with pytest.raises(errors.CallbackUrlRejected):
        await send(world, callback_url="http://127.0.0.1:9000/cb?id=9")
    assert await world.store.balance("s-a-saf") == 97


async def test_message_ids_are_canonical_time_ordered_uuids(world: World) -> None:
    before = time.time_ns() // 1_000_000
    made = [new_message_id() for _ in range(1200)]  # past two reads of random bytes
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == 1200
    stamps = [uuid.UUID(text).int >> 64 for text in made]  # milliseconds, version, fraction
    assert stamps == sorted(stamps)  # made one after the other, ordered one after the other
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert before <= parsed.int >> 80 <= after  # the leading 48 bits: Unix milliseconds


def test_message_ids_made_together_differ_in_their_random_bits() -> None:
    together = [new_message_id() for _ in range(50)]  # mostly within one millisecond
    randoms = {uuid.UUID(text).int & ((1 << 62) - 1) for text in together}
    assert len(randoms) == 50


def test_a_forked_child_does_not_reuse_the_parents_random_bytes() -> None:
    new_message_id()  # the parent holds unused random bytes now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without any cleanup
        os.write(write_end, new_message_id().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert uuid.UUID(child_id).version == 7
    assert child_id != new_message_id()


async def test_bad_priority_is_a_programming_error(world: World) -> None:
    with pytest.raises(ValueError, match="priority"):
        await send(world, priority=11)


async def test_get_message_is_scoped_to_its_account(world: World) -> None:
    message = await send(world)
    found = await world.messaging.get_message("acc-a", message.id)
    assert found.id == message.id and found.timeline[0].status is MessageStatus.INITIATED
    with pytest.raises(errors.MessageNotFound):
        await world.messaging.get_message("acc-b", message.id)
    with pytest.raises(errors.MessageNotFound):
        await world.messaging.get_message("acc-a", "no-such-id")


async def test_balances_per_sender_and_operator(world: World) -> None:
    balances = await world.messaging.balances("acc-a")
    assert [(s.name, s.operator, s.units) for s in balances.senders] == [
        ("KIMISMS", Operator.AIRTEL, 0),
        ("KIMISMS", Operator.SAFARICOM, 100),
        ("PROMO", Operator.SAFARICOM, 10),
    ]
    assert balances.operators == {Operator.SAFARICOM: 110, Operator.AIRTEL: 0, Operator.TELKOM: 0}
    assert balances.total == 110


async def test_after_accept_hook_sees_accepted_messages_only(world: World) -> None:
    seen: list[str] = []
    world.messaging.after_accept = lambda message: seen.append(message.id)
    accepted = await send(world)
    with pytest.raises(errors.SenderNotFound):
        await send(world, sender_name="NOPE")
    assert seen == [accepted.id]


async def test_a_network_without_an_smsc_is_refused_as_unrouted_and_costs_nothing(
    world: World,
) -> None:
    """A sender ID on Airtel and float for it, but no [[smsc]] for Airtel: the message could
    only wait and expire, so it is refused as a send to an unrouted range is."""
    await world.store.post_entry("s-a-air", LedgerKind.TOPUP, 5, "test", "float", "t", T0)
    served = {"safaricom"}
    world.messaging.served = lambda: served
    with pytest.raises(errors.NoMatchingSender) as caught:
        await send(world, contact=AIRTEL_NUMBER)
    assert (caught.value.field, caught.value.reason) == ("sender_name", "No matching sender")
    assert await world.store.balance("s-a-air") == 5
    assert await world.store.queue_depth() == 0
    served.add("airtel")  # an [[smsc]] for Airtel (a reload): the same send goes
    message = await send(world, contact=AIRTEL_NUMBER)
    assert message.operator == "airtel"
    assert await world.store.balance("s-a-air") == 4
