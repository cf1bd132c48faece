"""The simulator: several SMSCs in one process, the records, waits and MO injection.

    sim = await start_simulator(SimulatorConfig(smscs=(SmscPersonality("safaricom"),)))
    host, port = sim.address("safaricom")
    ...
    await sim.wait_for_submits(10, timeout=5)
    assert sim.records("safaricom").max_in_flight <= 10
    await sim.close()

Waits are woken by the SMSCs after each read and timer batch, so tests never sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smpp.core.codec import encode
from smpp.core.pdu import DeliverSm
from smpp.core.text import LongMessageMethod, plan_message
from smpp.sim.config import SimulatorConfig
from smpp.sim.delivery import DeliveryKind, Outgoing
from smpp.sim.records import SmscRecord
from smpp.sim.smsc import Smsc

if TYPE_CHECKING:
    from smpp.sim.control import ControlServer


class Simulator:
    """A running simulator; build it with `start_simulator`."""

    def __init__(self, config: SimulatorConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        rng = random.Random(config.seed)
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._mo_refs = rng.randrange(256)
        self.smscs: dict[str, Smsc] = {}
        for personality in config.smscs:
            if personality.name in self.smscs:
                raise ValueError(f"two SMSCs are named {personality.name!r}")
            self.smscs[personality.name] = Smsc(
                personality,
                loop,
                random.Random(rng.random()),
                self._check_waiters,
                config.max_pdu_size,
            )
        self.control: ControlServer | None = None  # when a control port listens

    async def start(self) -> None:
        """Open every listener (and the control port if configured)."""
        for smsc in self.smscs.values():
            await smsc.start()
        if self.config.control_port is not None:
            from smpp.sim.control import start_control  # noqa: PLC0415 (aiohttp only if used)

            self.control = await start_control(
                self, self.config.control_host, self.config.control_port
            )

    async def close(self) -> None:
        """Stop listening and cut every connection; pending waits fail."""
        if self.control is not None:
            await self.control.close()
        for smsc in self.smscs.values():
            await smsc.close()
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> Simulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- lookups ----------------------------------------------------------------------------

    def smsc(self, name: str | None = None) -> Smsc:
        """The SMSC named `name`; None = the only (or first) one."""
        if name is None:
            return next(iter(self.smscs.values()))
        try:
            return self.smscs[name]
        except KeyError:
            raise KeyError(f"no SMSC named {name!r}; have {sorted(self.smscs)}") from None

    def address(self, name: str | None = None) -> tuple[str, int]:
        """(host, port) the SMSC listens on."""
        smsc = self.smsc(name)
        return smsc.host, smsc.port

    def records(self, name: str | None = None) -> SmscRecord:
        """What the SMSC saw so far (live object: it keeps changing)."""
        return self.smsc(name).record

    def snapshot(self, with_submits: int = 0) -> dict[str, Any]:
        """All records as JSON-ready data, keyed by SMSC name."""
        out: dict[str, Any] = {}
        for name, smsc in self.smscs.items():
            data = smsc.record.to_json(with_submits)
            data["host"] = smsc.host
            data["operator"] = smsc.personality.operator
            data["unacked"] = smsc.unacked
            out[name] = data
        return out

    # --- waiting ----------------------------------------------------------------------------

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        for predicate, fut in self._waiters:
            if not fut.done() and predicate():
                fut.set_result(None)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109 (the bound is part of the call)
        what: str = "condition",
    ) -> None:
        """Return once `predicate()` is true (checked after every read and timer batch);
        TimeoutError naming `what` after `timeout` seconds."""
        if predicate():
            return
        fut: asyncio.Future[None] = self.loop.create_future()
        entry = (predicate, fut)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise TimeoutError(f"{what} not reached within {timeout} s") from None
        finally:
            self._waiters.remove(entry)

    async def wait_for_submits(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 (the bound is part of the call)
        smsc: str | None = None,
    ) -> None:
        """Until `n` submit_sm were received (accepted or not) by one SMSC or all together."""
        await self.wait_until(
            lambda: self._total(smsc, lambda r: r.submit_count) >= n,
            timeout,
            f"{n} submits",
        )

    async def wait_for_bind(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (the bound is part of the call)
        smsc: str | None = None,
    ) -> None:
        """Until `count` binds are up at one SMSC or all together."""
        await self.wait_until(
            lambda: self._total(smsc, lambda r: len(r.bound)) >= count,
            timeout,
            f"{count} binds",
        )

    async def wait_for_unbind(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (the bound is part of the call)
        smsc: str | None = None,
    ) -> None:
        """Until `count` unbinds were received from ESMEs."""
        await self.wait_until(
            lambda: self._total(smsc, lambda r: r.unbinds) >= count,
            timeout,
            f"{count} unbinds",
        )

    async def wait_for_receipts_acked(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 (the bound is part of the call)
        smsc: str | None = None,
    ) -> None:
        """Until `count` receipts were answered by deliver_sm_resp."""
        await self.wait_until(
            lambda: self._total(smsc, lambda r: r.receipts_acked) >= count,
            timeout,
            f"{count} acknowledged receipts",
        )

    def _total(self, smsc: str | None, value: Callable[[SmscRecord], int]) -> int:
        if smsc is not None:
            return value(self.smscs[smsc].record)
        return sum(value(s.record) for s in self.smscs.values())

    # --- control ----------------------------------------------------------------------------

    async def inject_mo(
        self,
        smsc: str | None,
        source: str,
        dest: str,
        text: str,
        *,
        system_id: str | None = None,
        method: LongMessageMethod = LongMessageMethod.UDH8,
        timeout: float | None = 10.0,  # noqa: ASYNC109 (the bound is part of the call)
    ) -> int:
        """Send a mobile-originated message to the ESME bound as `system_id` (default: the
        SMSC's first account), split into parts as needed. Waits until every part is
        acknowledged unless `timeout` is None; returns the number of parts."""
        target = self.smsc(smsc)
        account = system_id or target.personality.credentials[0].system_id
        self._mo_refs = (self._mo_refs + 1) % (method.max_reference + 1)
        plan = plan_message(text, method, self._mo_refs)
        futures: list[asyncio.Future[None]] = []
        for part in plan.parts:
            pdu = DeliverSm(
                source_addr=source,
                destination_addr=dest,
                esm_class=part.esm_class_flags,
                data_coding=plan.data_coding,
                short_message=part.short_message,
                tlvs=part.tlvs,
            )
            done: asyncio.Future[None] = self.loop.create_future()
            futures.append(done)
            target.deliver(Outgoing(DeliveryKind.MO, account, encode(pdu), done=done))
        if timeout is not None:
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
        return len(plan.parts)

    def unbind(self, smsc: str | None = None) -> int:
        """The SMSC sends unbind on each of its binds; the number sent."""
        return self.smsc(smsc).unbind_all()

    def drop(self, smsc: str | None = None) -> int:
        """The SMSC cuts each of its connections; the number cut."""
        return self.smsc(smsc).drop_all()


async def start_simulator(config: SimulatorConfig) -> Simulator:
    """Build and start a simulator on the running loop; `await sim.close()` to stop it."""
    sim = Simulator(config, asyncio.get_running_loop())
    try:
        await sim.start()
    except BaseException:
        await sim.close()
        raise
    return sim
