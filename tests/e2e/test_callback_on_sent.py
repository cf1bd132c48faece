"""End to end: an account's callback_on_sent setting, set by the operator's command, decides
whether its clients are also called back when a message becomes SENT (issue 4).

The daemon runs on loopback against the simulator with a SQLite file; the operator runs
`gatewayd -c FILE admin account set …` as a separate process on that file, as on a host.
The SMSCs send no receipts of their own here (registered_delivery = 0): the test sends each
receipt itself, as a plain deliver_sm the daemon reads as one (lenient_receipts), once the SENT
callback has arrived, so the order of the two callbacks is the order of the two events, not
a race between the SMSC's receipt delay and the callback sender's poll.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from smpp.sim.delivery import receipt_text
from tests.e2e.harness import (
    AIRTEL,
    BETA_CLIENT,
    BETA_SECRET,
    SAFARICOM,
    Gateway,
    check_signature,
    running_gateway,
)
from tests.e2e.process import REPO

RECEIPT_DATE = "2611220800"
SEED_000_FIELDS = {"message_id", "contact", "status", "description", "provider"}


async def admin(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    """`gatewayd -c FILE admin …` in its own process, on the daemon's SQLite file."""
    config = tmp_path / "admin.toml"
    config.write_text(
        f'state_dir = "{tmp_path}"\n[store]\nurl = "sqlite:///{tmp_path / "gatewayd.db"}"\n'
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gatewayd.cli", "-c", str(config), "admin", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def callbacks(gw: Gateway, message_id: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The callbacks the sink received about `message_id`, in the order they arrived."""
    found = []
    for headers, body in gw.sink.received:
        data = json.loads(body)
        if data["message_id"] == message_id:
            check_signature(headers, body)
            found.append((dict(headers), data))
    return found


async def deliver(gw: Gateway, smsc: str, contact: str, sender: str, smsc_id: str) -> None:
    """The SMSC's DELIVRD receipt for `smsc_id`, written as the text form of SMPP 3.4."""
    text = receipt_text(smsc_id, "DELIVRD", RECEIPT_DATE, RECEIPT_DATE, "")
    await gw.sim.inject_mo(smsc, contact, sender, text)


async def test_sent_callback_before_delivered_only_for_the_account_that_asked(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path, registered_delivery=0, lenient_receipts=True) as gw:
        code, out, err = await admin(tmp_path, "account", "set", "acme", "--callback-on-sent",
                                     "on", "--json")  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["callback_on_sent"] is True
        code, out, err = await admin(tmp_path, "account", "list", "--json")
        assert {a["id"]: a["callback_on_sent"] for a in json.loads(out)} == {
            "acme": True, "beta": False,
        }  # fmt: skip

        status, mine = await gw.send(AIRTEL, "Sent, then delivered")
        assert status == 200, mine
        status, theirs = await gw.send(SAFARICOM, "Delivered only", sender="BETA",
                                       token=await gw.token(BETA_CLIENT, BETA_SECRET))  # fmt: skip
        assert status == 200, theirs
        sent = await gw.sink.wait_for(mine["message_id"], "SENT")
        assert sent == {
            "message_id": mine["message_id"], "contact": AIRTEL, "status": "SENT",
            "description": "Message dispatched to the network provider", "provider": "Airtel",
        }  # fmt: skip
        await gw.sim.wait_for_submits(1, timeout=5, smsc="safaricom")
        [airtel] = gw.sim.records("airtel").submits
        [safaricom] = gw.sim.records("safaricom").submits
        assert [c["status"] for _, c in callbacks(gw, mine["message_id"])] == ["SENT"]

        await deliver(gw, "airtel", AIRTEL, "KIMISMS", airtel.message_id)
        # Safaricom answers ids in hex and writes them in decimal in its receipts.
        await deliver(gw, "safaricom", SAFARICOM, "BETA", str(int(safaricom.message_id, 16)))
        delivered = await gw.sink.wait_for(mine["message_id"], "DELIVERED")
        assert delivered["description"] == "Message delivered to handset"
        assert set(delivered) == SEED_000_FIELDS
        await gw.sink.wait_for(theirs["message_id"], "DELIVERED")

        got = callbacks(gw, mine["message_id"])
        assert [c["status"] for _, c in got] == ["SENT", "DELIVERED"]
        assert len({h["X-Gatewayd-Callback-Id"] for h, _ in got}) == 2
        assert [c["status"] for _, c in callbacks(gw, theirs["message_id"])] == ["DELIVERED"]
        store = gw.daemon.store
        assert store is not None
        jobs = await store.list_callbacks(theirs["message_id"])  # none was written for SENT
        assert [j.status.value for j in jobs] == ["DELIVERED"]
        body = await gw.wait_status(mine["message_id"])
        assert [e["status"] for e in body["timeline"]] == ["INITIATED", "SENT", "DELIVERED"]


async def test_off_by_default_the_client_hears_of_the_final_status_only(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gw:  # the SMSCs send their own receipts
        status, mine = await gw.send(SAFARICOM, "Delivered only")
        assert status == 200, mine
        await gw.sink.wait_for(mine["message_id"], "DELIVERED")
        store = gw.daemon.store
        assert store is not None
        jobs = await store.list_callbacks(mine["message_id"])
        assert [j.status.value for j in jobs] == ["DELIVERED"]
        assert [c["status"] for _, c in callbacks(gw, mine["message_id"])] == ["DELIVERED"]
