"""The OpenAPI 3.1 document of every endpoint this app serves (GET /api/openapi.json).

Written as data next to the handlers it describes; a test checks that every route of the app
appears here and every path here is a route, so the two cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gatewayd import __version__

_STR = {"type": "string"}
_INT = {"type": "integer"}
_STATUS = {"type": "string", "enum": ["INITIATED", "SENT", "DELIVERED", "FAILED"]}
_OPERATOR = {"type": "string", "enum": ["safaricom", "airtel", "telkom"]}
_TOPUP_STATUS = {"type": "string", "enum": ["PENDING", "COMPLETED", "FAILED"]}
_KES = {"type": "string", "pattern": r"^\d+\.\d{2}$", "description": "KES, exact decimal"}
_NULL_STR = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


_DETAIL = _ref("Detail")
_ERRORS = _ref("FieldErrors")
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": _INT}}
_UNAUTHORIZED = _json(_DETAIL, "Missing, expired or invalid Bearer token")
_THROTTLED = {**_json(_DETAIL, "Rate limit exceeded"), "headers": _RETRY_AFTER}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {**_STR, "maxLength": 255},
    "description": "Same key and body within 24 h returns the first answer",
}

_SCHEMAS: dict[str, Any] = {
    "Detail": _obj({"detail": _STR}, ["detail"]),
    "FieldErrors": {
        "type": "object",
        "description": "Each field at fault with its reasons, e.g. "
        '{"sender_name": ["Sender ID not found"]}',
        "additionalProperties": {"type": "array", "items": _STR},
    },
    "TokenRequest": _obj(
        {"grant_type": {"const": "client_credentials"}, "client_id": _STR, "client_secret": _STR},
        ["grant_type", "client_id", "client_secret"],
    ),
    "Token": _obj(
        {"token_type": {"const": "Bearer"}, "access_token": _STR, "expires_in": _INT},
        ["token_type", "access_token", "expires_in"],
    ),
    "SendRequest": _obj(
        {
            "sender_name": {**_STR, "description": "Approved Sender ID on your account"},
            "contact": {
                **_STR,
                "description": "Recipient: 254XXXXXXXXX, +254…, 0XXXXXXXXX or 7XXXXXXXX",
            },
            "message": {**_STR, "maxLength": 10000},
            "callback_url": {**_STR, "format": "uri", "description": "http(s) delivery webhook"},
            "priority": {
                **_INT,
                "minimum": 0,
                "maximum": 10,
                "default": 0,
                "description": "Extension: higher goes out first (OTPs before campaigns)",
            },
            "client_ref": {
                **_STR,
                "maxLength": 100,
                "description": "Extension: your own reference, shown on the message",
            },
        },
        ["sender_name", "contact", "message"],
    ),
    "Accepted": _obj(
        {
            "message_id": _STR,
            "contact": _STR,
            "status": _STATUS,
            "description": _STR,
            "provider": {"type": "string", "enum": ["Safaricom", "Airtel", "Telkom"]},
        },
        ["message_id", "contact", "status", "description", "provider"],
    ),
    "BulkRequest": _obj(
        {
            "sender_name": {
                "oneOf": [_STR, {"type": "array", "items": _STR, "minItems": 1, "maxItems": 10}],
                "description": "A Sender ID name, or several (e.g. one per operator): each "
                "recipient gets the first active Sender ID of its operator among them",
            },
            "callback_url": {**_STR, "format": "uri", "description": "For every message"},
            "priority": {**_INT, "minimum": 0, "maximum": 10, "default": 0},
            "messages": {
                "type": "array",
                "minItems": 1,
                "description": "At most [http] bulk_max_messages (1,000 by default)",
                "items": _obj(
                    {
                        "contact": _STR,
                        "message": {**_STR, "maxLength": 10000},
                        "client_ref": {**_STR, "maxLength": 64},
                        "callback_url": {
                            **_STR,
                            "format": "uri",
                            "description": "This message's own, instead of the request's",
                        },
                    },
                    ["contact", "message"],
                ),
            },
        },
        ["sender_name", "messages"],
    ),
    "BulkResult": _obj(
        {
            "accepted": _INT,
            "rejected": _INT,
            "units": {**_INT, "description": "SMS units debited for the accepted messages"},
            "messages": {
                "type": "array",
                "description": "One per message, in request order",
                "items": {
                    "oneOf": [
                        _obj(
                            {
                                "index": _INT,
                                "client_ref": _NULL_STR,
                                "contact": _STR,
                                "message_id": _STR,
                                "status": {"const": "INITIATED"},
                                "description": _STR,
                                "provider": _STR,
                            },
                            ["index", "client_ref", "contact", "message_id", "status"],
                        ),
                        _obj(
                            {
                                "index": _INT,
                                "client_ref": _NULL_STR,
                                "contact": _NULL_STR,
                                "status": {"const": "REJECTED"},
                                "errors": _ERRORS,
                            },
                            ["index", "client_ref", "contact", "status", "errors"],
                        ),
                    ]
                },
            },
        },
        ["accepted", "rejected", "units", "messages"],
    ),
    "Message": {
        "allOf": [
            _ref("Accepted"),
            _obj(
                {
                    "sender_name": _STR,
                    "units": _INT,
                    "parts": _INT,
                    "encoding": {"type": "string", "enum": ["gsm7", "ucs2"]},
                    "priority": _INT,
                    "client_ref": {"type": ["string", "null"]},
                    "in_doubt": _INT,
                    "created_at": {**_STR, "format": "date-time"},
                    "updated_at": {**_STR, "format": "date-time"},
                    "timeline": {
                        "type": "array",
                        "items": _obj(
                            {
                                "status": _STATUS,
                                "description": _STR,
                                "timestamp": {**_STR, "format": "date-time"},
                            }
                        ),
                    },
                }
            ),
        ]
    },
    "Balance": _obj(
        {
            "total": _INT,
            "senders": {
                "type": "array",
                "items": _obj(
                    {
                        "sender_id": _STR,
                        "sender_name": _STR,
                        "operator": _OPERATOR,
                        "provider": _STR,
                        "units": _INT,
                    }
                ),
            },
            "operators": {"type": "object", "additionalProperties": _INT},
        }
    ),
    "Package": _obj(
        {
            "id": _STR,
            "name": _STR,
            "operator": _OPERATOR,
            "provider": _STR,
            "rate_kes": {**_KES, "description": "KES per SMS unit, exact decimal"},
            "rate_cents": {**_INT, "description": "KES cents per SMS unit"},
            "min_units": {**_INT, "description": "Smallest purchase in SMS units"},
        },
        ["id", "name", "operator", "provider", "rate_kes", "rate_cents", "min_units"],
    ),
    "TopUpRequest": _obj(
        {
            "sender_id": {**_STR, "description": "Your sender ID's id (or give sender_name)"},
            "sender_name": {**_STR, "description": "Your sender ID's name, instead of its id"},
            "operator": {
                **_OPERATOR,
                "description": "With sender_name, when the name is on several operators",
            },
            "package_id": {**_STR, "description": "A package for the sender ID's operator"},
            "units": {**_INT, "minimum": 1, "description": "SMS units to buy (≥ min_units)"},
            "method": {
                "type": "string",
                "enum": ["mpesa", "offline"],
                "description": "mpesa: STK push to phone; offline: an admin approves it",
            },
            "phone": {
                **_STR,
                "description": "M-Pesa phone (254XXXXXXXXX, 07…, +254…); required for mpesa",
            },
        },
        ["package_id", "units", "method"],
    ),
    "TopUp": _obj(
        {
            "id": _STR,
            "status": _TOPUP_STATUS,
            "method": {"type": "string", "enum": ["mpesa", "offline"]},
            "sender_id": _STR,
            "package_id": _STR,
            "units": _INT,
            "amount_kes": {
                **_KES,
                "description": "Price; for M-Pesa rounded up to whole shillings",
            },
            "amount_cents": _INT,
            "phone": _NULL_STR,
            "checkout_request_id": {**_NULL_STR, "description": "Daraja's id of the STK push"},
            "mpesa_receipt": _NULL_STR,
            "result_code": {"type": ["integer", "null"]},
            "description": {**_NULL_STR, "description": "Why it settled as it did"},
            "created_at": {**_STR, "format": "date-time"},
            "settled_at": {"type": ["string", "null"], "format": "date-time"},
        },
        ["id", "status", "method", "sender_id", "package_id", "units", "amount_kes"],
    ),
    "TopUpList": _obj(
        {"count": _INT, "results": {"type": "array", "items": _ref("TopUp")}},
        ["count", "results"],
    ),
    "PackageList": _obj(
        {"count": _INT, "results": {"type": "array", "items": _ref("Package")}},
        ["count", "results"],
    ),
    "PaymentUnavailable": _obj(
        {"detail": _STR, "topup": _ref("TopUp")},
        ["detail", "topup"],
    ),
    "StkCallbackAnswer": _obj(
        {"ResultCode": {"const": 0}, "ResultDesc": {"const": "Accepted"}},
        ["ResultCode", "ResultDesc"],
    ),
    "Ready": _obj(
        {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "store": {"type": "string", "enum": ["ok", "unreachable"]},
            "accepting": {"type": "boolean"},
            "binds": {
                "type": "array",
                "items": _obj({"name": _STR, "operator": _STR, "state": _STR}),
            },
            "detail": _STR,
        }
    ),
}

_PATHS: dict[str, Any] = {
    "/api/generate-token": {
        "post": {
            "summary": "Exchange client credentials for a Bearer token (OAuth 2)",
            "description": "client_id and client_secret go in the body, or in an HTTP Basic "
            "Authorization header (RFC 6749 client_secret_basic).",
            "security": [{}, {"clientBasic": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("TokenRequest")},
                    "application/x-www-form-urlencoded": {"schema": _ref("TokenRequest")},
                },
            },
            "responses": {
                "200": _json(_ref("Token"), "A token; expires_in is in seconds"),
                "400": _json(_ERRORS, 'Bad fields, or {"credentials": ["Invalid credentials"]}'),
                "413": _json(_DETAIL, "Body too large"),
                "415": _json(_DETAIL, "Unsupported media type"),
                "429": _THROTTLED,
            },
        }
    },
    "/api/send-sms": {
        "post": {
            "summary": "Send one SMS",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("SendRequest")}},
            },
            "responses": {
                "200": _json(_ref("Accepted"), "Accepted and queued; the float was debited"),
                "400": _json(
                    _ERRORS,
                    "Bad fields, or refused: Sender ID not found, No matching sender, "
                    "Insufficient balance, Invalid number, Opted out (nothing charged)",
                ),
                "401": _UNAUTHORIZED,
                "409": _json(_DETAIL, "Idempotency-Key reused with a different body"),
                "413": _json(_DETAIL, "Body too large"),
                "415": _json(_DETAIL, "Unsupported media type"),
                "429": _THROTTLED,
                "503": {**_json(_DETAIL, "Queue full, retry later"), "headers": _RETRY_AFTER},
            },
        }
    },
    "/api/v1/messages/bulk": {
        "post": {
            "summary": "Send many SMS in one request",
            "description": "Each message is checked as send-sms checks one and refused alone "
            "(with send-sms's field errors); the accepted ones are debited, stored and queued "
            "in one transaction. When a Sender ID's float runs out, its remaining messages "
            "are refused with Insufficient balance and cost nothing. Counts as one request "
            "for the rate limit.",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("BulkRequest")}},
            },
            "responses": {
                "200": _json(_ref("BulkResult"), "Every message's outcome, in request order"),
                "400": _json(
                    _ERRORS,
                    "The request itself is bad (JSON, sender_name, messages missing, empty, "
                    "too many or not objects, priority): nothing stored",
                ),
                "401": _UNAUTHORIZED,
                "409": _json(_DETAIL, "Idempotency-Key reused with a different body"),
                "413": _json(_DETAIL, "Body larger than [http] bulk_max_body_bytes"),
                "415": _json(_DETAIL, "Unsupported media type"),
                "429": _THROTTLED,
                "503": {**_json(_DETAIL, "Queue full, retry later"), "headers": _RETRY_AFTER},
            },
        }
    },
    "/api/v1/messages/{id}": {
        "get": {
            "summary": "A message's status, units, parts and status timeline",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STR}],
            "responses": {
                "200": _json(_ref("Message"), "The message"),
                "401": _UNAUTHORIZED,
                "404": _json(_DETAIL, "No such message on this account"),
                "429": _THROTTLED,
            },
        }
    },
    "/api/v1/balance": {
        "get": {
            "summary": "Float in SMS units per sender ID and per operator",
            "responses": {
                "200": _json(_ref("Balance"), "Balances"),
                "401": _UNAUTHORIZED,
                "429": _THROTTLED,
            },
        }
    },
    "/health": {
        "get": {
            "summary": "The process answers",
            "security": [],
            "responses": {"200": _json(_obj({"status": {"const": "ok"}}), "Alive")},
        }
    },
    "/ready": {
        "get": {
            "summary": "Ready for traffic: store reachable, intake open; binds listed",
            "security": [],
            "responses": {
                "200": _json(_ref("Ready"), "Ready"),
                "503": _json(_ref("Ready"), "Not ready"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": _STR}},
                }
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
        }
    },
}


_ID = {"name": "id", "in": "path", "required": True, "schema": _STR}

_TOPUP_PATHS: dict[str, Any] = {
    "/api/v1/packages": {
        "get": {
            "summary": "Packages on sale: rate per SMS unit and minimum units, per operator",
            "parameters": [
                {"name": "operator", "in": "query", "required": False, "schema": _OPERATOR}
            ],
            "responses": {
                "200": _json(_ref("PackageList"), "Active packages"),
                "400": _json(_ERRORS, "Unknown operator"),
                "401": _UNAUTHORIZED,
                "429": _THROTTLED,
            },
        }
    },
    "/api/v1/topups": {
        "post": {
            "summary": "Top up a sender ID's float: M-Pesa STK push, or offline",
            "description": "M-Pesa: the STK push is sent before the answer; the top-up stays "
            "PENDING until the customer answers on the phone (then COMPLETED, credited once, "
            "or FAILED). Offline: PENDING until an admin approves or rejects it.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {**_STR, "maxLength": 255},
                    "description": "Same key and body within 24 h returns the first answer "
                    "(no second STK push)",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("TopUpRequest")}},
            },
            "responses": {
                "201": _json(_ref("TopUp"), "Created, PENDING"),
                "400": _json(
                    _ERRORS,
                    "Bad fields, or refused: Sender ID not found, Package not found, "
                    "package for another operator, too few units, invalid phone, "
                    "M-Pesa not offered",
                ),
                "401": _UNAUTHORIZED,
                "409": _json(_DETAIL, "Idempotency-Key reused with a different body"),
                "413": _json(_DETAIL, "Body too large"),
                "415": _json(_DETAIL, "Unsupported media type"),
                "429": _THROTTLED,
                "503": {
                    **_json(
                        _ref("PaymentUnavailable"),
                        "M-Pesa did not take the STK push; the top-up is FAILED, nothing "
                        "was charged",
                    ),
                    "headers": _RETRY_AFTER,
                },
            },
        },
        "get": {
            "summary": "Your top-ups, newest first",
            "parameters": [
                {"name": "status", "in": "query", "required": False, "schema": _TOPUP_STATUS},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {**_INT, "minimum": 1, "maximum": 500, "default": 100},
                },
            ],
            "responses": {
                "200": _json(_ref("TopUpList"), "count is the total before limit"),
                "400": _json(_ERRORS, "Bad status or limit"),
                "401": _UNAUTHORIZED,
                "429": _THROTTLED,
            },
        },
    },
    "/api/v1/topups/{id}": {
        "get": {
            "summary": "A top-up's status",
            "parameters": [
                _ID,
                {
                    "name": "refresh",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["0", "1"]},
                    "description": "1: ask M-Pesa about a PENDING M-Pesa top-up first",
                },
            ],
            "responses": {
                "200": _json(_ref("TopUp"), "The top-up"),
                "400": _json(_ERRORS, "Bad refresh value"),
                "401": _UNAUTHORIZED,
                "404": _json(_DETAIL, "No such top-up on this account"),
                "429": _THROTTLED,
            },
        }
    },
}


def _callback_path() -> dict[str, Any]:
    return {
        "post": {
            "summary": "Daraja's STK push callback (called by Safaricom, not by clients)",
            "description": "Settles the top-up with that CheckoutRequestID: credited once "
            "however often the callback comes. Every body that is read is acknowledged with "
            "200, malformed or unknown ones included (they change nothing and are logged).",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": _json(_ref("StkCallbackAnswer"), "Acknowledged"),
                "413": _json(_DETAIL, "Body too large"),
            },
        }
    }


@cache
def document(*, topups: bool = False, callback_path: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per variant; treat it as read-only). `topups`:
    the app serves the top-up routes, and Daraja's callback at `callback_path` unless None."""
    paths = dict(_PATHS)
    if topups:
        paths.update(_TOPUP_PATHS)
        if callback_path is not None:
            paths[callback_path] = _callback_path()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gatewayd API",
            "version": __version__,
            "description": "Kimisms-compatible SMS API (generate-token, send-sms) and the "
            "versioned /api/v1 reads.",
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearer": []}],
    }
