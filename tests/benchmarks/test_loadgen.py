"""The load generator reads each answer to its end, however its body is framed, so keep-alive connections stay in
step; answers that are not 200 count as errors."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from loadgen import run_load

# Answers in turn: a Content-Length body among many headers, a chunked body in two chunks, a 503 with a body.
_ANSWERS = (
    b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"x-extra-%d: value\r\n" % n for n in range(20))
    + b'Content-Length: 8\r\n\r\n{"a": 1}',
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    b"6\r\ndata: \r\n4\r\n{}\n\n\r\n0\r\n\r\n",
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\ntoo busy.",
)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    turn = 0
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(_ANSWERS[turn % len(_ANSWERS)])
            turn += 1
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def test_every_answer_is_read_to_its_end_and_other_statuses_count_as_errors() -> None:
    async def main() -> tuple[int, int]:
        server = await asyncio.start_server(_serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            result = await run_load(
                f"http://127.0.0.1:{port}/v1/chat/completions", b"{}", concurrency=2, requests=30, warmup=0
            )
        return result.requests, result.errors

    # 15 answers per connection: 5 of them the 503. A body left unread would make the next answer unreadable.
    assert asyncio.run(main()) == (30, 10)
