"""End to end, side by side: the same HTTP load through gatewayd and through Kannel.

Path, for both: a load generator sends single-message HTTP requests → the gateway → one SMPP
transceiver bind (window 100) to the same SMSC simulator on loopback (hex ids, a receipt
0–50 ms after each submit, with TLVs and the standard text) → the gateway's delivery callback
to a counting sink. Each tool runs in its own process; everything shares the machine.

    .venv/bin/python bench/e2e_bench.py [--messages 20000] [--concurrency 64]
        [--stall-messages 5000] [--stall-concurrency 256] [--no-new-connections]
        [--bulk-messages 20000] [--bulk-size 500] [--bulk-concurrency 4]
        [--only gatewayd|kannel] [--rounds 1]
        [--loadgen-procs 1] [--client raw|aiohttp] [--profile-gatewayd cprofile] [--keep]

Prints, per gateway: accepts/s, p50/p99 accept latency, submits/s (the simulator's records),
receipts→callbacks/s, end-to-end messages/s, CPU ms per message (the gateway's processes
only: bearerbox + smsbox, or the gatewayd process), peak RSS, lost and duplicated — and the
ratios gatewayd/Kannel; then the same at 256 connections, once with keep-alive connections and
once with a new connection per request (as clients without a connection pool do, the seed's
`requests.post` example among them); first the ceilings of the simulator and of the load
generator for each load shape. The last line is one JSON object.

Then gatewayd's bulk path: --bulk-messages messages in POST /api/v1/messages/bulk requests of
--bulk-size, --bulk-concurrency requests at a time (one message per recipient, each with its
own callback URL), through to the final callback as above; printed beside Kannel's
single-message figures of the same invocation, with the ratios (the issue's target: bulk at
least 5× Kannel's rate). The load generator's ceiling for that shape (a canned bulk answer)
and the tools' cores during the run show whether a tool, not the gateway, set the pace.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from e2e import ceilings, procstat, simproc, sink
from e2e.gatewayd_side import CALLBACK_SECRET, Gatewayd, wait_until
from e2e.kannel import Kannel
from e2e.profile import summarise
from e2e.run import CTX, Load, Tools, measure, run_load

ROWS = (
    ("accepted", "accepted", "{:,.0f}"),
    ("accepts_per_s", "accepts/s", "{:,.0f}"),
    ("accept_p50_ms", "accept p50 ms", "{:.1f}"),
    ("accept_p99_ms", "accept p99 ms", "{:.1f}"),
    ("submits_per_s", "submits/s (simulator)", "{:,.0f}"),
    ("callbacks_per_s", "receipts→callbacks/s", "{:,.0f}"),
    ("e2e_per_s", "end-to-end msg/s", "{:,.0f}"),
    ("wall_s", "first send → last callback s", "{:.1f}"),
    ("cpu_ms_per_msg", "CPU ms per message", "{:.3f}"),
    ("loop_ms_per_msg", "  of which event-loop thread", "{:.3f}"),
    ("cores", "gateway cores used", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.1f}"),
    ("loadgen_ms_per_msg", "load generator CPU ms/msg", "{:.3f}"),
    ("sim_ms_per_msg", "simulator CPU ms/msg", "{:.3f}"),
    ("sink_ms_per_msg", "callback sink CPU ms/msg", "{:.3f}"),
    ("callback_connections", "callback TCP connections", "{:,.0f}"),
    ("bad_signatures", "callbacks with a bad signature", "{:,.0f}"),
    ("lost", "lost", "{:,.0f}"),
    ("duplicated_callbacks", "duplicated callbacks", "{:,.0f}"),
    ("duplicated_submits", "duplicated submits", "{:,.0f}"),
)
RATIO_KEYS = {"accepts_per_s", "submits_per_s", "callbacks_per_s", "e2e_per_s",
              "cpu_ms_per_msg", "peak_rss_mb", "accept_p50_ms", "accept_p99_ms"}  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--stall-messages", type=int, default=5_000, help="0 skips the 256 run")
    p.add_argument("--stall-concurrency", type=int, default=256)
    p.add_argument(
        "--no-new-connections",
        action="store_true",
        help="skip the stall run that opens a new connection per request",
    )
    p.add_argument("--bulk-messages", type=int, default=20_000, help="0 skips the bulk run")
    p.add_argument("--bulk-size", type=int, default=500, help="messages per bulk request")
    p.add_argument("--bulk-concurrency", type=int, default=4, help="bulk requests at a time")
    p.add_argument("--only", choices=("gatewayd", "kannel"), help="one gateway only")
    p.add_argument(
        "--rounds", type=int, default=1, help="runs of each gateway, taken in turn (medians)"
    )
    p.add_argument("--loadgen-procs", type=int, default=1, help="load generator processes")
    p.add_argument(
        "--client", choices=("raw", "aiohttp"), default="raw", help="load generator's client"
    )
    p.add_argument("--request-timeout", type=float, default=30.0)
    p.add_argument("--callback-wait", type=float, default=180.0)
    p.add_argument("--sim-ceiling-seconds", type=float, default=3.0, help="0 skips it")
    p.add_argument("--gatewayd-log-level", default="info")
    p.add_argument(
        "--profile-gatewayd",
        choices=("py-spy", "cprofile"),
        help="profile the daemon (py-spy: sampled, all threads, summary printed)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return p.parse_args()


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "load": procstat.load_average()}


def start_tools() -> Tools:
    sim_parent, sim_child = CTX.Pipe()
    sim_proc = CTX.Process(target=simproc.serve, args=(sim_child,), daemon=True)
    sim_proc.start()
    sink_parent, sink_child = CTX.Pipe()
    sink_proc = CTX.Process(target=sink.serve, args=(sink_child, CALLBACK_SECRET), daemon=True)
    sink_proc.start()
    if not sim_parent.poll(60) or not sink_parent.poll(60):
        raise RuntimeError("the simulator or the sink did not start")
    sim_addr = sim_parent.recv()
    sink_port = sink_parent.recv()
    return Tools(sim_parent, sink_parent, sink_port, sim_addr[1], [sim_proc, sink_proc])


def stop_tools(tools: Tools) -> None:
    for pipe in (tools.sim, tools.sink):
        try:
            pipe.send(("stop",))
            if pipe.poll(10):
                pipe.recv()
        except (OSError, EOFError):
            pass
    for proc in tools.children:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def shapes(args: argparse.Namespace) -> list[tuple[str, int, int, bool]]:
    """The runs per gateway: (label, messages, connections, new connection per request)."""
    out = [("main", args.messages, args.concurrency, False)]
    if args.stall_messages > 0:
        c = args.stall_concurrency
        out.append((f"c{c}", args.stall_messages, c, False))
        if not args.no_new_connections:
            out.append((f"c{c}_new", args.stall_messages, c, True))
    return out


def describe(count: int, conc: int, new: bool) -> str:
    how = "a new connection per request" if new else "keep-alive"
    return f"{count:,} messages at {conc} connections, {how}"


def loadgen_ceiling(
    args: argparse.Namespace, count: int, conc: int, new: bool, batch: int = 1
) -> dict[str, Any]:
    """The load generator against a trivial server: requests/s and its CPU per request (per
    message with `batch`: the server answers as the bulk endpoint would)."""
    parent, child = CTX.Pipe()
    proc = CTX.Process(target=ceilings.serve_trivial, args=(child, batch), daemon=True)
    proc.start()
    try:
        port = parent.recv()
        load = Load(
            "trivial",
            count,
            conc,
            args.loadgen_procs,
            client=args.client,
            new_connections=new,
            batch=batch,
        )
        out = run_load(f"http://127.0.0.1:{port}", load)
        seconds = out["end"] - out["first_send"]
        return {
            "requests": count,
            "connections": conc,
            "new_connections": new,
            "ok": out["accepted_count"],
            "requests_per_s": count / seconds,
            "loadgen_cpu_us_per_request": out["cpu_s"] * 1e6 / count,
        }
    finally:
        parent.send("stop")
        proc.join(5)
        if proc.is_alive():
            proc.terminate()


def bench_gateway(
    name: str, args: argparse.Namespace, tools: Tools, work: Path
) -> dict[str, dict[str, Any]]:
    """Start one gateway, run each load shape through it, stop it."""
    units = sum(count for _, count, _, _ in shapes(args)) + max(0, args.bulk_messages) + 100
    gateway: Any
    if name == "kannel":
        gateway = Kannel(work / "kannel", tools.sim_port)
    else:
        gateway = Gatewayd(
            work / "gatewayd",
            tools.sim_port,
            log_level=args.gatewayd_log_level,
            profile=args.profile_gatewayd or "",
        )
    results: dict[str, dict[str, Any]] = {}
    try:
        t0 = time.monotonic()
        if name == "gatewayd":
            gateway.start(units)
        else:
            gateway.start()
        wait_until(lambda: tools.ask_sim("bound", name) >= 1, 60, f"{name} bound")
        print(f"  {name}: started and bound in {time.monotonic() - t0:.1f} s")
        time.sleep(1.0)  # let start-up work settle before the clock starts
        for label, count, conc, new in shapes(args):
            print(f"  {name}: {describe(count, conc, new)} …", flush=True)
            load = Load(
                name,
                count,
                conc,
                args.loadgen_procs,
                token=getattr(gateway, "token", ""),
                request_timeout=args.request_timeout,
                callback_wait=args.callback_wait,
                client=args.client,
                new_connections=new,
            )
            results[label] = measure(gateway, name, tools, load)
            r = results[label]
            print(
                f"    {r['e2e_per_s']:,.0f} msg/s end to end, "
                f"{r['cpu_ms_per_msg']:.3f} ms CPU/msg, lost {r['lost']}, "
                f"duplicated {r['duplicated']}",
                flush=True,
            )
        if name == "gatewayd" and args.bulk_messages > 0:
            print(f"  {name}: {describe_bulk(args)} …", flush=True)
            load = Load(
                name,
                args.bulk_messages,
                args.bulk_concurrency,
                1,
                token=gateway.token,
                request_timeout=args.request_timeout,
                callback_wait=args.callback_wait,
                client=args.client,
                batch=args.bulk_size,
            )
            r = results["bulk"] = measure(gateway, name, tools, load)
            print(
                f"    {r['accepts_per_s']:,.0f} accepts/s, {r['e2e_per_s']:,.0f} msg/s end to "
                f"end, {r['cpu_ms_per_msg']:.3f} ms CPU/msg, lost {r['lost']}, "
                f"duplicated {r['duplicated']}",
                flush=True,
            )
    finally:
        gateway.stop()
    if name == "gatewayd" and args.profile_gatewayd == "py-spy":
        if gateway.spy_output.exists():
            print(summarise(gateway.spy_output))
        else:
            print("  py-spy wrote no profile (see py-spy.err in the work directory; --keep)")
    return results


def describe_bulk(args: argparse.Namespace) -> str:
    return (
        f"bulk: {args.bulk_messages:,} messages in requests of {args.bulk_size} "
        f"({args.bulk_concurrency} at a time, keep-alive)"
    )


# The single-message rows, less the callback connection and signature rows, with the
# latency rows named for what a bulk run times: a whole request.
_BULK_LABELS = {"accept_p50_ms": "request p50 ms", "accept_p99_ms": "request p99 ms"}
BULK_ROWS = tuple(
    (key, _BULK_LABELS.get(key, label), pattern)
    for key, label, pattern in ROWS
    if key not in ("callback_connections", "bad_signatures")
)


def print_bulk(
    args: argparse.Namespace, bulk: dict[str, Any], kannel: dict[str, Any] | None
) -> None:
    """gatewayd's bulk run beside Kannel's single-message run of this invocation."""
    print(f"\ngatewayd {describe_bulk(args)}, beside Kannel's single-message run")
    print(f"  {'':<30}{'Kannel':>12}{'gd bulk':>12}{'bulk/Kannel':>14}")
    for key, label, pattern in BULK_ROWS:
        k = kannel[key] if kannel is not None else None
        g = bulk[key]
        line = f"  {label:<30}{fmt(k, pattern):>12}{fmt(g, pattern):>12}"
        if key in ("accepts_per_s", "e2e_per_s", "cpu_ms_per_msg") and k:
            line += f"{fmt(g / k, '{:.2f}×'):>14}"
        print(line)
    wall = max(1e-9, bulk["wall_s"])
    shares = {
        "load generator": bulk["loadgen_ms_per_msg"],
        "simulator": bulk["sim_ms_per_msg"],
        "callback sink": bulk["sink_ms_per_msg"],
    }
    used = ", ".join(
        f"{name} {ms * bulk['accepted'] / 1000 / wall:.2f}" for name, ms in shares.items()
    )
    print(f"  cores used by the tools over the run: {used} (of {os.cpu_count()})")
    odd = {s: c for s, c in bulk["statuses"].items() if s != "200"}
    if odd or bulk["samples"]:
        print(f"  other answers {odd}; e.g. {bulk['samples']}")


def fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return pattern.format(value)


def print_table(title: str, results: dict[str, dict[str, Any]]) -> None:
    names = [n for n in ("kannel", "gatewayd") if n in results]
    print(f"\n{title}")
    header = f"  {'':<30}" + "".join(f"{n:>12}" for n in names)
    both = len(names) == 2
    print(header + (f"{'gatewayd/Kannel':>17}" if both else ""))
    for key, label, pattern in ROWS:
        line = f"  {label:<30}" + "".join(f"{fmt(results[n][key], pattern):>12}" for n in names)
        if both and key in RATIO_KEYS:
            k, g = results["kannel"][key], results["gatewayd"][key]
            ratio = g / k if k and not math.isnan(k) and not math.isnan(g) else float("nan")
            line += f"{fmt(ratio, '{:.2f}×'):>17}"
        print(line)
    for n in names:
        odd = {s: c for s, c in results[n]["statuses"].items() if s not in ("200", "202")}
        if odd:
            print(f"  {n}: other answers {odd}; e.g. {results[n]['samples']}")


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so every process started here is stopped by the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine()
    print(f"machine: {info['nproc']} × {info['cpu']}; load average {info['load']}")
    print(
        f"load: {args.messages:,} single-message HTTP sends at {args.concurrency} connections, "
        f"then {args.stall_messages:,} at {args.stall_concurrency}; "
        f"{args.loadgen_procs} load process(es), {args.client} HTTP client"
    )
    work = Path(tempfile.mkdtemp(prefix="e2e-bench-"))
    summary: dict[str, Any] = {"machine": info}
    tools: Tools | None = None
    results: dict[str, dict[str, dict[str, Any]]] = {}
    failed: list[str] = []
    rounds: list[dict[str, dict[str, Any]]] = []
    try:
        print("\nceilings of the tools (alone, not the gateways'):")
        if args.sim_ceiling_seconds > 0:
            sim_c = ceilings.simulator_ceiling(args.sim_ceiling_seconds)
            summary["sim_ceiling"] = sim_c
            print(
                f"  simulator, direct pipelined client, window 100, receipts on: "
                f"{sim_c.get('submits_per_s', '?'):,} submits/s, "
                f"{sim_c.get('receipts_per_s', '?'):,} receipts/s"
            )
        summary["loadgen_ceiling"] = {}
        for label, count, conc, new in shapes(args):
            lg = loadgen_ceiling(args, min(count, 20_000), conc, new)
            summary["loadgen_ceiling"][label] = lg
            print(
                f"  load generator → trivial HTTP server, {describe(lg['requests'], conc, new)}:"
                f" {lg['requests_per_s']:,.0f} requests/s "
                f"({lg['loadgen_cpu_us_per_request']:.0f} µs of its CPU per request)"
            )
        if args.bulk_messages > 0 and args.only != "kannel":
            lg = loadgen_ceiling(
                args, args.bulk_messages, args.bulk_concurrency, False, args.bulk_size
            )
            summary["loadgen_ceiling"]["bulk"] = lg
            print(
                f"  load generator → trivial server answering as the bulk endpoint, "
                f"{describe_bulk(args)}: {lg['requests_per_s']:,.0f} messages/s "
                f"({lg['loadgen_cpu_us_per_request']:.0f} µs of its CPU per message)"
            )
        tools = start_tools()
        names = [args.only] if args.only else ["kannel", "gatewayd"]
        for n in range(args.rounds):
            order = names if n % 2 == 0 else names[::-1]  # neither always goes first
            for name in order:
                print(
                    f"\n{name}" + (f", round {n + 1} of {args.rounds}:" if args.rounds > 1 else ":")
                )
                try:  # each round's gateway starts afresh: its own work directory
                    here = work / f"round-{n + 1}" if args.rounds > 1 else work
                    results[name] = bench_gateway(name, args, tools, here)
                except (RuntimeError, OSError, ValueError) as exc:
                    failed.append(name)
                    print(f"  {name}: FAILED: {exc}")
            rounds.append({name: dict(r["main"]) for name, r in results.items() if "main" in r})
    finally:
        if tools is not None:
            stop_tools(tools)
        if args.keep:
            print(f"\nwork directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    for label, count, conc, new in shapes(args):
        table = {n: r[label] for n, r in results.items() if label in r}
        if table:
            note = "" if label == "main" else " (does either stall?)"
            print_table(describe(count, conc, new) + note, table)
    bulk = results.get("gatewayd", {}).get("bulk")
    if bulk is not None:
        print_bulk(args, bulk, results.get("kannel", {}).get("main"))
    print(
        "CPU per message counts the gateway's own processes (Kannel: bearerbox + smsbox; "
        "gatewayd: the daemon, its API process and its callback process); the tools share the "
        "same cores."
    )
    if args.rounds > 1:
        summary.update(print_rounds(rounds))
    print(f"machine load average at the end: {procstat.load_average()}")
    summary.update(json_summary(results))
    summary["failed"] = failed
    print(json.dumps(summary, default=str))
    return 1 if failed else 0


ROUND_KEYS = ("e2e_per_s", "cpu_ms_per_msg", "accepts_per_s")


def print_rounds(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each round's main figures, side by side, and their medians (the tables above are the
    last round's): on a shared machine one round moves by ±15 %, so the ratio of a single
    round says less than the median of several taken in turn."""
    print(f"\nthe main load, round by round ({len(rounds)} rounds, the order alternating):")
    names = sorted({name for r in rounds for name in r})
    for n, r in enumerate(rounds, start=1):
        cells = [f"{name} {r[name]['e2e_per_s']:,.0f} msg/s {r[name]['cpu_ms_per_msg']:.3f} ms"
                 for name in names if name in r]  # fmt: skip
        print(f"  round {n}: " + "; ".join(cells))
    out: dict[str, Any] = {"rounds": [
        {f"{name}_{key}": round(r[name][key], 3) for name in r for key in ROUND_KEYS}
        for r in rounds
    ]}  # fmt: skip
    for name in names:
        for key in ROUND_KEYS:
            values = [r[name][key] for r in rounds if name in r]
            out[f"{name}_{key}_median"] = round(statistics.median(values), 3)
    if {"gatewayd", "kannel"} <= set(names):
        for key in ("e2e_per_s", "cpu_ms_per_msg"):
            ratio = out[f"gatewayd_{key}_median"] / out[f"kannel_{key}_median"]
            out[f"gatewayd_vs_kannel_{key}_median"] = round(ratio, 3)
            print(f"  median {key}: gatewayd {out[f'gatewayd_{key}_median']:,} / Kannel "
                  f"{out[f'kannel_{key}_median']:,} = {ratio:.2f}×")  # fmt: skip
    return out


def json_summary(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    keys = ("e2e_per_s", "cpu_ms_per_msg", "accepts_per_s", "accept_p50_ms", "accept_p99_ms",
            "submits_per_s", "callbacks_per_s", "peak_rss_mb")  # fmt: skip
    lost = duplicated = 0
    for name, runs in results.items():
        for label, r in runs.items():
            prefix = name if label == "main" else f"{name}_{label}"
            for key in keys:
                value = r[key]
                out[f"{prefix}_{key}"] = None if math.isnan(value) else round(value, 3)
            out[f"{prefix}_lost"] = r["lost"]
            out[f"{prefix}_duplicated"] = r["duplicated"]
            out[f"{prefix}_accepted"] = r["accepted"]
            lost += r["lost"]
            duplicated += r["duplicated"]
    out["lost"] = lost
    out["duplicated"] = duplicated
    for key in ("gatewayd_e2e_per_s", "kannel_e2e_per_s", "gatewayd_cpu_ms_per_msg",
                "kannel_cpu_ms_per_msg", "gatewayd_bulk_accepts_per_s",
                "gatewayd_bulk_e2e_per_s", "gatewayd_bulk_cpu_ms_per_msg"):  # fmt: skip
        out.setdefault(key, None)
    kannel = out["kannel_e2e_per_s"]
    for key in ("accepts_per_s", "e2e_per_s"):
        bulk = out[f"gatewayd_bulk_{key}"]
        ratio = bulk / kannel if bulk is not None and kannel else None
        out[f"gatewayd_bulk_{key}_vs_kannel_e2e"] = None if ratio is None else round(ratio, 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
