"""Parts of long MO messages, on every backend: kept once each, handed back whole and in
order, dropped with the message they make, found again after a stop, purged after a day."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from gatewayd.service.model import InboundMessage, MoPart
from gatewayd.service.ports import Store
from tests.gatewayd.store.conftest import T0, at

KEY = "254712345678|20880|7|3"


def part(seq: int, *, key: str = KEY, smsc: str = "smsc-a", seconds: float = 0) -> MoPart:
    return MoPart(
        smsc=smsc, key=key, seq=seq, total=3, source="254712345678", destination="20880",
        data_coding=8, esm_class=0x40, short_message=bytes([5, 0, 3, 7, 3, seq]) + b"\x00hi",
        tlvs=b"\x04\x24\x00\x00", received_at=at(seconds),
    )  # fmt: skip


def inbound(message_id: str = "in-1") -> InboundMessage:
    return InboundMessage(
        id=message_id, smsc="smsc-a", operator="safaricom", source="254712345678",
        destination="20880", text="hi hi hi", received_at=at(5),
    )  # fmt: skip


async def test_parts_come_back_whole_in_order_once_every_one_is_kept(store: Store) -> None:
    assert await store.keep_mo_part(part(3)) is None
    assert await store.keep_mo_part(part(1)) is None
    assert await store.keep_mo_part(part(1)) is None  # a repeat is kept once
    whole = await store.keep_mo_part(part(2))
    assert whole is not None
    assert [p.seq for p in whole] == [1, 2, 3]
    assert whole[1] == part(2)  # bytes, times and all, as they were kept
    again = await store.keep_mo_part(part(2))  # the last part again (its record failed?)
    assert again is not None and [p.seq for p in again] == [1, 2, 3]
    assert await store.keep_mo_part(part(2, key="other|20880|7|3")) is None  # another message


async def test_recording_the_message_drops_its_parts(store: Store) -> None:
    for seq in (1, 2, 3):
        await store.keep_mo_part(part(seq))
    assert len(await store.complete_mo_parts("smsc-a")) == 1  # whole, not yet recorded
    kept, new = await store.record_inbound(inbound(), parts_of=("smsc-a", KEY))
    assert new and kept.text == "hi hi hi"
    assert await store.complete_mo_parts("smsc-a") == []
    assert await store.keep_mo_part(part(1)) is None  # a late repeat starts afresh


async def test_only_whole_messages_of_the_smsc_are_found_after_a_stop(store: Store) -> None:
    for seq in (1, 2, 3):
        await store.keep_mo_part(part(seq))
    await store.keep_mo_part(part(1, key="half|20880|8|3"))
    await store.keep_mo_part(part(1, smsc="smsc-b"))
    [whole] = await store.complete_mo_parts("smsc-a")
    assert [(p.key, p.seq) for p in whole] == [(KEY, 1), (KEY, 2), (KEY, 3)]
    await store.drop_mo_parts("smsc-a", KEY)
    assert await store.complete_mo_parts("smsc-a") == []


async def test_a_message_is_purged_whole_a_day_after_its_latest_part(store: Store) -> None:
    await store.keep_mo_part(part(1, seconds=0))
    await store.keep_mo_part(part(2, seconds=3_600))
    await store.keep_mo_part(part(1, key="old|20880|9|3", seconds=0))
    assert await store.purge_expired(T0 + timedelta(days=1, seconds=1)) == 1  # "old" only
    whole = await store.keep_mo_part(part(3, seconds=7_200))  # part 1 was kept with part 2
    assert whole is not None and [p.seq for p in whole] == [1, 2, 3]
    assert await store.purge_expired(T0 + timedelta(days=1, seconds=7_201)) == 3


async def test_another_message_under_a_stale_key_starts_afresh(store: Store) -> None:
    await store.keep_mo_part(part(1))
    await store.keep_mo_part(part(2))  # this one never completes
    other = replace(part(1, seconds=600), short_message=part(1).short_message + b"!")
    assert await store.keep_mo_part(other) is None  # the stale parts go, not the new one
    assert await store.keep_mo_part(part(2, seconds=601)) is None
    whole = await store.keep_mo_part(part(3, seconds=602))
    assert whole is not None and whole[0].short_message.endswith(b"!")
