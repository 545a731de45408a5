"""An ASGI app served by uvicorn in a thread of this process, on a free loopback port: the gateway as tests run it.

test ──HTTP──▶ ThreadedServer(app) (uvicorn, its own thread and event loop)
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """A uvicorn server that signals the end of its startup, so callers wait on an event, not a poll."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_over = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_over.set()


class ThreadedServer:
    """`app` served on a free loopback port from `start()` until `stop()`; its address is `url`."""

    def __init__(self, app: Any) -> None:
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5)
        self._server = _Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="gateway", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        if not self._server.startup_over.wait(10) or not self._server.started:
            self.stop()
            raise AssertionError("The gateway did not start; its log above says why.")

    def stop(self) -> float:
        """Stop serving; how long that took."""
        started = time.monotonic()
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
        assert not self._thread.is_alive(), "The gateway did not stop within 10 s."
        return time.monotonic() - started
