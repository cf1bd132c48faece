"""One measured run: n messages through one gateway at a fixed concurrency, until every
accepted message has its final callback (or a bounded wait ends), and its figures."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from e2e import loadgen, procstat

CTX = multiprocessing.get_context("spawn")


class Gateway(Protocol):
    @property
    def base(self) -> str: ...

    @property
    def pids(self) -> list[int]: ...


@dataclass
class Tools:
    """Pipes to the long-lived tool processes."""

    sim: Connection
    sink: Connection
    sink_port: int
    sim_port: int = 0
    children: list[Any] = field(default_factory=list)

    def ask_sim(self, *command: Any) -> Any:
        self.sim.send(command)
        return self.sim.recv()

    def ask_sink(self, *command: Any) -> Any:
        self.sink.send(command)
        return self.sink.recv()


@dataclass(frozen=True)
class Load:
    kind: str  # gatewayd | kannel | trivial
    messages: int
    concurrency: int
    processes: int = 1
    token: str = ""
    request_timeout: float = 30.0
    max_send_seconds: float = 600.0
    callback_wait: float = 180.0  # at most this long after the last accept
    stall_wait: float = 30.0  # give up sooner when no callback arrives for this long
    client: str = "raw"  # the load generator's HTTP client: raw | aiohttp
    new_connections: bool = False  # a new TCP connection for every request
    batch: int = 1  # messages per request (> 1: gatewayd's bulk endpoint)


def run_load(
    base: str, load: Load, sink_port: int = 0, *, progress: bool = False
) -> dict[str, Any]:
    """Send `load.messages` requests from `load.processes` child processes; merged results."""
    parts = max(1, min(load.processes, load.concurrency))
    pipes: list[Connection] = []
    procs = []
    try:
        for k in range(parts):
            spec = loadgen.Spec(
                kind=load.kind,
                base=base,
                indices=range(k, load.messages, parts),
                total=load.messages,
                concurrency=max(1, load.concurrency // parts + (k < load.concurrency % parts)),
                sink_port=sink_port,
                token=load.token,
                request_timeout=load.request_timeout,
                max_seconds=load.max_send_seconds,
                client=load.client,
                new_connections=load.new_connections,
                batch=load.batch,
            )
            parent, child = CTX.Pipe()
            proc = CTX.Process(target=loadgen.serve, args=(child, spec), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise RuntimeError("a load process did not get ready")
        for pipe in pipes:
            pipe.send("go")
        limit = load.max_send_seconds + load.request_timeout + 60
        results = []
        for pipe in pipes:
            if not pipe.poll(limit):
                raise RuntimeError("a load process did not finish in time")
            results.append(pipe.recv())
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    return merge(results, load.messages)


def merge(results: list[dict[str, Any]], total: int) -> dict[str, Any]:
    accepted = bytearray(total)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    samples: dict[str, str] = {}
    for r in results:
        for i, flag in enumerate(r["accepted"]):
            if flag:
                accepted[i] = 1
        latencies.extend(r["latencies"])
        for key, count in r["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
        samples.update(r["samples"])
    return {
        "accepted": accepted,
        "accepted_count": sum(accepted),
        "latencies": latencies,
        "statuses": statuses,
        "samples": samples,
        "first_send": min(r["first_send"] for r in results),
        "last_accept": max(r["last_accept"] for r in results),
        "end": max(r["end"] for r in results),
        "cpu_s": sum(r["cpu_s"] for r in results),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def measure(
    gateway: Gateway, system_id: str, tools: Tools, load: Load, log: Any = print
) -> dict[str, Any]:
    """The whole run through `gateway` and its figures."""
    tools.ask_sink("reset", load.messages)
    mark = tools.ask_sim("mark")
    sim_cpu0, sink_cpu0 = tools.ask_sim("cpu"), tools.ask_sink("cpu")
    cpu0 = procstat.total_cpu(gateway.pids)
    main0 = procstat.main_thread_cpu(gateway.pids[0])
    sent = run_load(gateway.base, load, tools.sink_port)
    accepted = sent["accepted_count"]
    log(
        f"    sent {load.messages:,}: {accepted:,} accepted in "
        f"{sent['last_accept'] - sent['first_send']:.1f} s; statuses {sent['statuses']}"
    )
    wait_callbacks(tools, accepted, load, log)
    cpu1 = procstat.total_cpu(gateway.pids)
    main1 = procstat.main_thread_cpu(gateway.pids[0])
    sim_cpu1, sink_cpu1 = tools.ask_sim("cpu"), tools.ask_sink("cpu")
    time.sleep(0.5)  # a short grace, so that duplicates still on their way are counted
    cb = tools.ask_sink("stats", True)
    rss = sum(procstat.peak_rss_kb(pid) for pid in gateway.pids)
    sim = tools.ask_sim("stats", system_id, mark)
    finals = cb["finals"]
    lost = sum(1 for i, flag in enumerate(sent["accepted"]) if flag and finals[2 * i : 2 * i + 2]
               == b"\0\0")  # fmt: skip
    first_send = sent["first_send"]
    last_cb = cb["last_at"] or time.monotonic()
    lat = sent["latencies"]
    messages = max(1, accepted)
    return {
        "messages": load.messages,
        "concurrency": load.concurrency,
        "new_connections": load.new_connections,
        "accepted": accepted,
        "refused_or_failed": load.messages - accepted,
        "statuses": sent["statuses"],
        "samples": sent["samples"],
        "accepts_per_s": rate(accepted, sent["last_accept"] - first_send),
        "accept_p50_ms": percentile(lat, 0.5) * 1000,
        "accept_p99_ms": percentile(lat, 0.99) * 1000,
        "submits": sim["accepted"],
        "submits_per_s": rate(sim["accepted"], (sim["last_at"] or 0) - (sim["first_at"] or 0)),
        "callbacks_per_s": rate(cb["with_final"], (cb["last_at"] or 0) - (cb["first_at"] or 0)),
        "e2e_per_s": rate(cb["with_final"], last_cb - first_send),
        "wall_s": last_cb - first_send,
        "with_final": cb["with_final"],
        "delivered": cb["delivered"],
        "failed": cb["failed"],
        "non_final_callbacks": cb["non_final"],
        "bad_signatures": cb["bad_signature"] if system_id == "gatewayd" else float("nan"),
        "callback_connections": cb["connections"],
        "cpu_ms_per_msg": (cpu1 - cpu0) * 1000 / messages,
        "cpu_s": cpu1 - cpu0,
        "loop_ms_per_msg": (main1 - main0) * 1000 / messages
        if system_id == "gatewayd"
        else float("nan"),
        "cores": (cpu1 - cpu0) / max(1e-9, last_cb - first_send),
        "peak_rss_mb": rss / 1024,
        "tools_cpu_s": sim_cpu1 - sim_cpu0 + sink_cpu1 - sink_cpu0 + sent["cpu_s"],
        "loadgen_ms_per_msg": sent["cpu_s"] * 1000 / messages,
        "sim_ms_per_msg": (sim_cpu1 - sim_cpu0) * 1000 / messages,
        "sink_ms_per_msg": (sink_cpu1 - sink_cpu0) * 1000 / messages,
        "lost": lost,
        "duplicated_callbacks": cb["duplicated"],
        "duplicated_submits": sim["duplicated"],
        "duplicated": cb["duplicated"] + sim["duplicated"],
        "sim_receipts_sent": sim["receipts_sent"],
        "sim_max_in_flight": sim["max_in_flight"],
    }


def wait_callbacks(tools: Tools, accepted: int, load: Load, log: Any) -> None:
    """Poll the sink until every accepted message has a final callback, or the bounded wait
    (overall, or without progress) ends."""
    start = time.monotonic()
    seen, seen_at = -1, start
    while True:
        figures = tools.ask_sink("stats", False)
        now = time.monotonic()
        if figures["with_final"] >= accepted:
            break
        if figures["with_final"] != seen:
            seen, seen_at = figures["with_final"], now
        if now - seen_at > load.stall_wait or now - start > load.callback_wait:
            log(
                f"    stopped waiting: {figures['with_final']:,} of {accepted:,} final "
                f"callbacks after {now - start:.0f} s"
            )
            break
        time.sleep(0.2)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")
