"""The submit window."""

from __future__ import annotations

import pytest

from smpp.core.window import Window


def test_add_pop_and_capacity() -> None:
    w = Window(2)
    w.add(1, "a", 10.0)
    w.add(2, "b", 11.0)
    assert w.full and w.free == 0 and len(w) == 2 and 1 in w
    with pytest.raises(ValueError, match="full"):
        w.add(3, "c", 12.0)
    assert w.pop(1) == ("a", 10.0)
    assert w.pop(1) is None
    w.add(3, "c", 12.0)
    w.pop(2)
    with pytest.raises(ValueError, match="in flight"):
        w.add(3, "d", 12.0)


def test_next_deadline_skips_finished_entries() -> None:
    w = Window(10)
    for seq in range(1, 6):
        w.add(seq, seq, float(seq))
    assert w.next_deadline() == 1.0
    w.pop(1)
    w.pop(2)
    assert w.next_deadline() == 3.0
    w.pop(4)
    assert w.expire(4.5) == [(3, 3)]
    assert w.next_deadline() == 5.0
    assert w.drain() == [(5, 5)]
    assert w.next_deadline() is None


def test_expire_returns_due_entries_oldest_first() -> None:
    w = Window(10)
    w.add(7, "x", 5.0)
    w.add(8, "y", 5.0)
    w.add(9, "z", 6.0)
    assert w.expire(4.9) == []
    assert w.expire(5.0) == [(7, "x"), (8, "y")]
    assert w.ref(9) == "z"


def test_deadlines_never_decrease_in_order() -> None:
    w = Window(10)
    w.add(1, "a", 10.0)
    w.add(2, "b", 9.0)  # an earlier deadline after a later one is raised to it
    assert w.expire(9.5) == []
    assert w.expire(10.0) == [(1, "a"), (2, "b")]


def test_a_reused_number_is_not_confused_with_its_old_entry() -> None:
    w = Window(10)
    w.add(1, "old", 1.0)
    w.pop(1)
    w.add(1, "new", 50.0)
    assert w.expire(2.0) == []
    assert w.next_deadline() == 50.0
