"""What the workers need from one SMSC's bind pool, as a Protocol, and the values it trades.

The workers never import `smpp.aio`: the composition root hands them an object per SMSC that
satisfies `SubmitPool` (the real `BindPool` behind a thin adapter, or a fake in tests). The
pool owns windows, pacing, throttle back-off and reconnects; it answers each submit with one
`SubmitResult` whose outcome says what the message's state must become.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import NamedTuple, Protocol

NO_TLVS: Mapping[int, bytes] = MappingProxyType({})


class SubmitOutcome(enum.StrEnum):
    """How one submit_sm ended, from the message's point of view.

    ACCEPTED: submit_sm_resp ok, `message_id` is the SMSC's id.
    REJECTED: a permanent error (invalid destination, invalid source …): the part fails.
    NOT_SENT: never written (no bind, bind lost before the write, pool stopping, throttling
    or temporary errors beyond the retry limit): safe to queue again, nothing reached the SMSC.
    UNANSWERED: written, but no response came within the retries: the SMSC may have it.
    """

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_SENT = "not_sent"
    UNANSWERED = "unanswered"


class SubmitResult(NamedTuple):
    """How one part ended (a NamedTuple rather than a frozen dataclass: one is built per
    submit_sm, and a tuple is built in a fraction of the time)."""

    outcome: SubmitOutcome
    message_id: str = ""  # the SMSC's id as written in the resp (ACCEPTED)
    command_status: int = 0
    reason: str = ""  # words for the timeline when not ACCEPTED
    # `message_id` normalised per the SMSC's id format (the receipt map's key), when the pool
    # already did it; None: the dispatcher normalises it itself.
    message_key: str | None = None


Answered = Callable[[Sequence[SubmitResult]], None]
"""Told the results of a message sent with `SubmitPool.send_now`, one per part."""


class SubmitRequest(NamedTuple):
    """The fields of one submit_sm; the adapter turns it into a PDU (a NamedTuple, as
    `SubmitResult`)."""

    source_addr: str
    source_ton: int
    source_npi: int
    destination_addr: str
    dest_ton: int
    dest_npi: int
    data_coding: int
    short_message: bytes
    esm_class: int = 0
    registered_delivery: int = 1
    tlvs: Mapping[int, bytes] = NO_TLVS


class SubmitPool(Protocol):
    """One SMSC's binds as the dispatcher sees them."""

    def capacity(self) -> int:
        """submit_sm the bound binds may have in flight together (the sum of their windows;
        0 when no bind is up). The dispatcher keeps its own count of what it has in flight."""
        ...

    async def wait_for_bind(self) -> None:
        """Return once `capacity()` > 0 (at once when a bind is up)."""
        ...

    async def submit(self, parts: Sequence[SubmitRequest]) -> Sequence[SubmitResult]:
        """Send the parts of one message, strictly in order (waiting for window and pacing),
        and report how each ended: one result per part. After a part that was not ACCEPTED
        the later ones are NOT_SENT. Never raises for SMSC or network trouble."""
        ...

    def send_now(self, parts: Sequence[SubmitRequest], answered: Answered) -> bool:
        """`submit` without a coroutine, for when it would not wait: when the pool has room for
        the message now, send it as `submit` does and return True; `answered` is later called
        once, from the event loop, with what `submit` would have returned. False (nothing
        sent, `answered` never called) when `submit` would wait for room, or when the pool
        is stopping."""
        ...

    def hold_writes(self) -> AbstractContextManager[None]:
        """While held, the submits `send_now` makes are written to the SMSC together when
        the outermost hold ends (within the caller's loop over a batch), not one write each."""
        ...


class DeliverPdu(Protocol):
    """The fields of a deliver_sm the receipt handler reads (smpp.core.pdu.DeliverSm has them)."""

    @property
    def source_addr(self) -> str: ...
    @property
    def destination_addr(self) -> str: ...
    @property
    def esm_class(self) -> int: ...
    @property
    def data_coding(self) -> int: ...
    @property
    def short_message(self) -> bytes: ...
    @property
    def tlvs(self) -> Mapping[int, bytes]: ...
