"""Server-sent events over bytes, incrementally: the framing of OpenAI and Anthropic streams.

`SseParser.feed` takes the provider's bytes as they arrive, cut anywhere (inside a line, a UTF-8 character or
a CRLF pair), and returns the events completed by that chunk. It follows the WHATWG rules: lines end with CRLF,
LF or CR; a line starting with `:` is a comment; a field without a colon has an empty value; one space after
the colon is dropped; several `data:` lines join with LF; a blank line dispatches the event, and a frame with
no `data:` line dispatches nothing. One deliberate leniency: `close()` dispatches an event whose lines are
complete but whose blank line never came, so a provider that omits the final blank line is not mistaken for one
that broke off; a line cut off by the end of the stream is dropped, as the standard says.

`feed_frames` returns every frame (the bytes up to and including a blank line) with its event, or None for a
frame that dispatches nothing (a keep-alive comment): pass-through streams forward exactly those bytes.
"""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"
_BLANK_LINES = frozenset((b"\n", b"\r\n", b"\r"))


class SseEvent(NamedTuple):
    event: str
    data: str
    id: str | None = None


class SseFrame(NamedTuple):
    raw: bytes
    event: SseEvent | None


class SseParser:
    __slots__ = ("_after_cr", "_data", "_event", "_frame", "_id", "_keep_raw", "_partial", "_started")

    def __init__(self) -> None:
        self._partial: list[bytes] = []
        # A CR ended the last chunk: an LF at the start of the next one belongs to the same line break.
        self._after_cr = False
        self._started = False
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._frame: list[bytes] = []
        self._keep_raw = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._keep_raw = False
        events: list[SseEvent] = []
        for line in self._lines(chunk):
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def feed_frames(self, chunk: bytes) -> list[SseFrame]:
        self._keep_raw = True
        frames: list[SseFrame] = []
        pieces, chunk = self.data_frames(chunk)
        for piece in pieces:
            frames.append(
                SseFrame(piece + b"\n\n", SseEvent("message", frame_data(piece).decode("utf-8", "replace"), self._id))
            )
        for line in self._lines(chunk):
            self._frame.append(line)
            if line in _BLANK_LINES:
                event = self._line(line)
                frames.append(SseFrame(b"".join(self._frame), event))
                self._frame.clear()
            else:
                self._line(line)
        return frames

    def data_frames(self, chunk: bytes) -> tuple[list[bytes], bytes]:
        """The whole one-line `data:` frames `chunk` starts with (each without its blank line), and the rest.

        What providers send is such frames, ended by LF LF: when nothing of an unfinished line or frame is
        held, they are taken a frame at a time instead of a line at a time, with the same result. From the
        first frame that is anything else on, the rest goes through the line rules (`feed_frames`).
        """
        if not self._started:
            # A stream's first bytes may be a BOM, which the line rules drop; a first byte that cannot start
            # one means there is none (a whole short answer often comes as one chunk: it is taken here too).
            if self._partial or not chunk or chunk[0] == _BOM[0]:
                return [], chunk
            self._started = True
        if not self._between_frames() or b"\r" in chunk:
            return [], chunk
        end = chunk.rfind(b"\n\n") + 2  # after the last blank line
        if end < 2:
            return [], chunk
        # Usually every frame is one: it starts with "data:" and its only LFs are its blank line's. Then the LFs
        # are exactly those of the blank lines before "data:" and of the last one, which two counts in C tell
        # instead of a look at each frame.
        if chunk.startswith(b"data:") and chunk.count(b"\n", 0, end) == 2 * (chunk.count(b"\n\ndata:", 0, end) + 1):
            return chunk[: end - 2].split(b"\n\n"), chunk[end:]
        pieces = chunk.split(b"\n\n")
        pieces.pop()  # what follows the last blank line: not a whole frame
        taken = 0
        for count, piece in enumerate(pieces):
            if not piece.startswith(b"data:") or b"\n" in piece:
                del pieces[count:]
                break
            taken += len(piece) + 2
        return pieces, chunk[taken:] if taken else chunk

    def whole_frames(self, chunk: bytes, start: bytes) -> bytes | None:
        """When nothing is held and `chunk` may be whole frames (it starts with `start`, such as `data: `, and
        ends with a blank line): the chunk without that last blank line. The caller checks the frames are of the
        shape it takes (the one line break of a frame, or the two of the blank line between frames) and takes
        the chunk as those frames; None otherwise. Like `data_frames`, it settles the stream's start."""
        if not (chunk.startswith(start) and chunk.endswith(b"\n\n")):
            return None
        if not self._started:
            if self._partial:
                return None
            self._started = True
        if not self._between_frames():
            return None
        return chunk[:-2]

    def close(self) -> list[SseEvent]:
        """Events left open by the end of the stream (see the module docstring)."""
        return [frame.event for frame in self.close_frames() if frame.event is not None]

    def close_frames(self) -> list[SseFrame]:
        if self._partial or not self._data:
            # Comments and a stray LF are forwarded; the lines of an event cut short are not.
            harmless = not (self._partial or self._data or self._event is not None)
            raw = b"".join(self._frame) if harmless else b""
            self._partial.clear()
            self._frame.clear()
            return [SseFrame(raw, None)] if raw else []
        self._frame.append(b"\n")
        frame = SseFrame(b"".join(self._frame), self._dispatch())
        self._frame.clear()
        return [frame]

    def _between_frames(self) -> bool:
        """Nothing of an unfinished line or frame is held (`data_frames` has settled the stream's start)."""
        return not (self._partial or self._frame or self._data or self._after_cr) and self._event is None

    @property
    def pending(self) -> bool:
        """True while bytes of an unfinished event are held back."""
        return bool(self._partial or self._data or self._event is not None)

    def _lines(self, chunk: bytes) -> list[bytes]:
        """The complete lines of `chunk`, with their line breaks; an unfinished tail is kept for later."""
        if not chunk:
            return []
        skipped_lf = False
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                skipped_lf = True
        if b"\n" not in chunk and b"\r" not in chunk:
            if skipped_lf:
                self._frame_lf()
            if chunk:
                self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial.clear()
        lines = chunk.splitlines(keepends=True)
        last = lines[-1]
        if last[-1] == 13:  # CR
            self._after_cr = True
        elif last[-1] != 10:  # LF
            self._partial.append(lines.pop())
        if skipped_lf:
            self._frame_lf()
        if not self._started and lines:
            self._started = True
            lines[0] = lines[0].removeprefix(_BOM)
        return lines

    def _frame_lf(self) -> None:
        # The LF of a CRLF split across two chunks ends no line of its own, but its byte still goes out (with
        # the next frame) so a pass-through client receives every byte in order.
        if self._keep_raw:
            self._frame.append(b"\n")

    def _line(self, line: bytes) -> SseEvent | None:
        if line.startswith(b"data:"):
            data = line[5:].rstrip(b"\r\n")
            if data[:1] == b" ":
                data = data[1:]
            self._data.append(data.decode("utf-8", "replace"))
            return None
        text = line.rstrip(b"\r\n")
        if not text:
            if self._data:
                return self._dispatch()
            self._event = None
            return None
        if text[:1] == b":":
            return None
        name, colon, raw_value = text.partition(b":")
        if colon and raw_value[:1] == b" ":
            raw_value = raw_value[1:]
        value = raw_value.decode("utf-8", "replace")
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> SseEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = SseEvent(self._event or "message", data, self._id)
        self._data = []
        self._event = None
        return event


def frame_data(piece: bytes) -> bytes:
    """The data of a whole one-line `data:` frame (as `data_frames` returns it): after the colon and one space."""
    return piece[6:] if piece[5:6] == b" " else piece[5:]


def encode_event(data: str, event: str | None = None) -> bytes:
    """One SSE event; data with line breaks becomes several `data:` lines."""
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    if "\n" not in data and "\r" not in data:
        return head + b"data: " + data.encode() + b"\n\n"
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return head + b"".join(b"data: " + line.encode() + b"\n" for line in lines) + b"\n"
