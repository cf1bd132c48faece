"""Structured logs: one JSON object per line on stdout, secrets redacted.

Every line has `event` (a stable snake_case name), `level`, an ISO-8601 UTC `timestamp`, and the
context bound with `bind_context` (bind and message ids) for as long as the block runs. The
standard library's loggers (aiohttp, asyncio) are routed through the same processors, so their
lines are JSON too. Values of keys named like password/secret/token/key/authorization are
replaced by `**********`, at any depth, whatever the caller passed.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "**********"
LogFormat = Literal["json", "console"]

_SENSITIVE = {
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "passkey",
    "passphrase",
    "pass",
    "authorization",
    "cookie",
    "credentials",
    "signature",
}
_SAFE_LAST = {"ttl", "id", "kid", "ids", "count", "type", "expires", "length", "file", "url"}
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_sensitive(key: str) -> bool:
    """True for `password`, `client_secret`, `Authorization`, `consumerKey`, `access_token`…;
    false for `token_ttl`, `key_id`, `kid`, `message_id`."""
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words or words[-1] in _SAFE_LAST:
        return False
    return any(w.removesuffix("s") in _SENSITIVE or "secret" in w or "password" in w for w in words)


def _redact_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if is_sensitive(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: hide sensitive values at any depth."""
    for key in list(event_dict):
        if key == "event":
            continue
        event_dict[key] = REDACTED if is_sensitive(key) else _redact_value(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact,
    ]


def _renderer(fmt: LogFormat) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(sort_keys=False)


class _CurrentStd:
    """sys.stdout or sys.stderr as they are at write time (tests and tools swap them)."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self._name = name

    def write(self, text: str) -> int:
        return int(getattr(sys, self._name).write(text))

    def flush(self) -> None:
        getattr(sys, self._name).flush()


STDOUT = _CurrentStd("stdout")
STDERR = _CurrentStd("stderr")


def configure(
    level: str = "info", fmt: LogFormat = "json", stream: TextIO | _CurrentStd = STDOUT
) -> None:
    """Set up structlog and the standard library's logging to write to `stream` (stdout).

    Safe to call again (on reload or in tests): the previous handler is replaced.
    """
    out = stream
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler: logging.StreamHandler[Any] = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt)],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_gatewayd", False)]:
        root.removeHandler(old)
    handler._gatewayd = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def debug_enabled(name: str) -> bool:
    """Whether `name`'s debug lines would be written. Hot paths test it first: a disabled
    structlog call still builds a logger and runs the level filter (some 10 µs)."""
    return logging.getLogger(name).isEnabledFor(logging.DEBUG)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger (named, for the `logger` field) with optional bound values.

    Without values it is a lazy proxy that follows later `configure` calls, so modules may
    create theirs at import time; a logger with values is resolved now, so bind after
    `configure` (or use `bind_context`)."""
    logger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind values (bind_id, message_id, smsc …) to every line logged inside the block,
    in this task only (contextvars), and unbind them afterwards."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def redact_mapping(values: MutableMapping[str, Any]) -> dict[str, Any]:
    """A copy of `values` with sensitive values hidden, for printing settings or headers."""
    return {k: REDACTED if is_sensitive(k) else _redact_value(v) for k, v in values.items()}
