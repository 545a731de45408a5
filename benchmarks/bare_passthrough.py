"""A bare passthrough on the gateway's own stack: Litestar `@asgi` route, uvicorn, the same upstream client
(proxy.upstream) and garbage collector settings, no routing, rewriting, translation or config. The yardstick for
what Muxgate's features cost.

    python benchmarks/bare_passthrough.py --upstream http://127.0.0.1:PORT [--transport aiohttp] [--port 0]

prints its URL, then forwards every POST /v1/chat/completions to UPSTREAM/v1/chat/completions as is.
`--transport httpx-aiohttp` forwards with the httpx API over aiohttp (package httpx-aiohttp), a client the gateway
does not use: the figures show what that API would cost.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from litestar import Litestar
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from proxy.asgi import read_body
from proxy.cli import settle_garbage_collector
from proxy.upstream import MAX_CONNECTIONS, HttpxUpstream, Transport, Upstream, make_upstream

HEADERS = {"content-type": "application/json"}


def create_passthrough(upstream: str, transport: str) -> Litestar:
    state: dict[str, Upstream] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client: Upstream
        if transport == "httpx-aiohttp":
            from httpx_aiohttp import AiohttpTransport

            limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
            client = HttpxUpstream(AiohttpTransport(limits=limits))
        else:
            client = make_upstream(_transport(transport))
        state["client"] = client
        try:
            yield
        finally:
            await client.aclose()

    @asgi("/v1/chat/completions", is_mount=False)
    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive, 32 * 1024 * 1024)
        response = await state["client"].post(upstream + "/v1/chat/completions", body, HEADERS, 10.0, 60.0)
        try:
            content_type = (response.header("content-type") or "application/json").encode()
            await send(
                {"type": "http.response.start", "status": response.status, "headers": [(b"content-type", content_type)]}
            )
            async for chunk in response.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.close()

    return Litestar(route_handlers=[forward], lifespan=[lifespan], logging_config=None, openapi_config=None)


def _transport(name: str) -> Transport:
    if name == "aiohttp":
        return "aiohttp"
    if name == "httpx":
        return "httpx"
    raise ValueError(f"unknown transport {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument(
        "--transport",
        choices=("aiohttp", "httpx", "httpx-aiohttp"),
        default="aiohttp",
        help="the gateway's upstream clients (aiohttp, httpx), or the httpx API over aiohttp for comparison",
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see proxy.cli._bind
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    upstream = args.upstream.rstrip("/")
    app = create_passthrough(upstream, args.transport)
    settle_garbage_collector()  # the runtime settings of `muxgate serve`
    uvicorn.Server(uvicorn.Config(app, http="httptools", log_config=None, access_log=False)).run(sockets=[sock])


if __name__ == "__main__":
    main()
