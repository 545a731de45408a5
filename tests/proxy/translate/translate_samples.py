"""Wire samples for the translation tests, written from the public API references of OpenAI (chat completions
and legacy completions), Anthropic (Messages) and Ollama (/api/chat, /api/generate)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def sse(*events: tuple[str | None, dict[str, Any] | str]) -> bytes:
    out = []
    for name, payload in events:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        out.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    return "".join(out).encode()


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
    return None, {
        "id": "chatcmpl-B9x",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _usage_chunk(prompt: int, completion: int) -> tuple[None, dict[str, Any]]:
    return None, {
        "id": "chatcmpl-B9x",
        "object": "chat.completion.chunk",
        "created": 1730000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


OPENAI_TEXT_STREAM = sse(
    _chunk({"role": "assistant", "content": "", "refusal": None}),
    _chunk({"content": "Hello"}),
    _chunk({"content": ", wörld"}),
    _chunk({"content": " ✓"}),
    _chunk({}, "stop"),
    _usage_chunk(12, 4),
    (None, "[DONE]"),
)

OPENAI_TOOL_STREAM = sse(
    _chunk(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"index": 0, "id": "call_Q1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ],
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
    _chunk(
        {
            "tool_calls": [
                {"index": 1, "id": "call_Q2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]}),
    _chunk({}, "tool_calls"),
    _usage_chunk(80, 31),
    (None, "[DONE]"),
)


def _completion(text: str, finish: str | None = None) -> tuple[None, dict[str, Any]]:
    return None, {
        "id": "cmpl-7QmVI",
        "object": "text_completion",
        "created": 1730000000,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
    }


OPENAI_COMPLETION_STREAM = sse(
    _completion("def add"),
    _completion("(a, b):"),
    _completion("", "length"),
    (
        None,
        {
            "id": "cmpl-7QmVI",
            "object": "text_completion",
            "created": 1730000000,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
        },
    ),
    (None, "[DONE]"),
)


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _message_start(input_tokens: int, cache_read: int = 0) -> tuple[str, dict[str, Any]]:
    return "message_start", {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cache_read,
                "output_tokens": 1,
            },
        },
    }


ANTHROPIC_TEXT_STREAM = sse(
    _message_start(10, cache_read=2),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    _block_delta(0, {"type": "text_delta", "text": "Hello"}),
    _block_delta(0, {"type": "text_delta", "text": ", wörld"}),
    _block_delta(0, {"type": "text_delta", "text": " ✓"}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 4},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)

ANTHROPIC_TOOL_STREAM = sse(
    _message_start(80),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    ),
    _block_delta(0, {"type": "thinking_delta", "thinking": "The user wants weather."}),
    _block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAh"}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}},
        },
    ),
    _block_delta(1, {"type": "input_json_delta", "partial_json": ""}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Par'}),
    _block_delta(1, {"type": "input_json_delta", "partial_json": 'is"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
        },
    ),
    _block_delta(2, {"type": "input_json_delta", "partial_json": '{"tz": "CET"}'}),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 31},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)

_OLLAMA_HEAD = {"model": "qwen2.5-coder:7b", "created_at": "2025-05-27T22:54:57.641643Z"}
_OLLAMA_DONE = {
    "done": True,
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_duration": 342546000,
    "eval_duration": 1257000000,
}

OLLAMA_TEXT_STREAM = ndjson(
    {**_OLLAMA_HEAD, "message": {"role": "assistant", "content": "Hello"}, "done": False},
    {**_OLLAMA_HEAD, "message": {"role": "assistant", "content": ", wörld"}, "done": False},
    {**_OLLAMA_HEAD, "message": {"role": "assistant", "content": " ✓"}, "done": False},
    {
        **_OLLAMA_HEAD,
        "message": {"role": "assistant", "content": ""},
        "done_reason": "stop",
        **_OLLAMA_DONE,
        "prompt_eval_count": 12,
        "eval_count": 4,
    },
)

OLLAMA_TOOL_STREAM = ndjson(
    {
        **_OLLAMA_HEAD,
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        "done": False,
    },
    {
        **_OLLAMA_HEAD,
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_time", "arguments": {"tz": "CET"}}}],
        },
        "done": False,
    },
    {
        **_OLLAMA_HEAD,
        "message": {"role": "assistant", "content": ""},
        "done_reason": "stop",
        **_OLLAMA_DONE,
        "prompt_eval_count": 80,
        "eval_count": 31,
    },
)

OLLAMA_GENERATE_STREAM = ndjson(
    {**_OLLAMA_HEAD, "response": "def add", "done": False},
    {**_OLLAMA_HEAD, "response": "(a, b):", "done": False},
    {
        **_OLLAMA_HEAD,
        "response": "",
        "done": True,
        "done_reason": "length",
        "context": [1, 2, 3],
        **_OLLAMA_DONE,
        "prompt_eval_count": 9,
        "eval_count": 5,
    },
)

# What every text sample says, and every tool sample calls, whatever its format.
TEXT = "Hello, wörld ✓"
TOOL_CALLS = [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
COMPLETION_TEXT = "def add(a, b):"


# --- readers: what a client of each format understands from a stream ---------------------------------------


@dataclass
class Answer:
    """A streamed answer as a client reads it, with stop reasons in OpenAI's words."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tool_ids: list[str] = field(default_factory=list)
    stop: str | None = None
    usage: tuple[int | None, int | None] | None = None
    ended: bool = False
    errors: list[str] = field(default_factory=list)


def read_openai(data: bytes) -> Answer:
    answer = Answer()
    calls: dict[int, list[str]] = {}
    frames = data.decode().split("\n\n")
    assert frames.pop() == "", "an OpenAI stream ends with a blank line"
    for frame in frames:
        assert frame.startswith("data: "), frame
        assert "\n" not in frame, frame
        payload = frame[6:]
        assert not answer.ended, "nothing may follow [DONE]"
        if payload == "[DONE]":
            answer.ended = True
            continue
        chunk = json.loads(payload)
        if "error" in chunk:
            answer.errors.append(chunk["error"]["message"])
            continue
        assert chunk["object"] in ("chat.completion.chunk", "text_completion")
        if chunk.get("usage"):
            answer.usage = (chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"])
        for choice in chunk["choices"]:
            delta = choice.get("delta")
            if delta is None:
                answer.text += choice["text"]
            else:
                answer.text += delta.get("content") or ""
                for call in delta.get("tool_calls") or ():
                    slot = calls.setdefault(call["index"], ["", "", ""])
                    slot[0] = call.get("id") or slot[0]
                    function = call.get("function", {})
                    slot[1] += function.get("name") or ""
                    slot[2] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                answer.stop = choice["finish_reason"]
    for _, (call_id, name, arguments) in sorted(calls.items()):
        answer.tool_ids.append(call_id)
        answer.tool_calls.append((name, json.loads(arguments)))
    return answer


_ANTHROPIC_STOP = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls", "stop_sequence": "stop"}


def read_anthropic(data: bytes) -> Answer:
    answer = Answer()
    blocks: dict[int, dict[str, Any]] = {}
    open_blocks: set[int] = set()
    frames = data.decode().split("\n\n")
    assert frames.pop() == ""
    input_tokens = output_tokens = None
    for frame in frames:
        head, data_line = frame.split("\n")
        assert head.startswith("event: "), frame
        assert data_line.startswith("data: "), frame
        name, payload = head[7:], json.loads(data_line[6:])
        assert payload["type"] == name
        assert not answer.ended
        if name == "message_start":
            usage = payload["message"]["usage"]
            input_tokens = usage["input_tokens"] + usage.get("cache_read_input_tokens", 0)
        elif name == "content_block_start":
            assert not open_blocks, "one block at a time"
            blocks[payload["index"]] = {**payload["content_block"], "json": ""}
            open_blocks.add(payload["index"])
        elif name == "content_block_delta":
            assert payload["index"] in open_blocks
            delta, block = payload["delta"], blocks[payload["index"]]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                block["json"] += delta["partial_json"]
        elif name == "content_block_stop":
            open_blocks.remove(payload["index"])
        elif name == "message_delta":
            answer.stop = _ANTHROPIC_STOP[payload["delta"]["stop_reason"]]
            usage = payload["usage"]
            output_tokens = usage["output_tokens"]
            input_tokens = usage.get("input_tokens", input_tokens)
        elif name == "message_stop":
            assert not open_blocks
            answer.ended = True
        elif name == "error":
            answer.errors.append(payload["error"]["message"])
    for _, block in sorted(blocks.items()):
        if block["type"] == "text":
            answer.text += block["text"]
        elif block["type"] == "tool_use":
            answer.tool_ids.append(block["id"])
            answer.tool_calls.append((block["name"], json.loads(block["json"] or "{}")))
    if answer.ended:
        answer.usage = (input_tokens, output_tokens)
    return answer


def read_ollama(data: bytes) -> Answer:
    answer = Answer()
    lines = data.split(b"\n")
    assert lines.pop() == b"", "every line ends with LF"
    for line in lines:
        payload = json.loads(line)
        assert not answer.ended
        if "error" in payload:
            answer.errors.append(payload["error"])
            continue
        if "message" in payload:
            answer.text += payload["message"]["content"]
            for call in payload["message"].get("tool_calls") or ():
                answer.tool_calls.append((call["function"]["name"], call["function"]["arguments"]))
        else:
            answer.text += payload["response"]
        if payload["done"]:
            answer.ended = True
            answer.stop = payload["done_reason"]
            answer.usage = (payload.get("prompt_eval_count"), payload.get("eval_count"))
    return answer


def history_shape(text: str) -> list[Any]:
    """History text (analytics) as its lines, each tool call's arguments parsed: what two texts must share when
    only the JSON spacing of tool arguments may differ."""
    shape: list[Any] = []
    for line in text.split("\n"):
        name, sep, arguments = line.removeprefix("[tool call ").partition("] ")
        shape.append((name, json.loads(arguments)) if line.startswith("[tool call ") and sep else line)
    return shape
