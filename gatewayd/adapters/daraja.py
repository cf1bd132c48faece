"""aiohttp client for Safaricom's Daraja API: OAuth token, STK push, STK status query.

Satisfies gatewayd.service.ports_mpesa.Daraja. The request bodies and the parsing of answers are
billing.mpesa's (pure); this module adds the HTTP: Basic-auth token requests cached until just
before they expire, Bearer calls with a timeout, one retry with a fresh token when Daraja says
the token is no longer valid, and errors mapped to DarajaUnavailable (network, timeout, 5xx:
try later) and DarajaRejected (4xx or a refused push: retrying will not help).
Secrets stay out of reprs and error messages.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from billing import mpesa
from gatewayd.service.ports_mpesa import DarajaRejected, DarajaUnavailable

SANDBOX_URL = "https://sandbox.safaricom.co.ke"
PRODUCTION_URL = "https://api.safaricom.co.ke"
TOKEN_PATH = "/oauth/v1/generate"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
STILL_PROCESSING = "500.001.1001"  # the query's answer while the customer has not answered
TOKEN_MARGIN_S = 60.0  # renew this long before Daraja says the token expires
DEFAULT_TOKEN_LIFETIME_S = 3599.0


@dataclass(frozen=True, slots=True)
class DarajaConfig:
    """Daraja credentials and endpoints (config section `[mpesa]`)."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    shortcode: str
    passkey: str = field(repr=False)
    callback_url: str
    base_url: str = SANDBOX_URL
    timeout_s: float = 10.0
    transaction_type: str = mpesa.PAYBILL
    party_b: str | None = None  # the till for CustomerBuyGoodsOnline; the shortcode otherwise

    def __post_init__(self) -> None:
        """Fail at start-up, naming the field, rather than at the first payment."""
        self.credentials  # noqa: B018  (validates shortcode and passkey)
        for name in ("consumer_key", "consumer_secret"):
            if not getattr(self, name):
                raise ValueError(f"{name}: must not be empty")
        if not self.callback_url.startswith(("https://", "http://")):
            raise ValueError(f"callback_url: must be an http(s) URL, got {self.callback_url!r}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s: must be positive, got {self.timeout_s}")

    @property
    def credentials(self) -> mpesa.DarajaCredentials:
        return mpesa.DarajaCredentials(self.shortcode, self.passkey)


class DarajaClient:
    """One Daraja account. Use `async with` or call `close()`."""

    def __init__(
        self,
        config: DarajaConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._credentials = config.credentials
        self._base = config.base_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_s)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> DarajaClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def token(self) -> str:
        """A valid access token, fetched once and reused until shortly before it expires."""
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires:
                self._token, lifetime = await self._fetch_token()
                self._token_expires = self._clock() + max(lifetime - TOKEN_MARGIN_S, 0.0)
            return self._token

    async def stk_push(
        self,
        *,
        amount_kes: int,
        phone: str,
        account_reference: str,
        description: str,
        now: datetime,
    ) -> mpesa.StkPushAccepted:
        body = mpesa.stk_push_body(
            self._credentials,
            now=now,
            amount_kes=amount_kes,
            phone=phone,
            callback_url=self._config.callback_url,
            account_reference=account_reference,
            description=description,
            transaction_type=self._config.transaction_type,
            party_b=self._config.party_b,
        )
        status, answer = await self._call(STK_PUSH_PATH, body)
        _raise_for(status, answer)
        try:
            return mpesa.parse_stk_push_response(answer)
        except mpesa.DarajaError as exc:
            raise _rejected_or_unreadable(answer, exc) from None

    async def stk_query(self, checkout_request_id: str, *, now: datetime) -> mpesa.StkResult | None:
        body = mpesa.stk_query_body(
            self._credentials, now=now, checkout_request_id=checkout_request_id
        )
        status, answer = await self._call(STK_QUERY_PATH, body)
        if _error_code(answer) == STILL_PROCESSING:
            return None
        _raise_for(status, answer)
        try:
            return mpesa.parse_stk_query_response(answer)
        except mpesa.DarajaError as exc:
            raise _rejected_or_unreadable(answer, exc) from None

    # -- HTTP -----------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        pair = f"{self._config.consumer_key}:{self._config.consumer_secret}"
        headers = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}
        status, answer = await self._request(
            "GET", TOKEN_PATH, params={"grant_type": "client_credentials"}, headers=headers
        )
        if status in (400, 401, 403):
            raise DarajaRejected("auth", "consumer key or secret not accepted")
        _raise_for(status, answer)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise DarajaUnavailable("Daraja token answer has no access_token")
        try:
            lifetime = float(answer.get("expires_in", DEFAULT_TOKEN_LIFETIME_S))
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_S
        return token, lifetime

    async def _call(self, path: str, body: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
        """POST `body` with the Bearer token; once more with a fresh token on 401."""
        for attempt in range(2):
            token = await self.token()
            headers = {"Authorization": f"Bearer {token}"}
            status, answer = await self._request("POST", path, json=body, headers=headers)
            if status != 401 or attempt == 1:
                return status, answer
            await self._forget_token(token)
        raise AssertionError("unreachable")

    async def _forget_token(self, token: str) -> None:
        async with self._token_lock:
            if self._token == token:
                self._token = None

    async def _request(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Mapping[str, Any]]:
        session = self._session_for_request()
        try:
            async with session.request(
                method, self._base + path, timeout=self._timeout, **kwargs
            ) as response:
                status = response.status
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
        except TimeoutError:
            limit = self._timeout.total
            raise DarajaUnavailable(f"Daraja {path} timed out after {limit} s") from None
        except aiohttp.ClientError as exc:
            raise DarajaUnavailable(f"Daraja {path} unreachable: {type(exc).__name__}") from None
        if not isinstance(answer, Mapping):
            if status >= 400:
                answer = {}
            else:
                raise DarajaUnavailable(f"Daraja {path} answered {status} without a JSON object")
        return status, answer

    def _session_for_request(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _error_code(answer: Mapping[str, Any]) -> str:
    return str(answer.get("errorCode", ""))


def _raise_for(status: int, answer: Mapping[str, Any]) -> None:
    if status < 400:
        return
    code = _error_code(answer) or f"HTTP {status}"
    description = str(answer.get("errorMessage", "")) or "no description"
    if status >= 500 or status == 429:
        raise DarajaUnavailable(f"Daraja answered {code}: {description}")
    raise DarajaRejected(code, description)


def _rejected_or_unreadable(answer: Mapping[str, Any], exc: mpesa.DarajaError) -> Exception:
    if "ResponseCode" in answer:
        return DarajaRejected(str(answer["ResponseCode"]), str(answer.get("ResponseDescription")))
    return DarajaUnavailable(f"Daraja answer not understood: {exc}")
