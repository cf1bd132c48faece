"""Daraja STK push: password, request bodies and callback parsing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from billing.mpesa import (
    DarajaCredentials,
    DarajaError,
    parse_stk_callback,
    parse_stk_push_response,
    parse_stk_query_response,
    password,
    stk_push_body,
    stk_query_body,
    timestamp,
)

SANDBOX = DarajaCredentials(
    "174379", "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
)
NOW = datetime(2016, 2, 16, 13, 56, 27, tzinfo=UTC)  # 16:56:27 in Nairobi


def test_password_matches_the_daraja_documentation_example() -> None:
    assert password(SANDBOX.shortcode, SANDBOX.passkey, "20160216165627") == (
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJh"
        "ZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
    )


def test_timestamp_is_nairobi_time_of_an_aware_now() -> None:
    assert timestamp(NOW) == "20160216165627"
    west = timezone(timedelta(hours=-5))
    assert timestamp(NOW.astimezone(west)) == "20160216165627"
    with pytest.raises(DarajaError, match=r"^now: must be timezone-aware"):
        timestamp(datetime(2016, 2, 16, 16, 56, 27))


def test_stk_push_body_has_every_daraja_field() -> None:
    body = stk_push_body(
        SANDBOX,
        now=NOW,
        amount_kes=432,
        phone="254708374149",
        callback_url="https://gw.example/mpesa/callback",
        account_reference="TOPUP-1",
        description="SMS top-up",
    )
    assert body == {
        "BusinessShortCode": "174379",
        "Password": password("174379", SANDBOX.passkey, "20160216165627"),
        "Timestamp": "20160216165627",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 432,
        "PartyA": "254708374149",
        "PartyB": "174379",
        "PhoneNumber": "254708374149",
        "CallBackURL": "https://gw.example/mpesa/callback",
        "AccountReference": "TOPUP-1",
        "TransactionDesc": "SMS top-up",
    }
    decoded = base64.b64decode(body["Password"]).decode()
    assert decoded == "174379" + SANDBOX.passkey + "20160216165627"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_kes": 0}, "amount_kes"),
        ({"amount_kes": 1.5}, "amount_kes"),
        ({"phone": "0708374149"}, "phone"),
        ({"phone": "255708374149"}, "phone"),
        ({"callback_url": "ftp://x"}, "callback_url"),
        ({"account_reference": "A" * 13}, "account_reference"),
        ({"description": "D" * 14}, "description"),
        ({"transaction_type": "Other"}, "transaction_type"),
    ],
)
def test_stk_push_body_refuses_bad_input_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {
        "now": NOW, "amount_kes": 1, "phone": "254708374149",
        "callback_url": "https://gw.example/cb", "account_reference": "R", "description": "D",
    }  # fmt: skip
    args.update(change)
    with pytest.raises(DarajaError) as caught:
        stk_push_body(SANDBOX, **args)
    assert caught.value.field == field


def test_credentials_are_checked() -> None:
    with pytest.raises(DarajaError, match=r"^shortcode:"):
        DarajaCredentials("17a379", "key")
    with pytest.raises(DarajaError, match=r"^passkey:"):
        DarajaCredentials("174379", "")


def test_status_query_body() -> None:
    body = stk_query_body(SANDBOX, now=NOW, checkout_request_id="ws_CO_1")
    assert body == {
        "BusinessShortCode": "174379",
        "Password": password("174379", SANDBOX.passkey, "20160216165627"),
        "Timestamp": "20160216165627",
        "CheckoutRequestID": "ws_CO_1",
    }


def success_callback(amount: object = 1.00) -> dict[str, Any]:
    """The success example of the Daraja documentation."""
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_191220191020363925",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": amount},
                        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": 20191219102115},
                        {"Name": "PhoneNumber", "Value": 254708374149},
                    ]
                },
            }
        }
    }


def test_a_success_callback_parses_into_a_payment_in_cents() -> None:
    result = parse_stk_callback(success_callback())
    assert result.succeeded
    assert result.checkout_request_id == "ws_CO_191220191020363925"
    assert result.merchant_request_id == "29115-34620561-1"
    assert result.payment is not None
    assert result.payment.amount_cents == 100
    assert result.payment.receipt == "NLJ7RT61SV"
    assert result.payment.phone == "254708374149"
    assert result.payment.transaction_date == datetime(2019, 12, 19, 7, 21, 15, tzinfo=UTC)


@pytest.mark.parametrize(("amount", "cents"), [(432, 43_200), ("10.50", 1050), (0.1, 10)])
def test_amounts_become_exact_cents(amount: object, cents: int) -> None:
    payment = parse_stk_callback(success_callback(amount)).payment
    assert payment is not None and payment.amount_cents == cents


def test_a_cancelled_callback_has_no_payment() -> None:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "29115-34620561-1",
                "CheckoutRequestID": "ws_CO_1",
                "ResultCode": 1032,
                "ResultDesc": "Request cancelled by user",
            }
        }
    }
    result = parse_stk_callback(body)
    assert (result.result_code, result.result_desc, result.payment) == (
        1032, "Request cancelled by user", None,
    )  # fmt: skip
    assert not result.succeeded


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ({}, "Body"),
        ({"Body": {}}, "Body.stkCallback"),
        ({"Body": {"stkCallback": {"CheckoutRequestID": "x", "MerchantRequestID": "m"}}},
         "ResultCode"),
        ({"Body": {"stkCallback": {"ResultCode": "x"}}}, "ResultCode"),
        ({"Body": {"stkCallback": {"ResultCode": 1, "MerchantRequestID": "m"}}},
         "CheckoutRequestID"),
        ({"Body": {"stkCallback": {"ResultCode": 0, "MerchantRequestID": "m",
                                   "CheckoutRequestID": "c"}}}, "CallbackMetadata"),
    ],
)  # fmt: skip
def test_malformed_callbacks_fail_naming_the_field(body: object, field: str) -> None:
    with pytest.raises(DarajaError) as caught:
        parse_stk_callback(body)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"Name": "Amount", "Value": "lots"}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": 0}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": 1.005}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": "Infinity"}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": "-Infinity"}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": float("inf")}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": "NaN"}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": float("nan")}, "CallbackMetadata.Amount"),
        ({"Name": "Amount", "Value": "sNaN"}, "CallbackMetadata.Amount"),
        ({"Name": "TransactionDate", "Value": "yesterday"}, "CallbackMetadata.TransactionDate"),
    ],
)
def test_bad_metadata_values_fail_naming_the_item(item: dict[str, object], field: str) -> None:
    body = success_callback()
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = [
        i for i in items if i["Name"] != item["Name"]
    ] + [item]
    with pytest.raises(DarajaError) as caught:
        parse_stk_callback(body)
    assert caught.value.field == field


def test_missing_receipt_in_a_success_callback_is_an_error() -> None:
    body = success_callback()
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"] = [
        i for i in items if i["Name"] != "MpesaReceiptNumber"
    ]
    with pytest.raises(DarajaError, match="MpesaReceiptNumber: missing"):
        parse_stk_callback(body)


def test_push_and_query_answers_parse() -> None:
    accepted = parse_stk_push_response(
        {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_1",
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }
    )
    assert accepted.checkout_request_id == "ws_CO_1"
    with pytest.raises(DarajaError, match=r"^ResponseCode: push not accepted: 1"):
        parse_stk_push_response({"ResponseCode": "1", "ResponseDescription": "No"})
    result = parse_stk_query_response(
        {
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": "22205-34066-1",
            "CheckoutRequestID": "ws_CO_1",
            "ResultCode": "1032",
            "ResultDesc": "Request cancelled by user",
        }
    )
    assert (result.result_code, result.payment) == (1032, None)
