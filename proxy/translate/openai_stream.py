"""OpenAI streams: chat chunks (`chat.completion.chunk`) and legacy completion chunks (`text_completion`).

Decoding: each `data:` event is a chunk; `data: [DONE]` ends the stream. Tool calls arrive as deltas keyed by
`index`: the first delta of an index carries the id and name, later ones fragments of the arguments string.
Usage comes in a last chunk with empty `choices` when the request set `stream_options.include_usage`.

Encoding: a first chunk with the assistant role, one chunk per text or tool-call delta, a chunk with the
finish reason, the usage chunk when the client asked for it, then `data: [DONE]`. The fixed head of every chunk
is built once per stream.
"""

from __future__ import annotations

from typing import Any

import msgspec

from reconciler.models import ApiFormat

from . import stamps
from .codec import DecodeError, dumps, loads
from .content import arguments_string
from .errors import error_event, error_message
from .events import Encoder, StreamState
from .outcome import finish_from_openai, openai_usage
from .sse import SseEvent


# The fields of a chunk the decoder reads, decoded by msgspec in C while it skips the rest (id, object, created,
# model, index, logprobs…): a third of the time of decoding every field into dicts. A chunk of another shape
# raises ValidationError and is read as plain objects instead, with the same rules.
class _Delta(msgspec.Struct):
    content: Any = None
    refusal: Any = None
    tool_calls: Any = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    text: Any = None
    finish_reason: Any = None


class _Chunk(msgspec.Struct):
    id: Any = None
    error: Any = None
    usage: dict[str, Any] | None = None
    choices: list[_Choice] | None = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode
# The chunks of several whole frames at once, given as one JSON array (see `OpenAIDecoder.chunks`).
decode_chunks = msgspec.json.Decoder(list[_Chunk]).decode
_DONE = ("[DONE]", b"[DONE]")  # as text from SseParser.feed, as bytes from the whole-frame path


class OpenAIDecoder:
    __slots__ = ("_sink", "_started", "_state", "_tools", "usage_only")

    def __init__(self, sink: Encoder, state: StreamState) -> None:
        self._sink = sink
        self._state = state
        self._started = False
        self._tools: set[int] = set()
        # The last chunk carried usage and no choice: the chunk `stream_options.include_usage` adds.
        self.usage_only = False

    def event(self, event: SseEvent) -> None:
        self.data(event.data)

    def data(self, data: str | bytes) -> None:
        """One event's data, as text or as the bytes after `data: `."""
        self.usage_only = False
        if data in _DONE:
            self._state.finished = True
            self._sink.end()
            return
        try:
            chunk = _decode_chunk(data)
        except DecodeError:  # an unexpected shape (or no JSON at all): read it as plain objects
            self._plain(data)
            return
        self._chunk(chunk, data)

    def frame(self, data: bytes) -> None:
        """`data()` for a whole frame's bytes, read as a chunk of one frame (`chunks`)."""
        if data == b"[DONE]":
            self.data(data)
            return
        try:
            chunk = _decode_chunk(data)
        except DecodeError:
            self.usage_only = False
            self._plain(data)
            return
        self.usage_only = bool(self.chunks([chunk], [data]))

    def chunks(self, chunks: list[_Chunk], frames: list[bytes], *, until_error: bool = False) -> list[int]:
        """The chunks of consecutive whole frames, decoded (`_decode_chunk`, or together by `decode_chunks`) from
        their data, `frames` (read again for a chunk with an error); returns the positions of the usage-only
        chunks. The chunk most of a stream is made of is read inline: once the stream has started, one choice's
        text delta and nothing else (no usage, finish reason, refusal or tool call). Every other chunk is read
        by the same rules as in `data()`. With `until_error`, what follows a chunk that failed is not read."""
        usage_only: list[int] = []
        text = self._sink.text
        at = -1
        for chunk in chunks:
            at += 1
            choices = chunk.choices
            if self._started and chunk.usage is None and chunk.error is None and choices:
                choice = choices[0]
                delta = choice.delta
                if delta is not None and not (choice.finish_reason or delta.refusal or delta.tool_calls):
                    content = delta.content
                    if type(content) is str:
                        if content:
                            text(content)
                        continue
            self.usage_only = False
            if chunk.error is not None:
                self._plain(frames[at])
            else:
                self._read(chunk.id, chunk.usage, bool(choices), choices[0] if choices else None)
            if self.usage_only:
                usage_only.append(at)
            if until_error and self._state.error is not None:
                break
        self.usage_only = False
        return usage_only

    def _chunk(self, chunk: _Chunk, data: str | bytes) -> None:
        if chunk.error is not None:
            self._plain(data)
            return
        choices = chunk.choices
        self._read(chunk.id, chunk.usage, bool(choices), choices[0] if choices else None)

    def _plain(self, data: str | bytes) -> None:
        """The chunk decoded as plain objects, for shapes the typed decoding refuses; read by the same rules."""
        try:
            chunk = loads(data)
        except DecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            self._fail("The provider sent a stream event that is not a JSON object.")
            return
        if chunk.get("error") is not None:
            self._fail(error_message(chunk, 500)[0])
            return
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        listed = isinstance(choices, list) and bool(choices)
        first = choices[0] if isinstance(choices, list) and choices else None
        choice = None
        if isinstance(first, dict):  # a choice of another shape has nothing to read
            delta = first.get("delta")
            choice = _Choice(
                _Delta(delta.get("content"), delta.get("refusal"), delta.get("tool_calls"))
                if isinstance(delta, dict)
                else None,
                first.get("text"),
                first.get("finish_reason"),
            )
        self._read(chunk.get("id"), usage if isinstance(usage, dict) else None, listed, choice)

    def _read(self, response_id: Any, usage: dict[str, Any] | None, listed: bool, choice: _Choice | None) -> None:
        """A chunk's id, usage and first choice (`listed`: it has any choice) to the sink and the state."""
        sink, state = self._sink, self._state
        if not self._started:
            self._started = True
            state.response_id = response_id if isinstance(response_id, str) else None
            sink.start()
        if usage is not None:
            state.input_tokens = usage.get("prompt_tokens")
            state.output_tokens = usage.get("completion_tokens")
        if not listed:
            self.usage_only = usage is not None
            return
        if choice is None:
            return
        delta = choice.delta
        # Text that is not a string (a provider's bug) is skipped: passed on, it would break the client's JSON
        # and the recorded history.
        if delta is not None:
            if (content := delta.content) and isinstance(content, str):
                sink.text(content)
            if (refusal := delta.refusal) and isinstance(refusal, str):
                sink.text(refusal)
            if calls := delta.tool_calls:
                self._tool_calls(calls)
        elif (text := choice.text) and isinstance(text, str):
            sink.text(text)
        reason = choice.finish_reason
        if reason and state.stop_reason is None:
            state.stop_reason = finish_from_openai(reason)
            sink.finish()

    def _tool_calls(self, calls: list[dict[str, object]]) -> None:
        for position, call in enumerate(calls):
            index = call.get("index", position)
            if not isinstance(index, int):
                index = position
            function = call.get("function")
            if not isinstance(function, dict):
                function = {}
            if index not in self._tools:
                self._tools.add(index)
                call_id = call.get("id")
                name = function.get("name")
                self._sink.tool_start(
                    index,
                    call_id if isinstance(call_id, str) and call_id else stamps.tool_call_id(),
                    name if isinstance(name, str) else "",
                )
            arguments = function.get("arguments")
            if arguments:
                self._sink.tool_args(index, arguments_string(arguments))

    def _fail(self, message: str) -> None:
        self._state.error = message
        self._sink.error(message)


class OpenAIEncoder(Encoder):
    def __init__(self, state: StreamState, *, model: str, created: int, legacy: bool, include_usage: bool) -> None:
        super().__init__()
        self._state = state
        self._model = model
        self._created = created
        self._legacy = legacy
        self._include_usage = include_usage
        self._head = b""
        self._prefix = b""
        self._finished = False

    def start(self) -> None:
        if self._head:
            return
        response_id = stamps.openai_id(self._state.response_id, legacy=self._legacy)
        kind = b"text_completion" if self._legacy else b"chat.completion.chunk"
        self._head = (
            b'{"id":'
            + dumps(response_id)
            + b',"object":"'
            + kind
            + b'","created":'
            + str(self._created).encode()
            + b',"model":'
            + dumps(self._model)
        )
        self._prefix = b"data: " + self._head + b',"choices":[{"index":0,'
        if not self._legacy:
            self._delta(b'{"role":"assistant","content":""}')

    def _delta(self, delta: bytes, finish: bytes = b"null") -> None:
        self.out.append(self._prefix + b'"delta":' + delta + b',"logprobs":null,"finish_reason":' + finish + b"}]}\n\n")

    def _text(self, text: bytes, finish: bytes = b"null") -> None:
        self.out.append(self._prefix + b'"text":' + text + b',"logprobs":null,"finish_reason":' + finish + b"}]}\n\n")

    def text(self, text: str) -> None:
        self.start()
        if self._legacy:
            self._text(dumps(text))
        else:
            self._delta(b'{"content":' + dumps(text) + b"}")

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.start()
        if not self._legacy:
            call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            self._delta(dumps({"tool_calls": [call]}))

    def tool_args(self, index: int, fragment: str) -> None:
        if not self._legacy:
            self._delta(dumps({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.start()
        reason = dumps(self._state.stop_reason or "stop")
        if self._legacy:
            self._text(b'""', reason)
        else:
            self._delta(b"{}", reason)

    def end(self) -> None:
        self.finish()
        state = self._state
        if self._include_usage and (state.input_tokens is not None or state.output_tokens is not None):
            usage = dumps(openai_usage(state.input_tokens, state.output_tokens))
            self.out.append(b"data: " + self._head + b',"choices":[],"usage":' + usage + b"}\n\n")
        self.out.append(b"data: [DONE]\n\n")

    def error(self, message: str) -> None:
        self.out.append(error_event(ApiFormat.OPENAI, message))
