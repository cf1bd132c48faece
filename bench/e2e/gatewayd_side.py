"""gatewayd for the bench: a temporary state directory with a SQLite store, one SMSC (the
simulator) with one transceiver bind and a window of 100 (Kannel's max-pending-submits), an
account, API client, sender ID and float made with the admin CLI, then `gatewayd run` as a
subprocess; a Bearer token from /api/generate-token; stop by PID (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e import procstat
from e2e.procutil import free_port, stop_process, wait_port

SENDER = "BENCH"
CALLBACK_SECRET = b"bench-callback-signing-secret"


def gatewayd_command() -> list[str]:
    """The `gatewayd` console script next to this Python, else `python -m gatewayd.cli`."""
    script = Path(sys.executable).with_name("gatewayd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gatewayd.cli"]


@dataclass
class Gatewayd:
    work_dir: Path
    smsc_port: int
    window: int = 100
    binds: int = 1
    log_level: str = "info"
    profile: str = ""  # "cprofile" wraps the daemon in cProfile; "py-spy" samples it
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    spy: subprocess.Popen[bytes] | None = None
    token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def config_path(self) -> Path:
        return self.work_dir / "gatewayd.toml"

    @property
    def pids(self) -> list[int]:
        """The daemon and its helper processes (the HTTP API, the callback sender), the daemon
        first."""
        if self.proc is None:
            return []
        return [self.proc.pid, *procstat.children(self.proc.pid)]

    def write_config(self) -> None:
        state = self.work_dir / "state"
        state.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"""state_dir = "{state}"

[http]
listen = "127.0.0.1:{self.http_port}"
rate_limit_per_minute = 0

[store]
url = "sqlite:///{state}/gatewayd.db"

[auth]
active_kid = "bench"
[auth.signing_keys]
bench = "{secrets.token_urlsafe(48)}"

[callbacks]
allow_loopback_targets = true
signing_secret = "{CALLBACK_SECRET.decode()}"

[[smsc]]
name = "sim"
operator = "safaricom"
host = "127.0.0.1"
port = {self.smsc_port}
system_id = "gatewayd"
password = "secret"
bind_mode = "transceiver"
binds = {self.binds}
window = {self.window}
tps = 1000000.0
id_format = "hex"

[log]
level = "{self.log_level}"
format = "json"
""",
            encoding="utf-8",
        )
        self.config_path.chmod(0o600)

    def admin(self, *args: str) -> Any:
        done = subprocess.run(
            [*gatewayd_command(), "-c", str(self.config_path), "admin", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"gatewayd admin {' '.join(args)}: {done.stderr.strip()}")
        return json.loads(done.stdout)

    def provision(self, units: int) -> tuple[str, str]:
        """Account, API client, sender ID with `units` of float; (client_id, secret)."""
        self.admin("account", "create", "bench")
        client = self.admin("client", "create", "bench")
        self.admin("sender", "create", "bench", SENDER, "--operator", "safaricom")
        self.admin("float", "credit", SENDER, str(units), "--reason", "bench")
        return client["client_id"], client["client_secret"]

    def start(self, units: int, timeout: float = 60.0) -> None:
        """Configure, provision, run; returns once the API answers and a token is issued."""
        self.write_config()
        client_id, client_secret = self.provision(units)
        command = [*gatewayd_command(), "-c", str(self.config_path), "run"]
        if self.profile == "cprofile":
            out = self.work_dir / "gatewayd.prof"
            command = [sys.executable, "-m", "cProfile", "-o", str(out), *command]
        log = open(self.work_dir / "gatewayd.log", "wb")  # noqa: SIM115 (kept by the child)
        self.proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        wait_port(self.http_port, timeout, self.proc)
        self.token = self.generate_token(client_id, client_secret)
        if self.profile == "py-spy":
            self.start_spy()

    @property
    def spy_output(self) -> Path:
        return self.work_dir / "gatewayd.pyspy.txt"

    def start_spy(self) -> None:
        """py-spy attached to the daemon (not its parent, so the CPU figures stay the
        daemon's) and its helper processes, sampling without pausing them, until stop();
        each thread is named with its process (daemon, api, callbacks)."""
        assert self.proc is not None
        spy = Path(sys.executable).with_name("py-spy")
        self.spy = subprocess.Popen(
            [str(spy), "record", "--pid", str(self.proc.pid), "--nonblocking", "--threads",
             "--rate", "200", "--subprocesses", "--format", "raw",
             "--output", str(self.spy_output)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.work_dir / "py-spy.err", "wb"),  # noqa: SIM115
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def generate_token(self, client_id: str, client_secret: str) -> str:
        body = json.dumps(
            {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/api/generate-token",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return str(json.loads(resp.read())["access_token"])

    def ready(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{self.base}/ready", timeout=5) as resp:
                return dict(json.loads(resp.read()))
        except OSError as exc:
            return {"error": str(exc)}

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM (the daemon drains and unbinds), SIGKILL after `grace` seconds."""
        if self.spy is not None:
            stop_process(self.spy, signal.SIGINT, 30.0)  # py-spy writes its output on SIGINT
            self.spy = None
        if self.proc is None:
            return None
        code = stop_process(self.proc, signal.SIGTERM, grace)
        self.proc = None
        return code

    def wait_exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not reached within {timeout} s")
        time.sleep(0.1)
