"""A minimal raw-socket ESME for the simulator's tests, built on the shared codec.

It does nothing on its own: no window, no pacing, no auto-acks unless asked. Tests send PDUs
and await what comes back, by sequence number or by type.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from smpp.core.codec import Framer, decode, encode
from smpp.core.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)

P = TypeVar("P", bound=Pdu)

BIND_CLASSES = {"tx": BindTransmitter, "rx": BindReceiver, "trx": BindTransceiver}


class RawEsme(asyncio.Protocol):
    """An ESME connection that records every PDU it receives."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None
        self.received: list[Pdu] = []
        self.by_seq: dict[int, asyncio.Future[Pdu]] = {}
        self.delivers: deque[DeliverSm] = deque()
        self.order: list[str] = []  # type names in arrival order
        self.auto_ack = auto_ack
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()
        self._seq = 0

    # protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            pdu = decode(frame)
            self.received.append(pdu)
            self.order.append(type(pdu).__name__)
            if isinstance(pdu, DeliverSm):
                self.delivers.append(pdu)
                if self.auto_ack:
                    self.send(DeliverSmResp(pdu.sequence_number))
            elif pdu.is_response:
                fut = self.by_seq.pop(pdu.sequence_number, None)
                if fut is not None and not fut.done():
                    fut.set_result(pdu)
        self._changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._changed.set()

    # use
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def send(self, pdu: Pdu) -> None:
        assert self.transport is not None
        self.transport.write(encode(pdu))

    def request(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Send a request numbered by this client; the future gets its response."""
        seq = self.next_seq()
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.by_seq[seq] = fut
        assert self.transport is not None
        self.transport.write(encode(pdu, seq))
        return fut

    async def call(self, pdu: Pdu, timeout: float = 5.0) -> Pdu:
        return await asyncio.wait_for(self.request(pdu), timeout)

    async def bind(
        self, mode: str = "trx", system_id: str = "gatewayd", password: str = "secret"
    ) -> Pdu:
        return await self.call(BIND_CLASSES[mode](system_id=system_id, password=password))

    def submit(
        self, dest: str = "254712345678", text: bytes = b"hello", **kw: object
    ) -> asyncio.Future[Pdu]:
        kw.setdefault("registered_delivery", 1)
        kw.setdefault("source_addr", "KIMISMS")
        return self.request(SubmitSm(destination_addr=dest, short_message=text, **kw))  # type: ignore[arg-type]

    async def submit_one(
        self, dest: str = "254712345678", text: bytes = b"hello", **kw: object
    ) -> SubmitSmResp:
        resp = await asyncio.wait_for(self.submit(dest, text, **kw), 5.0)
        assert isinstance(resp, SubmitSmResp), resp
        return resp

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until `predicate()` holds, checked after every read."""

        async def until() -> None:
            for _ in range(100_000):
                if predicate():
                    return
                self._changed.clear()
                await self._changed.wait()
            raise AssertionError("too many wake-ups")

        await asyncio.wait_for(until(), timeout)

    async def wait_delivers(self, n: int, timeout: float = 5.0) -> list[DeliverSm]:
        await self.wait_until(lambda: len(self.delivers) >= n, timeout)
        return list(self.delivers)

    async def wait_pdu(self, cls: type[P], timeout: float = 5.0) -> P:
        """The first received PDU of type `cls`, waiting for it if needed."""
        await self.wait_until(lambda: any(isinstance(p, cls) for p in self.received), timeout)
        return next(p for p in self.received if isinstance(p, cls))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int, auto_ack: bool = True) -> RawEsme:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: RawEsme(auto_ack), host, port)
    return proto
