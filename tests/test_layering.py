"""The pure core never reads the clock: `now` is always a parameter (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE_PACKAGES = ["smpp/core", "billing", "routing"]
CLOCK_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _clock_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in CLOCK_CALLS
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            names = {alias.name for alias in node.names}
            if names & {"time", "monotonic", "perf_counter", "time_ns"}:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from time import …")
    return found


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_core_reads_no_clock(package: str) -> None:
    paths = sorted((ROOT / package).rglob("*.py"))
    offences = [hit for path in paths for hit in _clock_calls(path)]
    assert offences == []
