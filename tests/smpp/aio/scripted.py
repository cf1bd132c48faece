"""A scripted SMSC for what the simulator does not do: refuse a bind with a chosen status,
go silent while keeping the TCP connection open, answer with a malformed response, or send a
deliver_sm of the test's making."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from smpp.core.codec import Framer, decode, encode
from smpp.core.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)

_RESP = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
}


@dataclass
class Script:
    """What the SMSC does: bind and submit statuses in order (then ESME_ROK), whether it
    answers binds, enquire_link and submit_sm."""

    bind_statuses: list[int] = field(default_factory=list)
    submit_statuses: list[int] = field(default_factory=list)  # then ESME_ROK
    answer_enquire_link: bool = True
    answer_binds: bool = True
    answer_submits: bool = True
    broken_resps: int = 0  # the first submits answered with an unreadable message_id
    hold_resps: bool = False  # keep submit_sm_resp until `release()`
    held: list[tuple[_Conn, Pdu]] = field(default_factory=list)
    binds: list[int] = field(default_factory=list)  # statuses given, in order
    enquire_links: int = 0
    submits: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    connections: list[_Conn] = field(default_factory=list)
    deliver_acks: list[int] = field(default_factory=list)  # deliver_sm_resp statuses

    def release(self) -> None:
        """Send the held responses, in order, and answer the next submits at once."""
        self.hold_resps = False
        held, self.held = self.held, []
        for conn, pdu in held:
            conn.send(pdu)

    def deliver(self, pdu: DeliverSm) -> None:
        """Send `pdu` on the latest connection."""
        self.connections[-1].send(pdu)


class _Conn(asyncio.Protocol):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.script.connections.append(self)

    def data_received(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            self._on(decode(frame))
        self.script.changed.set()

    def send(self, pdu: Pdu) -> None:
        assert self.transport is not None
        self.transport.write(encode(pdu))

    def _send_raw(self, frame: bytes) -> None:
        assert self.transport is not None
        self.transport.write(frame)

    def _on(self, pdu: Pdu) -> None:
        script = self.script
        seq = pdu.sequence_number
        if isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver):
            status = script.bind_statuses.pop(0) if script.bind_statuses else 0
            script.binds.append(status)
            if script.answer_binds:
                self.send(_RESP[type(pdu)](seq, status, system_id="scripted"))
        elif isinstance(pdu, EnquireLink):
            script.enquire_links += 1
            if script.answer_enquire_link:
                self.send(EnquireLinkResp(seq))
        elif isinstance(pdu, SubmitSm):
            script.submits += 1
            if script.broken_resps:
                script.broken_resps -= 1
                self._send_raw(broken_submit_resp(seq, 0))
            elif script.answer_submits:
                status = script.submit_statuses.pop(0) if script.submit_statuses else 0
                message_id = "" if status else f"{script.submits:x}"
                resp = SubmitSmResp(seq, status, message_id=message_id)
                if script.hold_resps:
                    script.held.append((self, resp))
                else:
                    self.send(resp)
        elif isinstance(pdu, DeliverSmResp):
            script.deliver_acks.append(pdu.command_status)
        elif isinstance(pdu, Unbind):
            self.send(UnbindResp(seq))


def broken_submit_resp(seq: int, status: int) -> bytes:
    """A submit_sm_resp whose header reads but whose message_id (70 octets) is too long."""
    body = b"A" * 70 + b"\0"
    header = (16 + len(body), 0x80000004, status, seq)
    return b"".join(n.to_bytes(4, "big") for n in header) + body


async def start_scripted(script: Script) -> tuple[asyncio.Server, int]:
    """Listen on 127.0.0.1 port 0; (server, port)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(script), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def wait_for(script: Script, predicate: object, within: float = 5.0) -> None:
    """Until `predicate()` holds, checked after each read of the scripted SMSC."""

    async def loop() -> None:
        while not predicate():  # type: ignore[operator]
            script.changed.clear()
            await script.changed.wait()

    await asyncio.wait_for(loop(), within)
