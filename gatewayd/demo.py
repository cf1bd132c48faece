"""`gatewayd demo` and `gatewayd sim`: the simulator, alone or with the daemon in front.

The demo runs, in one process on loopback: three simulated SMSCs shaped like Safaricom, Airtel
and Telkom (each with its own id habits; 95 % of receipts DELIVRD, so a first message almost
always arrives, the rest UNDELIV, EXPIRED or REJECTD), the daemon bound to them with a state
directory of its own, and a demo account with an API client and a sender ID per operator
holding float. It prints curl lines that work as pasted, then serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

from config.settings import Settings
from gatewayd import logs
from gatewayd.logs import get_logger
from gatewayd.service.auth import hash_secret, new_client_credentials
from gatewayd.service.model import CampaignType, LedgerKind, SenderType
from gatewayd.service.ports import AlreadyExists, Store
from smpp.sim.config import (
    Credential,
    IdFormat,
    Latency,
    ReceiptPolicy,
    SimulatorConfig,
    SmscPersonality,
    ThrottleRule,
    kenyan_personalities,
)
from smpp.sim.simulator import Simulator, start_simulator

log = get_logger("gatewayd.demo")

DEMO_ACCOUNT = "demo"
DEMO_SENDER = "GATEWAYD"
DEMO_FLOAT = 1000
DEMO_PORT = 8080
DEMO_PORTS_TRIED = 20
# What the demo's SMSCs write ids as, in [[smsc]] id_format terms.
_ID_FORMATS = {
    "safaricom": "resp_hex_receipt_decimal",
    "airtel": "decimal",
    "telkom": "hex",
}
_SAMPLE_NUMBERS = {"safaricom": "254712345678", "airtel": "254733123456", "telkom": "254771234567"}
# Receipt states the demo's SMSCs draw from: mostly delivered, each failure still seen now and then.
DEMO_RECEIPT_MIX = MappingProxyType(
    {"DELIVRD": 0.95, "UNDELIV": 0.02, "EXPIRED": 0.02, "REJECTD": 0.01}
)


def demo_personalities() -> tuple[SmscPersonality, ...]:
    """The Kenyan SMSC personalities with the demo's receipt mix."""
    return tuple(
        replace(p, receipts=replace(p.receipts, mix=DEMO_RECEIPT_MIX))
        for p in kenyan_personalities()
    )


def free_port(host: str, first: int, tries: int = DEMO_PORTS_TRIED) -> int:
    """`first` when free, else the next free port above it (0 = let the kernel pick)."""
    for port in range(first, first + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return port
    return 0


def demo_settings(base: Settings, sim: Simulator, state_dir: Path, port: int) -> Settings:
    """The daemon's settings for the demo: loopback everywhere, keys made up for this run."""
    smscs = []
    for name, smsc in sim.smscs.items():
        smscs.append(
            {
                "name": f"{name}-sim",
                "operator": name,
                "host": smsc.host,
                "port": smsc.port,
                "system_id": "gatewayd",
                "password": "secret",
                "window": 50,
                "tps": 100.0,
                "id_format": _ID_FORMATS[name],
                "reconnect_min": 0.2,
                "reconnect_max": 2.0,
            }
        )
    return Settings.model_validate(
        {
            "state_dir": state_dir,
            "http": {"listen": f"127.0.0.1:{port}", "rate_limit_per_minute": 600},
            "store": {"url": f"sqlite:///{state_dir / 'gatewayd.db'}"},
            "auth": {"signing_keys": {"demo": secrets.token_urlsafe(48)}},
            "callbacks": {
                "allow_loopback_targets": True,
                "signing_secret": secrets.token_urlsafe(24),
                "backoff_base": 1.0,
                "retry_period": 600.0,
            },
            "smsc": smscs,
            "log": base.log,
            "shutdown": {"drain_timeout": 5.0, "unbind_timeout": 2.0},
        }
    )


async def seed_demo(store: Store, now: datetime) -> tuple[str, str]:
    """The demo account, a new API client (its secret is only known now) and a sender ID per
    operator with float; returns (client_id, client_secret)."""
    with contextlib.suppress(AlreadyExists):
        await store.create_account(DEMO_ACCOUNT, "Demo account", now)
    client_id, secret = new_client_credentials()
    await store.create_api_client(DEMO_ACCOUNT, client_id, hash_secret(secret), now)
    for operator in ("safaricom", "airtel", "telkom"):
        sender_id = f"demo-{operator}"
        with contextlib.suppress(AlreadyExists):
            await store.create_sender(
                sender_id, DEMO_ACCOUNT, DEMO_SENDER, operator,
                SenderType.ALPHANUMERIC, CampaignType.TRANSACTIONAL, now,
            )  # fmt: skip
        units = await store.balance(sender_id)
        if units < DEMO_FLOAT:
            await store.post_entry(
                sender_id, LedgerKind.TOPUP, DEMO_FLOAT - units, "admin:demo",
                "Demo float", "demo", now,
            )  # fmt: skip
    return client_id, secret


def curl_lines(base_url: str, client_id: str, secret: str) -> list[str]:
    """Shell lines that work as pasted: a token into $TOKEN, a send into $MID, a GET of that
    message, then one plain send whose answer is shown as the API gives it."""
    token_body = (
        f'{{"grant_type":"client_credentials","client_id":"{client_id}",'
        f'"client_secret":"{secret}"}}'
    )
    send_body = (
        f'{{"sender_name":"{DEMO_SENDER}","contact":"{_SAMPLE_NUMBERS["safaricom"]}",'
        '"message":"Hello from gatewayd! Your OTP is 482910."}'
    )
    pick = "python3 -c 'import sys,json;print(json.load(sys.stdin)[\"{}\"])'"
    send = (
        f'-X POST {base_url}/api/send-sms -H "Authorization: Bearer $TOKEN" '
        f"-H 'Content-Type: application/json' -d '{send_body}'"
    )
    return [
        f"TOKEN=$(curl -s -X POST {base_url}/api/generate-token "
        f"-H 'Content-Type: application/json' -d '{token_body}' | {pick.format('access_token')})",
        f"MID=$(curl -s {send} | {pick.format('message_id')})",
        f"curl -s -w '\\n' {base_url}/api/v1/messages/$MID -H \"Authorization: Bearer $TOKEN\"",
        f"curl -s -w '\\n' {send}",
    ]


def _print_intro(out: TextIO, base_url: str, state_dir: Path, lines: Sequence[str]) -> None:
    numbers = ", ".join(f"{op} {n}" for op, n in _SAMPLE_NUMBERS.items())
    print(
        f"\ngatewayd demo: API on {base_url} (state in {state_dir})\n"
        f"Simulated SMSCs for Safaricom, Airtel and Telkom; sender ID {DEMO_SENDER} on each "
        f"with {DEMO_FLOAT} units.\nTry numbers: {numbers}.\n\n"
        "Paste these: a token, a message sent (its id kept in $MID), where that message is "
        "now,\nand one more sent with the API's answer shown as it comes:\n",
        file=out,
    )
    for line in lines:
        print(f"  {line}\n", file=out)
    print(
        f"The float per sender ID: GET {base_url}/api/v1/balance with the same "
        "Authorization header.\nCtrl-C stops the demo.\n",
        file=out,
        flush=True,
    )


async def demo(
    settings: Settings,
    *,
    state_dir: Path | None = None,
    port: int | None = None,
    out: TextIO | None = None,
    shutdown_trigger: Any = None,
) -> int:
    """Run the demo until Ctrl-C (or `shutdown_trigger()` returns)."""
    from gatewayd import main  # noqa: PLC0415 (main imports this module lazily too)

    stream = out or sys.stdout
    if settings.log.level == "info":  # the curl lines matter more than routine log lines
        logs.configure("warning", settings.log.format)
    directory = state_dir or Path(tempfile.mkdtemp(prefix="gatewayd-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    sim = await start_simulator(SimulatorConfig(smscs=demo_personalities()))
    try:
        chosen = free_port("127.0.0.1", DEMO_PORT) if port is None else port
        config = demo_settings(settings, sim, directory, chosen)

        async def started(daemon: main.Daemon) -> None:
            assert daemon.store is not None and daemon.server is not None
            client_id, secret = await seed_demo(daemon.store, datetime.now(UTC))
            _print_intro(
                stream,
                daemon.server.url,
                directory,
                curl_lines(daemon.server.url, client_id, secret),
            )

        return await main.run(config, shutdown_trigger=shutdown_trigger, started=started)
    finally:
        await sim.close()


# -- gatewayd sim ---------------------------------------------------------------------------


def sim_config(settings: Settings) -> SimulatorConfig:
    """[sim] settings as the simulator's own configuration."""
    smscs = []
    for s in settings.sim.smsc:
        host, _, port = s.listen.rpartition(":")
        smscs.append(
            SmscPersonality(
                name=s.name,
                operator=s.operator,
                host=host.strip("[]"),
                port=int(port),
                credentials=(Credential(s.system_id, s.password.get_secret_value()),),
                throttle=ThrottleRule(tps=s.tps),
                window=s.window,
                latency=Latency(),
                receipts=ReceiptPolicy(
                    delay_min=s.receipt_delay_min,
                    delay_max=s.receipt_delay_max,
                    mix={str(k): v for k, v in s.receipt_mix.items()},
                ),
                message_id_format=IdFormat(s.id_format),
                reject_prefixes=tuple(s.reject_prefixes),
            )
        )
    control = settings.sim.control_listen
    control_host, control_port = "127.0.0.1", None
    if control is not None:
        host_text, _, port_text = control.rpartition(":")
        control_host, control_port = host_text.strip("[]"), int(port_text)
    return SimulatorConfig(
        smscs=tuple(smscs),
        seed=settings.sim.seed,
        control_host=control_host,
        control_port=control_port,
    )


async def sim(settings: Settings, *, shutdown_trigger: Any = None) -> int:
    """`gatewayd sim`: the simulated SMSCs of [sim], until SIGTERM/SIGINT (or until
    `shutdown_trigger()` returns). The signals are taken before anything listens, so a stop
    that follows the printed ports is always a clean one."""
    from gatewayd.lifecycle import Signals  # noqa: PLC0415

    signals = Signals()
    if shutdown_trigger is None:
        signals.install()
        shutdown_trigger = signals.wait
    try:
        simulator = await start_simulator(sim_config(settings))
        try:
            for name, smsc in simulator.smscs.items():
                log.info("sim_listening", smsc=name, host=smsc.host, port=smsc.port)
            if simulator.control is not None:
                control = simulator.control
                log.info("sim_control_listening", host=control.host, port=control.port)
            await shutdown_trigger()
        finally:
            await simulator.close()
    finally:
        signals.remove()
    return 0
