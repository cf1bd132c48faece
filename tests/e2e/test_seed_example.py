"""Seed 000's own Python example (requests), unchanged but for the base URL and credentials,
against the real daemon: accepted, submitted, delivered."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
from pathlib import Path

import pytest

from tests.e2e.harness import ACME_CLIENT, ACME_SECRET, SAFARICOM, running_gateway
from tests.http_api.test_seed_example import SEED_000_SEND


def localise(code: str, base_url: str) -> str:
    code = code.replace("https://your-domain.com", base_url)
    return code.replace("your_client_id", ACME_CLIENT).replace("your_client_secret", ACME_SECRET)


def run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<seed 000 example>", "exec"), {})
    return out.getvalue()


async def test_seed_000_example_against_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with running_gateway(tmp_path) as gw:
        printed = await asyncio.to_thread(run, localise(SEED_000_SEND, gw.url))
        body = ast.literal_eval(printed.strip())
        assert body["status"] == "INITIATED" and body["contact"] == SAFARICOM
        final = await gw.wait_status(body["message_id"])
        assert final["status"] == "DELIVERED"
        assert gw.sim.records("safaricom").submits[0].text == "Your OTP is 482910"
