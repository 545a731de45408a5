"""What a request said and what it was answered, as text: for the `messages` history and for token estimates.

Where it sits: in the writer (`record.request_rows`), never while a request runs. The answer's text
comes from what the request path parsed already: the provider's JSON answer (`answer_text`) or the text a
stream's translator kept while it ran (`StreamTranslator(keep_text=True)`). `stream_text` reads a stream the
client received back from its bytes (for the error a broken stream ended with), with the same `TextRecorder`.

Estimates: when a provider reports no usage, tokens are estimated as characters / 4, rounded up. That is the
usual rule of thumb for English text and code with current tokenizers; rows carrying it say
`usage_source = 'estimated'`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from proxy.translate.anthropic_stream import AnthropicDecoder
from proxy.translate.codec import DecodeError, dumps, loads
from proxy.translate.events import StreamState, TextRecorder
from proxy.translate.ndjson import NdjsonParser
from proxy.translate.ollama_stream import OllamaDecoder
from proxy.translate.openai_stream import OpenAIDecoder
from proxy.translate.outcome import Usage, finish_from_openai, token_count
from proxy.translate.sse import SseParser
from reconciler.models import ApiFormat

CHARS_PER_TOKEN = 4
# Keys whose string values are words of the conversation rather than its structure.
_TEXT_KEYS = frozenset({"content", "text", "prompt", "system", "suffix", "arguments", "thinking"})


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def text_chars(value: Any, *, counted: bool = False) -> int:
    """Characters of conversation text in a request body (message contents, system prompt, prompt, suffix)."""
    if isinstance(value, str):
        return len(value) if counted else 0
    if isinstance(value, dict):
        # Inside an object only text keys count: a part's "type" or a message's "role" is structure.
        return sum(text_chars(v, counted=k in _TEXT_KEYS) for k, v in value.items())
    if isinstance(value, list):
        return sum(text_chars(v, counted=counted) for v in value)
    return 0


def prompt_chars(body: dict[str, Any]) -> int:
    return text_chars({key: body.get(key) for key in ("messages", "system", "prompt", "suffix")})


def conversation(body: dict[str, Any]) -> list[Any]:
    """The client's messages, with a top-level system prompt (Anthropic) or prompt (completions) as one."""
    messages: list[Any] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": system})
    listed = body.get("messages")
    if isinstance(listed, list):
        messages.extend(listed)
    prompt = body.get("prompt")
    if prompt is not None:
        messages.append({"role": "user", "content": prompt})
    return messages


def plain_text(content: Any) -> str:
    """A message content (a string, or a list of parts) as text; non-text parts are left out."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part if isinstance(part, str) else str(part.get("text", ""))
            for part in content
            if isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str))
        )
    return ""


def last_user_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return plain_text(message.get("content"))
    return None


def to_json(value: Any) -> str:
    return dumps(value).decode()


# Typed decoding of the few fields an answer's text is in: msgspec skips the rest in C, several times faster
# than walking whole events. Anything unexpected falls back to the stream decoders.
class _Function(msgspec.Struct):
    name: str | None = None
    arguments: Any = None


class _ToolCall(msgspec.Struct):
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: Any = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    delta: _Message | None = None
    text: str | None = None


class _OpenAIChunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    error: Any = None


class _Block(msgspec.Struct):
    type: str | None = None
    name: str | None = None
    text: str | None = None
    partial_json: str | None = None


class _AnthropicEvent(msgspec.Struct):
    type: str | None = None
    delta: _Block | None = None
    content_block: _Block | None = None
    error: Any = None


class _OllamaLine(msgspec.Struct):
    message: _Message | None = None
    response: str | None = None
    error: Any = None


_OPENAI_CHUNK = msgspec.json.Decoder(_OpenAIChunk)
_ANTHROPIC_EVENT = msgspec.json.Decoder(_AnthropicEvent)
_OLLAMA_LINE = msgspec.json.Decoder(_OllamaLine)


def _fast_stream_text(fmt: ApiFormat, data: bytes) -> str | None:
    """The text of a well-formed stream, or None for anything the stream decoders should read instead (an
    error, an event spread over several `data:` lines, a shape not foreseen)."""
    parts: list[str] = []
    try:
        if fmt is ApiFormat.OLLAMA:
            for line in data.split(b"\n"):
                if not line.strip():
                    continue
                item = _OLLAMA_LINE.decode(line)
                if item.error is not None:
                    return None
                if item.message is not None:
                    if isinstance(item.message.content, str):
                        parts.append(item.message.content)
                    for call in item.message.tool_calls or ():
                        if call.function is not None:
                            arguments = call.function.arguments
                            shown = arguments if isinstance(arguments, str) else to_json(arguments)
                            parts.append(f"\n[tool call {call.function.name}] {shown}")
                elif item.response:
                    parts.append(item.response)
            return "".join(parts).strip("\n")
        lines = [line for line in data.split(b"\n") if line.startswith(b"data:")]
        if len(lines) != data.count(b"\n\n") - data.count(b"\n\n\n"):
            return None  # an event with several data lines, or without one
        for line in lines:
            payload = line[5:].strip()
            if payload == b"[DONE]":
                continue
            if fmt is ApiFormat.ANTHROPIC:
                event = _ANTHROPIC_EVENT.decode(payload)
                if event.error is not None or event.type == "error":
                    return None
                if event.delta is not None:
                    parts.append(event.delta.text or event.delta.partial_json or "")
                elif event.content_block is not None and event.content_block.type == "tool_use":
                    parts.append(f"\n[tool call {event.content_block.name}] ")
                continue
            chunk = _OPENAI_CHUNK.decode(payload)
            if chunk.error is not None:
                return None
            for choice in (chunk.choices or ())[:1]:
                if choice.delta is not None:
                    if isinstance(choice.delta.content, str):
                        parts.append(choice.delta.content)
                    for tool in choice.delta.tool_calls or ():
                        if tool.function is not None:
                            if tool.function.name:
                                parts.append(f"\n[tool call {tool.function.name}] ")
                            if isinstance(tool.function.arguments, str):
                                parts.append(tool.function.arguments)
                elif choice.text:
                    parts.append(choice.text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return "".join(parts).strip("\n")


def stream_text(fmt: ApiFormat, data: bytes) -> tuple[str, str | None]:
    """The text a client received in a stream of format `fmt`, as far as it went, and the error the stream
    ended with, if any."""
    fast = _fast_stream_text(fmt, data)
    if fast is not None:
        return fast, None
    sink, state = TextRecorder(), StreamState()
    if fmt is ApiFormat.OLLAMA:
        ndjson = NdjsonParser()
        lines = OllamaDecoder(sink, state)
        for line in [*ndjson.feed(data), *ndjson.close()]:
            lines.line(line)
            if state.error is not None:
                break
    else:
        sse = SseParser()
        events = AnthropicDecoder(sink, state) if fmt is ApiFormat.ANTHROPIC else OpenAIDecoder(sink, state)
        for event in [*sse.feed(data), *sse.close()]:
            events.event(event)
            if state.error is not None:
                break
    return sink.recorded, state.error


def answer_text(fmt: ApiFormat, body: Any) -> str:
    """The text and tool calls of a parsed JSON answer of format `fmt`; empty for anything but an object."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    if fmt is ApiFormat.ANTHROPIC:
        for block in body.get("content") or ():
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "tool_use":
                parts.append(f"\n[tool call {block.get('name')}] {to_json(block.get('input'))}")
    elif fmt is ApiFormat.OLLAMA:
        message = body.get("message")
        if isinstance(message, dict):
            parts.append(plain_text(message.get("content")))
            for call in message.get("tool_calls") or ():
                function = call.get("function", {}) if isinstance(call, dict) else {}
                parts.append(f"\n[tool call {function.get('name')}] {to_json(function.get('arguments'))}")
        elif isinstance(body.get("response"), str):
            parts.append(body["response"])
    else:
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get("message")
        if isinstance(message, dict):
            parts.append(plain_text(message.get("content")))
            for call in message.get("tool_calls") or ():
                function = call.get("function", {}) if isinstance(call, dict) else {}
                parts.append(f"\n[tool call {function.get('name')}] {function.get('arguments', '')}")
        elif isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts).strip("\n")


class _AnswerFunction(msgspec.Struct):
    name: Any = None
    arguments: Any = msgspec.UNSET


class _AnswerToolCall(msgspec.Struct):
    function: _AnswerFunction | None = None


class _AnswerMessage(msgspec.Struct):
    content: Any = None
    tool_calls: list[_AnswerToolCall] | None = None


class _AnswerChoice(msgspec.Struct):
    message: _AnswerMessage | None = None
    text: Any = None
    finish_reason: Any = None


class _AnswerUsage(msgspec.Struct):
    prompt_tokens: Any = None
    completion_tokens: Any = None


class _OpenAIAnswer(msgspec.Struct):
    usage: _AnswerUsage | None = None
    choices: list[_AnswerChoice] | None = None


_decode_openai_answer = msgspec.json.Decoder(_OpenAIAnswer).decode


def openai_answer(raw: bytes) -> tuple[Usage | None, str | None, str] | None:
    """An OpenAI JSON answer's usage, stop reason and text (as `response_usage`, `response_stop_reason` and
    `answer_text` read them) from one typed decoding that skips every other field; None for any other shape,
    which those functions then read from the decoded objects."""
    try:
        answer = _decode_openai_answer(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    usage = answer.usage
    read_usage = (
        None if usage is None else Usage(token_count(usage.prompt_tokens), token_count(usage.completion_tokens))
    )
    choice = answer.choices[0] if answer.choices else None
    if choice is None:
        return read_usage, None, ""
    reason = choice.finish_reason
    stop = finish_from_openai(reason) if isinstance(reason, str) else None
    message = choice.message
    if message is not None:
        parts = [plain_text(message.content)]
        for call in message.tool_calls or ():
            function = call.function or _AnswerFunction()
            arguments = "" if function.arguments is msgspec.UNSET else function.arguments
            parts.append(f"\n[tool call {function.name}] {arguments}")
        text = "".join(parts).strip("\n")
    else:
        text = choice.text.strip("\n") if isinstance(choice.text, str) else ""
    return read_usage, stop, text


def error_text(data: bytes) -> str | None:
    """The message of an error body in any of the three formats (or CodeGate's `detail`)."""
    try:
        body = loads(data)
    except (DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    detail = body.get("detail")
    return detail if isinstance(detail, str) else None
