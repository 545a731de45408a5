"""The upstream HTTP client: the httpx API over a selectable transport, and its failures as gateway statuses.

One client per gateway, opened and closed in the app's lifespan. httpx's own transport scans its connection pool
on every request, which limits a gateway at a few hundred requests per second on two cores; the aiohttp transport
under the same httpx API does not (measured in docs/benchmarks.md), so it is the default.
"""

from __future__ import annotations

from typing import Literal

import aiohttp
import httpx

Transport = Literal["aiohttp", "httpx"]

# Connections kept per gateway: enough for a team's concurrent streams, bounded so a stuck provider cannot take
# every file descriptor.
MAX_CONNECTIONS = 512


# What a failed upstream call raises: httpx's errors, and the aiohttp errors httpx-aiohttp leaves as they are (an
# answer that is not HTTP raises aiohttp.ClientResponseError).
UPSTREAM_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, aiohttp.ClientError)


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


def map_error(exc: Exception, provider: str, url: str) -> UpstreamError:
    """The client-facing status and sentence for a failed upstream call (one of `UPSTREAM_ERRORS`)."""
    # httpx-aiohttp 0.2 reports every aiohttp connection error as ConnectTimeout, a refused or dropped connection
    # included; the aiohttp error it was raised from says what happened.
    cause: Exception = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
    if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout | aiohttp.ConnectionTimeoutError):
        return UpstreamError(504, f"Timed out connecting to provider {provider} at {url}.")
    if isinstance(cause, httpx.TimeoutException | TimeoutError):
        return UpstreamError(504, f"Timed out waiting for provider {provider} at {url}.")
    if isinstance(cause, httpx.ConnectError | aiohttp.ClientConnectorError):
        return UpstreamError(502, f"Provider {provider} at {url} cannot be reached: {_detail(cause)}.")
    if isinstance(cause, aiohttp.ClientResponseError):
        # A status line or header aiohttp cannot parse; its message continues with a dump of the bytes.
        first_line = cause.message.splitlines()[0].rstrip(":") if cause.message else "unreadable response"
        return UpstreamError(502, f"Provider {provider} at {url} sent an answer that is not valid HTTP ({first_line}).")
    if isinstance(cause, aiohttp.ClientPayloadError):
        # Its message is a dump of aiohttp's parser state; what happened is simpler.
        return UpstreamError(502, f"Provider {provider} at {url} closed the connection before its answer was complete.")
    return UpstreamError(502, f"Provider {provider} at {url} failed: {type(cause).__name__}: {_detail(cause)}.")


def _detail(exc: Exception) -> str:
    return str(exc).strip().rstrip(".") or "no detail given"
