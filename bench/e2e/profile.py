"""Summaries of a py-spy profile of the daemon and its helper processes (raw "collapsed
stacks": one line per distinct stack, frames separated by ';', a sample count at the end;
with --subprocesses each stack starts with the chain of processes it was sampled in).

Self time goes to the innermost frame's module; "inclusive" time to each of the project's
top-level packages (http_api, gatewayd.*, smpp.*) anywhere on the stack, so the owners of a
module see what their code and what it calls cost.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]+?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\): (?P<name>.*)$")
OURS = ("gatewayd", "http_api", "smpp", "billing", "routing", "config")
# The composition roots of the three processes: not an activity.
ROOTS = {"gatewayd.cli", "gatewayd.main", "gatewayd", "gatewayd.intake_child",
         "gatewayd.callback_process"}  # fmt: skip


def module_of(path: str) -> str:
    """A module name for a frame's file as py-spy prints it (relative to sys.path)."""
    path = path.split("site-packages/", 1)[-1].removeprefix("./")
    parts = path.removesuffix(".py").split("/")
    if parts[0] in OURS:
        return ".".join(parts)
    return parts[0]


def is_ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in OURS


def _role(process_frame: str) -> str:
    """Which of gatewayd's processes a py-spy `process <pid>:"<command line>"` frame names."""
    if "gatewayd.intake_child" in process_frame:
        return "api"
    if "gatewayd.callback_process" in process_frame:
        return "callbacks"
    return "daemon"


def read(path: Path) -> list[tuple[str, list[tuple[str, str]], int]]:
    """(thread name, [(function, module) outermost first], samples) per distinct stack."""
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        role = "daemon"
        while frames and frames[0].startswith("process "):  # py-spy --subprocesses: the chain
            role = _role(frames.pop(0))
        thread = "?"
        head = _THREAD.match(frames[0]) if frames else None
        if head:
            thread = f"{role} {head.group('name') or head.group('tid')}"
            frames = frames[1:]
        parsed = []
        for frame in frames:
            m = _FRAME.match(frame.strip())
            parsed.append((m.group("func"), module_of(m.group("file"))) if m else (frame, "?"))
        stacks.append((thread, parsed, int(count)))
    return stacks


def activity(thread: str, frames: list[tuple[str, str]]) -> str:
    """The component a sample belongs to: the outermost project module below the root."""
    for _, module in frames:
        if is_ours(module) and module not in ROOTS:
            where = "http_api (request handling)" if module.startswith("http_api") else module
            break
    else:
        where = "event loop itself (asyncio, selectors, transports)"
    return where if thread.endswith(" MainThread") else f"[thread {thread}] {where}"


def summarise(path: Path, top: int = 15) -> str:
    stacks = read(path)
    total = sum(c for _, _, c in stacks) or 1
    self_by: Counter[str] = Counter()
    func_by: Counter[str] = Counter()
    incl_by: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    act_by: Counter[str] = Counter()
    thread_by: Counter[str] = Counter()
    for thread, frames, count in stacks:
        if not frames:
            continue
        func, module = frames[-1]
        self_by[module] += count
        func_by[f"{func} ({module})"] += count
        for name in {m for _, m in frames if is_ours(m) and m not in ROOTS}:
            incl_by[name] += count
        for name in {f"{m}.{f}" for f, m in frames if is_ours(m) and m not in ROOTS}:
            incl_fn[name] += count
        act_by[activity(thread, frames)] += count
        thread_by[thread] += count

    def block(title: str, counter: Counter[str], n: int) -> list[str]:
        return [f"  {title}:"] + [
            f"    {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)
        ]

    lines = [
        f"py-spy: {total:,} samples of the daemon and its helper processes (all threads; idle"
        " waits excluded)"
    ]
    lines += block("by thread", thread_by, 6)
    lines += block("by component (outermost project module on the stack)", act_by, top)
    lines += block("inclusive, by project module (it and what it calls)", incl_by, top + 10)
    lines += block("inclusive, by project function", incl_fn, top + 15)
    lines += block("self time by module", self_by, top)
    lines += block("self time by function", func_by, top)
    return "\n".join(lines)
