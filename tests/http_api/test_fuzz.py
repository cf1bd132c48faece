"""Property: no request body, however odd, gets a 500 (PRODUCT.md "What users must never see").

The app runs on a real loopback port in a thread of its own; hypothesis drives `requests`
against it with arbitrary JSON values under the real field names, and with arbitrary bytes.
It runs over the fake store; test_bad_input.py runs the known bad cases ("--3", "²", NUL) over
SQLite and PostgreSQL as well.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from http_api import ApiSettings, create_app, start_server
from tests.http_api.world import CLIENT_A, SECRET_A, build_world

FIELDS = [
    "sender_name",
    "contact",
    "message",
    "callback_url",
    "priority",
    "client_ref",
    "grant_type",
    "client_id",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
BODIES = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON_VALUES, max_size=6)


class ServerThread:
    """The API over a fresh world, served from its own event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        world = await build_world()
        app = create_app(world.deps(ApiSettings(rate_limit_per_minute=0)))
        self.server = await start_server(app, "127.0.0.1", 0)
        self.url = self.server.url

    def __enter__(self) -> ServerThread:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, requests.Session, str]]:
    with ServerThread() as server, requests.Session() as session:
        session.trust_env = False  # no proxy between us and loopback
        response = session.post(
            f"{server.url}/api/generate-token",
            json={
                "grant_type": "client_credentials",
                "client_id": CLIENT_A,
                "client_secret": SECRET_A,
            },
        )
        yield server.url, session, response.json()["access_token"]


def check(response: requests.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=BODIES)
@example(body={"priority": "--3"})
@example(body={"priority": "²"})
@example(body={"sender_name": "KIMISMS\x00", "message": "hi\x00", "contact": "254712345678"})
def test_send_sms_json_never_500(
    api: tuple[str, requests.Session, str], body: dict[str, Any]
) -> None:
    url, session, token = api
    check(
        session.post(f"{url}/api/send-sms", json=body, headers={"Authorization": f"Bearer {token}"})
    )


@FUZZ
@given(body=BODIES)
@example(body={"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"})
def test_generate_token_json_never_500(
    api: tuple[str, requests.Session, str], body: dict[str, Any]
) -> None:
    url, session, _ = api
    check(session.post(f"{url}/api/generate-token", json=body))


@FUZZ
@given(
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
)
def test_raw_bytes_never_500(
    api: tuple[str, requests.Session, str], raw: bytes, content_type: str
) -> None:
    url, session, token = api
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    check(session.post(f"{url}/api/send-sms", data=raw, headers=headers))
