"""`ahead_of_neighbours`: the nice value raised for the block (where permitted) and restored."""

from __future__ import annotations

import os

from smpp.sim.priority import ahead_of_neighbours


def test_the_priority_is_raised_for_the_block_and_restored_after() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with ahead_of_neighbours(-5):
        inside = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    assert inside == (-5 if os.geteuid() == 0 else before)  # unchanged where refused
