"""The `gatewayd` command: exit codes, admin output for people and as JSON, lazy daemon entries."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from gatewayd import cli
from gatewayd.service.auth import verify_secret
from tests.fakes.memory_store import MemoryStore


class Run:
    """One invocation's exit status and output."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "gatewayd.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n[log]\nformat = "console"\n')
    monkeypatch.setenv("GATEWAYD_CONFIG", str(path))
    monkeypatch.setattr(
        cli, "_credential_tools", lambda: (lambda s: f"hashed:{s}", lambda: ("cid1", "csecret1"))
    )
    return path


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    yield MemoryStore()


def gw(store: MemoryStore | None, *argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    used = store if store is not None else MemoryStore()
    code = cli.main(list(argv), store_factory=lambda _s: used, stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


def test_help_and_usage_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gw(None, "--help").code == 0
    assert "run" in capsys.readouterr().out
    assert gw(None).code == 2
    assert gw(None, "admin", "sender", "create", "acme", "X", "--operator", "orange").code == 2
    assert "invalid choice: 'orange'" in capsys.readouterr().err
    assert gw(None, "admin", "float", "credit", "X", "-5").code == 2
    assert gw(None, "admin", "float", "credit", "X", "ten").code == 2


def test_bad_configuration_exits_78_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nrate_limit_per_minute = -1\n")
    run = gw(None, "-c", str(bad), "admin", "account", "list")
    assert run.code == 78
    assert "http.rate_limit_per_minute: must be >= 0" in run.err
    missing = gw(None, "-c", str(tmp_path / "none.toml"), "migrate")
    assert missing.code == 78 and "none.toml: configuration file not found" in missing.err


def test_admin_flow_for_people(config: Path, store: MemoryStore) -> None:
    assert gw(store, "admin", "account", "create", "acme").code == 0
    created = gw(store, "admin", "client", "create", "acme")
    assert created.code == 0
    assert "client_id:     cid1" in created.out and "client_secret: csecret1" in created.out
    sender = gw(store, "admin", "sender", "create", "acme", "ACME", "--operator", "safaricom")
    assert sender.code == 0
    credit = gw(store, "admin", "float", "credit", "ACME", "250", "--reason", "welcome",
                "--as", "ops")  # fmt: skip
    assert credit.code == 0 and "float now 250" in credit.out
    show = gw(store, "admin", "float", "show", "ACME")
    assert "ACME (safaricom" in show.out and "250 units" in show.out
    assert "admin:ops" in show.out and "welcome" in show.out
    listing = gw(store, "admin", "sender", "list", "acme")
    assert "ACME" in listing.out and "250" in listing.out
    suspended = gw(store, "admin", "sender", "suspend", "ACME", "--operator", "safaricom")
    assert "is suspended" in suspended.out
    assert "suspended" in gw(store, "admin", "sender", "list").out
    assert "is active" in gw(store, "admin", "sender", "activate", "ACME").out


def test_admin_json_output(config: Path, store: MemoryStore) -> None:
    account = gw(store, "admin", "account", "create", "acme", "--json").json()
    assert account["name"] == "acme"
    client = gw(store, "admin", "client", "create", account["id"], "--json").json()
    assert client["client_id"] == "cid1" and client["client_secret"] == "csecret1"
    assert "secret_hash" not in client
    listed = gw(store, "admin", "client", "list", "acme", "--json").json()
    assert [c["client_id"] for c in listed] == ["cid1"] and "secret_hash" not in listed[0]
    sender = gw(store, "admin", "sender", "create", "acme", "22334", "--operator", "airtel",
                "--type", "shortcode", "--campaign", "promotional", "--json").json()  # fmt: skip
    assert (sender["type"], sender["campaign"]) == ("shortcode", "promotional")
    gw(store, "admin", "float", "credit", sender["id"], "10")
    statement = gw(store, "admin", "float", "show", "22334", "--json").json()
    assert statement["balance"] == 10 and statement["entries"][0]["kind"] == "adjustment"
    senders = gw(store, "admin", "sender", "list", "--json").json()
    assert senders[0]["balance"] == 10


def test_account_set_callback_on_sent(config: Path, store: MemoryStore) -> None:
    gw(store, "admin", "account", "create", "acme")
    gw(store, "admin", "account", "create", "beta")
    listing = gw(store, "admin", "account", "list")
    assert "CALLBACK_ON_SENT" in listing.out.splitlines()[0]
    assert [line.split()[2] for line in listing.out.splitlines()[1:]] == ["no", "no"]
    done = gw(store, "admin", "account", "set", "acme", "--callback-on-sent", "on")
    assert done.code == 0 and done.out == "account acme: callback_on_sent on\n"
    rows = {line.split()[1]: line.split()[2] for line in
            gw(store, "admin", "account", "list").out.splitlines()[1:]}  # fmt: skip
    assert rows == {"acme": "yes", "beta": "no"}
    listed = gw(store, "admin", "account", "list", "--json").json()
    assert [(a["name"], a["callback_on_sent"]) for a in listed] == [("acme", True), ("beta", False)]
    off = gw(store, "admin", "account", "set", listed[0]["id"], "--callback-on-sent", "off",
             "--json")  # fmt: skip
    assert off.code == 0 and off.json()["callback_on_sent"] is False
    assert off.json()["name"] == "acme"


def test_account_set_refuses_unknown_accounts_and_bad_values(
    config: Path, store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = gw(store, "admin", "account", "set", "nobody", "--callback-on-sent", "on", "--json")
    assert missing.code == 1 and missing.out == ""
    assert "no account with id or name 'nobody'" in missing.err
    gw(store, "admin", "account", "create", "acme")
    assert gw(store, "admin", "account", "set", "acme", "--callback-on-sent", "yes").code == 2
    assert "invalid choice: 'yes'" in capsys.readouterr().err
    nothing = gw(store, "admin", "account", "set", "acme")
    assert nothing.code == 2 and "give --callback-on-sent on|off" in nothing.err
    assert gw(store, "admin", "account", "list", "--json").json()[0]["callback_on_sent"] is False


def test_topups_through_the_command_line(config: Path, store: MemoryStore) -> None:
    gw(store, "admin", "account", "create", "acme")
    gw(store, "admin", "sender", "create", "acme", "ACME", "--operator", "telkom")
    package = gw(store, "admin", "package", "create", "Telkom", "--operator", "telkom",
                 "--rate-cents", "30", "--json").json()  # fmt: skip
    assert package["rate_cents"] == 30
    topup = gw(store, "admin", "topup", "create", "ACME", "Telkom", "100", "--json").json()
    pending = gw(store, "admin", "topup", "list", "--status", "pending", "--json").json()
    assert [t["id"] for t in pending] == [topup["id"]]
    approved = gw(store, "admin", "topup", "approve", topup["id"])
    assert approved.code == 0 and "COMPLETED" in approved.out
    again = gw(store, "admin", "topup", "approve", topup["id"])
    assert again.code == 1 and "is COMPLETED already" in again.err and again.out == ""
    assert "100 units" in gw(store, "admin", "float", "show", "ACME").out


def test_client_secret_verifies_against_the_stored_hash(
    config: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real credential tools, as the HTTP API checks them
    monkeypatch.setenv("GATEWAYD_CONFIG", str(config))
    gw(store, "admin", "account", "create", "acme")
    client = gw(store, "admin", "client", "create", "acme", "--json").json()
    stored = asyncio.run(store.get_api_client(client["client_id"]))
    assert verify_secret(client["client_secret"], stored.secret_hash)
    assert client["client_secret"] not in stored.secret_hash


def test_domain_errors_exit_1_on_stderr(config: Path, store: MemoryStore) -> None:
    run = gw(store, "admin", "client", "create", "nobody")
    assert run.code == 1 and "no account with id or name 'nobody'" in run.err and run.out == ""
    gw(store, "admin", "account", "create", "acme")
    gw(store, "admin", "sender", "create", "acme", "ACME", "--operator", "airtel")
    debit = gw(store, "admin", "float", "debit", "ACME", "5", "--reason", "fix")
    assert debit.code == 1 and "is 0 units; cannot take 5" in debit.err


def test_migrate_reports_the_count(config: Path) -> None:
    class Migrating(MemoryStore):
        async def migrate(self) -> int:
            return 3

    out = io.StringIO()
    code = cli.main(["migrate"], store_factory=lambda _s: Migrating(), stdout=out)
    assert code == 0 and "3 migration(s) applied to sqlite:///" in out.getvalue()


def test_url_passwords_are_not_printed() -> None:
    assert cli._safe_url("postgresql://gw:pw@db/gw") == "postgresql://gw:***@db/gw"
    assert cli._safe_url("sqlite:////var/lib/x.db") == "sqlite:////var/lib/x.db"


def test_run_sim_and_demo_call_the_composition_root(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def run(settings: Settings, *, config_path: Path | None = None) -> int:
        seen["run"] = settings
        seen["config_path"] = config_path
        return 0

    def sim(settings: Settings) -> None:
        seen["sim"] = settings.sim

    async def demo(settings: Settings, *, state_dir: Path | None, port: int | None) -> int:
        seen["demo"] = (state_dir, port)
        return 3

    root = types.ModuleType("gatewayd.main")
    root.run, root.sim, root.demo = run, sim, demo  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gatewayd.main", root)
    assert gw(None, "run").code == 0 and isinstance(seen["run"], Settings)
    assert seen["config_path"] is None  # the daemon rereads the default path on SIGHUP
    assert gw(None, "-c", str(config), "run").code == 0
    assert seen["config_path"] == config  # SIGHUP rereads the file given with -c
    assert gw(None, "sim", "--seed", "7").code == 0
    assert seen["sim"].seed == 7 and len(seen["sim"].smsc) == 3
    assert gw(None, "demo", "--port", "8099").code == 3
    assert seen["demo"] == (None, 8099)


def test_run_warns_about_a_world_readable_config(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = types.ModuleType("gatewayd.main")
    root.run = lambda settings, config_path=None: 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gatewayd.main", root)
    config.chmod(0o644)
    assert gw(None, "run").code == 0
    assert "config_world_readable" in capsys.readouterr().out
    config.chmod(0o640)
    assert gw(None, "run").code == 0
    assert "config_world_readable" not in capsys.readouterr().out


def test_missing_entry_point_is_reported(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gatewayd.main", types.ModuleType("gatewayd.main"))
    run = gw(None, "run")
    assert run.code == 1 and "`gatewayd run` is not available" in run.err


def test_admin_end_to_end_on_a_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAYD_CONFIG", raising=False)
    path = tmp_path / "gatewayd.toml"
    path.write_text(f'state_dir = "{tmp_path}"\n')

    def real(*argv: str) -> Run:
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["-c", str(path), *argv], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    assert real("migrate").code == 0
    assert (tmp_path / "gatewayd.db").is_file()
    real("admin", "account", "create", "acme")
    real("admin", "sender", "create", "acme", "ACME", "--operator", "airtel")
    assert real("admin", "float", "credit", "ACME", "40").code == 0
    statement = real("admin", "float", "show", "ACME", "--json").json()
    assert statement["balance"] == 40
    assert "acme" in real("admin", "sender", "list").out
    missing = real("admin", "topup", "approve", "nope")
    assert missing.code == 1 and "no top-up 'nope'" in missing.err
    assert real("admin", "account", "set", "acme", "--callback-on-sent", "on").code == 0
    assert real("admin", "account", "list", "--json").json()[0]["callback_on_sent"] is True


def test_the_console_script_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gatewayd.cli", "-c", str(tmp_path / "none.toml"), "migrate"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78 and "configuration file not found" in done.stderr
