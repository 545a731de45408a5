"""The upstream HTTP client: the httpx API over a selectable transport, and its failures as gateway statuses.

One client per gateway, opened and closed in the app's lifespan. httpx's own transport scans its connection pool
on every request, which limits a gateway at a few hundred requests per second on two cores; the aiohttp transport
under the same httpx API does not (measured in docs/benchmarks.md), so it is the default.
"""

from __future__ import annotations

from typing import Literal

import httpx

Transport = Literal["aiohttp", "httpx"]

# Connections kept per gateway: enough for a team's concurrent streams, bounded so a stuck provider cannot take
# every file descriptor.
MAX_CONNECTIONS = 512


class UpstreamError(Exception):
    """The provider could not be reached or did not answer in time; `status` is what the client gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def make_client(transport: Transport) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), follow_redirects=False)
    return httpx.AsyncClient(limits=limits, follow_redirects=False)


def timeout_for(connect: float, read: float) -> httpx.Timeout:
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def map_error(exc: httpx.HTTPError, provider: str, url: str) -> UpstreamError:
    """The client-facing status and sentence for a failed upstream call."""
    cause = exc.__cause__
    if isinstance(exc, httpx.ConnectTimeout) and isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
        # httpx-aiohttp 0.2 reports a refused connection as ConnectTimeout; the cause tells them apart.
        return UpstreamError(502, f"Provider {provider} at {url} cannot be reached: {cause}.")
    if isinstance(exc, httpx.TimeoutException):
        what = "connecting to" if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else "waiting for"
        return UpstreamError(504, f"Timed out {what} provider {provider} at {url}.")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            502, f"Provider {provider} at {url} cannot be reached: {exc or 'connection refused'}."
        )
    return UpstreamError(502, f"Provider {provider} at {url} failed: {type(exc).__name__}: {exc}.")
