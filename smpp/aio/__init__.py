"""asyncio side of SMPP: `SmppClient` (one connection ↔ one `EsmeSession`) and `BindPool`
(the binds of one SMSC: shared pace, windows, reconnects, receipts, clean stop)."""

from smpp.aio.client import SmppClient
from smpp.aio.config import BindMode, BindRole, PoolConfig
from smpp.aio.events import (
    BindState,
    BindStateChanged,
    Inbound,
    LateAccept,
    MessageResult,
    Outcome,
    PartResult,
    PoolHandlers,
)
from smpp.aio.pool import BindPool, PoolStopped, StopReport
from smpp.aio.stats import BindStats

__all__ = [
    "BindMode",
    "BindPool",
    "BindRole",
    "BindState",
    "BindStateChanged",
    "BindStats",
    "Inbound",
    "LateAccept",
    "MessageResult",
    "Outcome",
    "PartResult",
    "PoolConfig",
    "PoolHandlers",
    "PoolStopped",
    "SmppClient",
    "StopReport",
]
