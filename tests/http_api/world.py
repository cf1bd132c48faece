"""A small populated world for the API and use-case tests: two accounts, clients, senders.

Account A owns KIMISMS on Safaricom (100 units) and on Airtel (no float), plus PROMO, a
promotional Safaricom sender. Account B owns BETA on Safaricom (50 units). The prefix table is
small and explicit; the clocks are fakes the tests step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from gatewayd.service.auth import AuthService, ScryptParams, SigningKeys, hash_secret
from gatewayd.service.callback_policy import CallbackPolicy
from gatewayd.service.messaging import MessagingService
from gatewayd.service.model import CampaignType, LedgerKind, SenderType
from gatewayd.service.ports import Store
from http_api import ApiDeps, ApiSettings, BindState, Readiness, create_app
from routing import Operator, PrefixTable, PrefixTableHolder
from tests.fakes.memory_store import MemoryStore

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
FAST_HASH = ScryptParams(n=2**8)
KEY_1 = b"k" * 32
KEY_2 = b"q" * 40

SAFARICOM_NUMBER = "254712345678"
AIRTEL_NUMBER = "254733123456"
TELKOM_NUMBER = "254771234567"
UNROUTED_NUMBER = "254747123456"  # a range we hold no bind for
UNALLOCATED_NUMBER = "254790000001"  # in no range at all

PREFIXES = PrefixTable(
    {
        "25470": Operator.SAFARICOM,
        "25471": Operator.SAFARICOM,
        "25472": Operator.SAFARICOM,
        "25473": Operator.AIRTEL,
        "25477": Operator.TELKOM,
        "254747": None,
    },
    version="test",
)

CLIENT_A, SECRET_A = "client-a", "secret-a-0123456789"
CLIENT_B, SECRET_B = "client-b", "secret-b-0123456789"


@dataclass
class Clock:
    """Wall clock (datetime) and monotonic clock (seconds), stepped together."""

    wall: datetime = T0
    mono: float = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class World:
    store: Any  # MemoryStore, or a SQL store in the backend checks
    clock: Clock
    prefixes: PrefixTableHolder
    messaging: MessagingService
    auth: AuthService
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    queue: int = 0
    readiness: Readiness = field(
        default_factory=lambda: Readiness(
            store_ok=True, binds=(BindState("safaricom-1", "safaricom", "bound"),)
        )
    )

    def deps(self, settings: ApiSettings | None = None) -> ApiDeps:
        async def ready() -> Readiness:
            return self.readiness

        return ApiDeps(
            messaging=self.messaging,
            auth=self.auth,
            idempotency=self.store,
            readiness=ready,
            registry=self.registry,
            settings=settings or ApiSettings(),
            queue_depth=lambda: self.queue,
            clock=self.clock.now,
            monotonic=self.clock.monotonic,
        )


async def build_world(
    *,
    keys: SigningKeys | None = None,
    callback_policy: CallbackPolicy | None = None,
    store: Store | None = None,
) -> World:
    """The populated world over `store` (a fresh MemoryStore by default; migrated already)."""
    store = store or MemoryStore()
    clock = Clock()
    holder = PrefixTableHolder(PREFIXES)
    for account in ("acc-a", "acc-b"):
        await store.create_account(account, account.upper(), T0)
    await store.create_api_client("acc-a", CLIENT_A, hash_secret(SECRET_A, FAST_HASH), T0)
    await store.create_api_client("acc-b", CLIENT_B, hash_secret(SECRET_B, FAST_HASH), T0)
    senders = [
        ("s-a-saf", "acc-a", "KIMISMS", Operator.SAFARICOM, CampaignType.TRANSACTIONAL, 100),
        ("s-a-air", "acc-a", "KIMISMS", Operator.AIRTEL, CampaignType.TRANSACTIONAL, 0),
        ("s-a-promo", "acc-a", "PROMO", Operator.SAFARICOM, CampaignType.PROMOTIONAL, 10),
        ("s-b-saf", "acc-b", "BETA", Operator.SAFARICOM, CampaignType.TRANSACTIONAL, 50),
    ]
    for sid, account, name, operator, campaign, units in senders:
        await store.create_sender(
            sid, account, name, operator.value, SenderType.ALPHANUMERIC, campaign, T0
        )
        if units:
            await store.post_entry(sid, LedgerKind.TOPUP, units, "test", "seed", "t0", T0)
    ids = iter(f"msg-{n:04d}" for n in range(1, 10_000))
    messaging = MessagingService(
        store=store,
        prefixes=holder,
        callback_policy=callback_policy or CallbackPolicy(),
        new_id=lambda: next(ids),
    )
    auth = AuthService(
        store=store, keys=keys or SigningKeys("k1", {"k1": KEY_1}), hash_params=FAST_HASH
    )
    return World(store, clock, holder, messaging, auth)


@asynccontextmanager
async def serve(world: World, settings: ApiSettings | None = None) -> AsyncIterator[TestClient]:
    """The app over `world`, on a loopback port, with a client."""
    app = create_app(world.deps(settings))
    async with TestClient(TestServer(app)) as client:
        yield client


async def token_for(client: TestClient, client_id: str, secret: str) -> str:
    response = await client.post(
        "/api/generate-token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SEND = {
    "sender_name": "KIMISMS",
    "contact": "254712345678",
    "message": "Hello! Your OTP is 123456.",
    "callback_url": "https://yourapp.com/callback",
}


async def post(client: TestClient, path: str, body: object, **headers: str) -> tuple[int, bytes]:
    """POST `body` as JSON; (status, raw body bytes)."""
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.read()
