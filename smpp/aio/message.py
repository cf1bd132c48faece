"""One message in the pool: its parts, their attempts and results, and the future that ends it.

The ordering rule lives here: part i+1 becomes ready only after part i was accepted
(submit_sm_resp ESME_ROK), so the SMSC never holds a later part of a long message before an
earlier one, whatever throttling, timeouts or reconnects happen in between. When a part fails
for good, the parts after it are not sent (`Outcome.NOT_SENT`): a long message with a hole
cannot be reassembled by the handset, and every part is billed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from smpp.aio.events import MessageResult, Outcome, PartResult
from smpp.core.pdu import SubmitSm

if TYPE_CHECKING:
    from smpp.aio.slot import BindSlot

PartCallback = Callable[[PartResult], None]

log = logging.getLogger("smpp.aio.message")


class Part:
    """One submit_sm of a message, as the pool moves it around."""

    __slots__ = ("attempts", "in_doubt", "index", "message", "pdu", "throttled", "unanswered")

    def __init__(self, message: Message, index: int, pdu: SubmitSm) -> None:
        self.message = message
        self.index = index
        self.pdu = pdu
        self.attempts = 0
        self.throttled = 0
        self.unanswered = 0  # sends whose answer never came
        self.in_doubt = False

    def result(
        self,
        outcome: Outcome,
        *,
        status: int | None = None,
        message_id: str | None = None,
        message_key: str | None = None,
        bind_id: str | None = None,
        error: str = "",
    ) -> PartResult:
        """This part's result with its counters."""
        return PartResult(
            self.index,
            outcome,
            status,
            message_id,
            message_key,
            bind_id,
            self.attempts,
            self.throttled,
            self.in_doubt,
            error,
        )


class Message:
    """The parts of one message, sent strictly one after another.

    A `Part` is made only when it becomes ready, and the message keeps its PDUs, not its
    parts: a part points at its message, and a message pointing back at its parts would make
    every message a reference cycle, freed only by the garbage collector, whose collections
    over thousands of them pause the loop for milliseconds at a time and put holes in the pace.
    """

    __slots__ = ("future", "last_bind", "on_part", "pdus", "ref", "results")

    def __init__(
        self,
        pdus: Sequence[SubmitSm],
        ref: Hashable | None,
        future: asyncio.Future[MessageResult],
        on_part: PartCallback | None,
    ) -> None:
        self.ref = ref
        self.future = future
        self.on_part = on_part
        self.pdus = pdus
        self.results: list[PartResult | None] = [None] * len(pdus)
        self.last_bind: BindSlot | None = None  # the bind that took the previous part

    def first(self) -> Part:
        """The first part, to be queued."""
        return Part(self, 0, self.pdus[0])

    @property
    def done(self) -> bool:
        """True once every part has a result."""
        return self.results[-1] is not None

    def settle(self, part: Part, result: PartResult) -> Part | None:
        """Record `part`'s result; the next part to send, or None when the message ended.

        A failed part ends the message: the parts after it are NOT_SENT. The future is
        resolved before the last `on_part` calls, and an `on_part` that raises is logged, not
        propagated: it runs inside the connection's read callback, where an exception would
        close the bind and leave every other part on it in doubt.
        """
        results = self.results
        results[part.index] = result
        nxt = part.index + 1
        pdus = self.pdus
        if nxt < len(pdus) and result.outcome is Outcome.OK:
            if self.on_part is not None:
                self._tell(result)
            return Part(self, nxt, pdus[nxt])
        ended = [result]
        if nxt < len(pdus):
            why = f"part {nxt} ended {result.outcome.value}"
            for index in range(nxt, len(pdus)):  # never sent: nothing counted
                later = Part(self, index, pdus[index])
                results[index] = skipped = later.result(Outcome.NOT_SENT, error=why)
                ended.append(skipped)
        future = self.future
        if not future.done():
            future.set_result(MessageResult(self.ref, tuple(results)))  # type: ignore[arg-type]
        if self.on_part is not None:
            for each in ended:
                self._tell(each)
        return None

    def _tell(self, result: PartResult) -> None:
        """`on_part(result)`; its exception is logged (see `settle`)."""
        assert self.on_part is not None
        try:
            self.on_part(result)
        except Exception:
            log.exception("on_part failed: message %r part %d", self.ref, result.part_index)

    def abandon(self, part: Part, outcome: Outcome, error: str) -> None:
        """End the message at `part` (not answered or not sent) and everything after it."""
        self.settle(part, part.result(outcome, error=error))
