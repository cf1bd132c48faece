"""Deliveries an SMSC owes its ESMEs (receipts and MO), kept until acknowledged.

A deliver_sm goes to a receiver or transceiver bind of its system_id, round robin; with none
bound it waits. Each connection keeps what it sent in `pending` (sequence number → delivery,
in send order); a periodic sweep resends what was not answered within the policy's
`ack_timeout` (new sequence number, possibly another bind) until acknowledged or, with
`max_attempts`, given up. A connection that goes away hands its pending deliveries back.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from smpp.core.status import CommandStatus as St
from smpp.sim.config import ReceiptPolicy
from smpp.sim.delivery import DeliveryKind, Outgoing
from smpp.sim.records import SmscRecord

if TYPE_CHECKING:
    from smpp.sim.connection import SmscConnection

_TEMPORARY = frozenset({St.ESME_RX_T_APPN, St.ESME_RMSGQFUL, St.ESME_RTHROTTLED, St.ESME_RSYSERR})


class Outbox:
    """The deliveries of one SMSC and the receivers they go to."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        record: SmscRecord,
        policy: ReceiptPolicy,
        after_timer: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._record = record
        self._policy = policy
        self._after_timer = after_timer  # flush writes and wake waiters
        self._receivers: dict[str, list[SmscConnection]] = {}
        self._turn = 0
        self._waiting: dict[str, deque[Outgoing]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        limit = policy.max_attempts
        self._max_attempts = math.inf if limit is None else max(1, limit)

    def start(self) -> None:
        """Begin the periodic resend sweep."""
        period = max(0.01, min(1.0, self._policy.ack_timeout / 4))
        self._sweeper = self._loop.call_later(period, self._sweep)

    def stop(self) -> None:
        """Stop sweeping; fail the MO waits of deliveries still waiting for a receiver."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for queue in self._waiting.values():
            for item in queue:
                if item.done is not None and not item.done.done():
                    item.done.cancel()

    @property
    def waiting(self) -> int:
        """Deliveries held because no receiver of their system_id is bound."""
        return sum(len(q) for q in self._waiting.values())

    # --- receivers --------------------------------------------------------------------------

    def add_receiver(self, conn: SmscConnection, now: float) -> None:
        """`conn` is bound as receiver or transceiver: send it what waited for one."""
        self._receivers.setdefault(conn.system_id, []).append(conn)
        waiting = self._waiting.pop(conn.system_id, None)
        while waiting:
            self.send(waiting.popleft(), now)

    def connection_lost(self, conn: SmscConnection) -> None:
        """Forget `conn` as a receiver and send its unanswered deliveries elsewhere."""
        receivers = self._receivers.get(conn.system_id)
        if receivers and conn in receivers:
            receivers.remove(conn)
        pending = list(conn.pending.values())
        conn.pending.clear()
        now = self._loop.time()
        for item, _sent in pending:
            self.send(item, now)

    # --- sending and answers ----------------------------------------------------------------

    def send(self, item: Outgoing, now: float) -> None:
        """Send `item` on the next receiver of its system_id, or hold it until one binds."""
        receivers = self._receivers.get(item.system_id)
        if not receivers:
            self._waiting.setdefault(item.system_id, deque()).append(item)
            return
        self._turn += 1
        receivers[self._turn % len(receivers)].send_delivery(item, now)

    def answered(self, conn: SmscConnection, item: Outgoing, status: int) -> None:
        """A deliver_sm_resp (or generic_nack) for `item` arrived on `conn`.

        A temporary error (ESME_RX_T_APPN, queue full, throttled, system error) sends it
        again a little later; anything else ends it (errors counted in `delivers_nacked`).
        """
        if status and status in _TEMPORARY and item.attempts < self._max_attempts:
            delay = min(1.0, self._policy.ack_timeout / 4)
            self._loop.call_later(delay, self._resend, item)
            return
        record = self._record
        if status:
            record.delivers_nacked += 1
        item.acked = True
        if conn.bind is not None:
            conn.bind.delivers_acked += 1
        if item.kind is DeliveryKind.RECEIPT:
            record.receipts_acked += 1
        else:
            record.mo_acked += 1
        if item.done is not None and not item.done.done():
            item.done.set_result(None)

    def _resend(self, item: Outgoing) -> None:
        self.send(item, self._loop.time())
        self._after_timer()

    def sweep(self, connections: list[SmscConnection]) -> None:
        """Resend what `connections` sent more than `ack_timeout` ago without an answer."""
        now = self._loop.time()
        edge = now - self._policy.ack_timeout
        for conn in connections:
            overdue: list[tuple[int, Outgoing]] = []
            for seq, (item, sent) in conn.pending.items():
                if sent > edge or len(overdue) >= 1000:  # in send order; the rest next time
                    break
                overdue.append((seq, item))
            for seq, item in overdue:
                del conn.pending[seq]
                self._retry(item, now)

    def _sweep(self) -> None:
        connections = [c for r in self._receivers.values() for c in r]
        self.sweep(connections)
        self._after_timer()
        self.start()

    def _retry(self, item: Outgoing, now: float) -> None:
        if item.attempts >= self._max_attempts:
            if item.kind is DeliveryKind.RECEIPT:
                self._record.receipts_abandoned += 1
            if item.done is not None and not item.done.done():
                item.done.set_exception(TimeoutError("deliver_sm was never acknowledged"))
            return
        self.send(item, now)
