"""Response bodies of the top-up endpoints. Money goes out as exact decimal strings of KES
beside the integer cents it is kept in; never as a float."""

from __future__ import annotations

from typing import Any

from gatewayd.service.model import Package, TopUp
from http_api.render import provider, timestamp


def kes(cents: int) -> str:
    """Integer cents as a KES decimal string ("0.35", "432.00")."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def package(item: Package) -> dict[str, Any]:
    """A package on sale: the rate in KES per SMS unit, as a decimal string and in cents."""
    return {
        "id": item.id,
        "name": item.name,
        "operator": item.operator,
        "provider": provider(item.operator),
        "rate_kes": kes(item.rate_cents),
        "rate_cents": item.rate_cents,
        "min_units": item.min_units,
    }


def topup(item: TopUp) -> dict[str, Any]:
    """A top-up as its owner sees it (seed 000: PENDING, then COMPLETED or FAILED)."""
    return {
        "id": item.id,
        "status": item.status.value,
        "method": item.method.value,
        "sender_id": item.sender_id,
        "package_id": item.package_id,
        "units": item.units,
        "amount_kes": kes(item.amount_cents),
        "amount_cents": item.amount_cents,
        "phone": item.phone,
        "checkout_request_id": item.checkout_request_id,
        "mpesa_receipt": item.mpesa_receipt,
        "result_code": item.result_code,
        "description": item.result_desc,
        "created_at": timestamp(item.created_at),
        "settled_at": timestamp(item.settled_at) if item.settled_at else None,
    }
