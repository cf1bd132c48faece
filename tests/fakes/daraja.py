"""A fake Daraja (Safaricom M-Pesa API) on loopback, for the top-up and adapter tests.

Speaks the three endpoints gatewayd uses: the OAuth token (Basic auth), the STK push and the STK
status query (Bearer token). It checks credentials, tokens and the STK password the way Daraja
does, records what it was sent, and answers per the test's script. `send_callback` POSTs the
callback an STK push would produce to the CallBackURL it was given.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

CONSUMER_KEY = "test-key"
CONSUMER_SECRET = "test-secret"
SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
RESULT_DESCS = {
    0: "The service request is processed successfully.",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
}


@dataclass
class Push:
    """One STK push Daraja accepted, and the outcome the test has given it (None: pending)."""

    body: dict[str, Any]
    merchant_request_id: str
    checkout_request_id: str
    result_code: int | None = None


@dataclass
class FakeDaraja:
    """Behaviour knobs are plain attributes a test sets before acting."""

    token_lifetime: str = "3599"
    push_status: int = 200  # 200 accepts; anything else answers with push_error
    push_error: dict[str, Any] = field(
        default_factory=lambda: {
            "requestId": "1-1", "errorCode": "400.002.02",
            "errorMessage": "Bad Request - Invalid PhoneNumber",
        }
    )  # fmt: skip
    delay_s: float = 0.0  # every answer waits this long (to provoke client timeouts)
    query_status: int = 200  # anything else: the status query answers with that server error
    token_requests: int = 0
    pushes: list[Push] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/oauth/v1/generate", self._token)
        app.router.add_post("/mpesa/stkpush/v1/processrequest", self._push)
        app.router.add_post("/mpesa/stkpushquery/v1/query", self._query)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def settle(self, checkout_request_id: str, result_code: int) -> Push:
        """Give a push its outcome (what the status query will then report)."""
        push = self.push(checkout_request_id)
        push.result_code = result_code
        return push

    def push(self, checkout_request_id: str) -> Push:
        return next(p for p in self.pushes if p.checkout_request_id == checkout_request_id)

    async def send_callback(
        self,
        checkout_request_id: str,
        result_code: int,
        *,
        amount: object = None,
        receipt: str = "NLJ7RT61SV",
    ) -> dict[str, Any]:
        """POST the callback for that push to its CallBackURL; returns the JSON answer."""
        push = self.settle(checkout_request_id, result_code)
        body = callback_body(push, result_code, amount=amount, receipt=receipt)
        async with (
            aiohttp.ClientSession() as session,
            session.post(push.body["CallBackURL"], json=body) as response,
        ):
            answer: dict[str, Any] = await response.json()
            return answer

    # -- handlers -------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay_s)
        self.token_requests += 1
        expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"errorCode": "401.002.01"}, status=400)
        if request.query.get("grant_type") != "client_credentials":
            return web.json_response({"errorCode": "400.008.02"}, status=400)
        token = f"token-{self.token_requests}"
        self.valid_tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime})

    async def _push(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay_s)
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await request.json()
        if not _password_ok(body):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        if self.push_status != 200:
            return web.json_response(self.push_error, status=self.push_status)
        n = next(self._ids)
        push = Push(body, f"29115-3462056{n}-1", f"ws_CO_19122019102036392{n}")
        self.pushes.append(push)
        return web.json_response(
            {
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing",
            }
        )

    async def _query(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay_s)
        refused = self._refuse(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.queries.append(body)
        if self.query_status != 200:
            return _error(self.query_status, f"{self.query_status}.003.02", "Service unavailable")
        if not _password_ok(body):
            return _error(400, "400.002.02", "Bad Request - Invalid Password")
        found = [p for p in self.pushes if p.checkout_request_id == body["CheckoutRequestID"]]
        if not found:
            return _error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        push = found[0]
        if push.result_code is None:
            return _error(500, "500.001.1001", "The transaction is being processed")
        return web.json_response(
            {
                "ResponseCode": "0",
                "ResponseDescription": "The service request has been accepted successsfully",
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": str(push.result_code),
                "ResultDesc": RESULT_DESCS.get(push.result_code, "Failed"),
            }
        )

    def _refuse(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
            return _error(401, "404.001.03", "Invalid Access Token")
        return None


def callback_body(
    push: Push, result_code: int, *, amount: object = None, receipt: str = "NLJ7RT61SV"
) -> dict[str, Any]:
    """The callback Daraja would POST for `push` with `result_code`."""
    callback: dict[str, Any] = {
        "MerchantRequestID": push.merchant_request_id,
        "CheckoutRequestID": push.checkout_request_id,
        "ResultCode": result_code,
        "ResultDesc": RESULT_DESCS.get(result_code, "Failed"),
    }
    if result_code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": push.body["Amount"] if amount is None else amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20261122052115},
                {"Name": "PhoneNumber", "Value": int(push.body["PhoneNumber"])},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def _password_ok(body: dict[str, Any]) -> bool:
    expected = base64.b64encode(f"{SHORTCODE}{PASSKEY}{body.get('Timestamp')}".encode()).decode()
    return body.get("BusinessShortCode") == SHORTCODE and body.get("Password") == expected


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"requestId": "1-1", "errorCode": code, "errorMessage": message}, status=status
    )
