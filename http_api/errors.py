"""JSON error bodies, and the middleware that turns every failure into one.

Bodies follow seed 001 (Django REST framework shapes): field errors as `{"field": ["reason"]}`,
everything else as `{"detail": "..."}`. Bad input never becomes a 500: the middleware answers
unknown routes, wrong methods and oversize bodies in the same JSON form, and logs anything
unexpected before answering a generic 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)

JSON = "application/json"
NOT_FOUND = "Not found."
NOT_PROVIDED = "Authentication credentials were not provided."
SERVER_ERROR = "A server error occurred."


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A compact UTF-8 JSON response (orjson: no spaces, non-ASCII kept, as DRF renders)."""
    return web.Response(body=orjson.dumps(body), status=status, content_type=JSON, headers=headers)


class ApiError(Exception):
    """An HTTP error answer raised from anywhere below a handler."""

    def __init__(
        self, status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {dict(body)}")
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return json_response(self.body, self.status, self.headers)


def detail_error(status: int, text: str, headers: Mapping[str, str] | None = None) -> ApiError:
    """`{"detail": text}` with `status`."""
    return ApiError(status, {"detail": text}, headers)


def field_errors(errors: Mapping[str, list[str]]) -> ApiError:
    """400 `{"field": ["reason", …], …}`."""
    return ApiError(400, errors)


def too_large(limit: int) -> ApiError:
    return detail_error(413, f"Request body is too large (at most {limit} bytes).")


def _from_http_exception(
    request: web.Request, exc: web.HTTPException, max_body: int
) -> web.Response:
    status = exc.status
    headers: dict[str, str] = {}
    if status == 404:
        text = NOT_FOUND
    elif status == 405:
        text = f'Method "{request.method}" not allowed.'
        if "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
    elif status == 413:
        text = f"Request body is too large (at most {max_body} bytes)."
    else:
        text = exc.reason
    return json_response({"detail": text}, status, headers)


async def answer(request: web.Request, handler: Handler, max_body: int) -> web.StreamResponse:
    """`handler(request)`, with ApiError → its JSON; aiohttp's own HTTP errors → JSON;
    anything else → logged 500 (redirects and other HTTP exceptions below 400 propagate)."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc, max_body)
    except Exception:
        log.exception("http.unhandled path=%s method=%s", request.path, request.method)
        return json_response({"detail": SERVER_ERROR}, 500)


def error_middleware(max_body: int) -> Middleware:
    """`answer` as a middleware of its own (the app runs it inside the metrics middleware,
    `ApiMetrics.middleware(max_body)`, which saves a middleware layer per request)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await answer(request, handler, max_body)

    return middleware
