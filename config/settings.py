"""The settings schema: one TOML file plus `GATEWAYD_…` environment overrides.

Every section is a frozen pydantic model that rejects unknown keys, so a typo fails start-up
instead of being ignored. Secrets are `SecretStr` (their repr is `**********`) and may be given
inline, through the environment, or as a `<name>_file` key naming a file that holds them (for
systemd's `LoadCredential=`; a relative path is resolved against `$CREDENTIALS_DIRECTORY`).

Only the composition root (`gatewayd.main`, `gatewayd.cli`) imports this package; it turns these
settings into the plain arguments each adapter takes. `config.loader.load_settings` is the entry
point; it also renders validation errors as `smsc[1].tps: must be > 0`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource

SHIPPED_PREFIXES = Path(__file__).resolve().parent / "prefixes_ke.toml"
DEFAULT_STATE_DIR = Path("/var/lib/gatewayd")

OperatorName = Literal["safaricom", "airtel", "telkom"]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]
Ton = Annotated[int, Field(ge=0, le=6)]
Npi = Annotated[int, Field(ge=0, le=18)]
StatusClassName = Literal["ok", "retry", "throttle", "permanent"]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*$")
_SMSC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_SIGNING_KEY_BYTES = 32
MIN_CALLBACK_SECRET_BYTES = 16


def default_state_dir() -> Path:
    """$STATE_DIRECTORY (set by systemd's StateDirectory=, first entry) or /var/lib/gatewayd."""
    value = os.environ.get("STATE_DIRECTORY", "")
    first = value.split(":", 1)[0]
    return Path(first) if first else DEFAULT_STATE_DIR


def parse_listen(value: str) -> tuple[str, int]:
    """Split "host:port" or "[v6]:port" into its parts; port 0 means "any free port"."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
    else:
        host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0–65535")
    _check_host(host)
    return host, port


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host!r} is neither an IP address nor a host name") from None


def _read_secret_file(path_text: str) -> str:
    path = Path(path_text)
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        path = Path(creds) / path
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def _command_status(key: Any) -> int:
    """A command_status given as an int, a decimal string or a "0x…" hex string."""
    text = str(key).strip() if not isinstance(key, bool) else ""
    try:
        code = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        code = -1
    if not 0 <= code <= 0xFFFFFFFF:
        raise ValueError(f"command_status {key!r} is not a number in 0..0xFFFFFFFF")
    return code


class Section(BaseModel):
    """Base of every section: frozen (comparable on reload), unknown keys rejected.

    `secret_fields` name the fields that may also be given as `<field>_file`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not cls.secret_fields:
            return data
        data = dict(data)
        for name in cls.secret_fields:
            path = data.pop(f"{name}_file", None)
            if path is None:
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(f"give {name} or {name}_file, not both")
            data[name] = _read_secret_file(str(path))
        return data


class HttpSettings(Section):
    """The HTTP API listener and its intake limits."""

    listen: str = "127.0.0.1:8080"
    rate_limit_per_minute: int = Field(default=60, ge=0)  # per API client; 0 = off
    max_body_bytes: int = Field(default=262_144, ge=1024)
    # above max_queue_depth queued messages, send-sms answers 503 with Retry-After; 0 = off
    max_queue_depth: int = Field(default=100_000, ge=0)
    busy_retry_after: int = Field(default=5, ge=1)  # Retry-After seconds on that 503
    # POST /api/v1/messages/bulk: most messages per request (more: 400 naming `messages`),
    # and that route's own body limit (the other routes keep max_body_bytes)
    bulk_max_messages: int = Field(default=1_000, ge=1)
    bulk_max_body_bytes: int = Field(default=4_194_304, ge=1024)
    # Where the API runs: "process" (a process of its own, on the listening socket the daemon
    # opened), "inline" (in the daemon's event loop), or "auto": a process of its own for
    # `gatewayd run` from the command line, inline when the daemon runs inside another
    # program's event loop (the tests). See gatewayd.intake_process.
    process: Literal["auto", "process", "inline"] = "auto"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


class StoreSettings(Section):
    """Where state lives and the policies the store applies to money and crashes."""

    url: str | None = None  # filled from state_dir when absent
    refund_policy: Literal["never", "network_rejected"] = "never"
    in_doubt_policy: Literal["resend", "fail"] = "resend"
    # Seconds a message may wait in the queue for a bind before it fails ("Expired: not sent
    # within …", callback and refund as for any failure); 0 keeps it queued for ever.
    queue_expiry: float = Field(default=86_400.0, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.partition("://")[0]
        if scheme not in ("sqlite", "postgresql", "postgres") or "://" not in value:
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value


class AuthSettings(Section):
    """Bearer tokens: lifetime and the HS256 signing keys by key id (kid), for rotation.

    Tokens are signed with `active_kid`; tokens signed with any other listed key still verify
    until that key is removed.
    """

    token_ttl: int = Field(default=2_592_000, gt=0)  # seconds; seed 001 says 30 days
    signing_keys: dict[str, SecretStr] = Field(default_factory=dict)
    signing_key_files: dict[str, str] = Field(default_factory=dict)  # kid → file with the key
    active_kid: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _keys_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("signing_key_files"):
            return data
        data = dict(data)
        keys = dict(data.get("signing_keys") or {})
        for kid, path in dict(data["signing_key_files"]).items():
            if kid in keys:
                raise ValueError(f"key id {kid!r} is in both signing_keys and signing_key_files")
            keys[kid] = _read_secret_file(str(path))
        data["signing_keys"] = keys
        return data

    @field_validator("signing_keys")
    @classmethod
    def _key_length(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for kid, key in keys.items():
            if len(key.get_secret_value().encode()) < MIN_SIGNING_KEY_BYTES:
                raise ValueError(f"key {kid!r} must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        return keys

    @model_validator(mode="after")
    def _active_known(self) -> AuthSettings:
        if self.active_kid is not None and self.active_kid not in self.signing_keys:
            raise ValueError(f"active_kid {self.active_kid!r} is not a key of signing_keys")
        if self.active_kid is None and len(self.signing_keys) > 1:
            raise ValueError("active_kid is required when there is more than one signing key")
        return self

    @property
    def current_kid(self) -> str | None:
        """The key id new tokens are signed with (the only key when there is one)."""
        if self.active_kid is not None:
            return self.active_kid
        return next(iter(self.signing_keys), None)

    def verification_keys(self) -> dict[str, bytes]:
        """Every key a token may have been signed with, by kid."""
        return {kid: key.get_secret_value().encode() for kid, key in self.signing_keys.items()}


class CallbackSettings(Section):
    """Delivery callbacks to clients' callback_url, from the durable outbox."""

    secret_fields = ("signing_secret",)

    timeout: Seconds = 5.0
    retry_period: Seconds = 86_400.0  # keep retrying this long, then give up and record it
    backoff_base: Seconds = 2.0  # first retry after about this long, doubling, with jitter
    backoff_max: Seconds = 600.0
    allow_loopback_targets: bool = False  # 127.0.0.0/8, ::1, localhost (the demo allows it)
    allow_private_targets: bool = False  # 10/8, 172.16/12, 192.168/16, fc00::/7
    signing_secret: SecretStr | None = None  # HMAC-SHA256 key for the signature header
    # Where the sender runs: "process" (a process of its own, beside the daemon's), "inline"
    # (in the daemon's event loop), or "auto": a process of its own for `gatewayd run` from
    # the command line, inline when the daemon runs inside another program's loop (tests).
    process: Literal["auto", "process", "inline"] = "auto"

    @field_validator("signing_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_CALLBACK_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_CALLBACK_SECRET_BYTES} bytes")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> CallbackSettings:
        if self.backoff_max < self.backoff_base:
            raise ValueError("backoff_max must be >= backoff_base")
        return self


class OptOutSettings(Section):
    """Keywords in MO to a short code, and which sender IDs they reach. With the defaults a
    STOP opts the number out of the short code's own sender ID only (Safaricom's per-sender
    rule); `account_promotional` widens it to every promotional sender ID of the account that
    owns the short code, for accounts whose promotions name the short code as the way out.
    Read at start; a change needs a restart."""

    stop_words: list[str] = Field(default_factory=lambda: ["STOP", "ONDOKA", "TOKA"])
    start_words: list[str] = Field(default_factory=lambda: ["START"])
    scope: Literal["shortcode", "account_promotional"] = "shortcode"

    @field_validator("stop_words", "start_words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = [" ".join(w.split()).upper() for w in value]
        if not words or not all(words):
            raise ValueError("must list at least one word, none of them blank")
        return words

    @model_validator(mode="after")
    def _disjoint(self) -> OptOutSettings:
        both = sorted(set(self.stop_words) & set(self.start_words))
        if both:
            raise ValueError(f"words both in stop_words and start_words: {both}")
        return self


class RoutingSettings(Section):
    """The prefix table (number → operator); reloaded on SIGHUP."""

    prefixes_file: Path = SHIPPED_PREFIXES

    @field_validator("prefixes_file")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


IdFormat = Literal[
    "as_is", "hex", "decimal", "resp_hex_receipt_decimal", "resp_decimal_receipt_hex"
]
_ID_FORMAT_ALIASES = {
    "hex_resp_decimal_receipt": "resp_hex_receipt_decimal",
    "decimal_resp_hex_receipt": "resp_decimal_receipt_hex",
}


class SmscSettings(Section):
    """One SMSC (an operator's SMPP endpoint) and the binds gatewayd holds to it.

    Source TON/NPI follow the sender's type unless `source_ton`/`source_npi` force one value:
    alphanumeric senders 5/0 (alphanumeric, unknown), short codes 3/0 (network specific,
    unknown). Destinations are international/E.164 (1/1), as 254XXXXXXXXX.
    """

    secret_fields = ("password",)

    name: str
    operator: OperatorName
    enabled: bool = True
    host: str
    port: Port = 2775
    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr = SecretStr("")  # SMPP 3.4: at most 8 characters
    system_type: str = Field(default="", max_length=12)
    bind_mode: Literal["transceiver", "transmitter_receiver"] = "transceiver"
    binds: int = Field(default=1, ge=1, le=64)  # sessions (or tx+rx pairs) held open
    window: int = Field(default=10, ge=1, le=1000)  # unacknowledged submit_sm per bind
    tps: float = Field(default=10.0, gt=0)  # submits/s for this SMSC, shared by its binds
    source_ton: Ton | None = None
    source_npi: Npi | None = None
    source_ton_alphanumeric: Ton = 5
    source_npi_alphanumeric: Npi = 0
    source_ton_shortcode: Ton = 3
    source_npi_shortcode: Npi = 0
    dest_ton: Ton = 1
    dest_npi: Npi = 1
    registered_delivery: int = Field(default=1, ge=0, le=31)
    addr_ton: Ton = 0  # bind_transceiver/receiver address_range TON/NPI and range (MO routing)
    addr_npi: Npi = 0
    address_range: str = Field(default="", max_length=40)
    id_format: IdFormat = "as_is"  # hex_resp_decimal_receipt etc. are accepted as aliases
    long_message: Literal["udh8", "udh16", "sar", "payload"] = "udh8"
    enquire_link_interval: Seconds = 30.0
    response_timeout: Seconds = 10.0
    bind_timeout: Seconds = 10.0
    reconnect_min: Seconds = 1.0
    reconnect_max: Seconds = 60.0
    max_pdu_size: int = Field(default=65_536, ge=1024, le=16_777_216)
    # Receipts also read from deliver_sm without the receipt bit in esm_class (else MO).
    lenient_receipts: bool = False
    # This SMSC's command_status values (int, "88" or "0x58") and the class each means.
    status_overrides: dict[int, StatusClassName] = Field(default_factory=dict)
    # Resends allowed after a send whose answer never came; None: max_attempts alone counts.
    max_unanswered_resends: int | None = Field(default=None, ge=0)

    @field_validator("id_format", mode="before")
    @classmethod
    def _id_alias(cls, value: Any) -> Any:
        return _ID_FORMAT_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("status_overrides", mode="before")
    @classmethod
    def _status_codes(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        codes: dict[int, Any] = {}
        for key, status_class in value.items():
            code = _command_status(key)
            if code in codes:
                raise ValueError(f"command_status {key!r} is given twice")
            codes[code] = status_class
        return codes

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SMSC_NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 64)")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        _check_host(value)
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) > 8:
            raise ValueError("SMPP 3.4 allows at most 8 characters")
        return value

    @model_validator(mode="after")
    def _reconnect_order(self) -> SmscSettings:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be >= reconnect_min")
        return self

    def source_ton_npi(self, sender_type: str) -> tuple[int, int]:
        """(TON, NPI) for a sender of type "alphanumeric" or "shortcode"."""
        if sender_type == "shortcode":
            ton, npi = self.source_ton_shortcode, self.source_npi_shortcode
        else:
            ton, npi = self.source_ton_alphanumeric, self.source_npi_alphanumeric
        return (
            self.source_ton if self.source_ton is not None else ton,
            self.source_npi if self.source_npi is not None else npi,
        )


class MpesaSettings(Section):
    """Safaricom Daraja (Lipa na M-Pesa Online / STK push) for float top-ups."""

    secret_fields = ("consumer_secret", "passkey")

    base_url: str = "https://sandbox.safaricom.co.ke"
    consumer_key: str = Field(min_length=1)
    consumer_secret: SecretStr
    shortcode: str = Field(pattern=r"^\d{5,7}$")
    passkey: SecretStr
    callback_url: str = Field(pattern=r"^https://")
    stk_timeout: Seconds = 120.0  # a PENDING top-up with no callback after this is queried/failed

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class ShutdownSettings(Section):
    """SIGTERM budget; keep the sum under the unit's TimeoutStopSec (30 s)."""

    drain_timeout: Seconds = 20.0  # wait this long for windows to empty
    unbind_timeout: Seconds = 5.0  # then unbind each session, waiting at most this long


ReceiptState = Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"]


def _all_delivered() -> dict[ReceiptState, float]:
    return {"DELIVRD": 1.0}


class SimSmscSettings(Section):
    """One simulated operator SMSC of `gatewayd sim` (maps onto smpp.sim's SmscPersonality)."""

    secret_fields = ("password",)

    name: str
    operator: OperatorName
    listen: str = "127.0.0.1:2775"
    system_id: str = Field(default="gatewayd", min_length=1, max_length=15)
    password: SecretStr = SecretStr("secret")
    tps: float | None = Field(default=None, gt=0)  # sliding-second limit; unset = none
    window: int | None = Field(default=None, ge=1)  # outstanding submits per bind; unset = none
    id_format: Literal["hex", "hex-upper", "decimal", "decimal-padded"] = "hex"
    receipt_delay_min: float = Field(default=0.0, ge=0)
    receipt_delay_max: float = Field(default=0.05, ge=0)
    receipt_mix: dict[ReceiptState, float] = Field(default_factory=_all_delivered)
    reject_prefixes: list[str] = Field(default_factory=list)  # destinations → ESME_RINVDSTADR

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value.strip()

    @model_validator(mode="after")
    def _delays(self) -> SimSmscSettings:
        if self.receipt_delay_max < self.receipt_delay_min:
            raise ValueError("receipt_delay_max must be >= receipt_delay_min")
        return self


def _default_sim_smscs() -> list[SimSmscSettings]:
    ports: tuple[tuple[OperatorName, int], ...] = (
        ("safaricom", 2775), ("airtel", 2776), ("telkom", 2777),
    )  # fmt: skip
    return [SimSmscSettings(name=op, operator=op, listen=f"127.0.0.1:{port}") for op, port in ports]


class SimSettings(Section):
    """`gatewayd sim`: simulated SMSCs, one per [[sim.smsc]] table (default: one per operator
    on 127.0.0.1:2775–2777)."""

    seed: int | None = None  # fixes the receipt mix and delays, for reproducible runs
    control_listen: str | None = None  # host:port of the simulator's control port; unset = off
    smsc: list[SimSmscSettings] = Field(default_factory=_default_sim_smscs)

    @field_validator("control_listen")
    @classmethod
    def _control(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

    @field_validator("smsc")
    @classmethod
    def _unique(cls, value: list[SimSmscSettings]) -> list[SimSmscSettings]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("sim smsc names must be unique")
        return value


class _EnvWithoutLists(EnvSettingsSource):
    """pydantic-settings' environment source, minus `smsc`: environment names cannot index a
    list, so `GATEWAYD_SMSC__<index or name>__<key>` is applied by the loader instead."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        data.pop("smsc", None)
        return data


class Settings(BaseSettings):
    """All of gatewayd's configuration. Build it with `config.loader.load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAYD_", env_nested_delimiter="__", extra="forbid", frozen=False
    )

    state_dir: Path = Field(default_factory=default_state_dir)
    http: HttpSettings = HttpSettings()
    store: StoreSettings = StoreSettings()
    auth: AuthSettings = AuthSettings()
    callbacks: CallbackSettings = CallbackSettings()
    routing: RoutingSettings = RoutingSettings()
    optouts: OptOutSettings = OptOutSettings()
    smsc: list[SmscSettings] = Field(default_factory=list)
    mpesa: MpesaSettings | None = None
    log: LogSettings = LogSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    sim: SimSettings = SimSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over the file (handed in as init arguments)."""
        return (_EnvWithoutLists(settings_cls), init_settings)

    @field_validator("smsc")
    @classmethod
    def _unique_names(cls, value: list[SmscSettings]) -> list[SmscSettings]:
        seen: set[str] = set()
        for smsc in value:
            if smsc.name in seen:
                raise ValueError(f"smsc name {smsc.name!r} is used twice")
            seen.add(smsc.name)
        return value

    @model_validator(mode="after")
    def _default_store_url(self) -> Settings:
        if self.store.url is None:
            url = f"sqlite:///{self.state_dir / 'gatewayd.db'}"
            self.store = self.store.model_copy(update={"url": url})
        return self

    @property
    def store_url(self) -> str:
        """The store URL, always set after validation."""
        assert self.store.url is not None
        return self.store.url

    def smsc_for(self, operator: str) -> list[SmscSettings]:
        """The enabled SMSCs that carry `operator`'s traffic."""
        return [s for s in self.smsc if s.enabled and s.operator == operator]


@dataclass(frozen=True, slots=True)
class SmscChanges:
    """How the enabled [[smsc]] tables differ between two settings, by name (for SIGHUP)."""

    added: tuple[SmscSettings, ...]
    removed: tuple[SmscSettings, ...]
    changed: tuple[SmscSettings, ...]  # the new settings of tables whose values differ
    unchanged: tuple[str, ...]  # names whose binds stay up

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def smsc_changes(old: Settings, new: Settings) -> SmscChanges:
    """What a reload must do to the bind pools: start, stop, restart, or leave alone."""
    before = {s.name: s for s in old.smsc if s.enabled}
    after = {s.name: s for s in new.smsc if s.enabled}
    return SmscChanges(
        added=tuple(s for name, s in after.items() if name not in before),
        removed=tuple(s for name, s in before.items() if name not in after),
        changed=tuple(s for name, s in after.items() if name in before and before[name] != s),
        unchanged=tuple(name for name, s in after.items() if before.get(name) == s),
    )
