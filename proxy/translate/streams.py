"""Stream translation: the provider's byte stream becomes the client's byte stream, event by event.

    provider bytes ─ SseParser / NdjsonParser ─ decoder (source format) ─ Encoder (target format) ─ client bytes
                                                     │
                                                 StreamState → usage, stop reason, complete, error (analytics)

Nothing is held back beyond the event being parsed (and an Ollama client's tool call until its arguments are
complete). A same-format stream is forwarded frame by frame, byte for byte, while the decoder still reads it
for usage; the one change is dropping the usage chunk that `translate_request` asked an OpenAI provider for
when the client did not ask for it. When the provider's stream stops without its end (no `[DONE]`,
`message_stop` or `done`, and no stop reason), `close()` writes an error event so the client does not take a
cut answer for a whole one. A chunk of whole SSE frames, what providers send, has its frames' data decoded as
one JSON array (see "chunks of whole frames" below); any other chunk goes through the SSE line rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from reconciler.models import ApiFormat

from . import stamps
from .anthropic_stream import AnthropicDecoder, AnthropicEncoder
from .codec import DecodeError, loads
from .errors import error_event
from .events import Encoder, StreamState, TextRecorder
from .ndjson import NdjsonParser
from .ollama_stream import OllamaDecoder, OllamaEncoder
from .openai_stream import OpenAIDecoder, OpenAIEncoder, decode_chunks
from .outcome import Usage
from .sse import SseEvent, SseParser

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA
# The data of several whole Anthropic frames at once, as one JSON array of objects (`_anthropic_block`).
_decode_objects = msgspec.json.Decoder(list[dict[str, Any]]).decode
_T = TypeVar("_T")
CUT_SHORT = "The provider closed the stream before the answer was complete."


class StreamTranslator:
    """Translates one streamed answer from a `source` provider to a `target` client.

    `model` is the routed model named in the client's events; `legacy` means the client called a prompt-style
    route (legacy completions, Ollama generate); `include_usage` means an OpenAI client asked for a usage
    chunk (`stream_options.include_usage`); `created` fixes the Unix time stamped on events (now by default);
    `wrap` puts an encoder of the caller's between the decoder and the client's encoder (even for a same-format
    stream, which is then decoded and encoded again). With `keep_text`, the answer's text and tool calls as the
    decoder read them (before `wrap`) are kept for `text`: the decoder parses every event anyway, so the text
    costs a list append per event instead of a second parse of the stream.
    Call `feed` with each chunk of the provider's body and send what it returns; call `close` once when the
    body ends and send that too.
    """

    def __init__(
        self,
        source: ApiFormat,
        target: ApiFormat,
        *,
        model: str,
        legacy: bool = False,
        include_usage: bool = False,
        created: int | None = None,
        wrap: Callable[[Encoder], Encoder] | None = None,
        keep_text: bool = False,
    ) -> None:
        self.source = source
        self.target = target
        self._state = state = StreamState()
        # A wrapped encoder sees every event (secret restoration rewrites text), so nothing passes through as is.
        self._passthrough = source is target and wrap is None
        self._closed = False
        when = stamps.unix_now() if created is None else created
        encoder: Encoder
        if self._passthrough:
            encoder = Encoder()
        elif target is OPENAI:
            encoder = OpenAIEncoder(state, model=model, created=when, legacy=legacy, include_usage=include_usage)
        elif target is ANTHROPIC:
            encoder = AnthropicEncoder(state, model=model)
        else:
            encoder = OllamaEncoder(state, model=model, created=when, legacy=legacy)
        if wrap is not None:
            encoder = wrap(encoder)
        self._recorder: TextRecorder | None = None
        if keep_text:
            encoder = self._recorder = TextRecorder(encoder)
        self._encoder = encoder
        self._ndjson: NdjsonParser | None = None
        self._lines: OllamaDecoder | None = None
        self._sse = SseParser()
        self._events: OpenAIDecoder | AnthropicDecoder | None = None
        self._openai: OpenAIDecoder | None = None
        self._anthropic: AnthropicDecoder | None = None
        if source is OLLAMA:
            self._ndjson = NdjsonParser()
            self._lines = OllamaDecoder(encoder, state)
        elif source is ANTHROPIC:
            self._events = self._anthropic = AnthropicDecoder(encoder, state)
        else:
            self._events = self._openai = OpenAIDecoder(encoder, state)
        self._drop_usage = self._passthrough and source is OPENAI and not include_usage
        # A same-format stream broke on a frame that does not parse: nothing more is forwarded.
        self._unreadable = False

    # --- what analytics read ---

    @property
    def input_tokens(self) -> int | None:
        return self._state.input_tokens

    @property
    def output_tokens(self) -> int | None:
        return self._state.output_tokens

    @property
    def usage(self) -> Usage | None:
        state = self._state
        if state.input_tokens is None and state.output_tokens is None:
            return None
        return Usage(state.input_tokens, state.output_tokens)

    @property
    def text(self) -> str | None:
        """The answer's text so far, with its tool calls (see `TextRecorder`); None unless `keep_text`."""
        return self._recorder.recorded if self._recorder is not None else None

    @property
    def stop_reason(self) -> str | None:
        """Why the answer ended, in OpenAI's words: stop, length, tool_calls, content_filter."""
        return self._state.stop_reason

    @property
    def complete(self) -> bool:
        """The answer reached its end (the provider's end event, or a stop reason before the body closed)
        and no error occurred."""
        state = self._state
        return state.error is None and (state.finished or (self._closed and state.stop_reason is not None))

    @property
    def error(self) -> str | None:
        """The provider's error message, or why the stream could not be translated or was cut short."""
        return self._state.error

    # --- the stream ---

    def feed(self, chunk: bytes) -> bytes:
        if self._closed:
            raise RuntimeError("StreamTranslator.feed() was called after close(); use one translator per stream.")
        if self._passthrough:
            return self._forward(chunk, final=False)
        if self._state.error is not None:
            return b""
        if self._ndjson is not None:
            self._decode_lines(self._ndjson.feed(chunk))
        elif self._read_block(chunk, until_error=True) is None:
            self._decode_events(self._sse.feed(chunk))
        return self._encoder.take()

    def close(self) -> bytes:
        if self._closed:
            return b""
        if self._passthrough:
            out = self._forward(b"", final=True)
        else:
            out = b""
            if self._state.error is None:
                if self._ndjson is not None:
                    self._decode_lines(_whole_lines(self._ndjson.close()))
                else:
                    self._decode_events(self._sse.close())
        self._closed = True
        state = self._state
        if state.error is None and not state.finished:
            if state.stop_reason is not None:
                # The answer is whole; only the provider's end marker is missing.
                self._encoder.end()
            else:
                state.error = CUT_SHORT
                if self._passthrough:
                    out += error_event(self.target, CUT_SHORT)
                else:
                    self._encoder.error(CUT_SHORT)
        return out + self._encoder.take()

    def _decode_lines(self, lines: list[bytes]) -> None:
        assert self._lines is not None
        for line in lines:
            self._lines.line(line)
            if self._state.error is not None:
                return

    def _decode_events(self, events: list[SseEvent]) -> None:
        assert self._events is not None
        for event in events:
            self._events.event(event)
            if self._state.error is not None:
                return

    def _forward_openai(self, pieces: list[bytes], whole: bytes) -> list[bytes] | None:
        """Whole `data:` frames of an OpenAI stream read in turn (`pieces`, the start of `whole`, each without its
        blank line): None when all of them go out unchanged, else what to send in their place, as slices of
        `whole` (the usage chunk dropped; an unreadable frame replaced by an error, and the rest not sent)."""
        decoder, state = self._openai, self._state
        assert decoder is not None
        out: list[bytes] | None = None
        at = start = 0  # where the frame begins in `whole`; where the part still to send begins
        for piece in pieces:
            size = len(piece) + 2
            data = piece[6:] if piece[5:6] == b" " else piece[5:]  # frame_data(), inline: it runs per event
            fine = state.error is None
            decoder.frame(data)
            if fine and state.error is not None and not _is_object(data):
                self._unreadable = True
                return [*(out or ()), whole[start:at], error_event(self.target, state.error)]
            if self._drop_usage and decoder.usage_only:
                if out is None:
                    out = []
                out.append(whole[start:at])
                start = at + size
            at += size
        if out is None:
            return None
        out.append(whole[start:at])
        return out

    # --- chunks of whole frames, decoded at once ---
    #
    # What providers send is whole frames, several in a chunk on loopback and one per chunk over the network: an
    # OpenAI chunk of one-line `data: ` frames, an Anthropic one of two-line frames (`event: NAME`, `data: `
    # and a JSON object). Their data is decoded as one JSON array in one call. A chunk of any other shape (a
    # frame cut, a line break inside a frame, a frame that does not decode) goes through the SSE line rules
    # instead, with the same result; deciding that changes nothing but the parser's note that the stream began.

    def _openai_block(self, chunk: bytes) -> _OpenAIBlock | None:
        block = self._sse.whole_frames(chunk, b"data: ")
        if block is None:
            return None
        body = block[6:]
        data, done = body, False  # the JSON frames' data, joined by their LF LF `data: `
        if body.endswith(b"[DONE]"):
            if body == b"[DONE]":
                data = b""
            elif body.endswith(b"\n\ndata: [DONE]"):
                data = body[:-14]
            else:
                return None
            done = True
        elif not body:
            return None
        if not data:
            return [], [], data, done
        pieces = data.split(b"\n\ndata: ")
        chunks = _decoded_array(pieces, decode_chunks)
        return None if chunks is None else (chunks, pieces, data, done)

    def _anthropic_block(self, chunk: bytes) -> list[tuple[bytes, dict[str, Any]]] | None:
        """Each frame's event name line and data."""
        block = self._sse.whole_frames(chunk, b"event: ")
        if block is None:
            return None
        names: list[bytes] = []
        data: list[bytes] = []
        for frame in block.split(b"\n\n"):
            name, separator, text = frame.partition(b"\ndata: ")
            if not separator or not name.startswith(b"event: ") or b"\n" in name:
                return None
            names.append(name)
            data.append(text)
        payloads = _decoded_array(data, _decode_objects)
        return None if payloads is None else list(zip(names, payloads, strict=True))

    def _read_block(self, chunk: bytes, *, until_error: bool) -> tuple[list[int], _OpenAIBlock | None] | None:
        """A chunk of whole frames read into the decoder (with `until_error`, what follows an error is not read,
        as in `_decode_events`): the positions of an OpenAI block's usage-only chunks, and the block to cut them
        from; None, with nothing read, for a chunk of another shape."""
        state = self._state
        if self._openai is not None:
            block = self._openai_block(chunk)
            if block is None:
                return None
            chunks, pieces, _, done = block
            usage_only = self._openai.chunks(chunks, pieces, until_error=until_error)
            if done and not (until_error and state.error is not None):
                self._openai.data(b"[DONE]")
            return usage_only, block
        decoder = self._anthropic
        events = self._anthropic_block(chunk) if decoder is not None else None
        if decoder is None or events is None:
            return None
        for name, payload in events:
            decoder.payload(payload, name[7:].decode("utf-8", "replace"))
            if until_error and state.error is not None:
                break
        return [], None

    def _forward(self, chunk: bytes, *, final: bool) -> bytes:
        """Same-format streams: complete frames go out unchanged, read on the way for usage. A frame that does
        not parse goes out as an error event instead, since the client could not read it, and ends the stream."""
        if self._unreadable:
            return b""
        state = self._state
        if self._ndjson is not None:
            assert self._lines is not None
            lines = _whole_lines(self._ndjson.close()) if final else self._ndjson.feed(chunk)
            out: list[bytes] = []
            for line in lines:
                fine = state.error is None
                self._lines.line(line)
                if fine and state.error is not None and not _is_object(line):
                    self._unreadable = True
                    out.append(error_event(self.target, state.error))
                    break
                out.append(line + b"\n")
            return b"".join(out)
        assert self._events is not None
        if not final:
            read = self._read_block(chunk, until_error=False)
            if read is not None:
                usage_only, block = read
                if usage_only and self._drop_usage and block is not None:
                    return _without(chunk, block, usage_only)
                return chunk
        out = []
        if self._openai is not None and not final:
            whole = chunk
            pieces, chunk = self._sse.data_frames(chunk)
            if pieces:
                forwarded = self._forward_openai(pieces, whole)
                if forwarded is None:  # every frame goes out as it came
                    if not chunk:
                        return whole
                    out.append(whole[: len(whole) - len(chunk)])
                else:
                    out.extend(forwarded)
                    if self._unreadable or not chunk:
                        return b"".join(out)
        frames = self._sse.close_frames() if final else self._sse.feed_frames(chunk)
        for frame in frames:
            if frame.event is not None:
                fine = state.error is None
                self._events.event(frame.event)
                if fine and state.error is not None and not _is_object(frame.event.data):
                    self._unreadable = True
                    out.append(error_event(self.target, state.error))
                    break
                if self._drop_usage and self._openai is not None and self._openai.usage_only:
                    continue
            out.append(frame.raw)
        return b"".join(out)


# An OpenAI chunk of whole frames: their decoded chunks, their data, that data joined by LF LF `data: `, and
# whether `data: [DONE]` ends it. (A plain tuple: a NamedTuple's constructor is a Python call per chunk.)
_OpenAIBlock = tuple[list[Any], list[bytes], bytes, bool]


def _decoded_array(frames: list[bytes], decode: Callable[[bytes], list[_T]]) -> list[_T] | None:
    """The frames' data decoded as one JSON array; None when a frame is no JSON of the decoder's shape, or has a
    raw line break (JSON text has none: with the frames' separators taken out, none may be left)."""
    array = b"[" + b",".join(frames) + b"]"
    if b"\n" in array or b"\r" in array:
        return None
    try:
        return decode(array)
    except DecodeError:
        return None


def _without(chunk: bytes, block: _OpenAIBlock, dropped: list[int]) -> bytes:
    """`chunk` (the bytes of `block`'s frames) less the frames at the positions `dropped`."""
    _, pieces, data, done = block
    if dropped == [len(pieces) - 1]:  # the last JSON frame: cut out of the chunk
        last = data.rfind(b"\n\ndata: ")
        return chunk[: last + 8 if last >= 0 else 0] + chunk[len(data) + 8 :]
    kept = [piece for at, piece in enumerate(pieces) if at not in dropped]
    frames = b"".join(b"data: " + piece + b"\n\n" for piece in kept)
    return frames + b"data: [DONE]\n\n" if done else frames


def _is_object(data: bytes | str) -> bool:
    try:
        return isinstance(loads(data), dict)
    except DecodeError:
        return False


def _whole_lines(lines: list[bytes]) -> list[bytes]:
    """The last line of an NDJSON stream may lack its LF; it counts only if it is whole JSON, otherwise the
    stream was cut inside it."""
    whole = []
    for line in lines:
        try:
            loads(line)
        except DecodeError:
            continue
        whole.append(line)
    return whole
