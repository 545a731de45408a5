"""Newline-delimited JSON over bytes, incrementally: the framing of Ollama streams.

`NdjsonParser.feed` returns the complete lines of the bytes received so far, without their line break (LF or
CRLF); blank lines are skipped. `close()` returns a last line that lacks its final LF.
"""

from __future__ import annotations


class NdjsonParser:
    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial.clear()
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if tail:
            self._partial.append(tail)
        return [stripped for line in lines if (stripped := line.strip())]

    def close(self) -> list[bytes]:
        tail = b"".join(self._partial).strip()
        self._partial.clear()
        return [tail] if tail else []

    @property
    def pending(self) -> bool:
        return bool(self._partial)
