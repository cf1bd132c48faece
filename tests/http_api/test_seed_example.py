"""The seeds' own Python examples, unchanged but for the base URL and the placeholders, run
with `requests` against a real server on a loopback port (a client we did not write)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import orjson
import pytest

from http_api import create_app, start_server
from tests.http_api.world import CLIENT_A, SECRET_A, World

# Seed 001, "Generate Token" → Python, then "Send SMS" → Python, verbatim.
SEED_001_TOKEN = """
import requests
response = requests.post(
    "https://app.kimisms.com/api/generate-token",
    json={
        "grant_type": "client_credentials",
        "client_id": "YOUR_CLIENT_ID",
        "client_secret": "YOUR_CLIENT_SECRET",
    }
)
token = response.json()["access_token"]
"""

SEED_001_SEND = """
import requests, uuid
headers = {
    "Authorization": f"Bearer {access_token}",
    "Content-Type": "application/json",
    "Idempotency-Key": str(uuid.uuid4()),
}
response = requests.post(
    "https://app.kimisms.com/api/send-sms",
    json={
        "sender_name": "KIMISMS",
        "contact": "254712345678",
        "message": "Hello! Your OTP is 123456.",
        "callback_url": "https://yourapp.com/callback",
    },
    headers=headers,
)
print(response.json())
"""

# Seed 000, "Send SMS via API" → Python, verbatim.
SEED_000_SEND = """
import requests
# Step 1: Get access token
token_resp = requests.post(
    "https://your-domain.com/api/generate-token",
    json={
        "grant_type": "client_credentials",
        "client_id": "your_client_id",
        "client_secret": "your_client_secret",
    }
)
token = token_resp.json()["access_token"]
# Step 2: Send SMS
sms_resp = requests.post(
    "https://your-domain.com/api/send-sms",
    headers={"Authorization": f"Bearer {token}"},
    json={
        "sender_name": "KIMISMS",
        "contact": "254712345678",
        "message": "Your OTP is 482910",
        "callback_url": "https://your-app.com/callback",
    }
)
print(sms_resp.json())
"""


@pytest.fixture
async def base_url(world: World) -> AsyncIterator[str]:
    server = await start_server(create_app(world.deps()), "127.0.0.1", 0)
    try:
        yield server.url
    finally:
        await server.stop()


def localise(code: str, base_url: str) -> str:
    """Only the base URL and the credential placeholders change."""
    for seed_base in ("https://app.kimisms.com", "https://your-domain.com"):
        code = code.replace(seed_base, base_url)
    for placeholder in ("YOUR_CLIENT_ID", "your_client_id"):
        code = code.replace(placeholder, CLIENT_A)
    for placeholder in ("YOUR_CLIENT_SECRET", "your_client_secret"):
        code = code.replace(placeholder, SECRET_A)
    return code


def run(code: str, namespace: dict[str, object]) -> str:
    """Execute a snippet as a script would; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<seed example>", "exec"), namespace)
    return out.getvalue()


def printed_dict(text: str) -> dict[str, object]:
    value = ast.literal_eval(text.strip())
    assert isinstance(value, dict)
    return value


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


async def test_seed_001_example(world: World, base_url: str) -> None:
    namespace: dict[str, object] = {}
    await asyncio.to_thread(run, localise(SEED_001_TOKEN, base_url), namespace)
    namespace["access_token"] = namespace["token"]  # the seed names it both ways
    printed = await asyncio.to_thread(run, localise(SEED_001_SEND, base_url), namespace)
    body = printed_dict(printed)
    assert list(body) == ["message_id", "contact", "status", "description", "provider"]
    assert body["contact"] == "254712345678"
    assert body["status"] == "INITIATED"
    assert body["provider"] == "Safaricom"
    stored = await world.store.get_message(str(body["message_id"]), "acc-a")
    assert stored.callback_url == "https://yourapp.com/callback"
    assert await world.store.balance("s-a-saf") == 99


async def test_seed_000_example(world: World, base_url: str) -> None:
    printed = await asyncio.to_thread(run, localise(SEED_000_SEND, base_url), {})
    body = printed_dict(printed)
    assert body["status"] == "INITIATED"
    assert body["description"] == "Message queued for delivery"
    assert orjson.dumps(body).startswith(b'{"message_id":')
