"""Callback URL policy: only http(s) to public addresses unless a class is allowed."""

from __future__ import annotations

import ipaddress

import pytest

from gatewayd.service.callback_policy import AddressClass, CallbackPolicy, classify
from gatewayd.service.errors import CallbackUrlRejected

STRICT = CallbackPolicy()
DEMO = CallbackPolicy.from_flags(allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://yourapp.com/sms/callback",
        "http://example.com:8080/cb?x=1",
        "https://93.184.216.34/cb",
        "https://[2606:4700::1111]/cb",
        "HTTPS://Example.COM./cb",
    ],
)
def test_public_http_urls_pass(url: str) -> None:
    target = STRICT.check_url(url)
    assert target.scheme in ("http", "https")


def test_target_parts() -> None:
    target = STRICT.check_url("HTTPS://Example.COM./cb")
    assert (target.scheme, target.host, target.port, target.literal) == (
        "https",
        "example.com",
        443,
        None,
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "Callback URL must use http or https"),
        ("javascript:alert(1)", "Callback URL must use http or https"),
        ("example.com/cb", "Callback URL must use http or https"),
        ("https:///nohost", "Enter a valid URL."),
        ("https://exa mple.com/", "Enter a valid URL."),
        ("https://example.com:99999/", "Enter a valid URL."),
        ("http://127.0.0.1/cb", "Callback URL must not point to a loopback address"),
        ("http://localhost:8000/cb", "Callback URL must not point to a loopback address"),
        ("http://api.localhost/cb", "Callback URL must not point to a loopback address"),
        ("http://[::1]/cb", "Callback URL must not point to a loopback address"),
        ("http://[::ffff:127.0.0.1]/cb", "Callback URL must not point to a loopback address"),
        ("http://10.1.2.3/cb", "Callback URL must not point to a private address"),
        ("http://192.168.0.10/cb", "Callback URL must not point to a private address"),
        ("http://100.64.0.1/cb", "Callback URL must not point to a private address"),
        ("http://169.254.169.254/latest", "Callback URL must not point to a link-local address"),
        ("http://[fe80::1]/cb", "Callback URL must not point to a link-local address"),
        ("http://224.0.0.1/cb", "Callback URL must not point to a multicast address"),
        ("http://0.0.0.0/cb", "Callback URL must not point to a unspecified address"),
        ("http://2130706433/cb", "Callback URL host must be a name or a dotted IPv4 address"),
        ("http://0x7f.1/cb", "Callback URL host must be a name or a dotted IPv4 address"),
        ("https://x.com/" + "a" * 2048, "Ensure this field has no more than 2048 characters."),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(CallbackUrlRejected) as caught:
        STRICT.check_url(url)
    assert caught.value.field == "callback_url"
    assert caught.value.reason == reason


def test_demo_allows_loopback_only() -> None:
    assert DEMO.check_url("http://127.0.0.1:8000/cb").port == 8000
    assert DEMO.check_url("http://localhost/cb").host == "localhost"
    with pytest.raises(CallbackUrlRejected):
        DEMO.check_url("http://10.0.0.1/cb")


def test_private_allowed_by_setting() -> None:
    policy = CallbackPolicy.from_flags(allow_private=True)
    policy.check_url("http://10.0.0.1/cb")
    with pytest.raises(CallbackUrlRejected):
        policy.check_url("http://127.0.0.1/cb")


@pytest.mark.parametrize(
    ("address", "cls"),
    [
        ("8.8.8.8", AddressClass.GLOBAL),
        ("127.0.0.2", AddressClass.LOOPBACK),
        ("172.16.5.4", AddressClass.PRIVATE),
        ("fd00::1", AddressClass.PRIVATE),
        ("ff02::1", AddressClass.MULTICAST),
        ("::", AddressClass.UNSPECIFIED),
        ("240.0.0.1", AddressClass.RESERVED),
    ],
)
def test_classify(address: str, cls: AddressClass) -> None:
    assert classify(ipaddress.ip_address(address)) is cls


def test_resolved_addresses_are_checked_again() -> None:
    """A public name may resolve to a private address: the sender checks after resolving."""
    target = STRICT.check_url("https://rebind.example.com/cb")
    assert target.literal is None
    STRICT.check_address("93.184.216.34")
    with pytest.raises(CallbackUrlRejected):
        STRICT.check_address("10.0.0.7")
    with pytest.raises(CallbackUrlRejected):
        STRICT.check_address("fe80::1%eth0")
    with pytest.raises(CallbackUrlRejected, match="not an IP"):
        STRICT.check_address("example.com")
