"""The pure parts of M-Pesa Lipa Na M-Pesa Online (Daraja STK push).

Request bodies for the STK push and its status query, the password Daraja derives from the
shortcode, passkey and timestamp, and parsing of the callback Daraja POSTs when the customer
has answered (or not). The HTTP client lives in gatewayd.adapters.daraja; nothing here does I/O
or reads the clock: `now` is handed in and converted to Nairobi time (EAT, UTC+3, no daylight
saving), the convention of Daraja timestamps.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

NAIROBI = timezone(timedelta(hours=3), "EAT")
PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
ACCOUNT_REFERENCE_MAX = 12  # Daraja's documented limits
TRANSACTION_DESC_MAX = 13
_PHONE = re.compile(r"2547\d{8}|2541\d{8}")
_SHORTCODE = re.compile(r"\d{5,7}")


class DarajaError(ValueError):
    """A Daraja message we refuse to build or cannot read; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class DarajaCredentials:
    """What the STK password is made of: the paybill/till shortcode and its passkey."""

    shortcode: str
    passkey: str

    def __post_init__(self) -> None:
        if not _SHORTCODE.fullmatch(self.shortcode):
            raise DarajaError("shortcode", f"must be 5–7 digits, got {self.shortcode!r}")
        if not self.passkey:
            raise DarajaError("passkey", "must not be empty")


def timestamp(now: datetime) -> str:
    """YYYYMMDDHHMMSS in Nairobi time for the aware datetime `now`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise DarajaError("now", "must be timezone-aware (Daraja timestamps are Nairobi time)")
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, stamp: str) -> str:
    """base64(shortcode + passkey + timestamp), as Daraja checks it."""
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode("ascii")


def stk_push_body(
    credentials: DarajaCredentials,
    *,
    now: datetime,
    amount_kes: int,
    phone: str,
    callback_url: str,
    account_reference: str,
    description: str,
    transaction_type: str = PAYBILL,
    party_b: str | None = None,
) -> dict[str, Any]:
    """The JSON body of POST /mpesa/stkpush/v1/processrequest."""
    _check_amount(amount_kes)
    _check_phone(phone)
    _check_text("account_reference", account_reference, ACCOUNT_REFERENCE_MAX)
    _check_text("description", description, TRANSACTION_DESC_MAX)
    if not callback_url.startswith(("https://", "http://")):
        raise DarajaError("callback_url", f"must be an http(s) URL, got {callback_url!r}")
    if transaction_type not in (PAYBILL, BUY_GOODS):
        raise DarajaError("transaction_type", f"must be {PAYBILL} or {BUY_GOODS}")
    stamp = timestamp(now)
    return {
        "BusinessShortCode": credentials.shortcode,
        "Password": password(credentials.shortcode, credentials.passkey, stamp),
        "Timestamp": stamp,
        "TransactionType": transaction_type,
        "Amount": amount_kes,
        "PartyA": phone,
        "PartyB": party_b or credentials.shortcode,
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": account_reference,
        "TransactionDesc": description,
    }


def stk_query_body(
    credentials: DarajaCredentials, *, now: datetime, checkout_request_id: str
) -> dict[str, Any]:
    """The JSON body of POST /mpesa/stkpushquery/v1/query."""
    if not checkout_request_id:
        raise DarajaError("checkout_request_id", "must not be empty")
    stamp = timestamp(now)
    return {
        "BusinessShortCode": credentials.shortcode,
        "Password": password(credentials.shortcode, credentials.passkey, stamp),
        "Timestamp": stamp,
        "CheckoutRequestID": checkout_request_id,
    }


@dataclass(frozen=True, slots=True)
class StkPushAccepted:
    """Daraja's synchronous answer: the push was sent to the phone (not yet paid)."""

    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str


@dataclass(frozen=True, slots=True)
class Payment:
    """CallbackMetadata of a successful payment; amount in integer cents."""

    amount_cents: int
    receipt: str
    phone: str
    transaction_date: datetime | None


@dataclass(frozen=True, slots=True)
class StkResult:
    """The outcome of one STK push, from the callback or from a status query."""

    merchant_request_id: str
    checkout_request_id: str
    result_code: int
    result_desc: str
    payment: Payment | None = None

    @property
    def succeeded(self) -> bool:
        return self.result_code == 0


def parse_stk_push_response(body: object) -> StkPushAccepted:
    """Read the answer to an STK push request (ResponseCode "0" means accepted)."""
    data = _object("body", body)
    code = _string(data, "ResponseCode")
    if code != "0":
        description = data.get("ResponseDescription")
        raise DarajaError("ResponseCode", f"push not accepted: {code} {description!r}")
    return StkPushAccepted(
        merchant_request_id=_string(data, "MerchantRequestID"),
        checkout_request_id=_string(data, "CheckoutRequestID"),
        response_code=code,
        response_description=str(data.get("ResponseDescription", "")),
        customer_message=str(data.get("CustomerMessage", "")),
    )


def parse_stk_callback(body: object) -> StkResult:
    """Read the callback Daraja POSTs to CallBackURL (`{"Body": {"stkCallback": …}}`)."""
    outer = _object("Body", _object("body", body).get("Body"))
    callback = _object("Body.stkCallback", outer.get("stkCallback"))
    code = _result_code(callback)
    payment = None
    if code == 0:
        metadata = _object("CallbackMetadata", callback.get("CallbackMetadata"))
        payment = _payment(metadata)
    return StkResult(
        merchant_request_id=_string(callback, "MerchantRequestID"),
        checkout_request_id=_string(callback, "CheckoutRequestID"),
        result_code=code,
        result_desc=str(callback.get("ResultDesc", "")),
        payment=payment,
    )


def parse_stk_query_response(body: object) -> StkResult:
    """Read the answer to a status query: the same outcome as a callback, without payment."""
    data = _object("body", body)
    return StkResult(
        merchant_request_id=_string(data, "MerchantRequestID"),
        checkout_request_id=_string(data, "CheckoutRequestID"),
        result_code=_result_code(data),
        result_desc=str(data.get("ResultDesc", "")),
    )


def _payment(metadata: Mapping[str, Any]) -> Payment:
    items = metadata.get("Item")
    if not isinstance(items, list):
        raise DarajaError("CallbackMetadata.Item", "must be a list")
    values: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("Name"), str) and "Value" in item:
            values[item["Name"]] = item["Value"]
    for name in ("Amount", "MpesaReceiptNumber", "PhoneNumber"):
        if name not in values:
            raise DarajaError(f"CallbackMetadata.{name}", "missing from a successful callback")
    return Payment(
        amount_cents=_cents(values["Amount"]),
        receipt=str(values["MpesaReceiptNumber"]),
        phone=str(values["PhoneNumber"]),
        transaction_date=_transaction_date(values.get("TransactionDate")),
    )


def _cents(value: object) -> int:
    """Amount (KES, at most two decimals) as integer cents; DarajaError for anything else,
    including infinities and NaN, which `Decimal` reads but no payment can be."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DarajaError("CallbackMetadata.Amount", f"must be a number, got {value!r}")
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation:
        raise DarajaError("CallbackMetadata.Amount", f"must be a number, got {value!r}") from None
    if not amount.is_finite():
        raise DarajaError("CallbackMetadata.Amount", f"must be a finite number, got {value!r}")
    if amount != amount.to_integral_value() or amount <= 0:
        raise DarajaError("CallbackMetadata.Amount", f"must be positive KES, got {value!r}")
    return int(amount)


def _transaction_date(value: object) -> datetime | None:
    """TransactionDate (YYYYMMDDHHMMSS, Nairobi time) as an aware datetime."""
    if value is None:
        return None
    try:
        return datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        raise DarajaError(
            "CallbackMetadata.TransactionDate", f"must be YYYYMMDDHHMMSS, got {value!r}"
        ) from None


def _result_code(data: Mapping[str, Any]) -> int:
    """ResultCode: an int in callbacks, a string in query answers."""
    value = data.get("ResultCode")
    if isinstance(value, bool) or value is None:
        raise DarajaError("ResultCode", "missing")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DarajaError("ResultCode", f"must be a number, got {value!r}") from None


def _object(field: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DarajaError(field, f"must be a JSON object, got {type(value).__name__}")
    return value


def _string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DarajaError(key, f"must be a non-empty string, got {value!r}")
    return value


def _check_amount(amount_kes: int) -> None:
    if isinstance(amount_kes, bool) or not isinstance(amount_kes, int) or amount_kes < 1:
        raise DarajaError("amount_kes", f"must be whole shillings, at least 1, got {amount_kes!r}")


def _check_phone(phone: str) -> None:
    if not _PHONE.fullmatch(phone):
        raise DarajaError("phone", f"must be a Kenyan mobile as 254XXXXXXXXX, got {phone!r}")


def _check_text(field: str, value: str, limit: int) -> None:
    if not value or len(value) > limit:
        raise DarajaError(field, f"must be 1–{limit} characters, got {len(value)}")
