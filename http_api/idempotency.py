"""Idempotency-Key (seed 001): a retried request gets the first answer, not a second send.

Keys are scoped per account and kept 24 hours through the store's idempotency methods, so a
replay survives a restart. Same key and same body → the stored status and bytes; same key and
another body → 409. Only successful answers are stored: a refused send stored and charged
nothing, so running it again is harmless and lets a client retry after fixing the cause.
Requests with the same key that arrive together are serialised in this process, so the second
waits for the first and replays it instead of sending again.

A handler that keeps the answer itself (`handler_keeps=True`: send-sms hands it to the store's
accept, which writes it in the message's own transaction) is trusted to: a crash between the
accept and a separate write of the answer would otherwise let a retry send twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiohttp import web

from gatewayd.service.model import IdempotentResponse
from gatewayd.service.ports import IdempotencyStore
from http_api.errors import JSON, detail_error

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
CONFLICT = "Idempotency-Key was already used with a different request."
BAD_KEY = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


def key_of(request: web.Request) -> str | None:
    """The request's Idempotency-Key, None when absent; 400 when malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise detail_error(400, BAD_KEY)
    return key


class Idempotency:
    """Looks up, stores and serialises idempotent requests."""

    def __init__(self, store: IdempotencyStore, ttl: timedelta) -> None:
        self._store = store
        self._ttl = ttl
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def run(
        self,
        account_id: str,
        key: str,
        digest: str,
        now: datetime,
        handler: Callable[[], Awaitable[web.Response]],
        *,
        handler_keeps: bool = False,
    ) -> web.Response:
        """The stored answer for (account, key), or `handler()`'s, stored when it succeeded
        (by the handler itself when `handler_keeps`)."""
        scope = (account_id, key)
        lock, users = self._locks.get(scope, (asyncio.Lock(), 0))
        self._locks[scope] = (lock, users + 1)
        try:
            async with lock:
                stored = await self._store.get_idempotent(account_id, key)
                if stored is not None:
                    if stored.created_at + self._ttl > now:
                        return replay(stored, digest)
                    # The key expired: clear expired keys so this answer can be kept anew.
                    await self._store.purge_idempotent(now - self._ttl)
                response = await handler()
                if handler_keeps:
                    return response
                if 200 <= response.status < 300 and isinstance(response.body, bytes):
                    await self._keep(
                        IdempotentResponse(
                            account_id, key, digest, response.status, response.body, now
                        )
                    )
                return response
        finally:
            lock, users = self._locks[scope]
            if users == 1:
                del self._locks[scope]
            else:
                self._locks[scope] = (lock, users - 1)

    async def _keep(self, response: IdempotentResponse) -> None:
        """Store the answer; if that fails the send still happened, so the client gets its
        answer (a 500 here would invite the very retry the key exists to absorb)."""
        try:
            await self._store.put_idempotent(response)
        except Exception:
            log.exception(
                "http.idempotency_store_failed account=%s key=%s", response.account_id, response.key
            )


def replay(stored: IdempotentResponse, digest: str) -> web.Response:
    """The kept answer, or 409 when it was kept for another request body."""
    if stored.request_hash != digest:
        raise detail_error(409, CONFLICT)
    return web.Response(
        body=stored.body,
        status=stored.status_code,
        content_type=JSON,
        headers={REPLAYED_HEADER: "true"},
    )
