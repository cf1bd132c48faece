"""What a `BindPool` needs to know about one SMSC, as a plain frozen dataclass.

The composition root builds a `PoolConfig` from the application settings; `smpp.aio` never
reads them itself. Every timer is in seconds of the event loop's clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from smpp.core.events import BindMode as SessionBindMode
from smpp.core.msgid import MessageIdFormat
from smpp.core.session import SessionConfig
from smpp.core.status import StatusClass


class BindMode(StrEnum):
    """How the binds of one SMSC are laid out."""

    TRANSCEIVER = "transceiver"  # N binds, each submits and receives
    TRANSMITTER_RECEIVER = "transmitter_receiver"  # N transmitters + N receivers


class BindRole(StrEnum):
    """What one bind is (the prefix of its bind id)."""

    TRX = "trx"
    TX = "tx"
    RX = "rx"

    @property
    def submits(self) -> bool:
        """True when submit_sm may go out on this bind."""
        return self is not BindRole.RX


_SESSION_MODE = {
    BindRole.TRX: SessionBindMode.TRANSCEIVER,
    BindRole.TX: SessionBindMode.TRANSMITTER,
    BindRole.RX: SessionBindMode.RECEIVER,
}


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """One SMSC and the binds held to it.

    - `tps`: submit_sm per second for the whole SMSC, shared by its binds; None = no limit.
      The pool aims at `tps * pace_share` over the long run (`pacing.Pacer`): sends a late
      timer or a busy loop held back are made up afterwards, within two caps that hold on
      every send: no 100.5 ms above `tps/10 + 1` and no 1.006 s above `tps`. An SMSC counting
      `tps` in a sliding second therefore forgives about `1 / pace_share - 1` seconds of
      jitter between its clock and ours while we are on schedule (7 ms at the default 0.993)
      and 6 ms while a stall is being made up; a send it refuses for its rate stops the
      making up. A token bucket or fixed-second counter at the SMSC forgives more.
    - `window`: submit_sm awaiting their resp, per bind.
    - `max_attempts`: sends of one part whose answer was a RETRY-class status or never came
      within `response_timeout`; after that the part is reported.
    - `max_unanswered_resends`: of those sends, how many may follow a send whose answer
      never came (response timeout, or the connection ended). An answered RETRY-class
      refusal is safe to send again; an unanswered send may be held by the SMSC, so each
      resend after one risks a duplicate SMS. None (the default) sets no separate limit:
      `max_attempts` alone counts, as it always did. 0 never resends an unanswered part
      (reported at once, in doubt, for the daemon to decide).
    - `max_throttle_retries`: ESME_RTHROTTLED / ESME_RMSGQFUL answers tolerated for one part
      (each pauses the bind `throttle_pause`, doubling up to `throttle_pause_max`).
    - `retry_delay`: wait before a RETRY-class answer is sent again.
    - `reconnect_min` / `reconnect_max`: exponential back-off with full jitter between
      connection attempts of one bind.
    - `queue_timeout`: parts waiting while no transmitting bind is up are given up
      (`Outcome.NOT_SENT`) after this many seconds; None = wait for a bind however long.
    - `lenient_receipts`: also read receipts from deliver_sm whose esm_class has no receipt
      bit (SMSCs that send receipts as plain deliver_sm); off, such a PDU is MO.
    - `status_overrides`: this SMSC's vendor command_status values and the class each
      means (e.g. a vendor code for "throttled"), on top of `smpp.core.status`.
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str = ""
    system_type: str = ""
    bind_mode: BindMode = BindMode.TRANSCEIVER
    binds: int = 1
    window: int = 10
    tps: float | None = None
    pace_share: float = 0.993
    id_format: MessageIdFormat = MessageIdFormat.AS_IS
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    bind_timeout: float = 10.0
    unbind_timeout: float = 5.0
    max_attempts: int = 3
    max_unanswered_resends: int | None = None
    max_throttle_retries: int = 100
    throttle_pause: float = 0.1
    throttle_pause_max: float = 2.0
    retry_delay: float = 1.0
    queue_timeout: float | None = 60.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    max_pdu_size: int = 65_536
    lenient_receipts: bool = False
    status_overrides: Mapping[int, StatusClass] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        checks = (
            (self.binds >= 1, "binds must be >= 1"),
            (self.window >= 1, "window must be >= 1"),
            (self.tps is None or self.tps > 0, "tps must be > 0"),
            (0 < self.pace_share <= 1, "pace_share must be in (0, 1]"),
            (self.max_attempts >= 1, "max_attempts must be >= 1"),
            (
                self.max_unanswered_resends is None or self.max_unanswered_resends >= 0,
                "max_unanswered_resends must be >= 0",
            ),
            (self.response_timeout > 0, "response_timeout must be > 0"),
            (self.enquire_link_interval > 0, "enquire_link_interval must be > 0"),
            (0 < self.reconnect_min <= self.reconnect_max, "need 0 < reconnect_min <= max"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"PoolConfig {self.name!r}: {message}")

    def session_config(self, role: BindRole) -> SessionConfig:
        """What one bind's `EsmeSession` needs. It gets no token bucket: the pool paces the
        whole SMSC itself. The session's throttle back-off is the pool's throttle pause."""
        return SessionConfig(
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            bind_mode=_SESSION_MODE[role],
            addr_ton=self.addr_ton,
            addr_npi=self.addr_npi,
            address_range=self.address_range,
            window=self.window,
            response_timeout=self.response_timeout,
            bind_timeout=self.bind_timeout,
            unbind_timeout=self.unbind_timeout,
            enquire_link_interval=self.enquire_link_interval,
            backoff_initial=self.throttle_pause,
            backoff_maximum=self.throttle_pause_max,
            max_pdu_size=self.max_pdu_size,
            status_overrides=self.status_overrides,
        )

    @property
    def roles(self) -> tuple[BindRole, ...]:
        """The role of each bind, in bind-id order."""
        if self.bind_mode is BindMode.TRANSCEIVER:
            return (BindRole.TRX,) * self.binds
        return (BindRole.TX,) * self.binds + (BindRole.RX,) * self.binds

    def bind_ids(self) -> tuple[str, ...]:
        """`<smsc>/<role><n>` for every bind: safaricom/trx0, safaricom/tx1, ..."""
        counts: dict[BindRole, int] = {}
        ids = []
        for role in self.roles:
            n = counts.get(role, 0)
            counts[role] = n + 1
            ids.append(f"{self.name}/{role.value}{n}")
        return tuple(ids)
