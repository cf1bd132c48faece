"""What the simulator saw, per SMSC and per bind, for tests to assert on and the control port.

Submits keep the decoded PDU itself (already built by the codec, so recording costs one small
object); text, UDH and SAR data are read from it only when asked. Times are loop times
(`loop.time()`), so they compare with the client's own loop clock in a test.

A 100 ms slot is ``int(t * 10)``: `slots` counts every submit_sm received in it (accepted or
not), which is what a client's pacing is judged by.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from smpp.core.pdu import SubmitSm
from smpp.core.status import status_name
from smpp.core.text import (
    ConcatInfo,
    InboundPart,
    concat_info,
    decode_short_message,
    message_octets,
    reassemble,
)
from smpp.core.text.inbound import split_udh
from smpp.sim.config import BindMode


@dataclass(slots=True)
class SubmitRecord:
    """One submit_sm and what the SMSC answered (`message_id` empty when refused)."""

    at: float
    bind_id: int
    pdu: SubmitSm
    status: int
    message_id: str

    @property
    def source(self) -> str:
        """source_addr."""
        return self.pdu.source_addr

    @property
    def destination(self) -> str:
        """destination_addr."""
        return self.pdu.destination_addr

    @property
    def data_coding(self) -> int:
        """data_coding."""
        return self.pdu.data_coding

    @property
    def esm_class(self) -> int:
        """esm_class (0x40 = UDHI)."""
        return self.pdu.esm_class

    @property
    def udh(self) -> bytes:
        """The user data header with its length octet, or b"" when there is none."""
        pdu = self.pdu
        return split_udh(message_octets(pdu.short_message, pdu.tlvs), pdu.esm_class)[0]

    @property
    def concat(self) -> ConcatInfo | None:
        """Concatenation data from the UDH or the SAR TLVs; None for a one-part message."""
        pdu = self.pdu
        return concat_info(pdu.short_message, pdu.esm_class, pdu.tlvs)

    @property
    def text(self) -> str | None:
        """The part's text, UDH removed; None for binary data codings."""
        pdu = self.pdu
        info = self.concat
        body = info.body if info is not None else message_octets(pdu.short_message, pdu.tlvs)
        return decode_short_message(pdu.data_coding, body).text

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        info = self.concat
        return {
            "at": self.at,
            "bind_id": self.bind_id,
            "sequence_number": self.pdu.sequence_number,
            "source": self.source,
            "destination": self.destination,
            "data_coding": self.data_coding,
            "esm_class": self.esm_class,
            "registered_delivery": self.pdu.registered_delivery,
            "udh": self.udh.hex(),
            "concat": None
            if info is None
            else {
                "method": info.method.value,
                "reference": info.reference,
                "total": info.total,
                "seq": info.seq,
            },
            "text": self.text,
            "status": status_name(self.status),
            "message_id": self.message_id,
        }


def _part(sub: SubmitRecord) -> InboundPart:
    pdu = sub.pdu
    return InboundPart(pdu.data_coding, pdu.short_message, pdu.esm_class, pdu.tlvs)


@dataclass(slots=True)
class BindRecord:
    """One bound connection from bind to close."""

    bind_id: int
    smsc: str
    system_id: str
    mode: BindMode
    peer: str
    bound_at: float
    closed_at: float | None = None
    close_reason: str = ""
    submits: int = 0
    accepted: int = 0
    throttled: int = 0
    queue_full: int = 0
    rejected: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    enquire_links: int = 0
    unbinds: int = 0
    delivers_sent: int = 0
    delivers_acked: int = 0
    generic_nacks_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        out = {name: getattr(self, name) for name in self.__slots__}
        out["mode"] = self.mode.value
        return out


@dataclass(slots=True)
class SmscRecord:
    """Everything one SMSC saw, across its binds."""

    name: str
    port: int = 0
    connections: int = 0
    binds: list[BindRecord] = field(default_factory=list)
    bind_failures: list[tuple[str, int]] = field(default_factory=list)
    submits: list[SubmitRecord] = field(default_factory=list)
    submit_count: int = 0
    accepted: int = 0
    throttled: int = 0
    queue_full: int = 0
    rejected: int = 0
    slots: dict[int, int] = field(default_factory=dict)
    max_in_flight: int = 0
    receipts_sent: int = 0
    receipts_duplicated: int = 0
    receipts_acked: int = 0
    receipts_abandoned: int = 0
    unacked_at_close: int = 0
    mo_sent: int = 0
    mo_acked: int = 0
    delivers_nacked: int = 0
    enquire_links: int = 0
    unbinds: int = 0
    generic_nacks_sent: int = 0
    drops: int = 0
    dropped_responses: int = 0

    @property
    def bound(self) -> list[BindRecord]:
        """Binds that are still open."""
        return [b for b in self.binds if b.closed_at is None]

    def texts(self, accepted_only: bool = True) -> list[str]:
        """The texts of the recorded messages, long ones reassembled from their parts, in the
        order each message became complete. Parts are grouped by source, destination, method
        and reference; incomplete long messages and binary codings are left out."""
        out: list[str] = []
        groups: dict[tuple[object, ...], dict[int, SubmitRecord]] = {}
        for sub in self.submits:
            if accepted_only and sub.status:
                continue
            info = sub.concat
            if info is None:
                text = sub.text
                if text is not None:
                    out.append(text)
                continue
            key = (sub.source, sub.destination, info.method, info.reference, info.total)
            parts = groups.setdefault(key, {})
            parts[info.seq] = sub
            if len(parts) == info.total:
                del groups[key]
                with contextlib.suppress(ValueError):
                    out.append(reassemble(_part(parts[n]) for n in sorted(parts)))
        return out

    def submits_of(self, bind_id: int) -> list[SubmitRecord]:
        """The recorded submits that came in on one bind."""
        return [s for s in self.submits if s.bind_id == bind_id]

    @property
    def max_slot(self) -> int:
        """The largest number of submit_sm received in one 100 ms slot (0 if none)."""
        return max(self.slots.values(), default=0)

    def slot_counts(self, first: float | None = None, last: float | None = None) -> list[int]:
        """Submit counts of consecutive 100 ms slots (empty ones as 0) between two loop
        times, by default from the first to the last slot that saw a submit."""
        if not self.slots:
            return []
        lo = int(first * 10) if first is not None else min(self.slots)
        hi = int(last * 10) if last is not None else max(self.slots)
        return [self.slots.get(s, 0) for s in range(lo, hi + 1)]

    def to_json(self, with_submits: int = 0) -> dict[str, Any]:
        """A JSON-ready summary; `with_submits` > 0 adds that many of the latest submits."""
        skip = {"binds", "bind_failures", "submits", "slots"}
        out: dict[str, Any] = {
            name: getattr(self, name) for name in self.__slots__ if name not in skip
        }
        out["binds"] = [b.to_json() for b in self.binds]
        out["bind_failures"] = [
            {"system_id": s, "status": status_name(c)} for s, c in self.bind_failures
        ]
        out["max_slot"] = self.max_slot
        out["slots"] = {str(k): v for k, v in sorted(self.slots.items())}
        if with_submits > 0:
            out["submits"] = [s.to_json() for s in self.submits[-with_submits:]]
        return out
