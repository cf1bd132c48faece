"""The simulator's own configuration: one `SmscPersonality` per simulated operator.

The composition root (or the CLI, or a test) builds these dataclasses; the simulator never
reads the application settings. Every field has a default that gives a well-behaved SMSC:
no throttle, no window limit, no latency, every receipt DELIVRD after 0-50 ms.

The TPS rule (`ThrottleRule`) is exact and documented there, so that a client's pacing test
against the simulator means something.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class BindMode(StrEnum):
    """The three bind kinds of SMPP 3.4."""

    TX = "tx"
    RX = "rx"
    TRX = "trx"

    @property
    def can_submit(self) -> bool:
        """True when the bind may send submit_sm (transmitter or transceiver)."""
        return self is not BindMode.RX

    @property
    def can_receive(self) -> bool:
        """True when the SMSC may send deliver_sm on the bind (receiver or transceiver)."""
        return self is not BindMode.TX


class IdFormat(StrEnum):
    """How a message id (an integer inside the simulator) is written on the wire."""

    HEX = "hex"  # lower-case, 8 digits at least: 3b9aca00
    HEX_UPPER = "hex-upper"  # 3B9ACA00
    DECIMAL = "decimal"  # 1000000000
    DECIMAL_PADDED = "decimal-padded"  # 20 digits with leading zeros

    def render(self, number: int) -> str:
        """The wire form of `number` in this format."""
        if self is IdFormat.HEX:
            return f"{number:08x}"
        if self is IdFormat.HEX_UPPER:
            return f"{number:08X}"
        if self is IdFormat.DECIMAL:
            return str(number)
        return f"{number:020d}"


class ThrottleKind(StrEnum):
    """Which TPS rule an SMSC applies (see `ThrottleRule`)."""

    SLIDING = "sliding"
    BUCKET = "bucket"


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """The TPS limit of one SMSC, shared by all its binds. `tps=None` means no limit.

    Only submit_sm counts; a throttled submit_sm does not count. The time of a submit_sm is
    the loop time at which the read that carried it was handled.

    - ``SLIDING`` (default): a submit_sm at time t is accepted iff fewer than `tps` submit_sm
      were accepted in the half-open window (t - 1 s, t]; otherwise it is answered
      ESME_RTHROTTLED. So no 1-second window ever holds more than `tps` accepted submits. A
      client paced at exactly `tps` with any jitter will be throttled now and then; one paced
      at 99% tolerates about 10 ms of accumulated jitter per second.
    - ``BUCKET``: a token bucket of `burst` tokens (default tps/10, at least 1) refilled at
      `tps` per second; a submit_sm takes one token or is answered ESME_RTHROTTLED. Over
      any interval of T seconds at most burst + tps*T are accepted: the long-run rate is held
      exactly while 100 ms of jitter is forgiven.
    """

    tps: float | None = None
    kind: ThrottleKind = ThrottleKind.SLIDING
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class Latency:
    """Delay before a submit_sm_resp is written: `fixed` seconds plus uniform [0, jitter).

    With latency the submits really are outstanding at the SMSC, so the window limit and the
    recorded maximum in flight describe the client's window.
    """

    fixed: float = 0.0
    jitter: float = 0.0

    @property
    def is_zero(self) -> bool:
        """True when responses go out in the same write as the read that asked for them."""
        return self.fixed <= 0.0 and self.jitter <= 0.0


RECEIPT_STATES: tuple[str, ...] = ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD")
"""The final receipt states the simulator can give."""


@dataclass(frozen=True, slots=True)
class ReceiptPolicy:
    """When and how delivery receipts are sent.

    A receipt is sent when the submit_sm asked for one (registered_delivery bits 0-1: 1 =
    always, 2 = only on failure), after `delay_min` + uniform [0, delay_max - delay_min)
    seconds, with a final state drawn from `mix` (weights, need not sum to 1).

    - `before_resp`: share (0..1) of receipts written *before* the submit_sm_resp (on a
      transceiver in the same write), to test receipts that beat their mapping.
    - `duplicates`: share (0..1) of receipts sent twice.
    - `id_format`: the id format inside the receipt (text and receipted_message_id TLV);
      None = the personality's message id format.
    - `ack_timeout`: a deliver_sm (receipt or MO) not answered by deliver_sm_resp within this
      many seconds is sent again (new sequence number) on a receiver bind of the same
      system_id; with `max_attempts` None it is kept and resent until acknowledged, else
      given up after that many sends (counted in `receipts_abandoned`). While no receiver
      bind is up deliveries wait without using attempts. What is still unacknowledged is
      `Smsc.unacked` (live) and `SmscRecord.unacked_at_close`.
    - `with_tlvs` / `with_text`: which forms the receipt carries.
    """

    delay_min: float = 0.0
    delay_max: float = 0.05
    mix: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({"DELIVRD": 1.0}))
    before_resp: float = 0.0
    duplicates: float = 0.0
    id_format: IdFormat | None = None
    ack_timeout: float = 10.0
    max_attempts: int | None = None
    with_tlvs: bool = True
    with_text: bool = True


@dataclass(frozen=True, slots=True)
class Credential:
    """One account at the SMSC."""

    system_id: str
    password: str


@dataclass(frozen=True, slots=True)
class SmscPersonality:
    """One simulated operator SMSC: its listener, accounts, limits and habits.

    - `window`: more than this many submit_sm outstanding (resp not yet written) on one bind
      → ESME_RMSGQFUL. None = no limit.
    - `reject_prefixes`: destinations starting with one of these get ESME_RINVDSTADR.
    - `drop_after`: every connection is cut (TCP abort) this many seconds after its bind.
    - `max_binds`: binds per system_id beyond this → ESME_RBINDFAIL. None = no limit.
    - `enquire_link_every`: the SMSC itself sends enquire_link this often on each bind.
    - `record_submits`: keep every submit_sm (PDU, id, status) for assertions; the counts,
      100 ms slots and maxima are kept either way. Turn off for long benchmarks.
    - `max_recorded_submits`: with `record_submits`, keep only about this many of the latest
      (the oldest half is forgotten when the limit is reached). None = keep all.
    """

    name: str
    operator: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    credentials: tuple[Credential, ...] = (Credential("gatewayd", "secret"),)
    bind_modes: frozenset[BindMode] = frozenset(BindMode)
    throttle: ThrottleRule = ThrottleRule()
    window: int | None = None
    latency: Latency = Latency()
    receipts: ReceiptPolicy = ReceiptPolicy()
    message_id_format: IdFormat = IdFormat.HEX
    first_message_id: int = 1_000_000_000
    reject_prefixes: tuple[str, ...] = ()
    drop_after: float | None = None
    max_binds: int | None = None
    enquire_link_every: float | None = None
    record_submits: bool = True
    max_recorded_submits: int | None = None

    def credential(self, system_id: str) -> Credential | None:
        """The account named `system_id`, if any."""
        for cred in self.credentials:
            if cred.system_id == system_id:
                return cred
        return None


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """The whole simulator: its SMSCs, the RNG seed and the optional control port.

    `control_port`: None = no control listener; 0 = pick a free port on `control_host`.
    """

    smscs: tuple[SmscPersonality, ...]
    seed: int | None = None
    control_host: str = "127.0.0.1"
    control_port: int | None = None
    max_pdu_size: int = 65_536


def kenyan_personalities(
    host: str = "127.0.0.1",
    tps: float | None = None,
    system_id: str = "gatewayd",
    password: str = "secret",
) -> tuple[SmscPersonality, ...]:
    """Three SMSCs shaped like the Kenyan operators, for the demo.

    Safaricom answers with hex ids and decimal ids in receipts (the classic mismatch),
    Airtel with decimal ids, Telkom with upper-case hex; each on its own port (picked).
    """
    cred = (Credential(system_id, password),)
    rule = ThrottleRule(tps=tps)
    mix = MappingProxyType({"DELIVRD": 0.9, "UNDELIV": 0.05, "EXPIRED": 0.03, "REJECTD": 0.02})
    return (
        SmscPersonality(
            name="safaricom",
            operator="Safaricom",
            host=host,
            credentials=cred,
            throttle=rule,
            message_id_format=IdFormat.HEX,
            receipts=ReceiptPolicy(mix=mix, id_format=IdFormat.DECIMAL),
        ),
        SmscPersonality(
            name="airtel",
            operator="Airtel",
            host=host,
            credentials=cred,
            throttle=rule,
            message_id_format=IdFormat.DECIMAL,
            receipts=ReceiptPolicy(mix=mix),
        ),
        SmscPersonality(
            name="telkom",
            operator="Telkom",
            host=host,
            credentials=cred,
            throttle=rule,
            message_id_format=IdFormat.HEX_UPPER,
            receipts=ReceiptPolicy(mix=mix),
        ),
    )
