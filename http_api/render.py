"""Response bodies, shaped as seeds 000/001 show them (field names and order)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gatewayd.service.messaging import Balances
from gatewayd.service.model import Accepted, Message
from routing import Operator


def provider(operator: str) -> str:
    """The operator's display name for `provider` ("Safaricom"); the raw value if unknown."""
    try:
        return Operator(operator).display_name
    except ValueError:
        return operator


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
