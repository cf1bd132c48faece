"""What the composition root hands the HTTP API: services, settings, probes and a registry.

The API owns no resources: the store, the services and the metrics registry are built by the
composition root and passed in here, so tests can hand in fakes and the daemon its real parts.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from gatewayd.service.auth import AuthService
from gatewayd.service.messaging import MessagingService
from gatewayd.service.ports import IdempotencyStore
from http_api.topup_access import AccountTopUps

API_MESSAGE_LIMIT = 10_000  # characters a message may have on the API (seed 000)
MPESA_CALLBACK_PATH = "/api/mpesa/callback"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Tunables of the HTTP API (from `[http]` in the config file)."""

    rate_limit_per_minute: int = 60  # per API client; 0 turns the limit off (seed 001: 60/min)
    max_body_bytes: int = 256 * 1024  # a 10,000-character UCS-2 message, JSON-escaped, fits
    max_queue_depth: int = 0  # 503 above this many queued messages; 0 turns it off
    busy_retry_after: int = 5  # Retry-After seconds on 503
    message_limit: int = API_MESSAGE_LIMIT
    idempotency_ttl_seconds: int = 24 * 3600  # seed 001: keys are cached 24 hours
    bulk_max_messages: int = 1_000  # messages in one POST /api/v1/messages/bulk
    # The bulk route's body limit (the other routes keep max_body_bytes): 1,000 messages of
    # 160 characters of UCS-2 text, JSON-escaped, fit.
    bulk_max_body_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("rate_limit_per_minute", "max_queue_depth", "busy_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"http.{name}: must not be negative")
        if self.max_body_bytes < 1024:
            raise ValueError("http.max_body_bytes: must be at least 1024")
        if self.bulk_max_messages < 1:
            raise ValueError("http.bulk_max_messages: must be at least 1")
        if self.bulk_max_body_bytes < 1024:
            raise ValueError("http.bulk_max_body_bytes: must be at least 1024")


@dataclass(frozen=True, slots=True)
class BindState:
    """One SMPP bind as /ready lists it."""

    name: str  # e.g. "safaricom-1/2"
    operator: str
    state: str  # "bound", "connecting", "down" …


@dataclass(frozen=True, slots=True)
class Readiness:
    """The readiness provider's answer: is the store reachable, are we taking traffic, binds."""

    store_ok: bool
    binds: Sequence[BindState] = ()
    accepting: bool = True  # False while shutting down (intake stopped)
    detail: str | None = None  # why not ready, when not


ReadinessProvider = Callable[[], Awaitable[Readiness]]
QueueDepthProvider = Callable[[], int]


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """Everything `create_app` needs; built by the composition root."""

    messaging: MessagingService
    auth: AuthService
    idempotency: IdempotencyStore
    readiness: ReadinessProvider
    registry: CollectorRegistry
    settings: ApiSettings = field(default_factory=ApiSettings)
    queue_depth: QueueDepthProvider | None = None  # a cheap gauge, read on every send
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    topups: AccountTopUps | None = None  # None: no top-up routes (packages, top-ups, callback)
    # The path of [mpesa] callback_url; None without [mpesa]: no callback route, since the
    # use-cases credit a callback unconfirmed when they have no Daraja to ask.
    mpesa_callback_path: str | None = MPESA_CALLBACK_PATH
    # Metrics kept by another process (the daemon's, when this API runs in a process of its
    # own): their text exposition, served after this registry's on /metrics.
    more_metrics: Callable[[], Awaitable[bytes]] | None = None

    def __post_init__(self) -> None:
        path = self.mpesa_callback_path
        if path is None:
            return
        if not path.startswith("/") or "{" in path or "?" in path or "#" in path:
            raise ValueError(f"mpesa_callback_path: must be a plain absolute path, got {path!r}")
