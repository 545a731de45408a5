"""Ollama streams: one JSON object per line, `done: false` while the answer grows, then a last line with
`done: true`, `done_reason` and the token counts (`prompt_eval_count`, `eval_count`). Chat lines carry
`message.content`, generate lines `response`. Ollama sends each tool call whole, with its arguments as an
object, so the encoder gathers argument fragments and writes the calls once they are complete (when text
resumes or the answer finishes).
"""

from __future__ import annotations

from reconciler.models import ApiFormat

from . import stamps
from .codec import DecodeError, JsonDict, dumps, loads
from .content import arguments_object, arguments_string
from .errors import InvalidResponseError, error_event
from .events import Encoder, StreamState
from .outcome import FINISH_FROM_OLLAMA, ollama_from_finish


class OllamaDecoder:
    __slots__ = ("_sink", "_started", "_state", "_tools")

    def __init__(self, sink: Encoder, state: StreamState) -> None:
        self._sink = sink
        self._state = state
        self._started = False
        self._tools = 0

    def line(self, line: bytes) -> None:
        try:
            payload = loads(line)
        except DecodeError:
            payload = None
        if not isinstance(payload, dict):
            self._fail("The provider sent a stream line that is not a JSON object.")
            return
        if (error := payload.get("error")) is not None:
            self._fail(error if isinstance(error, str) else str(error))
            return
        sink, state = self._sink, self._state
        if not self._started:
            self._started = True
            sink.start()
        message = payload.get("message")
        if isinstance(message, dict):
            if (content := message.get("content")) and isinstance(content, str):  # a string, or skipped
                sink.text(content)
            for call in message.get("tool_calls") or ():
                index = self._tools
                self._tools += 1
                function = call.get("function") or {}
                sink.tool_start(index, call.get("id") or stamps.tool_call_id(), function.get("name") or "")
                sink.tool_args(index, arguments_string(function.get("arguments")))
        elif (text := payload.get("response")) and isinstance(text, str):
            sink.text(text)
        if payload.get("done"):
            prompt, output = payload.get("prompt_eval_count"), payload.get("eval_count")
            state.input_tokens = prompt if isinstance(prompt, int) else None
            state.output_tokens = output if isinstance(output, int) else None
            reason = payload.get("done_reason")
            state.stop_reason = "tool_calls" if self._tools else FINISH_FROM_OLLAMA.get(str(reason), "stop")
            sink.finish()
            state.finished = True
            sink.end()

    def _fail(self, message: str) -> None:
        self._state.error = message
        self._sink.error(message)


class OllamaEncoder(Encoder):
    def __init__(self, state: StreamState, *, model: str, created: int, legacy: bool) -> None:
        super().__init__()
        self._state = state
        self._model = model
        self._created_at = stamps.iso_time(created)
        self._legacy = legacy
        self._head = b'{"model":' + dumps(model) + b',"created_at":' + dumps(self._created_at)
        if legacy:
            self._text_prefix = self._head + b',"response":'
            self._text_suffix = b',"done":false}\n'
        else:
            self._text_prefix = self._head + b',"message":{"role":"assistant","content":'
            self._text_suffix = b'},"done":false}\n'
        self._calls: dict[int, tuple[str, list[str]]] = {}

    def text(self, text: str) -> None:
        if self._calls:
            self._flush_calls()
        self.out.append(self._text_prefix + dumps(text) + self._text_suffix)

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        if not self._legacy:
            self._calls[index] = (name, [])

    def tool_args(self, index: int, fragment: str) -> None:
        call = self._calls.get(index)
        if call is not None:
            call[1].append(fragment)

    def _flush_calls(self) -> None:
        calls = []
        try:
            for name, fragments in self._calls.values():
                arguments = arguments_object("".join(fragments), request=False)
                calls.append({"function": {"name": name, "arguments": arguments}})
        except InvalidResponseError as exc:
            self._state.error = str(exc)
            self.error(str(exc))
            return
        finally:
            self._calls.clear()
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        self.out.append(self._head + b',"message":' + dumps(message) + b',"done":false}\n')

    def finish(self) -> None:
        if self._calls:
            self._flush_calls()

    def end(self) -> None:
        self.finish()
        state = self._state
        if state.error is not None:
            return
        final: JsonDict = {"model": self._model, "created_at": self._created_at}
        if self._legacy:
            final["response"] = ""
        else:
            final["message"] = {"role": "assistant", "content": ""}
        final["done"] = True
        final["done_reason"] = ollama_from_finish(state.stop_reason)
        if state.input_tokens is not None:
            final["prompt_eval_count"] = state.input_tokens
        if state.output_tokens is not None:
            final["eval_count"] = state.output_tokens
        self.out.append(dumps(final) + b"\n")

    def error(self, message: str) -> None:
        self.out.append(error_event(ApiFormat.OLLAMA, message))
