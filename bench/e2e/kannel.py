"""Kannel (Debian's bearerbox + smsbox) for the bench: config from the template, start with
`-v 4`, wait until its SMPP link is online, stop by PID."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from e2e.procutil import command_name, free_port, stop_process, wait_port

TEMPLATE = Path(__file__).resolve().parent.parent / "kannel" / "kannel.conf.template"
BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"


@dataclass
class Kannel:
    work_dir: Path
    smsc_port: int
    system_id: str = "kannel"
    password: str = "secret"
    admin_port: int = field(default_factory=free_port)
    smsbox_port: int = field(default_factory=free_port)
    sendsms_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def write_config(self) -> Path:
        text = TEMPLATE.read_text(encoding="utf-8").format(
            admin_port=self.admin_port,
            smsbox_port=self.smsbox_port,
            sendsms_port=self.sendsms_port,
            work_dir=self.work_dir,
            smsc_port=self.smsc_port,
            system_id=self.system_id,
            password=self.password,
        )
        path = self.work_dir / "kannel.conf"
        path.write_text(text, encoding="utf-8")
        return path

    def start(self, timeout: float = 30.0) -> None:
        """bearerbox, then smsbox; returns once the SMPP link is online and sendsms listens."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        conf = self.write_config()
        for binary, name in ((BEARERBOX, "bearerbox"), (SMSBOX, "smsbox")):
            out = open(self.work_dir / f"{name}.out", "wb")  # noqa: SIM115 (kept by the child)
            self.procs.append(
                subprocess.Popen(
                    [binary, "-v", "4", str(conf)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            out.close()
            if name == "bearerbox":
                wait_port(self.smsbox_port, timeout, self.procs[-1])
        wait_port(self.sendsms_port, timeout, self.procs[-1])
        deadline = time.monotonic() + timeout
        while "(online" not in self.status():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kannel's SMPP link not online: {self.status()[-500:]}")
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"Kannel exited ({command_name(proc)}: {proc.returncode})")
            time.sleep(0.2)

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password=bench"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode("utf-8", "replace"))
        except OSError as exc:
            return f"status unavailable: {exc}"

    def stop(self) -> None:
        """smsbox then bearerbox: SIGTERM, then SIGKILL after a few seconds."""
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                stop_process(proc, signal.SIGTERM, 10.0)
        self.procs.clear()
