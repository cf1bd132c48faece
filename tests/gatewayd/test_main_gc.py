"""The collector settings `gatewayd run` takes once started."""

from __future__ import annotations

import gc

from gatewayd.lifecycle import GC_THRESHOLDS, settle_gc


def test_settle_gc_freezes_start_up_objects_and_widens_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        settle_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what start-up built is out of the collector's walk
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
