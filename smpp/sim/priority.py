"""Priority for the client a simulated SMSC measures, on a machine shared with other work.

The simulator itself runs ahead of everything (`python -m smpp.sim --realtime N`); a client
holding a TPS contract against it (the contract bench, the realtime pacing test) runs at a
lowered nice value (a higher priority) while it does, so that other work takes its turns
after the pool's rather than in the middle of its pace: the pool is measured, not its
neighbours. On Linux the value is the calling thread's: call it from the event loop's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def ahead_of_neighbours(nice: int = -10) -> Iterator[None]:
    """The calling thread at `nice` for the block, back to its own after; nothing changes
    where raising a priority is refused (not root)."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        raised = True
    except OSError:
        raised = False
    try:
        yield
    finally:
        if raised:
            os.setpriority(os.PRIO_PROCESS, 0, before)
