"""Restoration: the placeholders the provider echoes become the secrets again before the answer reaches the client.

    JSON answer ── restore_body: every string; tool-call `arguments` (JSON text) get JSON-escaped values
    stream ──────── decoder ─ RestoringEncoder (text and tool-argument deltas through StreamRestorers) ─ encoder

Streams are restored on the decoded text deltas, not on the client's bytes: a placeholder split across chunks,
SSE events or NDJSON lines is whole again in the text, and the encoder writes the restored text in the client's
format. A `StreamRestorer` holds back at most the tail that could still become a placeholder (under 40
characters) until the next delta completes or refutes it, so the output is exactly what restoring the whole text
at once gives.

Only ids issued for this request are restored; any other placeholder-looking text, such as one the client wrote
itself, passes through unchanged. Accepted forms are listed in `proxy.secrets.placeholders`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from proxy.translate.codec import dumps_str
from proxy.translate.events import Encoder

from .placeholders import FORMS, MAX_FORM_LENGTH, could_become_placeholder
from .tree import rewrite_strings


def restore_text(text: str, values: Mapping[str, str], *, json_text: bool = False) -> str:
    """`text` with every placeholder of `values` replaced by its secret; `json_text` when `text` is JSON source
    (the secret is then written JSON-escaped)."""
    if not values or ("<" not in text and "&" not in text and "\\" not in text):
        return text

    def secret(found: re.Match[str]) -> str:
        value = values.get(found.group("id").lower())
        if value is None:
            return found.group()
        return dumps_str(value)[1:-1] if json_text else value

    return FORMS.sub(secret, text)


_R = re.compile("[rR]")  # where a placeholder form can start ("REDACTED" in any case)


class StreamRestorer:
    """Restores one growing text (the answer, or one tool call's arguments) delta by delta."""

    __slots__ = ("_held", "_json_text", "_values")

    def __init__(self, values: Mapping[str, str], *, json_text: bool = False) -> None:
        self._values = values
        self._json_text = json_text
        self._held = ""

    def feed(self, text: str) -> str:
        buffer = self._held + text if self._held else text
        hold = _hold_from(buffer)
        self._held = buffer[hold:]
        return restore_text(buffer[:hold], self._values, json_text=self._json_text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return restore_text(held, self._values, json_text=self._json_text)


def _hold_from(buffer: str) -> int:
    """Where the tail that could still grow into a placeholder starts (len(buffer) when there is none)."""
    for found in _R.finditer(buffer, max(0, len(buffer) - MAX_FORM_LENGTH)):
        if could_become_placeholder(buffer[found.start() :]):
            return found.start()
    return len(buffer)


def restore_body(node: Any, values: Mapping[str, str]) -> Any:
    """A translated JSON answer with its placeholders restored (containers copied only where something changed)."""

    def text(value: str, key: str | None) -> str:
        # OpenAI's tool-call arguments are a JSON document in a string.
        return restore_text(value, values, json_text=key == "arguments")

    return rewrite_strings(node, text)


class RestoringEncoder(Encoder):
    """Sits between a stream decoder and the client's encoder and restores text and tool-argument deltas.

    Held-back text is flushed before anything else reaches the encoder (a tool call starting, the finish, the
    end, an error), so the client's events keep their order."""

    def __init__(self, inner: Encoder, values: Mapping[str, str]) -> None:
        super().__init__()
        self._inner = inner
        self._values = values
        self._text = StreamRestorer(values)
        self._tools: dict[int, StreamRestorer] = {}

    def take(self) -> bytes:
        return self._inner.take()

    def _flush(self) -> None:
        if held := self._text.flush():
            self._inner.text(held)
        self._flush_tools()

    def _flush_tools(self) -> None:
        for index, restorer in self._tools.items():
            if held := restorer.flush():
                self._inner.tool_args(index, held)

    def start(self) -> None:
        self._inner.start()

    def text(self, text: str) -> None:
        # Text after a tool call's arguments closes that call in the client's stream: its tail goes out first.
        self._flush_tools()
        if ready := self._text.feed(text):
            self._inner.text(ready)

    def tool_start(self, index: int, call_id: str, name: str) -> None:
        self._flush()
        self._tools[index] = StreamRestorer(self._values, json_text=True)
        self._inner.tool_start(index, call_id, name)

    def tool_args(self, index: int, fragment: str) -> None:
        restorer = self._tools.get(index)
        if restorer is None:
            self._inner.tool_args(index, fragment)
        elif ready := restorer.feed(fragment):
            self._inner.tool_args(index, ready)

    def finish(self) -> None:
        self._flush()
        self._inner.finish()

    def end(self) -> None:
        self._flush()
        self._inner.end()

    def error(self, message: str) -> None:
        self._flush()
        self._inner.error(message)


def restoring(values: Mapping[str, str]) -> Callable[[Encoder], Encoder] | None:
    """The `wrap` for a StreamTranslator that restores `values`; None when nothing was redacted."""
    if not values:
        return None
    return lambda inner: RestoringEncoder(inner, values)
