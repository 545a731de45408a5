"""Anthropic streams: `message_start`, then content blocks (`content_block_start`, `content_block_delta`,
`content_block_stop`), then `message_delta` (stop reason, output tokens) and `message_stop`; `ping` any time,
`error` instead of the rest.

Decoding counts tool_use blocks to give each tool call the 0-based index OpenAI uses; thinking blocks and
server-tool blocks are skipped. Encoding opens a text block or a tool_use block as the content changes kind,
and holds `message_delta` back until the provider's stream ends, because OpenAI providers report usage after
the finish reason. Input tokens unknown at the start (OpenAI and Ollama report them at the end) are 0 in
`message_start` and given in `message_delta.usage.input_tokens`.
"""

from __future__ import annotations

from reconciler.models import ApiFormat

from . import stamps
from .codec import DecodeError, JsonDict, dumps, dumps_str, loads
from .content import anthropic_tool_id
from .errors import error_event, error_message
from .events import Encoder, StreamState
from .outcome import ANTHROPIC_FROM_FINISH, FINISH_FROM_ANTHROPIC, anthropic_input_tokens
from .sse import SseEvent


class AnthropicDecoder:
    __slots__ = ("_sink", "_state", "_tool_of_block", "_tools")

    def __init__(self, sink: Encoder, state: StreamState) -> None:
        self._sink = sink
        self._state = state
        self._tool_of_block: dict[object, int] = {}
        self._tools = 0

    def event(self, event: SseEvent) -> None:
        try:
            payload = loads(event.data)
        except DecodeError:
            payload = None
        if not isinstance(payload, dict):
            self._fail("The provider sent a stream event that is not a JSON object.")
            return
        self.payload(payload, event.event)

    def payload(self, payload: JsonDict, name: str) -> None:
        """An event whose data is the JSON object `payload`; `name` is its SSE event name, read when the payload
        has no `type`."""
        kind = payload.get("type") or name
        sink, state = self._sink, self._state
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                if (text := delta.get("text")) and isinstance(text, str):  # a string, or skipped
                    sink.text(text)
            elif delta_kind == "input_json_delta":
                tool = self._tool_of_block.get(payload.get("index"))
                if tool is not None and (fragment := delta.get("partial_json")) and isinstance(fragment, str):
                    sink.tool_args(tool, fragment)
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            block_kind = block.get("type")
            if block_kind == "text":
                if (text := block.get("text")) and isinstance(text, str):
                    sink.text(text)
            elif block_kind == "tool_use":
                tool = self._tools
                self._tools += 1
                self._tool_of_block[payload.get("index")] = tool
                sink.tool_start(tool, block.get("id") or stamps.tool_call_id(), block.get("name") or "")
                if block.get("input"):
                    sink.tool_args(tool, dumps_str(block["input"]))
        elif kind == "message_start":
            message = payload.get("message") or {}
            response_id = message.get("id")
            state.response_id = response_id if isinstance(response_id, str) else None
            self._usage(message.get("usage"))
            sink.start()
        elif kind == "message_delta":
            self._usage(payload.get("usage"))
            reason = (payload.get("delta") or {}).get("stop_reason")
            if isinstance(reason, str) and state.stop_reason is None:
                state.stop_reason = FINISH_FROM_ANTHROPIC.get(reason, "stop")
                sink.finish()
        elif kind == "message_stop":
            state.finished = True
            sink.end()
        elif kind == "error":
            self._fail(error_message(payload, 500)[0])

    def _usage(self, usage: object) -> None:
        # Counts are cumulative: a later event replaces what an earlier one said.
        if not isinstance(usage, dict):
            return
        if usage.get("input_tokens") is not None:
            self._state.input_tokens = anthropic_input_tokens(usage)
        if (output := usage.get("output_tokens")) is not None:
            self._state.output_tokens = output

    def _fail(self, message: str) -> None:
        self._state.error = message
        self._sink.error(message)


class AnthropicEncoder(Encoder):
    def __init__(self, state: StreamState, *, model: str) -> None:
        super().__init__()
        self._state = state
        self._model = model
        self._started = False
        self._open_kind: str | None = None
        self._open_index = b""
        self._blocks = 0
        self._block_of_tool: dict[int, bytes] = {}
        self._text_prefix = b""

    def _event(self, name: bytes, payload: JsonDict) -> None:
        self.out.append(b"event: " + name + b"\ndata: " + dumps(payload) + b"\n\n")

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        message: JsonDict = {
            "id": stamps.anthropic_id(self._state.response_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._state.input_tokens or 0, "output_tokens": 0},
        }
        self._event(b"message_start", {"type": "message_start", "message": message})

    def _open(self, kind: str, block: JsonDict) -> bytes:
        self._close()
        index = self._blocks
        self._blocks += 1
        self._open_kind = kind
        self._open_index = str(index).encode()
        self._event(b"content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        return self._open_index

    def _close(self) -> None:
        if self._open_kind is not None:
            self.out.append(
                b'event: content_block_stop\ndata: {"type":"content_block_stop","index":' + self._open_index + b"}\n\n"
            )
            self._open_kind = None

    def text(self, text: str) -> None:
        self.start()
        if self._open_kind != "text":
            index = self._open("text", {"type": "text", "text": ""})
            self._text_prefix = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
                + index
                + b',"delta":{"type":"text_delta","text":'
            )
        self.out.append(self._text_prefix + dumps(text) + b"}}\n\n")

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.start()
        block = {"type": "tool_use", "id": anthropic_tool_id(call_id), "name": name, "input": {}}
        self._block_of_tool[index] = self._open("tool_use", block)

    def tool_args(self, index: int, fragment: str) -> None:
        block = self._block_of_tool.get(index)
        if block is not None:
            self.out.append(
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
                + block
                + b',"delta":{"type":"input_json_delta","partial_json":'
                + dumps(fragment)
                + b"}}\n\n"
            )

    def finish(self) -> None:
        self.start()
        self._close()

    def end(self) -> None:
        self.finish()
        state = self._state
        usage: JsonDict = {"output_tokens": state.output_tokens or 0}
        if state.input_tokens is not None:
            usage = {"input_tokens": state.input_tokens, **usage}
        reason = ANTHROPIC_FROM_FINISH.get(state.stop_reason or "stop", "end_turn")
        delta = {"stop_reason": reason, "stop_sequence": None}
        self._event(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        self.out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')

    def error(self, message: str) -> None:
        self.out.append(error_event(ApiFormat.ANTHROPIC, message))
