"""A bare passthrough on the gateway's own stack: Litestar `@asgi` route, uvicorn, the same httpx client and
transport, no routing, rewriting, translation or config. The yardstick for what Muxgate's features cost.

    python benchmarks/bare_passthrough.py --upstream http://127.0.0.1:PORT [--transport aiohttp] [--port 0]

prints its URL, then forwards every POST /v1/chat/completions to UPSTREAM/v1/chat/completions as is.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from proxy.asgi import read_body
from proxy.upstream import Transport, make_client


def create_passthrough(upstream: str, transport: Transport) -> Litestar:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state["client"] = make_client(transport)
        try:
            yield
        finally:
            await state["client"].aclose()

    @asgi("/v1/chat/completions", is_mount=False)
    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive, 32 * 1024 * 1024)
        client = state["client"]
        request = client.build_request(
            "POST", upstream + "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        response = await client.send(request, stream=True)
        try:
            content_type = response.headers.get("content-type", "application/json").encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(b"content-type", content_type)],
                }
            )
            async for chunk in response.aiter_bytes():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return Litestar(route_handlers=[forward], lifespan=[lifespan], logging_config=None, openapi_config=None)


def create_aiohttp_passthrough(upstream: str) -> Litestar:
    """The same passthrough on `aiohttp.ClientSession` without the httpx API: what keeping that API costs."""
    import aiohttp

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
        try:
            yield
        finally:
            await state["session"].close()

    @asgi("/v1/chat/completions", is_mount=False)
    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive, 32 * 1024 * 1024)
        session: aiohttp.ClientSession = state["session"]
        async with session.post(
            upstream + "/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        ) as response:
            content_type = response.headers.get("content-type", "application/json").encode()
            await send(
                {"type": "http.response.start", "status": response.status, "headers": [(b"content-type", content_type)]}
            )
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return Litestar(route_handlers=[forward], lifespan=[lifespan], logging_config=None, openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument(
        "--transport",
        choices=("aiohttp", "httpx", "aiohttp-direct"),
        default="aiohttp",
        help="the httpx API over aiohttp or over httpx's own transport, or aiohttp's ClientSession without httpx",
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
    if args.transport == "aiohttp-direct":
        app = create_aiohttp_passthrough(upstream)
    else:
        app = create_passthrough(upstream, args.transport)
    uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False)).run(sockets=[sock])


if __name__ == "__main__":
    main()
