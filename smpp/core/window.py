"""The submit window of one bind: requests in flight, by sequence number, with deadlines.

Entries are kept in the order they were added, and deadlines never decrease in that order
(`add` raises a deadline to the previous one if needed; the session uses one response timeout
and a monotonic clock, so this never changes anything there). The earliest deadline is
therefore the oldest live entry, found in O(1) amortised: a deque of entries in order, whose
finished ones are dropped lazily from the front.
"""

from __future__ import annotations

from collections import deque

_Entry = tuple[int, object, float]  # (sequence_number, ref, deadline)


class Window:
    """At most `size` requests in flight: sequence_number -> (ref, deadline)."""

    __slots__ = ("_by_seq", "_last_deadline", "_order", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        self.size = size
        self._by_seq: dict[int, _Entry] = {}
        self._order: deque[_Entry] = deque()
        self._last_deadline = float("-inf")

    def __len__(self) -> int:
        return len(self._by_seq)

    def __contains__(self, sequence_number: object) -> bool:
        return sequence_number in self._by_seq

    @property
    def full(self) -> bool:
        """No room for another request."""
        return len(self._by_seq) >= self.size

    @property
    def free(self) -> int:
        """Requests that can still be added."""
        return self.size - len(self._by_seq)

    def add(self, sequence_number: int, ref: object, deadline: float) -> None:
        """Track a request; raises ValueError when full or the number is in flight."""
        if len(self._by_seq) >= self.size:
            raise ValueError(f"window of {self.size} is full")
        if sequence_number in self._by_seq:
            raise ValueError(f"sequence_number {sequence_number} is already in flight")
        deadline = max(deadline, self._last_deadline)
        self._last_deadline = deadline
        entry = (sequence_number, ref, deadline)
        self._by_seq[sequence_number] = entry
        self._order.append(entry)

    def pop(self, sequence_number: int) -> tuple[object, float] | None:
        """Stop tracking a request; its (ref, deadline), or None if it is not in flight."""
        entry = self._by_seq.pop(sequence_number, None)
        if entry is None:
            return None
        if len(self._by_seq) == 0:
            self._order.clear()
        return entry[1], entry[2]

    def ref(self, sequence_number: int) -> object | None:
        """The ref of a request in flight, None if there is none."""
        entry = self._by_seq.get(sequence_number)
        return None if entry is None else entry[1]

    def next_deadline(self) -> float | None:
        """The earliest deadline in flight, None when empty."""
        order, by_seq = self._order, self._by_seq
        while order:
            entry = order[0]
            if by_seq.get(entry[0]) is entry:
                return entry[2]
            order.popleft()
        return None

    def expire(self, now: float) -> list[tuple[int, object]]:
        """Remove and return (sequence_number, ref) of every request due at `now`, oldest
        first."""
        due: list[tuple[int, object]] = []
        order, by_seq = self._order, self._by_seq
        while order:
            entry = order[0]
            if by_seq.get(entry[0]) is not entry:
                order.popleft()
                continue
            if entry[2] > now:
                break
            order.popleft()
            del by_seq[entry[0]]
            due.append((entry[0], entry[1]))
        return due

    def drain(self) -> list[tuple[int, object]]:
        """Remove and return every request in flight, oldest first."""
        out = [(seq, ref) for seq, ref, _ in self._by_seq.values()]
        self._by_seq.clear()
        self._order.clear()
        return out
