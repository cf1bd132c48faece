"""Request bodies: read, decode and validate, with Django REST framework's messages.

Kimisms is a DRF service, so clients written against it see DRF's words for field errors
("This field is required.", "This field may not be blank.", "Not a valid string.") and for
parse errors ("JSON parse error - …", "Unsupported media type …"). JSON and form-encoded bodies
are both taken (DRF's default parsers; OAuth clients send forms). Numbers given for string
fields are taken as their text, as DRF's CharField does (`"contact": 254712345678`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote_plus

import orjson
from aiohttp import web

from billing.packages import MAX_UNITS_PER_TOPUP
from gatewayd.service.messaging import PRIORITY_MAX, PRIORITY_MIN
from gatewayd.service.model import TopUpMethod, TopUpStatus
from http_api.errors import ApiError, detail_error, field_errors, too_large
from http_api.topup_access import TopUpRequest
from routing import Operator

REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NULL = "This field may not be null."
NOT_STRING = "Not a valid string."
NOT_INTEGER = "A valid integer is required."
CONTROL_CHARACTERS = "Control characters are not allowed."
GRANT_TYPE = "client_credentials"
CLIENT_REF_MAX = 100
_FORM = "application/x-www-form-urlencoded"
_JSON_LIKE = ("application/json", "application/octet-stream", "")
# ASCII digits only (int() also takes "٣" and "1_000"), short enough to never be a slow parse.
_INTEGER = re.compile(r"-?[0-9]{1,18}")
# Unicode category Cc: C0, DEL and C1; the second leaves tab, LF and CR to message text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


_SCALARS = (str, int, float)  # taken for string fields, as their text (bool is refused)


def has_control_characters(value: str) -> bool:
    """True when `value` (a path segment, an identifier) holds a control character."""
    return _CONTROL.search(value) is not None


class Payload(NamedTuple):
    """A decoded request body, and what it was sent to (for its Idempotency-Key digest).
    A NamedTuple, as `SendRequest`: one per request, built in a third of a frozen
    dataclass's time."""

    data: Mapping[str, Any]
    method: str
    path: str

    def digest(self) -> str:
        """SHA-256 over method, path and the body with its keys sorted: the same request
        written with other spacing or key order has the same digest."""
        canonical = orjson.dumps(self.data, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(f"{self.method} {self.path}\n".encode())
        digest.update(canonical)
        return digest.hexdigest()


async def read_payload(request: web.Request, max_bytes: int) -> Payload:
    """The body as a mapping; 413 when too large, 415 for other media types, 400 when broken."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large(max_bytes)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large(max_bytes) from None
    if len(raw) > max_bytes:
        raise too_large(max_bytes)
    return Payload(_decode(request.content_type, raw), request.method, request.path)


def _decode(content_type: str, raw: bytes) -> Mapping[str, Any]:
    if content_type == _FORM:
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise detail_error(400, "Form parse error - body is not UTF-8") from None
    if content_type not in _JSON_LIKE and not content_type.endswith("+json"):
        raise detail_error(415, f'Unsupported media type "{content_type}" in request.')
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise detail_error(400, f"JSON parse error - {exc}") from None
    if not isinstance(data, dict):
        kind = _json_type(data)
        raise ApiError(
            400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    return data


def _json_type(value: object) -> str:
    names = {list: "list", str: "str", int: "int", float: "float", bool: "bool"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


class Fields:
    """Collects one request's field errors so all are reported at once, in field order."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self.errors: dict[str, list[str]] = {}

    def text(
        self,
        name: str,
        *,
        trim: bool = True,
        max_length: int | None = None,
        multiline: bool = False,
    ) -> str:
        """A required string field ("" when it is in error); `multiline` lets tab, newline and
        carriage return through (message text), other control characters are refused."""
        if name not in self._data:
            return self._fail(name, REQUIRED)
        return self._string(name, self._data[name], trim, max_length, multiline) or ""

    def optional_text(self, name: str, *, max_length: int | None = None) -> str | None:
        """An optional string field: absent, null or blank all mean "not given"."""
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, str) and not value.strip():
            return None
        return self._string(name, value, True, max_length, False)

    def optional_int(self, name: str, default: int, *, low: int, high: int) -> int:
        """An optional integer within [low, high] (DRF IntegerField's words); "7" is taken."""
        value = self._data.get(name)
        if value is None:
            return default
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if number is None:
            self._fail(name, NOT_INTEGER)
        elif number < low:
            self._fail(name, f"Ensure this value is greater than or equal to {low}.")
        elif number > high:
            self._fail(name, f"Ensure this value is less than or equal to {high}.")
        else:
            return number
        return default

    def integer(self, name: str, *, low: int, high: int) -> int:
        """A required integer within [low, high] (0 when it is in error)."""
        if self._data.get(name) is None:
            self._fail(name, REQUIRED if name not in self._data else NULL)
            return 0
        return self.optional_int(name, 0, low=low, high=high)

    def choice(self, name: str, choices: Sequence[str], *, required: bool) -> str | None:
        """One of `choices` (DRF ChoiceField's words); None when optional and not given."""
        value = self.text(name) if required else self.optional_text(name)
        if value and value not in choices:
            self._fail(name, f'"{value}" is not a valid choice.')
            return None
        return value or None

    def check(self) -> None:
        """400 with every collected error, if there is one."""
        if self.errors:
            raise field_errors(self.errors)

    def _string(
        self, name: str, value: Any, trim: bool, max_length: int | None, multiline: bool
    ) -> str | None:
        if type(value) is str:  # what JSON gives: no conversion
            text = value
        elif value is None:
            return self._fail(name, NULL)
        elif isinstance(value, bool) or not isinstance(value, _SCALARS):
            return self._fail(name, NOT_STRING)
        else:
            text = str(value)
        stripped = text.strip()
        if not stripped:
            return self._fail(name, BLANK)
        if trim:
            text = stripped
        if max_length is not None and len(text) > max_length:
            return self._fail(name, f"Ensure this field has no more than {max_length} characters.")
        if (_CONTROL_IN_TEXT if multiline else _CONTROL).search(text):
            return self._fail(name, CONTROL_CHARACTERS)
        return text

    def _fail(self, name: str, reason: str) -> str:
        self.errors.setdefault(name, []).append(reason)
        return ""


def with_basic_credentials(data: Mapping[str, Any], authorization: str) -> Mapping[str, Any]:
    """The token request with client_id/client_secret from `Authorization: Basic …` (RFC 6749
    client_secret_basic, what OAuth libraries send) when the body does not carry them."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or "client_id" in data or "client_secret" in data:
        return data
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise detail_error(400, "Invalid basic header.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise detail_error(400, "Invalid basic header.")
    return {**data, "client_id": unquote_plus(client_id), "client_secret": unquote_plus(secret)}


@dataclass(frozen=True, slots=True)
class TokenRequest:
    client_id: str
    client_secret: str


def parse_token_request(data: Mapping[str, Any]) -> TokenRequest:
    """Seed 001's generate-token body; `grant_type` must be `client_credentials`."""
    fields = Fields(data)
    grant_type = fields.text("grant_type")
    client_id = fields.text("client_id", max_length=255)
    client_secret = fields.text("client_secret", trim=False, max_length=255)
    if grant_type and grant_type != GRANT_TYPE:
        fields.errors.setdefault("grant_type", []).append(f"Must be {GRANT_TYPE}")
    fields.check()
    return TokenRequest(client_id, client_secret)


class SendRequest(NamedTuple):
    """send-sms's fields, checked (a NamedTuple: one per request, cheap to build)."""

    sender_name: str
    contact: str
    message: str
    callback_url: str | None
    priority: int = 0
    client_ref: str | None = None


def parse_send_request(data: Mapping[str, Any]) -> SendRequest:
    """Seed 001's send-sms body. The message keeps its spaces; length is the use-case's rule.

    Two optional fields beyond seed 001, which its clients never send: `priority` 0–10 (seed
    002: OTPs before campaigns) and `client_ref`, the caller's own reference (seed 003).
    """
    fields = Fields(data)
    sender_name = fields.text("sender_name")
    contact = fields.text("contact")
    message = fields.text("message", trim=False, multiline=True)
    callback_url = fields.optional_text("callback_url")
    priority = fields.optional_int("priority", 0, low=PRIORITY_MIN, high=PRIORITY_MAX)
    client_ref = fields.optional_text("client_ref", max_length=CLIENT_REF_MAX)
    fields.check()
    return SendRequest(sender_name, contact, message, callback_url, priority, client_ref)


BULK_CLIENT_REF_MAX = 64
BULK_SENDER_NAMES_MAX = 10
NOT_A_LIST = 'Expected a list of items but got type "{}".'
EMPTY_LIST = "This list may not be empty."
TOO_MANY = "Ensure this field has no more than {} elements."
NOT_A_DICT = "Invalid data. Expected a dictionary, but got {}."


@dataclass(frozen=True, slots=True)
class BulkEntry:
    """One element of `messages`: its fields when well-formed (`errors` empty), else the
    field errors send-sms would answer for them; `contact` and `client_ref` as given, for the
    response, when they are text."""

    index: int
    contact: str | None
    message: str
    callback_url: str | None
    client_ref: str | None
    errors: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class BulkRequest:
    sender_names: tuple[str, ...]
    callback_url: str | None
    priority: int
    entries: tuple[BulkEntry, ...]


def parse_bulk_request(data: Mapping[str, Any], max_messages: int) -> BulkRequest:
    """`POST /api/v1/messages/bulk`. The request's own fields (`sender_name` as a name or a
    list of names, `callback_url`, `priority`, `messages` as a list of 1..max_messages objects)
    are checked here, any error a 400 for the whole request. Each message's fields are
    checked as send-sms checks them, and an error there is that message's alone."""
    fields = Fields(data)
    names = _sender_names(fields, data)
    callback_url = fields.optional_text("callback_url")
    priority = fields.optional_int("priority", 0, low=PRIORITY_MIN, high=PRIORITY_MAX)
    items, bad = _message_list(fields, data, max_messages)
    if bad:  # per element, as DRF's ListField reports its children
        raise ApiError(400, {**fields.errors, "messages": bad})
    fields.check()
    return BulkRequest(names, callback_url, priority, tuple(_entry(n, i) for n, i in items))


def _sender_names(fields: Fields, data: Mapping[str, Any]) -> tuple[str, ...]:
    value = data.get("sender_name")
    if not isinstance(value, list):
        name = fields.text("sender_name")
        return (name,) if name else ()
    if not value:
        fields.errors["sender_name"] = [EMPTY_LIST]
    elif len(value) > BULK_SENDER_NAMES_MAX:
        fields.errors["sender_name"] = [TOO_MANY.format(BULK_SENDER_NAMES_MAX)]
    if "sender_name" in fields.errors:
        return ()
    names: list[str] = []
    for n, name in enumerate(value):
        one = Fields({"sender_name": name})
        text = one.text("sender_name")
        if one.errors:
            fields.errors.setdefault("sender_name", []).extend(
                f"Item {n}: {reason}" for reason in one.errors["sender_name"]
            )
        names.append(text)
    return tuple(names)


def _message_list(
    fields: Fields, data: Mapping[str, Any], max_messages: int
) -> tuple[list[tuple[int, Mapping[str, Any]]], dict[str, list[str]]]:
    """The elements of `messages` with their indexes, and the elements that are no object."""
    if data.get("messages") is None:
        fields.errors["messages"] = [REQUIRED if "messages" not in data else NULL]
        return [], {}
    value = data["messages"]
    if not isinstance(value, list):
        fields.errors["messages"] = [NOT_A_LIST.format(_json_type(value))]
    elif not value:
        fields.errors["messages"] = [EMPTY_LIST]
    elif len(value) > max_messages:
        fields.errors["messages"] = [TOO_MANY.format(max_messages)]
    else:
        bad = {str(n): [NOT_A_DICT.format(_json_type(v))] for n, v in enumerate(value)
               if not isinstance(v, dict)}  # fmt: skip
        return list(enumerate(value)), bad
    return [], {}


def _entry(index: int, data: Mapping[str, Any]) -> BulkEntry:
    """One message, its fields checked as `parse_send_request` checks send-sms's."""
    fields = Fields(data)
    contact = fields.text("contact")
    message = fields.text("message", trim=False, multiline=True)
    callback_url = fields.optional_text("callback_url")
    client_ref = fields.optional_text("client_ref", max_length=BULK_CLIENT_REF_MAX)
    raw_contact, raw_ref = data.get("contact"), data.get("client_ref")
    return BulkEntry(
        index=index,
        contact=contact if "contact" not in fields.errors else _as_text(raw_contact),
        message=message,
        callback_url=callback_url,
        client_ref=client_ref if "client_ref" not in fields.errors else _as_text(raw_ref),
        errors=fields.errors,
    )


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)


OPERATORS = tuple(op.value for op in Operator)
TOPUP_METHODS = tuple(m.value for m in TopUpMethod)
TOPUP_STATUSES = tuple(s.value for s in TopUpStatus)
SENDER_REQUIRED = "Give sender_id, or sender_name (with operator when the name is on several)."


def parse_topup_request(data: Mapping[str, Any]) -> TopUpRequest:
    """`POST /api/v1/topups`: the sender (`sender_id`, or `sender_name` and `operator`), the
    package, how many units, and how to pay (`mpesa` with `phone`, or `offline`)."""
    fields = Fields(data)
    sender_id = fields.optional_text("sender_id", max_length=64)
    sender_name = fields.optional_text("sender_name", max_length=64)
    operator = fields.choice("operator", OPERATORS, required=False)
    if (
        sender_id is None
        and sender_name is None
        and not {"sender_id", "sender_name"} & set(fields.errors)
    ):
        fields.errors["sender_id"] = [SENDER_REQUIRED]
    package_id = fields.text("package_id", max_length=64)
    units = fields.integer("units", low=1, high=MAX_UNITS_PER_TOPUP)
    method = fields.choice("method", TOPUP_METHODS, required=True)
    phone = None
    if method == TopUpMethod.MPESA:
        phone = fields.text("phone", max_length=32)
    fields.check()
    assert method is not None  # checked above: a required choice
    return TopUpRequest(
        package_id=package_id,
        units=units,
        method=TopUpMethod(method),
        sender_id=sender_id,
        sender_name=None if sender_id is not None else sender_name,
        operator=operator,
        phone=phone,
    )


def parse_operator(value: str | None) -> str | None:
    """The `?operator=` query parameter: an operator value, or None when absent or blank."""
    fields = Fields({"operator": value})
    operator = fields.choice("operator", OPERATORS, required=False)
    fields.check()
    return operator


def parse_topup_status(value: str | None) -> TopUpStatus | None:
    """The `?status=` query parameter of the top-up listing (any case)."""
    fields = Fields({"status": value.upper() if value else value})
    status = fields.choice("status", TOPUP_STATUSES, required=False)
    fields.check()
    return TopUpStatus(status) if status else None
