"""End to end on loopback: HTTP → store → dispatcher → simulator → receipt → GET and callback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatewayd.service.model import CampaignType, SenderType
from smpp.sim.config import IdFormat, ReceiptPolicy, SmscPersonality, ThrottleRule
from tests.e2e.harness import (
    AIRTEL,
    BETA_CLIENT,
    BETA_SECRET,
    SAFARICOM,
    TELKOM,
    personalities,
    running_gateway,
)
from tests.gatewayd.store.pg import fresh_schema


async def test_token_send_receipt_delivered_with_timeline(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        status, sent = await gw.send(SAFARICOM, "Your OTP is 482910")
        assert status == 200, sent
        assert sent["status"] == "INITIATED" and sent["contact"] == SAFARICOM
        assert sent["provider"] == "Safaricom"
        await gw.sim.wait_for_submits(1, timeout=5, smsc="safaricom")
        [submit] = gw.sim.records("safaricom").submits
        assert (submit.destination, submit.source) == (SAFARICOM, "KIMISMS")
        assert submit.text == "Your OTP is 482910"
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "DELIVERED", body
        assert [e["status"] for e in body["timeline"]] == ["INITIATED", "SENT", "DELIVERED"]
        assert await gw.balance("acme-kim-saf") == 99
        async with gw.http.get(f"{gw.url}/metrics") as response:
            metrics = await response.text()
        assert 'gatewayd_smpp_submits_total{outcome="accepted",smsc="safaricom-1"} 1.0' in metrics
        assert (
            'gatewayd_receipts_total{outcome="applied",smsc="safaricom-1",status="DELIVERED"} 1.0'
            in metrics
        )
        assert "gatewayd_receipt_lag_seconds_count" in metrics


async def test_callback_arrives_signed_with_seed_payload(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        _, sent = await gw.send(SAFARICOM, "Callback please")
        payload = await gw.sink.wait_for(sent["message_id"], "DELIVERED")
        assert payload["contact"] == SAFARICOM
        assert payload["provider"] == "Safaricom"
        assert payload["description"] == "Message delivered to handset"
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "DELIVERED"


async def test_three_part_ucs2_message(tmp_path: Path) -> None:
    text = "Karibu! Ujumbe huu una emoji 😀 na maandishi marefu. " * 3  # UCS-2, > 134 units
    async with running_gateway(tmp_path) as gw:
        status, sent = await gw.send(SAFARICOM, text)
        assert status == 200, sent
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "DELIVERED", body
        assert body["parts"] == 3
        submits = gw.sim.records("safaricom").submits
        assert len(submits) == 3
        assert {s.data_coding for s in submits} == {8}
        infos = [s.concat for s in submits]
        assert [(i.seq, i.total) for i in infos if i] == [(1, 3), (2, 3), (3, 3)]
        assert "".join(s.text or "" for s in submits) == text
        assert await gw.balance("acme-kim-saf") == 100 - body["units"]


@pytest.mark.parametrize(
    ("sender", "contact", "field", "reason"),
    [
        ("KIMISMS", "12345", "contact", "Invalid number"),
        ("SAFONLY", AIRTEL, "sender_name", "No matching sender"),
        ("KIMISMS", TELKOM, "sender_name", "Insufficient balance"),
        ("NOPE", SAFARICOM, "sender_name", "Sender ID not found"),
    ],
)
async def test_refused_sends_store_and_charge_nothing(
    tmp_path: Path, sender: str, contact: str, field: str, reason: str
) -> None:
    async with running_gateway(tmp_path) as gw:
        status, body = await gw.send(contact, "Hello", sender=sender)
        assert status == 400
        assert body[field][0] == reason
        assert await gw.balance("acme-kim-saf") == 100
        assert await gw.balance("acme-safonly") == 100
        assert await gw.balance("acme-kim-tel") == 0
        assert gw.daemon.store is not None
        page = await gw.daemon.store.list_messages("acme")
        assert page.items == ()
        assert all(s.record.submit_count == 0 for s in gw.sim.smscs.values())


async def test_throttled_then_delivered(tmp_path: Path) -> None:
    tight = replace(personalities()["safaricom"], throttle=ThrottleRule(tps=5))
    async with running_gateway(tmp_path, personalities(safaricom=tight)) as gw:
        ids = []
        for n in range(12):
            status, sent = await gw.send(SAFARICOM, f"Burst {n}", callback=False)
            assert status == 200, sent
            ids.append(sent["message_id"])
        for message_id in ids:
            body = await gw.wait_status(message_id, timeout=20)
            assert body["status"] == "DELIVERED", body
        record = gw.sim.records("safaricom")
        assert record.throttled > 0
        assert record.accepted == 12


async def test_undeliv_receipt_fails_the_message(tmp_path: Path) -> None:
    undeliv = SmscPersonality(
        "airtel",
        message_id_format=IdFormat.DECIMAL,
        receipts=ReceiptPolicy(delay_max=0.01, mix={"UNDELIV": 1.0}),
    )
    async with running_gateway(tmp_path, personalities(airtel=undeliv)) as gw:
        _, sent = await gw.send(AIRTEL, "Will not arrive")
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "FAILED"
        assert "UNDELIV" in body["description"]
        assert [e["status"] for e in body["timeline"]] == ["INITIATED", "SENT", "FAILED"]
        assert await gw.balance("acme-kim-air") == 99  # seed 000: failures are not refunded
        payload = await gw.sink.wait_for(sent["message_id"], "FAILED")
        assert payload["contact"] == AIRTEL


async def test_permanent_submit_error_fails_with_reason(tmp_path: Path) -> None:
    rejecting = replace(personalities()["safaricom"], reject_prefixes=("2547123",))
    async with running_gateway(tmp_path, personalities(safaricom=rejecting)) as gw:
        _, sent = await gw.send(SAFARICOM, "Refused by the network")
        body = await gw.wait_status(sent["message_id"])
        assert body["status"] == "FAILED"
        assert "Provider error" in body["description"]


async def test_tenant_isolation(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        _, mine = await gw.send(SAFARICOM, "Acme only", callback=False)
        other = await gw.token(BETA_CLIENT, BETA_SECRET)
        status, body = await gw.get(mine["message_id"], token=other)
        assert status == 404, body
        status, body = await gw.send(SAFARICOM, "Spend Acme's float", sender="KIMISMS", token=other)
        assert (status, body["sender_name"][0]) == (400, "Sender ID not found")
        status, body = await gw.send(SAFARICOM, "My own", sender="BETA", token=other)
        assert status == 200
        assert await gw.balance("acme-kim-saf") == 99
        assert await gw.balance("beta-saf") == 49


async def test_mo_is_stored_for_the_short_code_owner_before_the_ack(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:
        store = gw.daemon.store
        assert store is not None
        await store.create_sender(
            "acme-sc", "acme", "20880", "safaricom", SenderType.SHORTCODE,
            CampaignType.TRANSACTIONAL, datetime.now(UTC),
        )  # fmt: skip
        long_text = "Nataka kujua salio langu la akaunti tafadhali. " * 5  # two parts
        await gw.sim.inject_mo("safaricom", "0712345678", "20880", "STOP")
        await gw.sim.inject_mo("safaricom", "254712345678", "20880", long_text)
        kept = await store.list_inbound("acme")  # acked means stored
        assert sorted(m.text for m in kept) == sorted(["STOP", long_text])
        assert {(m.source, m.destination, m.sender_id) for m in kept} == {
            (SAFARICOM, "20880", "acme-sc")
        }
        assert await store.list_inbound("beta") == []


@pytest.mark.postgres
async def test_delivered_with_callback_on_postgresql(tmp_path: Path, postgres_dsn: str) -> None:
    url, drop = await fresh_schema(postgres_dsn)
    try:
        async with running_gateway(tmp_path, store_url=url) as gw:
            _, sent = await gw.send(SAFARICOM, "Stored in PostgreSQL")
            await gw.sink.wait_for(sent["message_id"], "DELIVERED")
            body = await gw.wait_status(sent["message_id"])
            assert [e["status"] for e in body["timeline"]] == ["INITIATED", "SENT", "DELIVERED"]
            assert await gw.balance("acme-kim-saf") == 99
    finally:
        await drop()


async def test_transmitter_and_receiver_binds(tmp_path: Path) -> None:
    async with running_gateway(tmp_path, bind_mode="transmitter_receiver", binds=2) as gw:
        await gw.sim.wait_for_bind(4, timeout=5, smsc="safaricom")  # 2 tx + 2 rx
        ids = [(await gw.send(SAFARICOM, f"Split binds {n}", callback=False))[1] for n in range(6)]
        for sent in ids:
            assert (await gw.wait_status(sent["message_id"]))["status"] == "DELIVERED"
        modes = {b.mode.value for b in gw.sim.records("safaricom").bound}
        assert modes == {"tx", "rx"}


async def test_a_network_with_no_smsc_configured_is_refused_not_charged(tmp_path: Path) -> None:
    smscs = personalities()
    del smscs["telkom"]  # KIMISMS has a Telkom sender ID, the daemon no Telkom SMSC
    async with running_gateway(tmp_path, smscs) as gw:
        status, body = await gw.send(TELKOM, "Hello Telkom")
        assert (status, body["sender_name"][0]) == (400, "No matching sender"), body
        assert await gw.balance("acme-kim-tel") == 0
        status, sent = await gw.send(SAFARICOM, "Hello Safaricom")
        assert status == 200, sent
