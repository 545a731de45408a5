"""The fake provider's answers, written in each provider's real wire format.

`reply_for` turns a request body into a `Reply` (deterministic text and token counts); the `*_json` and
`*_stream` builders render that reply as OpenAI, Anthropic or Ollama JSON, SSE or NDJSON. Streams are lists of
`Frame`s so the server can pace them, count the content-bearing ones and cut them short."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

# Fixed so that two runs give byte-identical answers.
CREATED: Final = 1_700_000_000
CREATED_AT: Final = "2023-11-14T22:13:20Z"
_DEFAULT_MAX_PIECES: Final = 64
_WORD = re.compile(r"\s*\S+")


class Route(enum.Enum):
    OPENAI_CHAT = "openai_chat"
    OPENAI_COMPLETIONS = "openai_completions"
    OPENAI_MODELS = "openai_models"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    OLLAMA_CHAT = "ollama_chat"
    OLLAMA_GENERATE = "ollama_generate"
    OLLAMA_TAGS = "ollama_tags"

    @property
    def family(self) -> str:
        return self.value.split("_", 1)[0]


ROUTES: Final = {
    ("POST", "/v1/chat/completions"): Route.OPENAI_CHAT,
    ("POST", "/v1/completions"): Route.OPENAI_COMPLETIONS,
    ("GET", "/v1/models"): Route.OPENAI_MODELS,
    ("POST", "/v1/messages"): Route.ANTHROPIC_MESSAGES,
    ("POST", "/api/chat"): Route.OLLAMA_CHAT,
    ("POST", "/api/generate"): Route.OLLAMA_GENERATE,
    ("GET", "/api/tags"): Route.OLLAMA_TAGS,
}


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    is_content: bool
    """True for a frame carrying a piece of the answer (what "chunks written" counts)."""


@dataclass(frozen=True, slots=True)
class Reply:
    model: str
    pieces: list[str]
    """The answer text in stream order; for a tool call, the JSON text of its arguments."""
    tool: str | None
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# --- reading requests ---------------------------------------------------------------------------------------


def is_streaming(route: Route, body: dict[str, Any]) -> bool:
    if route.family == "ollama":
        return body.get("stream", True) is not False  # Ollama streams unless told not to
    return body.get("stream") is True


def invalid_reason(route: Route, body: dict[str, Any]) -> str | None:
    """The 400 message a real provider would give for a body missing what it requires."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "Missing required parameter: 'model'."
    if route in (Route.OPENAI_CHAT, Route.ANTHROPIC_MESSAGES) and not isinstance(body.get("messages"), list):
        return "Missing required parameter: 'messages'."
    if route is Route.OPENAI_COMPLETIONS and "prompt" not in body:
        return "Missing required parameter: 'prompt'."
    if route is Route.ANTHROPIC_MESSAGES:
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required."
        for index, message in enumerate(body["messages"]):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                return (
                    f"messages.{index}.role: Input should be 'user' or 'assistant', got {role!r}; "
                    "a system prompt goes in the top-level 'system' field."
                )
    return None


def _text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of text parts/blocks (other parts are skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _texts(route: Route, body: dict[str, Any]) -> list[str]:
    if route in (Route.OPENAI_COMPLETIONS, Route.OLLAMA_GENERATE):
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            return [str(prompt[0])] if prompt else []
        return [str(prompt)]
    messages = body.get("messages")
    texts = [_text_of(m.get("content")) for m in messages or () if isinstance(m, dict)]
    if route is Route.ANTHROPIC_MESSAGES:
        texts.insert(0, _text_of(body.get("system")))
    return texts


def _last_user_text(route: Route, body: dict[str, Any]) -> str:
    if route in (Route.OPENAI_COMPLETIONS, Route.OLLAMA_GENERATE):
        return "".join(_texts(route, body))
    for message in reversed(body.get("messages") or ()):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _tool_name(route: Route, body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    first = tools[0]
    if route is Route.ANTHROPIC_MESSAGES:
        name = first.get("name")
    else:
        function = first.get("function")
        name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def split_pieces(text: str, chunks: int | None) -> list[str]:
    """Words with their leading spaces (at most 64 pieces), or exactly `chunks` pieces padded with dots."""
    if chunks is not None:
        text = text.ljust(chunks, ".")
        return [text[len(text) * i // chunks : len(text) * (i + 1) // chunks] for i in range(chunks)]
    words = _WORD.findall(text)
    tail = text[sum(map(len, words)) :]
    if tail:
        words.append(tail)
    if len(words) > _DEFAULT_MAX_PIECES:
        n = len(words)
        words = [
            "".join(words[n * i // _DEFAULT_MAX_PIECES : n * (i + 1) // _DEFAULT_MAX_PIECES])
            for i in range(_DEFAULT_MAX_PIECES)
        ]
    return words


def reply_for(route: Route, body: dict[str, Any], *, text: str | None, chunks: int | None, tool_call: bool) -> Reply:
    """The answer to `body`: "echo: <last user text>" unless `text` is given, or a call of the first tool."""
    answer = text if text is not None else f"echo: {_last_user_text(route, body)}"
    tool = _tool_name(route, body) if tool_call and route is not Route.OLLAMA_GENERATE else None
    if tool is not None:
        answer = json.dumps({"text": answer}, ensure_ascii=False)
    pieces = split_pieces(answer, chunks)
    prompt_words = sum(len(t.split()) for t in _texts(route, body))
    return Reply(
        model=str(body.get("model", "")),
        pieces=pieces,
        tool=tool,
        prompt_tokens=max(1, prompt_words),
        completion_tokens=max(1, len(answer.split())),
    )


# --- OpenAI -------------------------------------------------------------------------------------------------


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _openai_tool_call(reply: Reply, arguments: str, *, index: int | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": "call_fake_0",
        "type": "function",
        "function": {"name": reply.tool, "arguments": arguments},
    }
    return call if index is None else {"index": index, **call}


def openai_chat_json(reply: Reply, request_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool is not None:
        message["content"] = None
        message["tool_calls"] = [_openai_tool_call(reply, reply.text)]
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": CREATED,
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.tool else "stop",
            }
        ],
        "usage": _openai_usage(reply),
        "system_fingerprint": None,
    }


def openai_chat_stream(reply: Reply, request_id: str, *, include_usage: bool) -> list[Frame]:
    def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": reply.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            payload["usage"] = None
        return payload

    if reply.tool is None:
        frames = [_sse(chunk({"role": "assistant", "content": "", "refusal": None}, None), content=False)]
        frames += [_sse(chunk({"content": piece}, None), content=True) for piece in reply.pieces]
    else:
        opening = {
            "role": "assistant",
            "content": None,
            "tool_calls": [_openai_tool_call(reply, "", index=0)],
        }
        frames = [_sse(chunk(opening, None), content=False)]
        frames += [
            _sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}, None), content=True)
            for p in reply.pieces
        ]
    frames.append(_sse(chunk({}, "tool_calls" if reply.tool else "stop"), content=False))
    if include_usage:
        last = chunk({}, None)
        last["choices"] = []
        last["usage"] = _openai_usage(reply)
        frames.append(_sse(last, content=False))
    frames.append(Frame(b"data: [DONE]\n\n", is_content=False))
    return frames


def openai_completion_json(reply: Reply, request_id: str) -> dict[str, Any]:
    return {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": CREATED,
        "model": reply.model,
        "choices": [{"text": reply.text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": _openai_usage(reply),
    }


def openai_completion_stream(reply: Reply, request_id: str, *, include_usage: bool) -> list[Frame]:
    def chunk(text: str, finish_reason: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": f"cmpl-{request_id}",
            "object": "text_completion",
            "created": CREATED,
            "model": reply.model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            payload["usage"] = None
        return payload

    frames = [_sse(chunk(piece, None), content=True) for piece in reply.pieces]
    frames.append(_sse(chunk("", "stop"), content=False))
    if include_usage:
        last = chunk("", None)
        last["choices"] = []
        last["usage"] = _openai_usage(reply)
        frames.append(_sse(last, content=False))
    frames.append(Frame(b"data: [DONE]\n\n", is_content=False))
    return frames


def openai_models(models: Sequence[str]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"} for m in models],
    }


def _sse(payload: dict[str, Any], *, content: bool, event: str | None = None) -> Frame:
    prefix = b"event: %b\n" % event.encode() if event else b""
    return Frame(prefix + b"data: " + dumps(payload) + b"\n\n", is_content=content)


# --- Anthropic ----------------------------------------------------------------------------------------------


def _anthropic_message(reply: Reply, request_id: str) -> dict[str, Any]:
    return {
        "id": f"msg_{request_id}",
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1},
    }


def anthropic_json(reply: Reply, request_id: str) -> dict[str, Any]:
    message = _anthropic_message(reply, request_id)
    if reply.tool is None:
        message["content"] = [{"type": "text", "text": reply.text}]
    else:
        block = {
            "type": "tool_use",
            "id": "toolu_fake_0",
            "name": reply.tool,
            "input": json.loads(reply.text),
        }
        message["content"] = [block]
    message["stop_reason"] = "tool_use" if reply.tool else "end_turn"
    message["usage"] = {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}
    return message


def anthropic_stream(reply: Reply, request_id: str) -> list[Frame]:
    def event(name: str, payload: dict[str, Any], *, content: bool = False) -> Frame:
        return _sse({"type": name, **payload}, content=content, event=name)

    if reply.tool is None:
        block: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in reply.pieces]
    else:
        block = {"type": "tool_use", "id": "toolu_fake_0", "name": reply.tool, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in reply.pieces]
    return [
        event("message_start", {"message": _anthropic_message(reply, request_id)}),
        event("content_block_start", {"index": 0, "content_block": block}),
        event("ping", {}),
        *(event("content_block_delta", {"index": 0, "delta": d}, content=True) for d in deltas),
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {
                "delta": {"stop_reason": "tool_use" if reply.tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            },
        ),
        event("message_stop", {}),
    ]


# --- Ollama -------------------------------------------------------------------------------------------------


def _ollama_done(reply: Reply) -> dict[str, Any]:
    return {
        "done_reason": "stop",
        "done": True,
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": reply.prompt_tokens,
        "prompt_eval_duration": 200_000,
        "eval_count": reply.completion_tokens,
        "eval_duration": 700_000,
    }


def _ollama_tool_message(reply: Reply) -> dict[str, Any]:
    call = {"function": {"name": reply.tool, "arguments": json.loads(reply.text)}}
    return {"role": "assistant", "content": "", "tool_calls": [call]}


def ollama_chat_json(reply: Reply) -> dict[str, Any]:
    message = _ollama_tool_message(reply) if reply.tool else {"role": "assistant", "content": reply.text}
    return {"model": reply.model, "created_at": CREATED_AT, "message": message, **_ollama_done(reply)}


def ollama_chat_stream(reply: Reply) -> list[Frame]:
    def line(message: dict[str, Any], *, done: bool, content: bool) -> Frame:
        payload: dict[str, Any] = {"model": reply.model, "created_at": CREATED_AT, "message": message}
        payload.update(_ollama_done(reply) if done else {"done": False})
        return Frame(dumps(payload) + b"\n", is_content=content)

    if reply.tool is not None:
        # Ollama sends a tool call whole, in one line.
        frames = [line(_ollama_tool_message(reply), done=False, content=True)]
    else:
        frames = [line({"role": "assistant", "content": p}, done=False, content=True) for p in reply.pieces]
    frames.append(line({"role": "assistant", "content": ""}, done=True, content=False))
    return frames


def ollama_generate_json(reply: Reply) -> dict[str, Any]:
    return {
        "model": reply.model,
        "created_at": CREATED_AT,
        "response": reply.text,
        **_ollama_done(reply),
        "context": [1, 2, 3],
    }


def ollama_generate_stream(reply: Reply) -> list[Frame]:
    frames = [
        Frame(
            dumps({"model": reply.model, "created_at": CREATED_AT, "response": piece, "done": False}) + b"\n",
            is_content=True,
        )
        for piece in reply.pieces
    ]
    final = {"model": reply.model, "created_at": CREATED_AT, "response": "", **_ollama_done(reply)}
    frames.append(Frame(dumps({**final, "context": [1, 2, 3]}) + b"\n", is_content=False))
    return frames


def ollama_tags(models: Sequence[str]) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": m,
                "model": m,
                "modified_at": CREATED_AT,
                "size": 4_000_000_000,
                "digest": hashlib.sha256(m.encode()).hexdigest(),
                "details": {
                    "format": "gguf",
                    "family": "llama",
                    "parameter_size": "7B",
                    "quantization_level": "Q4_0",
                },
            }
            for m in models
        ]
    }


# --- errors -------------------------------------------------------------------------------------------------

_OPENAI_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_body(family: str, status: int, message: str) -> dict[str, Any]:
    """An error in the shape the provider family uses."""
    if family == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if family == "ollama":
        return {"error": message}
    kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
