"""The upstream HTTP client: one POST per request, its answer read whole or chunk by chunk, its failures as gateway
statuses.

Two clients stand behind one small interface, chosen by MUXGATE_TRANSPORT:

  aiohttp   aiohttp's ClientSession used directly (the default);
  httpx     httpx.AsyncClient with httpx's own transport.

On a 2-core machine a bare passthrough on ClientSession adds about 0.35 ms less per request than the same
passthrough on the httpx API over aiohttp (httpx-aiohttp), and serves about twice its requests per second at 16
concurrent requests; httpx's own transport scans its connection pool on every request and falls far behind both
under load (docs/benchmarks.md, "What the gateway adds"). The gateway needs four things of a client (send a POST,
read the status and one header, read the body whole or as it arrives, close), so the interface costs nothing the
httpx API would have saved.

One client per gateway, opened and closed in the app's lifespan.
"""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol

import aiohttp
import httpx

Transport = Literal["aiohttp", "httpx"]

# Connections kept per gateway: enough for a team's concurrent streams, bounded so a stuck provider cannot take
# every file descriptor.
MAX_CONNECTIONS = 512


# What a failed upstream call raises: aiohttp's and httpx's errors, and a timeout either may leave as it is.
UPSTREAM_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, httpx.HTTPError, TimeoutError)


class UpstreamError(Exception):
    """The provider could not be reached or did not answer in time; `status` is what the client gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UpstreamResponse(Protocol):
    """A provider's answer, its head read and its body not yet."""

    status: int

    def header(self, name: str) -> str | None: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        ...

    async def read(self) -> bytes: ...

    async def close(self) -> None:
        """Give the connection back when the body was read to its end; drop it otherwise (a client that left)."""
        ...


class Upstream(Protocol):
    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], connect_timeout: float, read_timeout: float
    ) -> UpstreamResponse:
        """Send the request and read the answer's head; raises one of UPSTREAM_ERRORS."""
        ...

    async def aclose(self) -> None: ...


def make_upstream(transport: Transport) -> Upstream:
    """The client for `transport`; call inside the running event loop."""
    if transport == "aiohttp":
        return AiohttpUpstream()
    return HttpxUpstream()


# --- aiohttp ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _aiohttp_timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    # `connect` covers waiting for a pooled connection and opening a new one; `sock_read` is the longest wait for
    # the next bytes of the answer, so a stream may last as long as its provider keeps sending.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)


class _AiohttpResponse:
    __slots__ = ("_response", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def read(self) -> bytes:
        return await self._response.read()

    async def close(self) -> None:
        # After the last byte aiohttp has handed the connection back to its pool already, and this keeps it there.
        self._response.close()


class AiohttpUpstream:
    def __init__(self) -> None:
        # Proxy variables (HTTPS_PROXY, NO_PROXY, ...) are honoured when set at start-up; with none set, aiohttp
        # is told not to look them up again on every request.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            trust_env=bool(urllib.request.getproxies()),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], connect_timeout: float, read_timeout: float
    ) -> UpstreamResponse:
        response = await self._session.request(
            "POST",
            url,
            data=body,
            headers=headers,
            timeout=_aiohttp_timeout(connect_timeout, read_timeout),
            allow_redirects=False,
        )
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        await self._session.close()


# --- httpx -----------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _httpx_timeout(connect: float, read: float) -> httpx.Timeout:
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


class _HttpxResponse:
    __slots__ = ("_response", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()

    async def read(self) -> bytes:
        return await self._response.aread()

    async def close(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """httpx's own transport, or `transport` (the benchmarks pass httpx-aiohttp's)."""
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        self._client = httpx.AsyncClient(limits=limits, transport=transport, follow_redirects=False)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], connect_timeout: float, read_timeout: float
    ) -> UpstreamResponse:
        request = self._client.build_request(
            "POST", url, content=body, headers=headers, timeout=_httpx_timeout(connect_timeout, read_timeout)
        )
        return _HttpxResponse(await self._client.send(request, stream=True))

    async def aclose(self) -> None:
        await self._client.aclose()


# --- errors ----------------------------------------------------------------------------------------------------


def map_error(exc: Exception, provider: str, url: str) -> UpstreamError:
    """The client-facing status and sentence for a failed upstream call (one of `UPSTREAM_ERRORS`)."""
    # An httpx error raised from an aiohttp one (as httpx-aiohttp does) is read as the aiohttp error it came from.
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
