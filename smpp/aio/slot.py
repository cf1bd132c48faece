"""One bind slot of a pool: its connection supervisor, its window count and its stats.

A slot keeps one bind up for as long as the pool runs: connect, bind, serve, and after any
loss wait an exponential back-off with full jitter (reset once a bind succeeded) and start
again. ESME_RALYBND (the SMSC still holds our previous session) and every other bind refusal
are retried the same way; an unbind from the SMSC is answered by the session and followed by
a fresh bind. Each state change is reported to the owner as a `BindStateChanged`.

The slot counts its own in-flight parts (in send order), so that whatever ends a connection,
the parts it carried go back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from smpp.aio.client import UNBOUND, UNBOUND_BY_CLOSE, SmppClient
from smpp.aio.config import BindRole, PoolConfig
from smpp.aio.events import BindState, BindStateChanged
from smpp.aio.message import Part
from smpp.aio.pacing import backoff_delay
from smpp.aio.stats import BindStats, RateMeter
from smpp.core.events import (
    BindFailed,
    Bound,
    DeliverReceived,
    LateResponse,
    ResponseTimeout,
    SubmitResponse,
    ThrottleLifted,
)
from smpp.core.session import EsmeSession, SessionError
from smpp.core.status import StatusClass

SessionFactory = Callable[[BindRole], EsmeSession]

log = logging.getLogger("smpp.aio.slot")


class SlotOwner(Protocol):
    """What a slot reports to (the pool)."""

    def slot_ready(self, slot: BindSlot) -> None: ...
    def part_answered(self, slot: BindSlot, part: Part, event: SubmitResponse) -> None: ...
    def part_unanswered(self, slot: BindSlot, parts: list[Part], reason: str) -> None: ...
    def late_answer(self, slot: BindSlot, part: Part, event: LateResponse) -> None: ...
    def deliver(self, slot: BindSlot, client: SmppClient, event: DeliverReceived) -> None: ...
    def state_changed(self, event: BindStateChanged) -> None: ...


class BindSlot:
    """One bind of the pool (see the module doc)."""

    def __init__(
        self,
        owner: SlotOwner,
        config: PoolConfig,
        bind_id: str,
        role: BindRole,
        new_session: SessionFactory,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random,
    ) -> None:
        self.owner = owner
        self.config = config
        self.bind_id = bind_id
        self.role = role
        self.window = config.window
        self.loop = loop
        self._new_session = new_session
        self._rng = rng
        self.client: SmppClient | None = None  # set while bound, on a bind that submits
        self._current: SmppClient | None = None  # the connection, bound or not
        self.state = BindState.DISCONNECTED
        self.parts: dict[Part, None] = {}
        self.paused = False  # the session pauses after a throttle answer
        self._stopping = asyncio.Event()
        self._unbind_asked = asyncio.Event()  # the pool's `unbind`: end the connection now
        self._unbinding: SmppClient | None = None  # the client `unbind` sent unbind on
        self._bound: asyncio.Future[bool] | None = None
        self._last_status: int | None = None
        self.meter = RateMeter()
        self.submits = self.accepted = self.throttled = self.failed = 0
        self.timeouts = self.late_responses = self.delivers = self.connects = 0

    # --- sending ----------------------------------------------------------------------------

    def has_room(self) -> bool:
        """Bound, not paused by a throttle answer, and the window not full."""
        return self.client is not None and not self.paused and len(self.parts) < self.window

    def send(self, part: Part, now: float) -> bool:
        """Write `part` on this bind; False when the session refuses it (not bound, paused).
        A PDU the codec cannot encode raises PduEncodeError (the caller's fault)."""
        client = self.client
        if client is None:
            return False
        try:
            client.submit(part.pdu, part, now)
        except SessionError:  # not bound, window full, paused: try elsewhere
            self.paused = True
            return False
        self.parts[part] = None
        part.attempts += 1
        self.submits += 1
        self.meter.tick(now)
        return True

    def flush(self) -> None:
        """Write the submits handed to this bind now rather than at the next loop turn."""
        client = self.client
        if client is not None:
            client.flush()

    # --- ClientListener ---------------------------------------------------------------------

    def on_bound(self, client: SmppClient, event: Bound) -> None:
        """The bind is up: open the window."""
        self.client = client if self.role.submits else None
        self.paused = False
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(True)
        self._set_state(BindState.BOUND, "bound")
        self.owner.slot_ready(self)

    def on_bind_failed(self, client: SmppClient, event: BindFailed) -> None:
        """Remember the refusal for the DISCONNECTED event."""
        self._last_status = None if event.timed_out else event.command_status

    def on_submit_response(self, client: SmppClient, event: SubmitResponse) -> None:
        """A part was answered: free its window slot and tell the pool."""
        part = event.ref
        assert isinstance(part, Part)
        self.parts.pop(part, None)
        cls = event.status_class
        if cls is StatusClass.OK:
            self.accepted += 1
        elif cls is StatusClass.THROTTLE:
            self.throttled += 1
            self.paused = True
        else:
            self.failed += 1
        self.owner.part_answered(self, part, event)

    def on_response_timeout(self, client: SmppClient, event: ResponseTimeout) -> None:
        """No answer in time: the part's outcome is unknown."""
        part = event.ref
        assert isinstance(part, Part)
        if part in self.parts:
            del self.parts[part]
            self.timeouts += 1
            self.owner.part_unanswered(self, [part], "response timeout")

    def on_late_response(self, client: SmppClient, event: LateResponse) -> None:
        """An answer after the timeout: the pool decides whether it still helps."""
        part = event.ref
        assert isinstance(part, Part)
        self.late_responses += 1
        self.owner.late_answer(self, part, event)

    def on_deliver(self, client: SmppClient, event: DeliverReceived) -> None:
        """A receipt or MO: the pool hands it to the daemon, then acks."""
        self.delivers += 1
        self.owner.deliver(self, client, event)

    def on_throttle_lifted(self, client: SmppClient, event: ThrottleLifted) -> None:
        """The session's throttle pause is over."""
        self.paused = False
        self.owner.slot_ready(self)

    def on_closed(self, client: SmppClient, reason: str, in_flight: tuple[object, ...]) -> None:
        """The connection ended: every part still in flight goes back to the pool."""
        self.client = None
        self.paused = False
        if self._bound is not None and not self._bound.done():
            self._bound.set_result(False)
        parts = list(self.parts)
        self.parts.clear()
        if parts:
            self.owner.part_unanswered(self, parts, reason)

    # --- the supervisor ---------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the bind up until `stop()`; back off between failed attempts."""
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    bound, reason = await self._serve_once()
                except Exception:  # a bug must not end the bind for good: log, back off
                    log.exception("bind %s: connection attempt failed", self.bind_id)
                    bound, reason = False, "internal error"
                if self._stopping.is_set():
                    break
                failures = 0 if bound else failures + 1
                cfg = self.config
                delay = backoff_delay(
                    failures, cfg.reconnect_min, cfg.reconnect_max, self._rng
                )
                self._set_state(BindState.DISCONNECTED, reason, self._last_status, delay)
                self._last_status = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            client = self._current_client()
            if client is not None:
                client.abort("pool stopped")
            self._set_state(BindState.STOPPED, "pool stopped")

    async def _serve_once(self) -> tuple[bool, str]:
        """One connection from connect to close: (it was bound, why it ended)."""
        cfg = self.config
        self._set_state(BindState.CONNECTING, "connecting")
        self.connects += 1
        client = SmppClient(self._new_session(self.role), self, self.loop, self.bind_id)
        self._bound = self.loop.create_future()
        connecting = asyncio.ensure_future(
            asyncio.wait_for(
                self.loop.create_connection(lambda: client, cfg.host, cfg.port),
                cfg.bind_timeout,
            )
        )
        if not await self._unless_stopping(connecting):
            connecting.cancel()  # nobody will use this connection: do not wait for it
            with contextlib.suppress(asyncio.CancelledError, OSError, TimeoutError):
                await connecting
            client.abort("pool stopped")
            return False, "pool stopped"
        try:
            connecting.result()
        except (OSError, TimeoutError) as exc:
            return False, f"connect failed: {exc or type(exc).__name__}"
        self._current = client
        if self._stopping.is_set():  # stopped as the connection came up: `unbind` missed it
            client.abort("pool stopped")
            await client.closed
            return False, client.closed.result()
        if self.state is BindState.CONNECTING:
            self._set_state(BindState.BINDING, "bind sent")
        try:
            bound = await asyncio.wait_for(asyncio.shield(self._bound), cfg.bind_timeout + 1)
        except TimeoutError:
            client.abort("bind not answered")
            bound = False
        if bound:
            await self._wait_closed(client)
        else:
            await client.closed
        return bound, client.closed.result()

    async def _unless_stopping(self, future: asyncio.Future[Any]) -> bool:
        """Wait for `future` or `stop()`, whichever comes first; True when `future` is done."""
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((future, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return future.done()

    async def _wait_closed(self, client: SmppClient) -> None:
        """Until the connection ends. Once the pool asked for the unbind, `unbind` bounds the
        wait on the client it found; a client it did not see (installed just after) is
        unbound here under `unbind_timeout`, then cut, so that a stop never waits forever."""
        asked = asyncio.ensure_future(self._unbind_asked.wait())
        try:
            await asyncio.wait((client.closed, asked), return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
        if client.closed.done():
            return
        if self._unbinding is not client:
            client.unbind()
            try:
                await asyncio.wait_for(asyncio.shield(client.closed), self.config.unbind_timeout)
            except TimeoutError:
                client.abort("unbind not answered")
        await client.closed

    async def unbind(self, within: float) -> bool:
        """Unbind cleanly (the session sends unbind, waits for unbind_resp); True when the
        session ended within `within` seconds by unbind_resp, or by the SMSC hanging up
        after our unbind (smpp34's server does that)."""
        self._stopping.set()
        client = self._current_client()
        self._unbinding = client
        self._unbind_asked.set()
        if client is None:
            return False
        self._set_state(BindState.UNBINDING, "stopping")
        client.unbind()
        try:
            reason = await asyncio.wait_for(asyncio.shield(client.closed), within)
        except TimeoutError:
            client.abort("unbind not answered")
            return False
        return reason in (UNBOUND, UNBOUND_BY_CLOSE)

    def stop(self) -> None:
        """No more reconnects."""
        self._stopping.set()

    def _current_client(self) -> SmppClient | None:
        client = self._current
        if client is None or not client.is_open:
            return None
        return client

    # --- reporting --------------------------------------------------------------------------

    def _set_state(
        self,
        state: BindState,
        reason: str,
        status: int | None = None,
        retry_in: float | None = None,
    ) -> None:
        previous, self.state = self.state, state
        self.owner.state_changed(
            BindStateChanged(
                smsc=self.config.name,
                bind_id=self.bind_id,
                role=self.role,
                previous=previous,
                state=state,
                at=self.loop.time(),
                reason=reason,
                command_status=status,
                retry_in=retry_in,
            )
        )

    def stats(self, now: float) -> BindStats:
        """A snapshot for metrics."""
        return BindStats(
            bind_id=self.bind_id,
            role=self.role,
            state=self.state,
            window=self.window if self.role.submits else 0,
            in_flight=len(self.parts),
            submits=self.submits,
            accepted=self.accepted,
            throttled=self.throttled,
            failed=self.failed,
            timeouts=self.timeouts,
            late_responses=self.late_responses,
            delivers=self.delivers,
            connects=self.connects,
            achieved_tps=self.meter.rate(now),
        )
