"""CPU time and peak RSS of a process, from /proc (Linux), for the gateway's processes only."""

from __future__ import annotations

import os
from collections.abc import Iterable

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` so far, in seconds (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14 and 15 of proc(5)


def peak_rss_kb(pid: int) -> int:
    """VmHWM of `pid` in kB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (gatewayd's API and callback processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found


def total_cpu(pids: Iterable[int]) -> float:
    """Summed CPU seconds of several processes."""
    return sum(cpu_seconds(pid) for pid in pids)


def load_average() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg shows them."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def main_thread_cpu(pid: int) -> float:
    """CPU seconds of the main thread of `pid` (the event loop for a Python daemon); the
    rest of `cpu_seconds(pid)` is its other threads (thread pools: SQLite, DNS), ended or not."""
    return _task_cpu(pid, pid)


def _task_cpu(pid: int, tid: int) -> float:
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS
