"""A small HTTP/1.1 load generator on raw asyncio streams, for loopback benchmarks.

Keep-alive connections, one request in flight per connection, Content-Length and chunked answers (SSE and NDJSON
streams arrive chunked). It does as little work per request as Python allows, so on a 2-core machine it leaves
most of the CPU to the servers under test; compare figures from the same run, not across machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> int:
    # The head in one read, searched for the two headers that say how the body ends: a line at a time, a server
    # that sends more headers would cost the load generator more CPU, which the servers under test then miss.
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    fields = head.lower()
    at = fields.find(b"\r\ncontent-length:")
    chunked = at < 0 and fields.find(b"\r\ntransfer-encoding:") >= 0 and b"chunked" in fields
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif at >= 0:
        await reader.readexactly(int(head[at + 17 : head.index(b"\r\n", at + 2)]))
    return status


async def run_load(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    requests: int,
    headers: dict[str, str] | None = None,
    warmup: int = 50,
) -> LoadResult:
    """Send `requests` POSTs over `concurrency` keep-alive connections; time each one."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    remaining = requests + warmup
    done_warmup = asyncio.Event()
    started_at = 0.0

    async def worker() -> None:
        nonlocal remaining, errors, started_at
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                measured = remaining < requests
                if measured and not done_warmup.is_set():
                    done_warmup.set()
                    started_at = time.perf_counter()
                t0 = time.perf_counter()
                writer.write(request)
                try:
                    status = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                if measured:
                    latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        errors += 1
        finally:
            # Closed before the event loop ends: a socket left to the garbage collector warns wherever it is found.
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started_at
    return LoadResult(len(latencies), errors, elapsed, tuple(latencies))
