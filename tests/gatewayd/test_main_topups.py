"""The composition root's top-up wiring: [mpesa] → Daraja config, callback path, expiry timer."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.settings import Settings
from gatewayd import logs, main
from gatewayd.service.model import TopUp, TopUpMethod, TopUpStatus
from gatewayd.service.topups import DEFAULT_EXPIRY, Settled
from gatewayd.workers.sweeper import TopUpSweeper

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
MPESA = {
    "consumer_key": "key",
    "consumer_secret": "consumer-secret",
    "shortcode": "174379",
    "passkey": "pass-key",
    "callback_url": "https://gw.example.co.ke/hooks/mpesa?x=1",
    "stk_timeout": 5.0,
}


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    yield stream
    logs.configure("warning", "json", io.StringIO())


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_without_mpesa_there_is_no_callback_path_and_the_default_expiry() -> None:
    settings = Settings()
    assert main.mpesa_callback_path(settings) is None
    assert main.topup_expiry(settings) == DEFAULT_EXPIRY
    assert main.topup_sweep_period(settings) == 30.0


def test_with_mpesa_the_callback_path_and_expiry_come_from_the_section() -> None:
    settings = Settings.model_validate({"mpesa": MPESA})
    assert main.mpesa_callback_path(settings) == "/hooks/mpesa"
    assert main.topup_expiry(settings) == timedelta(seconds=5)
    assert main.topup_sweep_period(settings) == 5.0  # shorter than 30 s: every stk_timeout
    assert settings.mpesa is not None
    config = main.daraja_config(settings.mpesa)
    assert (config.consumer_secret, config.passkey) == ("consumer-secret", "pass-key")
    assert "consumer-secret" not in repr(config) and "pass-key" not in repr(config)
    bare = Settings.model_validate({"mpesa": {**MPESA, "callback_url": "https://gw.example"}})
    assert main.mpesa_callback_path(bare) == "/"


def topup(status: TopUpStatus) -> TopUp:
    return TopUp(
        id="t1", account_id="acme", sender_id="s1", package_id="p1", units=10,
        amount_cents=1000, method=TopUpMethod.MPESA, status=status, created_at=NOW,
        phone="254712345678", checkout_request_id="ws_CO_1", result_desc="No callback",
    )  # fmt: skip


class ScriptedTopUps:
    """`expire` answers from a script; an exception in it is raised once."""

    def __init__(self, *answers: Sequence[Settled] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[datetime] = []
        self.drained = asyncio.Event()

    async def expire(self, now: datetime) -> Sequence[Settled]:
        self.calls.append(now)
        answer = self.answers.pop(0) if self.answers else []
        if not self.answers:
            self.drained.set()
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_the_topup_sweeper_logs_expiries_and_reviews(out: io.StringIO) -> None:
    failed = Settled(topup(TopUpStatus.FAILED), changed=True)
    review = Settled(topup(TopUpStatus.FAILED), changed=False, review="paid after it failed")
    sweeper = TopUpSweeper(ScriptedTopUps([failed, review]), lambda: NOW)
    assert await sweeper.sweep() == [failed, review]
    events = {(line["event"], line["level"]) for line in lines(out)}
    assert ("topup_expired", "info") in events
    assert ("topup_review", "warning") in events
    (warning,) = [line for line in lines(out) if line["event"] == "topup_review"]
    assert warning["topup_id"] == "t1" and warning["review"] == "paid after it failed"


async def test_the_topup_sweeper_survives_a_failed_pass(out: io.StringIO) -> None:
    script = ScriptedTopUps(RuntimeError("store down"), [])
    sweeper = TopUpSweeper(script, lambda: NOW, period=0.01)
    task = asyncio.create_task(sweeper.run())
    await asyncio.wait_for(script.drained.wait(), 5)
    sweeper.stop()
    await asyncio.wait_for(task, 5)
    assert len(script.calls) >= 2
    assert any(line["event"] == "topup_sweep_failed" for line in lines(out))
