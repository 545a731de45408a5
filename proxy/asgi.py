"""Small raw-ASGI helpers for the request path: reading a bounded body, sending JSON and streams.

The client-API routes are Litestar `@asgi` handlers: the request path reads the body once and writes bytes as they
come from the provider, without building framework request and response objects it does not need.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar

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


class _WaitingWatches:
    """An event loop's watches that have no watcher task yet, and the one timer that starts them when due.

    A timer per request cost about 2.5 us on uvloop (set and cancelled, with the libuv timer behind it); here a
    request costs a dict entry, and under load the timer fires every `WATCH_AFTER` seconds whatever the number of
    requests. A watch is never started early; it may be started up to `WATCH_AFTER` late.
    """

    __slots__ = ("_timer", "_timer_at", "loop", "waiting")
    latest: ClassVar[_WaitingWatches | None] = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[DisconnectWatch, float] = {}  # watch -> when its watcher is due (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def add(self, watch: DisconnectWatch, due: float) -> None:
        self.waiting[watch] = due
        if due < self._timer_at:  # under load the timer is set already, for an earlier watch
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(due, self._sweep)
            self._timer_at = due

    def _sweep(self) -> None:
        self._timer, self._timer_at = None, math.inf
        waiting = self.waiting
        if not waiting:
            return
        now = self.loop.time()
        due = [watch for watch, at in waiting.items() if at <= now]
        for watch in due:
            del waiting[watch]
            watch.start()
        if waiting:
            at = max(min(waiting.values()), now + WATCH_AFTER)
            self._timer = self.loop.call_at(at, self._sweep)
            self._timer_at = at


def _waiting_watches_of(loop: asyncio.AbstractEventLoop) -> _WaitingWatches:
    """The running loop's pending watches. One loop serves the gateway, so the last one made is kept at hand
    rather than looked up by loop; another loop (tests run several) gets its own, and one replaced here still
    starts its watches from its timer."""
    pending = _WaitingWatches.latest
    if pending is None or pending.loop is not loop:
        pending = _WaitingWatches.latest = _WaitingWatches(loop)
    return pending


class DisconnectWatch:
    """Cancels the current task if its client disconnects; for a request whose body was read. Made before the
    work is awaited; in the `except CancelledError` around it, `absorbs_cancel()` says whether to go on; `stop()`
    when it is over, whichever way (`cancel_on_disconnect` is exactly that).

    One watcher task waits for the disconnect and cancels the task that made the watch, so the work runs in that
    task: no second task and no `asyncio.wait` per request. The watcher starts only after `watch_after` seconds (see
    `_WaitingWatches`), so a request answered sooner costs no task (a task started and cancelled costs about 3.7 us
    on uvloop); a client that leaves before then is noticed then. The request path uses the class inline rather than
    `cancel_on_disconnect`, which would put one more coroutine frame between the task and the work on every
    resumption.
    """

    __slots__ = ("_receive", "_task", "_waiting", "_watcher", "gone")

    def __init__(self, receive: Receive, watch_after: float = WATCH_AFTER) -> None:
        task = asyncio.current_task()
        assert task is not None, "made in a task"
        self._task = task
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        self.gone = False
        loop = task.get_loop()
        self._waiting = _waiting_watches_of(loop)
        self._waiting.add(self, loop.time() + watch_after)

    def start(self) -> None:
        """Start the watcher task (its time has come)."""
        self._watcher = self._task.get_loop().create_task(self._watch())

    async def _watch(self) -> None:
        await until_disconnect(self._receive)
        self.gone = True
        self._task.cancel()

    def absorbs_cancel(self) -> bool:
        """In an `except CancelledError`: True when the cancellation was the watcher's alone (the client left),
        which is then withdrawn so the task goes on; False when it came from elsewhere (server shutdown) and
        must be raised."""
        if not self.gone or self._task.cancelling() > 1:
            return False
        self._task.uncancel()
        return True

    def stop(self) -> None:
        self._waiting.waiting.pop(self, None)
        if self._watcher is not None:
            self._watcher.cancel()


async def cancel_on_disconnect(work: Awaitable[None], receive: Receive, watch_after: float = WATCH_AFTER) -> bool:
    """Run `work` in the calling task; cancel it if the client disconnects first. True when the client went away.
    See `DisconnectWatch`."""
    watch = DisconnectWatch(receive, watch_after)
    try:
        await work
    except asyncio.CancelledError:
        if not watch.absorbs_cancel():
            raise
    finally:
        watch.stop()
    return watch.gone
