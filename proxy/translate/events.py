"""The contract between stream decoders and encoders.

A decoder reads one provider format and reports what happened to an `Encoder` for the client's format: the
answer started, text arrived, a tool call started, a fragment of its JSON arguments arrived, the answer
finished, the stream ended or failed. Meanwhile it records in a `StreamState` what analytics and encoders need:
token counts, the stop reason (in OpenAI's words), whether the stream ended properly.

Decoders pass only facts both sides can express; thinking/reasoning deltas and provider-specific events are
dropped. Encoders buffer output bytes until `take()`.
"""

from __future__ import annotations


class StreamState:
    __slots__ = ("error", "finished", "input_tokens", "output_tokens", "response_id", "stop_reason")

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.stop_reason: str | None = None
        # The provider's terminal event arrived (OpenAI `[DONE]`, Anthropic `message_stop`, Ollama `done`).
        self.finished = False
        self.error: str | None = None


class Encoder:
    """Writes one client format. The base class ignores everything: it serves pass-through streams, which
    only need the decoder's bookkeeping."""

    def __init__(self) -> None:
        self.out: list[bytes] = []

    def take(self) -> bytes:
        if not self.out:
            return b""
        data = b"".join(self.out)
        self.out.clear()
        return data

    def start(self) -> None:
        """The provider's first event; `StreamState.response_id` is known if the provider gives one."""

    def text(self, text: str) -> None:
        """A non-empty piece of the answer's text."""

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        """Tool call number `index` (0-based, counting tool calls only) begins."""

    def tool_args(self, index: int, fragment: str) -> None:
        """A non-empty fragment of tool call `index`'s JSON arguments."""

    def finish(self) -> None:
        """The answer is complete; `StreamState.stop_reason` says why. Usage may still follow."""

    def end(self) -> None:
        """The provider's stream ended properly; usage is as complete as it will be."""

    def error(self, message: str) -> None:
        """The provider reported an error, or its stream broke; nothing follows."""


class TextRecorder(Encoder):
    """Keeps the answer's text and tool calls as they pass on to `inner` (nothing is written when there is none):
    "text", then "\n[tool call NAME] ARGUMENTS" for each tool call, the form the conversation history keeps."""

    def __init__(self, inner: Encoder | None = None) -> None:
        super().__init__()
        self._inner = inner if inner is not None else Encoder()
        self.parts: list[str] = []
        if type(self._inner).text is Encoder.text:
            # An inner encoder that ignores text (a pass-through stream's): each text is only kept, by the list's
            # own append, without a call of Python code per event.
            self.text = self.parts.append  # type: ignore[method-assign,assignment]

    @property
    def recorded(self) -> str:
        return "".join(self.parts).strip("\n")

    def take(self) -> bytes:
        return self._inner.take()

    def start(self) -> None:
        self._inner.start()

    def text(self, text: str) -> None:
        self.parts.append(text)
        self._inner.text(text)

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self.parts.append(f"\n[tool call {name}] ")
        self._inner.tool_start(index, call_id, name)

    def tool_args(self, index: int, fragment: str) -> None:
        self.parts.append(fragment)
        self._inner.tool_args(index, fragment)

    def finish(self) -> None:
        self._inner.finish()

    def end(self) -> None:
        self._inner.end()

    def error(self, message: str) -> None:
        self._inner.error(message)
