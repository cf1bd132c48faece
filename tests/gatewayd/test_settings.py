"""Settings: the shipped example loads, bad files name the key, secrets stay secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from config.loader import ConfigError, default_config_path, load_settings
from config.settings import SHIPPED_PREFIXES, Settings, parse_listen, smsc_changes

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "gatewayd.example.toml"
KEY = "k" * 32

SMSC = """
[[smsc]]
name = "saf-1"
operator = "safaricom"
host = "127.0.0.1"
system_id = "gw"
password = "pw"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY", "GATEWAYD_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gatewayd.toml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return str(info.value)


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's annotation (plain, list[...], X | None)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def _all_keys(model: type[BaseModel]) -> set[str]:
    keys = set(model.model_fields)
    for field in model.model_fields.values():
        for sub in _models(field.annotation):
            keys |= _all_keys(sub)
    return keys


def test_example_config_loads_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    assert [s.name for s in settings.smsc] == ["safaricom-1", "airtel-1"]
    assert settings.mpesa is not None and settings.mpesa.shortcode == "174379"
    assert settings.auth.current_kid == "k2026"
    assert [s.operator for s in settings.sim.smsc] == ["safaricom", "airtel", "telkom"]
    text = EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", text, flags=re.MULTILINE))
    documented |= set(re.findall(r"^\[+[a-z_]+\.([a-z_]+)\]", text, flags=re.MULTILINE))
    documented |= set(re.findall(r"^\[+([a-z_]+)\]", text, flags=re.MULTILINE))
    assert _all_keys(Settings) - documented == set()


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/srv/gw:/other")
    settings = load_settings(None)
    assert settings.http.listen == "127.0.0.1:8080"
    assert settings.http.rate_limit_per_minute == 60
    assert settings.auth.token_ttl == 2_592_000
    assert settings.store.url == "sqlite:////srv/gw/gatewayd.db"
    assert settings.store.in_doubt_policy == "resend"
    assert settings.store.refund_policy == "never"
    assert settings.callbacks.timeout == 5.0
    assert settings.callbacks.allow_private_targets is False
    assert settings.callbacks.allow_loopback_targets is False
    assert settings.routing.prefixes_file == SHIPPED_PREFIXES
    assert settings.smsc == []
    assert settings.log.format == "json"


def test_state_dir_default_without_systemd() -> None:
    assert load_settings(None).store_url == "sqlite:////var/lib/gatewayd/gatewayd.db"


def test_missing_file_names_its_path(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in message
    assert "not found" in message


def test_bad_toml_names_the_path_and_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "[http]\nlisten = \n"))
    assert "gatewayd.toml: not valid TOML" in message
    assert "line 2" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("tps = 0", "smsc[1].tps (smsc 'air-1'): must be > 0"),
        ("port = 70000", "smsc[1].port (smsc 'air-1'): must be <= 65535"),
        ("bind_mode = 'both'", "smsc[1].bind_mode (smsc 'air-1'): must be one of"),
        ("tpss = 5", "smsc[1].tpss (smsc 'air-1'): unknown key"),
        ("password = '123456789'", "at most 8 characters"),
        ("reconnect_min = 10.0\nreconnect_max = 5.0", "reconnect_max must be >= reconnect_min"),
        ("id_format = 'octal'", "smsc[1].id_format (smsc 'air-1'): must be one of"),
        (
            "max_unanswered_resends = -1",
            "smsc[1].max_unanswered_resends (smsc 'air-1'): must be >= 0",
        ),
        ("lenient_receipts = 'sometimes'", "smsc[1].lenient_receipts (smsc 'air-1'): "),
        (
            "status_overrides = { 0x58 = 'slow' }",
            "smsc[1].status_overrides[88] (smsc 'air-1'): must be one of 'ok', 'retry'",
        ),
        (
            "status_overrides = { 0xZZ = 'retry' }",
            "smsc[1].status_overrides (smsc 'air-1'): command_status '0xZZ' is not a number",
        ),
        (
            "status_overrides = { 0x100000000 = 'retry' }",
            "smsc[1].status_overrides (smsc 'air-1'): command_status '0x100000000' is not",
        ),
        (
            "status_overrides = { 88 = 'retry', 0x58 = 'ok' }",
            "smsc[1].status_overrides (smsc 'air-1'): command_status '0x58' is given twice",
        ),
    ],
)
def test_bad_smsc_values_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    second = f"""
[[smsc]]
name = "air-1"
operator = "airtel"
host = "smsc.example.net"
system_id = "gw"
{extra}
"""
    assert expected in error_of(write(tmp_path, SMSC + second))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[http]\nlisten = 'localhost'", "http.listen: 'localhost' is not host:port"),
        ("[http]\nlisten = '1.2.3.4:99999'", "http.listen: port 99999 is out of range"),
        ("[http]\nrate_limit_per_minute = -1", "http.rate_limit_per_minute: must be >= 0"),
        ("[store]\nurl = 'mysql://x'", "store.url: must start with sqlite:/// or postgresql://"),
        ("[store]\nin_doubt_policy = 'maybe'", "store.in_doubt_policy: must be one of"),
        ("[auth]\nsigning_keys = {a = 'short'}", "auth.signing_keys: key 'a' must be at least 32"),
        (f"[auth]\nsigning_keys = {{a = '{KEY}'}}\nactive_kid = 'b'", "active_kid 'b' is not"),
        (
            f"[auth]\nsigning_keys = {{a = '{KEY}', b = '{KEY}'}}",
            "active_kid is required when there is more than one",
        ),
        ("[routing]\nprefixes_file = '/no/such.toml'", "routing.prefixes_file: no such file"),
        ("[log]\nformat = 'xml'", "log.format: must be one of"),
        ("[mpesa]\nconsumer_key = 'k'", "mpesa.consumer_secret: is required"),
        ("bogus = 1", "bogus: unknown key"),
        (SMSC + "operator2 = 1", "unknown key"),
        (SMSC + SMSC, "smsc: smsc name 'saf-1' is used twice"),
        (SMSC.replace("safaricom", "orange"), "smsc[0].operator (smsc 'saf-1'): must be one of"),
        (SMSC.replace("127.0.0.1", "bad host!"), "neither an IP address nor a host name"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, text))


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "[http]\nlisten = 'x'\n[log]\nlevel = 'loud'\n"))
    assert "http.listen" in message and "log.level" in message


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[http]\nlisten = '127.0.0.1:1'\nmax_queue_depth = 7\n" + SMSC)
    monkeypatch.setenv("GATEWAYD_HTTP__LISTEN", "[::1]:9090")
    monkeypatch.setenv("GATEWAYD_LOG__LEVEL", "DEBUG")
    monkeypatch.setenv("GATEWAYD_SMSC__SAF_1__PASSWORD", "fromenv")
    monkeypatch.setenv("GATEWAYD_SMSC__0__TPS", "25")
    monkeypatch.setenv("GATEWAYD_AUTH__SIGNING_KEYS__K9", KEY)
    settings = load_settings(path)
    assert (settings.http.host, settings.http.port) == ("::1", 9090)
    assert settings.http.max_queue_depth == 7  # untouched keys of the section stay
    assert settings.log.level == "debug"
    assert settings.smsc[0].password.get_secret_value() == "fromenv"
    assert settings.smsc[0].tps == 25.0
    assert settings.auth.current_kid == "k9"


def test_smsc_environment_for_an_unknown_table_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAYD_SMSC__AIRTEL__PASSWORD", "x")
    assert "no [[smsc]] table with index or name 'AIRTEL'" in error_of(write(tmp_path, SMSC))


def test_secrets_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "smsc").write_text("filepw\n")
    (creds / "kid1").write_text(KEY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    text = SMSC.replace('password = "pw"', 'password_file = "smsc"')
    text = "[auth]\nsigning_key_files = {kid1 = 'kid1'}\n" + text
    settings = load_settings(write(tmp_path, text))
    assert settings.smsc[0].password.get_secret_value() == "filepw"
    assert settings.auth.verification_keys() == {"kid1": KEY.encode()}


def test_secret_file_missing_or_doubled(tmp_path: Path) -> None:
    missing = SMSC.replace('password = "pw"', f'password_file = "{tmp_path}/none"')
    assert "smsc[0] (smsc 'saf-1'): cannot read" in error_of(write(tmp_path, missing))
    doubled = SMSC + 'password_file = "/x"\n'
    assert "give password or password_file, not both" in error_of(write(tmp_path, doubled))


def test_secrets_never_show_in_repr_or_errors(tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE)
    dumped = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("change-me-to-a-random", "your-lipa-na-mpesa-passkey", "callback-signing"):
        assert secret not in dumped
    assert "**********" in repr(settings.smsc[0])
    bad = SMSC.replace('password = "pw"', 'password = "toolong-secret"')
    assert "toolong-secret" not in error_of(write(tmp_path, bad))


def test_id_format_aliases(tmp_path: Path) -> None:
    text = SMSC + 'id_format = "hex_resp_decimal_receipt"\n'
    assert load_settings(write(tmp_path, text)).smsc[0].id_format == "resp_hex_receipt_decimal"


def test_smsc_lenient_receipts_status_overrides_and_unanswered_resends(tmp_path: Path) -> None:
    smsc = load_settings(write(tmp_path, SMSC)).smsc[0]
    assert smsc.lenient_receipts is False
    assert smsc.status_overrides == {}
    assert smsc.max_unanswered_resends is None  # max_attempts alone counts
    text = SMSC + (
        "lenient_receipts = true\n"
        "max_unanswered_resends = 0\n"
        "[smsc.status_overrides]\n"
        '0x00000400 = "throttle"\n'
        '"0X401" = "retry"\n'
        '1026 = "permanent"\n'
        '0 = "ok"\n'
    )
    smsc = load_settings(write(tmp_path, text)).smsc[0]
    assert smsc.lenient_receipts is True
    assert smsc.max_unanswered_resends == 0
    assert smsc.status_overrides == {0x400: "throttle", 0x401: "retry", 1026: "permanent", 0: "ok"}
    direct = Settings.model_validate({"smsc": [{
        "name": "x", "operator": "airtel", "host": "h", "system_id": "s",
        "status_overrides": {88: "throttle", "0x59": "retry"}, "max_unanswered_resends": 2,
    }]}).smsc[0]  # fmt: skip
    assert direct.status_overrides == {88: "throttle", 89: "retry"}
    assert direct.max_unanswered_resends == 2


def test_sim_defaults_one_smsc_per_operator(tmp_path: Path) -> None:
    sim = load_settings(None).sim
    assert [(s.operator, s.listen) for s in sim.smsc] == [
        ("safaricom", "127.0.0.1:2775"), ("airtel", "127.0.0.1:2776"), ("telkom", "127.0.0.1:2777"),
    ]  # fmt: skip
    bad = "[[sim.smsc]]\nname = 'x'\noperator = 'airtel'\nreceipt_mix = { LOST = 1.0 }\n"
    assert "sim.smsc[0].receipt_mix.LOST" in error_of(write(tmp_path, bad))


def test_source_ton_npi_by_sender_type(tmp_path: Path) -> None:
    smsc = load_settings(write(tmp_path, SMSC)).smsc[0]
    assert smsc.source_ton_npi("alphanumeric") == (5, 0)
    assert smsc.source_ton_npi("shortcode") == (3, 0)
    forced = load_settings(write(tmp_path, SMSC + "source_ton = 1\nsource_npi = 1\n")).smsc[0]
    assert forced.source_ton_npi("alphanumeric") == (1, 1)


def test_smsc_changes_for_reload(tmp_path: Path) -> None:
    other = SMSC.replace("saf-1", "saf-2")
    old = load_settings(write(tmp_path, SMSC + other))
    third = SMSC.replace("saf-1", "saf-3")
    new = load_settings(write(tmp_path, SMSC + "window = 20\n" + third))
    changes = smsc_changes(old, new)
    assert [s.name for s in changes.added] == ["saf-3"]
    assert [s.name for s in changes.removed] == ["saf-2"]
    assert [(s.name, s.window) for s in changes.changed] == [("saf-1", 20)]
    assert changes.any
    same = smsc_changes(old, load_settings(write(tmp_path, SMSC + other)))
    assert same.unchanged == ("saf-1", "saf-2") and not same.any


def test_unchanged_smsc_tables_compare_equal(tmp_path: Path) -> None:
    first = load_settings(write(tmp_path, SMSC)).smsc[0]
    again = load_settings(write(tmp_path, SMSC)).smsc[0]
    changed = load_settings(write(tmp_path, SMSC + "window = 20\n")).smsc[0]
    assert first == again
    assert first != changed


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::]:0", ("::", 0)),
        ("gw.example.net:443", ("gw.example.net", 443)),
    ],
)
def test_parse_listen(text: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(text) == parsed


def test_default_config_path(tmp_path: Path) -> None:
    assert default_config_path({"GATEWAYD_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
