"""Small raw-ASGI helpers for the request path: reading a bounded body, sending JSON and streams.

The client-API routes are Litestar `@asgi` handlers: the request path reads the body once and writes bytes as they
come from the provider, without building framework request and response objects it does not need.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from litestar.types import Receive, Scope, Send

from proxy.translate.codec import dumps


class BodyTooLarge(Exception):  # noqa: N818 - a public name
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit:,} bytes.")
        self.limit = limit


class ClientGone(Exception):  # noqa: N818 - a public name
    """The client disconnected before its request was answered."""


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if isinstance(chunk, bytes) and chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(content_type: bytes, extra: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), *extra]


async def send_json(send: Send, status: int, body: Any, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send `body` as JSON; bytes are sent as they are (JSON already)."""
    payload = body if isinstance(body, bytes) else dumps(body)
    headers = _headers(b"application/json", extra_headers)
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def start_stream(
    send: Send, status: int, content_type: bytes, extra_headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    headers = _headers(content_type, extra_headers)
    headers.append((b"cache-control", b"no-cache"))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def until_disconnect(receive: Receive) -> None:
    """Returns when the client goes away (call it after the request body was read)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


# How long a request runs before a watcher task waits for its client to leave (seconds).
WATCH_AFTER = 0.05


async def cancel_on_disconnect(work: Awaitable[None], receive: Receive, watch_after: float = WATCH_AFTER) -> bool:
    """Run `work` in the calling task; cancel it if the client disconnects first. True when the client went away.

    One watcher task waits for the disconnect and cancels the caller: a request costs one task, not two tasks
    and an `asyncio.wait`. It starts only after `watch_after` seconds, so a request answered sooner costs a
    timer, not a task (on uvloop a timer set and cancelled costs about 0.7 us, a task started and cancelled
    3.7 us); a client that leaves before then is noticed then. A cancellation that came from elsewhere (server
    shutdown) is passed on.
    """
    task = asyncio.current_task()
    assert task is not None, "called from a task"
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        await until_disconnect(receive)
        gone = True
        task.cancel()

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(watch_after, start_watching)
    try:
        await work
    except asyncio.CancelledError:
        if not gone or task.cancelling() > 1:
            raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
    if gone:
        # The cancellation was the watcher's and is handled here; the task goes on as if it had none.
        task.uncancel()
    return gone
