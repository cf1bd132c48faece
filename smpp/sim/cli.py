"""`python -m smpp.sim`: run the simulator on its own until SIGINT or SIGTERM.

    python -m smpp.sim --listen 127.0.0.1:2775 --tps 200 --window 50 --latency 0.05
    python -m smpp.sim --kenya --listen 127.0.0.1:0 --control 127.0.0.1:0

It prints one line per listener, then one JSON line a program can read:
``{"smscs": {"smsc": {"host": "127.0.0.1", "port": 2775}}, "control": "http://..."}``.
With ``--kenya`` three SMSCs (safaricom, airtel, telkom) listen on PORT, PORT+1 and PORT+2
(all picked when PORT is 0) with every other flag applied to each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType

from smpp.sim.config import (
    RECEIPT_STATES,
    BindMode,
    Credential,
    IdFormat,
    Latency,
    ReceiptPolicy,
    SimulatorConfig,
    SmscPersonality,
    ThrottleKind,
    ThrottleRule,
    kenyan_personalities,
)
from smpp.sim.simulator import Simulator, start_simulator


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def _mix(value: str) -> MappingProxyType[str, float]:
    weights: dict[str, float] = {}
    for item in value.split(","):
        state, sep, weight = item.partition("=")
        state = state.strip().upper()
        if state not in RECEIPT_STATES or not sep:
            raise argparse.ArgumentTypeError(
                f"{item!r}: want STATE=WEIGHT with STATE one of {', '.join(RECEIPT_STATES)}"
            )
        weights[state] = float(weight)
    return MappingProxyType(weights)


def _delay(value: str) -> tuple[float, float]:
    low, _, high = value.partition(":")
    lo = float(low)
    return lo, float(high) if high else lo


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m smpp.sim`."""
    p = argparse.ArgumentParser(prog="python -m smpp.sim", description="SMPP 3.4 SMSC simulator")
    add = p.add_argument
    add("--listen", type=_address, default=("127.0.0.1", 2775), metavar="HOST:PORT")
    add("--name", default="smsc", help="SMSC name (ignored with --kenya)")
    add("--kenya", action="store_true", help="three SMSCs: safaricom, airtel, telkom")
    add("--system-id", default="gatewayd")
    add("--password", default="secret")
    add("--bind-modes", default="tx,rx,trx", help="accepted bind kinds, comma separated")
    add("--max-binds", type=int, help="binds per system_id")
    add("--tps", type=float, help="TPS limit per SMSC (ESME_RTHROTTLED beyond it)")
    add("--throttle", choices=[k.value for k in ThrottleKind], default="sliding")
    add("--burst", type=int, help="token bucket size for --throttle bucket")
    add("--window", type=int, help="outstanding submits per bind before ESME_RMSGQFUL")
    add("--latency", type=float, default=0.0, help="seconds before each submit_sm_resp")
    add("--latency-jitter", type=float, default=0.0, help="plus uniform [0, JITTER)")
    add("--receipt-delay", type=_delay, default=(0.0, 0.05), metavar="MIN[:MAX]")
    add("--receipt-mix", type=_mix, help="e.g. DELIVRD=0.9,UNDELIV=0.05,EXPIRED=0.05")
    add("--receipt-before-resp", type=float, default=0.0, metavar="SHARE")
    add("--duplicate-receipts", type=float, default=0.0, metavar="SHARE")
    add("--receipt-ack-timeout", type=float, default=10.0)
    add("--no-receipt-tlvs", action="store_true")
    add("--no-receipt-text", action="store_true")
    ids = [f.value for f in IdFormat]
    add("--id-format", choices=ids, help="submit_sm_resp message id format")
    add("--receipt-id-format", choices=ids, help="receipt id format (default: as the resp)")
    add("--reject-prefix", action="append", default=[], help="ESME_RINVDSTADR (repeatable)")
    add("--drop-after", type=float, help="cut each connection this long after its bind")
    add("--enquire-link-every", type=float, help="the SMSC sends enquire_link this often")
    add("--no-record-submits", action="store_true", help="keep counts only (long runs)")
    add("--max-recorded-submits", type=int, default=100_000, help="latest submits kept")
    add("--seed", type=int, help="RNG seed (receipt states, delays)")
    add("--control", type=_address, metavar="HOST:PORT", help="HTTP control port")
    add(
        "--nice", type=int, default=0, metavar="N",
        help="change the process priority by N; negative N (ahead of the ESME under test, "
        "as a separate SMSC machine would be) needs root and is skipped with a warning",
    )
    add(
        "--realtime", type=int, default=0, metavar="PRIORITY",
        help="run under the SCHED_FIFO real-time policy at PRIORITY (1-99): the process is "
        "never kept waiting by ordinary ones, so a submit_sm is stamped as it arrives even "
        "on a busy machine; needs root, skipped with a warning otherwise",
    )
    return p


def _receipts(args: argparse.Namespace, base: ReceiptPolicy) -> ReceiptPolicy:
    low, high = args.receipt_delay
    return replace(
        base,
        delay_min=low,
        delay_max=high,
        mix=args.receipt_mix or base.mix,
        before_resp=args.receipt_before_resp,
        duplicates=args.duplicate_receipts,
        id_format=IdFormat(args.receipt_id_format) if args.receipt_id_format else base.id_format,
        ack_timeout=args.receipt_ack_timeout,
        with_tlvs=not args.no_receipt_tlvs,
        with_text=not args.no_receipt_text,
    )


def _apply(args: argparse.Namespace, base: SmscPersonality, port: int) -> SmscPersonality:
    return replace(
        base,
        host=args.listen[0],
        port=port,
        credentials=(Credential(args.system_id, args.password),),
        bind_modes=frozenset(BindMode(m.strip()) for m in args.bind_modes.split(",")),
        max_binds=args.max_binds,
        throttle=ThrottleRule(args.tps, ThrottleKind(args.throttle), args.burst),
        window=args.window,
        latency=Latency(args.latency, args.latency_jitter),
        receipts=_receipts(args, base.receipts),
        message_id_format=IdFormat(args.id_format) if args.id_format else base.message_id_format,
        reject_prefixes=tuple(args.reject_prefix),
        drop_after=args.drop_after,
        enquire_link_every=args.enquire_link_every,
        record_submits=not args.no_record_submits,
        max_recorded_submits=args.max_recorded_submits or None,
    )


def config_from_args(argv: Sequence[str] | None = None) -> SimulatorConfig:
    """The SimulatorConfig the command line asks for."""
    return _config(build_parser().parse_args(argv))


def _config(args: argparse.Namespace) -> SimulatorConfig:
    port = args.listen[1]
    bases = kenyan_personalities() if args.kenya else (SmscPersonality(args.name),)
    smscs = tuple(_apply(args, base, port + i if port else 0) for i, base in enumerate(bases))
    control = args.control
    return SimulatorConfig(
        smscs=smscs,
        seed=args.seed,
        control_host=control[0] if control else "127.0.0.1",
        control_port=control[1] if control else None,
    )


def describe(sim: Simulator) -> dict[str, object]:
    """Where everything listens, as printed on start."""
    out: dict[str, object] = {
        "smscs": {name: {"host": s.host, "port": s.port} for name, s in sim.smscs.items()}
    }
    if sim.control is not None:
        out["control"] = f"http://{sim.control.host}:{sim.control.port}"
    return out


async def run(config: SimulatorConfig) -> None:
    """Start, print the addresses, serve until SIGINT/SIGTERM, close."""
    sim = await start_simulator(config)
    _freeze_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        info = describe(sim)
        for name, smsc in sim.smscs.items():
            print(f"smsc {name} listening on {smsc.host}:{smsc.port}")
        if "control" in info:
            print(f"control on {info['control']}")
        print(json.dumps(info), flush=True)
        await stop.wait()
    finally:
        await sim.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m smpp.sim`."""
    args = build_parser().parse_args(argv)
    config = _config(args)
    if args.nice:
        _renice(args.nice)
    if args.realtime:
        _realtime(args.realtime)
    try:
        asyncio.run(run(config))
    except OSError as exc:
        print(f"smpp.sim: {exc}", file=sys.stderr)
        return 1
    return 0


def _freeze_heap() -> None:
    """Move the start-up heap (the modules, aiohttp's control server) out of the collector's
    way: the SMSC stamps each submit_sm when it reads it, and a full collection over that
    heap, 20-30 ms here, would stamp every submit read after it late, bunched into one slot."""
    gc.collect()
    gc.freeze()


def _realtime(priority: int) -> None:
    """Run under SCHED_FIFO at `priority`. A nice value only weighs this process's share of
    the CPU: on two cores shared with other work the simulator still waited 5-11 ms now and
    then to read a submit_sm, stamped it that late, and counted a burst of them in one 100 ms
    slot (up to 107 at 1,000 TPS) or in one sliding second (a throttle). A real-time process
    runs as soon as its read is ready; the simulator waits on its sockets between reads, and
    the kernel keeps 5 % of every second for ordinary processes whatever it does."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError) as exc:
        print(f"smpp.sim: --realtime {priority} skipped: {exc}", file=sys.stderr)


def _renice(increment: int) -> None:
    """Move this process's priority by `increment`: an SMSC that stamps each submit_sm when it
    reads it must not be kept waiting by the client it measures, on a shared machine."""
    try:
        os.nice(increment)
    except OSError as exc:
        print(f"smpp.sim: --nice {increment} skipped: {exc}", file=sys.stderr)
