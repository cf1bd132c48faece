"""Response bodies, shaped as seeds 000/001 show them (field names and order)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gatewayd.service.messaging import Balances, BulkOutcome
from gatewayd.service.model import Accepted, Message
from http_api.schemas import BulkEntry
from routing import Operator

_PROVIDERS = {op.value: op.display_name for op in Operator}


def provider(operator: str) -> str:
    """The operator's display name for `provider` ("Safaricom"); the raw value if unknown."""
    return _PROVIDERS.get(operator, operator)


def timestamp(at: datetime) -> str:
    """ISO 8601 in UTC with a `Z`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def token(access_token: str, expires_in: int) -> dict[str, Any]:
    return {"token_type": "Bearer", "access_token": access_token, "expires_in": expires_in}


def accepted(message: Message | Accepted) -> dict[str, Any]:
    """Seed 000's send-sms success body."""
    return {
        "message_id": message.id,
        "contact": message.contact,
        "status": message.status.value,
        "description": message.description,
        "provider": provider(message.operator),
    }


REJECTED = "REJECTED"


def bulk(entries: Sequence[BulkEntry], outcomes: Sequence[BulkOutcome]) -> dict[str, Any]:
    """The bulk send's answer: totals, then every message in request order. `outcomes` are
    those of the well-formed entries, in order; the others carry their field errors."""
    pending = iter(outcomes)
    items: list[dict[str, Any]] = []
    accepted_count = units = 0
    for entry in entries:
        outcome = None if entry.errors else next(pending)
        if isinstance(outcome, Accepted):
            accepted_count += 1
            units += outcome.units
            items.append({
                "index": entry.index,
                "client_ref": entry.client_ref,
                "contact": outcome.contact,
                "message_id": outcome.id,
                "status": outcome.status.value,
                "description": outcome.description,
                "provider": provider(outcome.operator),
            })  # fmt: skip
            continue
        errors = entry.errors if outcome is None else {outcome.field: outcome.messages}
        items.append({
            "index": entry.index,
            "client_ref": entry.client_ref,
            "contact": entry.contact,
            "status": REJECTED,
            "errors": errors,
        })  # fmt: skip
    return {
        "accepted": accepted_count,
        "rejected": len(items) - accepted_count,
        "units": units,
        "messages": items,
    }


def message_detail(message: Message) -> dict[str, Any]:
    """A message with its timeline (seed 000 "Status Tracking")."""
    return {
        **accepted(message),
        "sender_name": message.sender_name,
        "units": message.units,
        "parts": message.parts,
        "encoding": message.encoding,
        "priority": message.priority,
        "client_ref": message.client_ref,
        "in_doubt": message.in_doubt,
        "created_at": timestamp(message.created_at),
        "updated_at": timestamp(message.updated_at),
        "timeline": [
            {
                "status": event.status.value,
                "description": event.description,
                "timestamp": timestamp(event.at),
            }
            for event in message.timeline
        ],
    }


def balances(result: Balances) -> dict[str, Any]:
    """Float in SMS units per sender ID and per operator."""
    return {
        "total": result.total,
        "senders": [
            {
                "sender_id": row.sender_id,
                "sender_name": row.name,
                "operator": row.operator.value,
                "provider": row.operator.display_name,
                "units": row.units,
            }
            for row in result.senders
        ],
        "operators": {op.value: units for op, units in result.operators.items()},
    }
