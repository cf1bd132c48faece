"""Logs: JSON lines with event, level, timestamp, bound context; secrets never written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from gatewayd import logs


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    yield stream
    logs.configure("warning", "json", io.StringIO())


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_event_level_timestamp(out: io.StringIO) -> None:
    logs.get_logger("gatewayd.test").info("bind_up", smsc="saf-1", window=10)
    (line,) = lines(out)
    assert line["event"] == "bind_up"
    assert line["level"] == "info"
    assert line["smsc"] == "saf-1" and line["window"] == 10
    assert line["logger"] == "gatewayd.test"
    stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
    assert stamp.utcoffset() == timedelta(0)


def test_level_filters(out: io.StringIO) -> None:
    log = logs.get_logger()
    log.debug("noise")
    log.warning("heard")
    assert [line["event"] for line in lines(out)] == ["heard"]


def test_context_is_bound_for_the_block_only(out: io.StringIO) -> None:
    log = logs.get_logger()
    with logs.bind_context(bind_id="saf-1#0", message_id="m1"):
        log.info("submitted")
    log.info("after")
    first, second = lines(out)
    assert first["bind_id"] == "saf-1#0" and first["message_id"] == "m1"
    assert "bind_id" not in second


def test_secrets_are_redacted_at_any_depth(out: io.StringIO) -> None:
    logs.get_logger().info(
        "config_loaded",
        password="hunter2",
        client_secret="s3cret",
        headers={"Authorization": "Bearer abc.def", "Content-Type": "json"},
        smsc=[{"name": "a", "password": "pw"}],
        token_ttl=3600,
        key_id="k1",
        passkey=SecretStr("pk"),
    )
    text = out.getvalue()
    for secret in ("hunter2", "s3cret", "abc.def", '"pw"', '"pk"'):
        assert secret not in text
    (line,) = lines(out)
    assert line["token_ttl"] == 3600 and line["key_id"] == "k1"
    assert line["headers"] == {"Authorization": logs.REDACTED, "Content-Type": "json"}


def test_stdlib_loggers_come_out_as_json(out: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info("GET /health 200")
    (line,) = lines(out)
    assert line["event"] == "GET /health 200" and line["logger"] == "aiohttp.access"


def test_console_format_is_not_json() -> None:
    stream = io.StringIO()
    logs.configure("info", "console", stream)
    try:
        logs.get_logger().info("hello", password="x1y2")
    finally:
        logs.configure("warning", "json", io.StringIO())
    assert "hello" in stream.getvalue() and "x1y2" not in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream.getvalue())


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("password", True),
        ("consumerSecret", True),
        ("Authorization", True),
        ("access_token", True),
        ("signing_keys", True),
        ("signing_key", True),
        ("token_ttl", False),
        ("message_id", False),
        ("kid", False),
        ("event", False),
    ],
)
def test_is_sensitive(key: str, sensitive: bool) -> None:
    assert logs.is_sensitive(key) is sensitive


def test_default_stream_is_stdout_at_write_time(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", "json")
    try:
        logs.get_logger().info("to_stdout")
    finally:
        logs.configure("warning", "json", io.StringIO())
    assert json.loads(capsys.readouterr().out)["event"] == "to_stdout"
