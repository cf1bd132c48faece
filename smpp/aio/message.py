"""One message in the pool: its parts, their attempts and results, and the future that ends it.

The ordering rule lives here: part i+1 becomes ready only after part i was accepted
(submit_sm_resp ESME_ROK), so the SMSC never holds a later part of a long message before an
earlier one, whatever throttling, timeouts or reconnects happen in between. When a part fails
for good, the parts after it are not sent (`Outcome.NOT_SENT`): a long message with a hole
cannot be reassembled by the handset, and every part is billed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence

from smpp.aio.events import MessageResult, Outcome, PartResult
from smpp.core.pdu import SubmitSm

PartCallback = Callable[[PartResult], None]


class Part:
    """One submit_sm of a message, as the pool moves it around."""

    __slots__ = ("attempts", "in_doubt", "index", "message", "pdu", "throttled")

    def __init__(self, message: Message, index: int, pdu: SubmitSm) -> None:
        self.message = message
        self.index = index
        self.pdu = pdu
        self.attempts = 0
        self.throttled = 0
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
            index=self.index,
            outcome=outcome,
            command_status=status,
            message_id=message_id,
            message_key=message_key,
            bind_id=bind_id,
            attempts=self.attempts,
            throttled=self.throttled,
            in_doubt=self.in_doubt,
            error=error,
        )


class Message:
    """The parts of one message, sent strictly one after another."""

    __slots__ = ("future", "last_bind", "on_part", "parts", "ref", "results")

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
        self.parts = [Part(self, i, pdu) for i, pdu in enumerate(pdus)]
        self.results: list[PartResult | None] = [None] * len(self.parts)
        self.last_bind: object | None = None  # the bind that took the previous part

    @property
    def done(self) -> bool:
        """True once every part has a result."""
        return self.results[-1] is not None

    def settle(self, part: Part, result: PartResult) -> Part | None:
        """Record `part`'s result; the next part to send, or None when the message ended.

        A failed part ends the message: the parts after it are NOT_SENT.
        """
        self.results[part.index] = result
        if self.on_part is not None:
            self.on_part(result)
        nxt = part.index + 1
        if result.outcome is Outcome.OK and nxt < len(self.parts):
            return self.parts[nxt]
        for later in self.parts[nxt:]:
            self.results[later.index] = later.result(
                Outcome.NOT_SENT, error=f"part {part.index + 1} ended {result.outcome.value}"
            )
        self._complete()
        return None

    def abandon(self, part: Part, outcome: Outcome, error: str) -> None:
        """End the message at `part` (not answered or not sent) and everything after it."""
        self.settle(part, part.result(outcome, error=error))

    def _complete(self) -> None:
        if not self.future.done():
            results = tuple(r for r in self.results if r is not None)
            self.future.set_result(MessageResult(self.ref, results))
