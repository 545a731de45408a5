"""A minimal HTTP/1.1 server on asyncio protocols, the transport under the fake provider.

Only what an LLM API client sends is understood: one request line, headers, a body framed by Content-Length or
chunked transfer encoding, keep-alive and pipelined requests. Responses are written by the handler through a
`ResponseWriter`, which also tells it when the client has gone away so that streams can stop early."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

_log = logging.getLogger(__name__)

_MAX_HEAD_BYTES: Final = 64 * 1024
_MAX_BODY_BYTES: Final = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased names; repeated headers are joined with ", "."""
    body: bytes
    keep_alive: bool


class _BadRequestError(Exception):
    pass


class ResponseWriter:
    """Writes one response; all writes are silently dropped once the connection is closed."""

    __slots__ = ("_chunked", "_closed_by_us", "_protocol", "_started", "ended")

    def __init__(self, protocol: _Http1Protocol) -> None:
        self._protocol = protocol
        self._started = False
        self._chunked = False
        self._closed_by_us = False
        self.ended = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def client_gone(self) -> bool:
        """True when the connection closed without this side closing it."""
        return self._protocol.closed.done() and not self._closed_by_us

    def start(self, status: int, headers: list[tuple[str, str]], *, content_length: int | None) -> None:
        """Send the status line and headers; without a content length the body is chunk-encoded."""
        self._started = True
        self._chunked = content_length is None
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if self._chunked:
            lines.append("transfer-encoding: chunked")
        else:
            lines.append(f"content-length: {content_length}")
        if not self._protocol.keep_alive:
            lines.append("connection: close")
        self.write_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Send a whole response with a Content-Length."""
        self.start(status, headers, content_length=len(body))
        self.write_raw(body)
        self.ended = True

    def write(self, data: bytes) -> None:
        """Send part of the body, chunk-encoded when the response is chunked."""
        if not data:
            return
        if self._chunked:
            self.write_raw(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.write_raw(data)

    def end(self) -> None:
        if self._chunked:
            self.write_raw(b"0\r\n\r\n")
        self.ended = True

    def write_raw(self, data: bytes) -> None:
        transport = self._protocol.transport
        # Writing to a closing transport makes asyncio log a warning per write, and a client that left is no
        # error here.
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def drain(self) -> None:
        await self._protocol.drain()

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds` unless the client leaves first; returns whether the client is still connected."""
        closed = self._protocol.closed
        if seconds > 0 and not closed.done():
            await asyncio.wait((closed,), timeout=seconds)
        return not closed.done()

    def close(self) -> None:
        """Close the connection once what was written is flushed: to the client, a response cut short."""
        self._closed_by_us = True
        self._protocol.keep_alive = False
        if self._protocol.transport is not None:
            self._protocol.transport.close()


Handler = Callable[[HttpRequest, ResponseWriter], Awaitable[None]]


class _Http1Protocol(asyncio.Protocol):
    def __init__(self, handler: Handler, connections: set[_Http1Protocol]) -> None:
        self._handler = handler
        self._connections = connections
        self._buffer = bytearray()
        self._head: tuple[str, str, dict[str, str], bool] | None = None
        self._chunks: list[bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._resumed: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.keep_alive = True
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without it, Nagle's algorithm and delayed ACKs add ~40 ms to each small response on loopback.
            # asyncio's selector transports set it already; saying so here keeps it true on any event loop.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None:
            self._serve_next()

    def eof_received(self) -> bool | None:
        return None  # close our side too: a client that half-closes has gone away

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)

    def pause_writing(self) -> None:
        self._resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        self._resumed = None

    # --- requests -------------------------------------------------------------------------------------------

    async def drain(self) -> None:
        if self._resumed is not None:
            await self._resumed

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self._task is not None:
            self._task.cancel()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def _serve_next(self) -> None:
        try:
            request = self._parse()
        except _BadRequestError as error:
            writer = ResponseWriter(self)
            self.keep_alive = False
            writer.respond(400, [("content-type", "text/plain")], f"{error}\n".encode())
            writer.close()
            return
        if request is not None:
            self.keep_alive = request.keep_alive
            self._task = asyncio.get_running_loop().create_task(self._run(request))

    async def _run(self, request: HttpRequest) -> None:
        writer = ResponseWriter(self)
        try:
            await self._handler(request, writer)
        except Exception:
            _log.exception("The fake provider's handler failed on %s %s.", request.method, request.path)
            if not writer.started:
                writer.respond(500, [("content-type", "text/plain")], b"handler error\n")
            else:
                writer.close()
                return
        self._task = None
        if not writer.ended or not self.keep_alive:
            writer.close()
        elif self._buffer and not self.closed.done():
            self._serve_next()

    def _parse(self) -> HttpRequest | None:
        """Take one complete request off the buffer, or None while it is incomplete."""
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD_BYTES:
                    raise _BadRequestError("Request head too large.")
                return None
            self._head = _parse_head(bytes(buffer[:end]).decode("latin-1"))
            del buffer[: end + 4]
        method, target, headers, keep_alive = self._head
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._take_chunked()
            if body is None:
                return None
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequestError("Content-Length is not a number.") from None
            if length < 0 or length > _MAX_BODY_BYTES:
                raise _BadRequestError("Content-Length is out of range.")
            if len(buffer) < length:
                return None
            body = bytes(buffer[:length])
            del buffer[:length]
        self._head = None
        path, _, query = target.partition("?")
        return HttpRequest(method, path, query, headers, body, keep_alive)

    def _take_chunked(self) -> bytes | None:
        # Consumes whole chunks as they arrive, so a body sent in many pieces is parsed once.
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return None
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequestError("Invalid chunk size in a chunked body.") from None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if buffer[line_end : line_end + 4] == b"\r\n\r\n":
                    trailer_end = line_end
                elif trailer_end < 0:
                    return None
                del buffer[: trailer_end + 4]
                body = b"".join(self._chunks)
                self._chunks = []
                return body
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            self._chunks.append(bytes(buffer[start : start + size]))
            del buffer[: start + size + 2]


def _parse_head(head: str) -> tuple[str, str, dict[str, str], bool]:
    request_line, *header_lines = head.split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequestError("Malformed request line.")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequestError("Malformed header line.")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return method, target, headers, keep_alive


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Http1Server:
    """Serves `handler` on a loopback port until closed; closing also drops open connections."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._connections: set[_Http1Protocol] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Http1Protocol(self._handler, self._connections), host, port, reuse_address=True
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        tasks = []
        for connection in list(self._connections):
            if connection.task is not None:
                tasks.append(connection.task)
            connection.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
