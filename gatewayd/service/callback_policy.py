"""Which callback URLs the gateway will POST to (server-side request forgery guard).

A client's `callback_url` makes the daemon send requests from inside the operator's network, so
only http(s) URLs are taken and targets in loopback, private, link-local, multicast, unspecified
or reserved space are refused unless the operator allows that class (the demo allows loopback).
The URL is checked when the message is accepted (literal addresses and names such as
`localhost`), and the callback sender calls `check_address` again on every address the name
resolves to, right before connecting, because DNS can answer differently later.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gatewayd.service.errors import CallbackUrlRejected

MAX_URL_LENGTH = 2048
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_NUMERIC_HOST_CHARS = frozenset("0123456789abcdefxABCDEFX.")
_BAD_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressClass(enum.StrEnum):
    """Address space a callback target falls in; everything but GLOBAL needs permission."""

    GLOBAL = "global"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"


def classify(address: IPAddress) -> AddressClass:
    """The class of `address`; an IPv4-mapped IPv6 address is judged as its IPv4 form."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks: tuple[tuple[bool, AddressClass], ...] = (
        (address.is_unspecified, AddressClass.UNSPECIFIED),
        (address.is_loopback, AddressClass.LOOPBACK),
        (address.is_link_local, AddressClass.LINK_LOCAL),
        (address.is_multicast, AddressClass.MULTICAST),
        (address.is_reserved, AddressClass.RESERVED),
        (address.is_private, AddressClass.PRIVATE),
    )
    for hit, cls in checks:
        if hit:
            return cls
    return AddressClass.GLOBAL if address.is_global else AddressClass.PRIVATE


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """A checked callback URL: its scheme, host (lower case, no brackets) and port."""

    url: str
    scheme: str
    host: str
    port: int
    literal: IPAddress | None  # the host when it is an IP literal


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """The address classes callbacks may reach besides the public internet."""

    allowed: frozenset[AddressClass] = frozenset()

    @classmethod
    def from_flags(
        cls, *, allow_loopback: bool = False, allow_private: bool = False
    ) -> CallbackPolicy:
        """The policy of the two config switches (`allow_loopback` for the demo)."""
        allowed = set()
        if allow_loopback:
            allowed.add(AddressClass.LOOPBACK)
        if allow_private:
            allowed.add(AddressClass.PRIVATE)
        return cls(frozenset(allowed))

    def check_url(self, url: str) -> CallbackTarget:
        """Parse and judge `url` at accept time; CallbackUrlRejected says why it is refused."""
        target = parse_callback_url(url)
        if target.literal is not None:
            self.check_address(target.literal)
        elif _is_loopback_name(target.host):
            self._require(AddressClass.LOOPBACK)
        return target

    def check_address(self, address: IPAddress | str) -> None:
        """Judge one resolved address; call it for every address before connecting."""
        if isinstance(address, str):
            try:
                address = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                raise CallbackUrlRejected(f"Callback address {address!r} is not an IP") from None
        self._require(classify(address))

    def _require(self, cls: AddressClass) -> None:
        if cls is not AddressClass.GLOBAL and cls not in self.allowed:
            raise CallbackUrlRejected(f"Callback URL must not point to a {cls.value} address")


def parse_callback_url(url: str) -> CallbackTarget:
    """The parts of an absolute http(s) URL with a host; CallbackUrlRejected otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackUrlRejected(
            f"Ensure this field has no more than {MAX_URL_LENGTH} characters."
        )
    if _BAD_URL_CHARS.search(url):
        raise CallbackUrlRejected("Enter a valid URL.")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise CallbackUrlRejected("Enter a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise CallbackUrlRejected("Callback URL must use http or https")
    if not host:
        raise CallbackUrlRejected("Enter a valid URL.")
    host = host.rstrip(".").lower()
    literal = _literal(host)
    default_port = 443 if scheme == "https" else 80
    return CallbackTarget(url, scheme, host, port or default_port, literal)


def _literal(host: str) -> IPAddress | None:
    """The IP a host names literally; shorthand numeric forms (`2130706433`, `0x7f.1`) that a
    resolver would read as addresses are refused rather than guessed at."""
    if ":" not in host and not set(host) <= _NUMERIC_HOST_CHARS:
        return None  # has a letter no address form uses: a name
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    labels = host.split(".")
    if set(host) <= _NUMERIC_HOST_CHARS and all(_numeric_label(label) for label in labels):
        raise CallbackUrlRejected("Callback URL host must be a name or a dotted IPv4 address")
    return None


def _numeric_label(label: str) -> bool:
    if label.lower().startswith("0x"):
        return all(ch in "0123456789abcdefABCDEF" for ch in label[2:])
    return label.isdigit()


def _is_loopback_name(host: str) -> bool:
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")
