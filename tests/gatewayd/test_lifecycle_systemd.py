"""The systemd unit, sysusers and tmpfiles files: parse, carry the keys operations rely on, and
pass `systemd-analyze verify` where that tool exists."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from config.loader import load_settings

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "gatewayd.service"
EXAMPLE = SYSTEMD.parent / "config" / "gatewayd.example.toml"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_has_the_service_keys() -> None:
    service = unit()["Service"]
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "User": "gatewayd",
        "Group": "gatewayd",
        "StateDirectory": "gatewayd",
        "ConfigurationDirectory": "gatewayd",
        "ExecStart": "/opt/gatewayd/.venv/bin/gatewayd -c /etc/gatewayd/gatewayd.toml run",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert "@system-service" in UNIT.read_text()
    assert int(service["LimitNOFILE"]) >= 4096
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_stop_timeout_covers_the_drain_budget() -> None:
    stop = float(unit()["Service"]["TimeoutStopSec"])
    budget = load_settings(EXAMPLE).shutdown
    assert budget.drain_timeout + budget.unbind_timeout < stop


def test_sysusers_and_tmpfiles_name_the_user_and_state_directory() -> None:
    users = [
        line.split()
        for line in (SYSTEMD / "gatewayd.sysusers").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert users[0][:2] == ["u", "gatewayd"]
    tmpfiles = (SYSTEMD / "gatewayd.tmpfiles").read_text()
    assert "d     /var/lib/gatewayd    0750 gatewayd gatewayd" in tmpfiles


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists the ExecStart binary exists: point it at one that does
    text = UNIT.read_text().replace("/opt/gatewayd/.venv/bin/gatewayd", "/bin/true")
    copy = tmp_path / "gatewayd.service"
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
