"""A lean HTTP/1.1 keep-alive POST client for callbacks to plain `http://` URLs.

Why not aiohttp's client here: a delivery callback is one small POST per message, and on the
end-to-end bench aiohttp's `ClientSession.post` (request and response objects, tracing hooks,
cookie and redirect machinery, a `StreamReader` per answer) cost some 0.45–0.7 ms of CPU per
callback, a third of the daemon's whole budget per message. This client writes the request in
one `write` on a pooled connection and parses only what a callback needs from the answer: the
status code, and where the body ends so the connection can be used again. Measured on the same
bench it brings a callback to about a tenth of that.

What it keeps from the aiohttp path: names are resolved through the same policy-checking
resolver (so the addresses checked are the addresses connected to), at most `limit_per_host`
connections per `host:port`, the whole request bounded by the caller's timeout, no redirect
followed (a 3xx is just a status). `https://` and anything unusual stay on aiohttp.

A connection goes back to the pool only after a complete answer that did not ask to close; any
error, timeout or cancellation closes it. A pooled connection the server closed while idle is
noticed before use; one that dies before any byte of the answer arrived is retried once on a
fresh connection (delivery is at least once anyway, and the callback id tells a repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver

from gatewayd.service.callback_policy import CallbackTarget

_MAX_HEAD = 64 * 1024  # bytes of status line and headers at most
_MAX_BODY = 1024 * 1024  # bytes of an answer's body read (and thrown away) at most


class AnswerError(OSError):
    """The server's answer was not HTTP/1.x we can read, or too large."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, answers parsed as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        self._status = 0
        self._head_done = False
        self._remaining = -1  # body bytes still to come; -1: until close; -2: chunked
        self._keep_alive = True
        self._got_bytes = False

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._answer is None or self._answer.done():
            self._close()  # bytes nobody asked for: the connection cannot be trusted
            return
        self._buffer += data
        try:
            self._advance()
        except AnswerError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            if self._head_done and self._remaining == -1:
                self._answer.set_result(self._status)  # body delimited by the close
            else:
                self._answer.set_exception(exc or ConnectionResetError("connection closed"))

    # -- one exchange -----------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    @property
    def answered_anything(self) -> bool:
        return self._got_bytes

    async def exchange(self, request: bytes, deadline: float | None = None) -> int:
        """Write `request`, return the answer's status once its body has ended; TimeoutError
        (the connection closed) when it has not by `deadline` (loop time)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[int] = loop.create_future()
        self._answer = answer
        self._buffer.clear()
        self._status, self._head_done, self._remaining = 0, False, -1
        self._keep_alive, self._got_bytes, self.reusable = True, False, False
        timer = loop.call_at(deadline, self._expire) if deadline is not None else None
        self.transport.write(request)
        try:
            return await answer
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self) -> None:
        self._fail(TimeoutError("no answer in time"))

    def close(self) -> None:
        self._close()

    def _close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self._close()

    def _advance(self) -> None:
        if not self._head_done and not self._read_head():
            return
        if self._remaining == -2:
            self._read_chunks()
        elif self._remaining >= 0:
            if len(self._buffer) >= self._remaining:
                del self._buffer[: self._remaining]
                self._remaining = 0
                self._finish()
        elif len(self._buffer) > _MAX_BODY:
            raise AnswerError("answer body too large")

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise AnswerError("answer head too large")
            return False
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        del self._buffer[: end + 4]
        status = lines[0].split(None, 2)
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            raise AnswerError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        code = int(status[1])
        if 100 <= code < 200:  # an interim answer (100 Continue): the real one follows
            return self._read_head() if self._buffer else False
        self._status = code
        self._head_done = True
        self._keep_alive = status[0] != b"HTTP/1.0"
        self._remaining = -1
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                if not value.strip().isdigit():
                    raise AnswerError("bad Content-Length")
                self._remaining = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                self._remaining = -2
            elif name == b"connection":
                token = value.strip().lower()
                self._keep_alive = token == b"keep-alive" or (
                    self._keep_alive and token != b"close"
                )
        if self._remaining == -1:
            self._keep_alive = False  # the body ends with the connection
        return True

    def _read_chunks(self) -> None:
        while True:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                return
            size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise AnswerError("bad chunk size") from None
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n\r\n", end)
                if trailer_end == end:  # no trailers: "0\r\n\r\n"
                    del self._buffer[: end + 4]
                elif trailer_end < 0:
                    return
                else:
                    del self._buffer[: trailer_end + 4]
                self._finish()
                return
            if size > _MAX_BODY:
                raise AnswerError("answer chunk too large")
            if len(self._buffer) < end + 2 + size + 2:
                return
            del self._buffer[: end + 2 + size + 2]

    def _finish(self) -> None:
        self.reusable = self._keep_alive and not self._buffer
        assert self._answer is not None
        if not self._answer.done():
            self._answer.set_result(self._status)


def request_target(url: str) -> str:
    """The path and query of an absolute http URL as a request line names them: what follows
    the authority (up to the first "/", "?" or "#" after "://"), without the fragment, "/"
    when empty."""
    rest = url.split("://", 1)[1]
    cut = len(rest)
    for mark in "/?#":
        at = rest.find(mark, 0, cut)
        if at >= 0:
            cut = at
    path = rest[cut:].partition("#")[0]
    if not path:
        return "/"
    return "/" + path if path[0] == "?" else path


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no connection slot in time"))


class _Slots:
    """At most `limit` requests at once to one `host:port`, waiters served in turn. Taking a
    free slot is a plain call: an `asyncio.Semaphore` costs a coroutine and its context
    manager per request even when nobody waits."""

    __slots__ = ("free", "waiters")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """A slot now, if one is free and nobody queued before."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return True
        return False

    async def wait(self, deadline: float | None) -> None:
        """A slot, once a request ends and hands it over; TimeoutError at `deadline`."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter) if deadline is not None else None
        try:
            await waiter
        except BaseException:  # cancelled or timed out while queued
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give()  # it had been handed to us: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def give(self) -> None:
        """A request ended: its slot goes to the first waiter still waiting, else back."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class KeepAlivePoster:
    """Pooled keep-alive connections per `host:port`; `post` answers the status code."""

    def __init__(self, resolver: AbstractResolver, limit_per_host: int, user_agent: str) -> None:
        self._resolver = resolver
        self._limit = limit_per_host
        self._user_agent = user_agent
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._slots: dict[tuple[str, int], _Slots] = {}
        self._heads: dict[tuple[str, int], bytes] = {}  # host:port → its fixed headers

    @staticmethod
    def handles(target: CallbackTarget, url: str | None = None) -> bool:
        """Plain http with an ASCII URL (`url`, else the target's): the common case this
        client is for."""
        url = target.url if url is None else url
        return target.scheme == "http" and url.isascii() and "@" not in url

    async def post(
        self,
        target: CallbackTarget,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        url: str | None = None,
        *,
        budget: float | None = None,
    ) -> int:
        """POST `body` with `headers` to `url` (the target's own URL by default; another URL
        must have the target's scheme, host and port); the answer's status. Network trouble
        and unreadable answers raise OSError (TargetRefused from the resolver among them);
        with a `budget`, a POST not answered within that many seconds in all (waiting for a
        connection, connecting, the exchange) raises TimeoutError.

        Waiting for a slot and the exchange each arm one timer for the deadline on their own
        future instead of an `asyncio.timeout` around it all (a Timeout object, the task's
        cancel bookkeeping); only connecting, which is rare, takes one."""
        key = (target.host, target.port)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots(self._limit)
        request = self._request(target, target.url if url is None else url, headers, body)
        deadline = None if budget is None else asyncio.get_running_loop().time() + budget
        if not slots.take():
            await slots.wait(deadline)
        try:
            conn = self._pooled(key)
            if conn is not None:
                status = await self._exchange(conn, key, request, deadline, retry_on_silence=True)
                if status is not None:
                    return status
            async with asyncio.timeout_at(deadline):
                conn = await self._connect(target)
            status = await self._exchange(conn, key, request, deadline, retry_on_silence=False)
            assert status is not None
            return status
        finally:
            slots.give()

    async def _exchange(
        self,
        conn: _Connection,
        key: tuple[str, int],
        request: bytes,
        deadline: float | None,
        *,
        retry_on_silence: bool,
    ) -> int | None:
        """The status, the connection back in the pool when it may be reused; None when a
        pooled connection died without answering (the caller tries a fresh one)."""
        done = False
        try:
            status = await conn.exchange(request, deadline)
            done = True
        except TimeoutError:
            raise
        except OSError:
            if retry_on_silence and not conn.answered_anything:
                return None
            raise
        finally:
            if done and conn.reusable:
                self._idle.setdefault(key, []).append(conn)
            else:
                conn.close()
        return status

    def _pooled(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.idle:
                return conn
            conn.close()
        return None

    async def _connect(self, target: CallbackTarget) -> _Connection:
        loop = asyncio.get_running_loop()
        if target.literal is not None:
            addresses: list[tuple[str, int]] = [(str(target.literal), target.port)]
        else:
            found = await self._resolver.resolve(target.host, target.port, socket.AF_UNSPEC)
            addresses = [(r["host"], r["port"] or target.port) for r in found]
        last: OSError = OSError("no address")
        for host, port in addresses:
            try:
                _, conn = await loop.create_connection(_Connection, host, port)
            except OSError as exc:
                last = exc
                continue
            return conn  # TCP_NODELAY is already set by asyncio and uvloop alike
        raise ConnectionError(f"cannot connect to {target.host}:{target.port}: {last}") from last

    def _request(
        self, target: CallbackTarget, url: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> bytes:
        """The request's bytes: the request line for `url`'s path, the headers fixed per
        `host:port` (built once: clients often put a per-message query in their callback
        URL, so the URL itself seldom repeats), the caller's headers and the body."""
        fixed = self._heads.get((target.host, target.port))
        if fixed is None:
            fixed = self._fixed_headers(target)
            if len(self._heads) >= 1024:
                self._heads.clear()
            self._heads[(target.host, target.port)] = fixed
        extra = "".join([f"{name}: {value}\r\n" for name, value in headers])
        return b"".join(
            (
                f"POST {request_target(url)} HTTP/1.1\r\n".encode("ascii"),
                fixed,
                f"Content-Length: {len(body)}\r\n{extra}\r\n".encode("latin-1"),
                body,
            )
        )

    def _fixed_headers(self, target: CallbackTarget) -> bytes:
        host = f"[{target.host}]" if ":" in target.host else target.host
        if target.port != 80:
            host = f"{host}:{target.port}"
        return (
            f"Host: {host}\r\nUser-Agent: {self._user_agent}\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\n"
        ).encode("ascii")

    def close(self) -> None:
        """Close every pooled connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
