"""OpenAI chat ⇄ Anthropic Messages, for requests and non-streaming answers.

Requests: system and developer messages become the top-level `system` (joined by blank lines); tool messages
become `tool_result` blocks in a user turn; consecutive turns of one role merge, as Anthropic expects; image
parts become image blocks; `max_tokens` defaults to 4096 because Anthropic requires it. In the other direction
`system` becomes the first message, `tool_result` blocks become tool messages placed before the user's text,
thinking blocks are dropped (no OpenAI equivalent), and the limit is sent as `max_tokens`, which every
OpenAI-compatible server knows (`translate_request(completion_tokens=True)` renames it for OpenAI's own API,
whose reasoning models want `max_completion_tokens`).

Sampling hints the target lacks (penalties, seed, `logit_bias`, `top_k`) are dropped; fields whose absence
would change what the client reads raise `UnsupportedField`.
"""

from __future__ import annotations

from typing import Any

from reconciler.models import ApiFormat

from . import stamps
from .codec import JsonDict
from .content import (
    anthropic_tool_id,
    arguments_object,
    arguments_string,
    collapse_parts,
    first_choice,
    image_url_of,
    max_output_tokens,
    messages_of,
    openai_text,
    reject_openai_only,
    split_data_url,
    stop_list,
)
from .errors import InvalidRequestError, InvalidResponseError, unsupported
from .outcome import (
    ANTHROPIC_FROM_FINISH,
    FINISH_FROM_ANTHROPIC,
    anthropic_input_tokens,
    finish_from_openai,
    openai_usage,
)

ANTHROPIC = ApiFormat.ANTHROPIC
DEFAULT_MAX_TOKENS = 4096

# --- requests: OpenAI → Anthropic -----------------------------------------------------------------------------


def anthropic_request(body: JsonDict, model: str) -> JsonDict:
    reject_openai_only(body, ANTHROPIC)
    system: list[str] = []
    messages: list[JsonDict] = []
    for index, message in enumerate(messages_of(body)):
        role = message.get("role")
        if role == "user":
            _append_turn(messages, "user", _user_content(message.get("content"), index))
        elif role == "assistant":
            _append_turn(messages, "assistant", _assistant_content(message))
        elif role == "tool":
            _append_turn(messages, "user", [_tool_result(message, index)])
        elif role in ("system", "developer"):
            text = openai_text(message.get("content"), "\n\n")
            if text:
                system.append(text)
        elif role == "function":
            raise unsupported(
                f"messages[{index}]",
                ANTHROPIC,
                "A deprecated `function` message",
                "send `tool` messages instead",
            )
        else:
            raise InvalidRequestError(f"messages[{index}] has role {role!r}; use system, user, assistant or tool.")

    out: JsonDict = {
        "model": model,
        "messages": messages,
        "max_tokens": max_output_tokens(body) or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for key in ("temperature", "top_p"):
        if (value := body.get(key)) is not None:
            out[key] = value
    if stop := stop_list(body.get("stop")):
        out["stop_sequences"] = stop
    if body.get("stream"):
        out["stream"] = True
    if isinstance(user := body.get("user"), str) and user:
        out["metadata"] = {"user_id": user}
    if tools := body.get("tools"):
        out["tools"] = [_anthropic_tool(tool["function"]) for tool in tools]
    choice = _anthropic_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None:
        out["tool_choice"] = choice
    return out


def _append_turn(messages: list[JsonDict], role: str, content: str | list[JsonDict]) -> None:
    if messages and messages[-1]["role"] == role:
        previous = messages[-1]
        previous["content"] = _blocks(previous["content"]) + _blocks(content)
    else:
        messages.append({"role": role, "content": content})


def _blocks(content: str | list[JsonDict]) -> list[JsonDict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _user_content(content: Any, index: int) -> str | list[JsonDict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{index}].content must be a string or a list of content parts.")
    blocks: list[JsonDict] = []
    for position, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part["text"]:
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_anthropic_image(image_url_of(part), f"messages[{index}].content[{position}]"))
        else:
            raise unsupported(
                f"messages[{index}].content[{position}]",
                ANTHROPIC,
                f"A content part of type {kind!r}",
                "send text and images only",
            )
    return blocks


def _anthropic_image(url: str, field: str) -> JsonDict:
    parsed = split_data_url(url, field, ANTHROPIC)
    if parsed is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = parsed
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_content(message: JsonDict) -> str | list[JsonDict]:
    content = message.get("content")
    tool_calls = message.get("tool_calls")
    if not tool_calls:
        return content if isinstance(content, str) else openai_text(content)
    text = openai_text(content)
    blocks: list[JsonDict] = [{"type": "text", "text": text}] if text else []
    for call in tool_calls:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": anthropic_tool_id(str(call.get("id") or "")),
                "name": function.get("name", ""),
                "input": arguments_object(function.get("arguments"), request=True),
            }
        )
    return blocks


def _tool_result(message: JsonDict, index: int) -> JsonDict:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise InvalidRequestError(f"messages[{index}] is a tool message without `tool_call_id`; add the call's id.")
    content = message.get("content")
    result: JsonDict = {"type": "tool_result", "tool_use_id": anthropic_tool_id(call_id)}
    result["content"] = content if isinstance(content, str) else openai_text(content, "\n\n")
    return result


def _anthropic_tool(function: JsonDict) -> JsonDict:
    tool: JsonDict = {"name": function.get("name", "")}
    if description := function.get("description"):
        tool["description"] = description
    tool["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return tool


def _anthropic_tool_choice(choice: Any, parallel: Any) -> JsonDict | None:
    result: JsonDict | None
    if choice is None:
        result = None
    elif choice == "none":
        return {"type": "none"}
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": choice["function"].get("name", "")}
    else:
        raise InvalidRequestError(f"tool_choice {choice!r} is not one of none, auto, required or a named function.")
    if parallel is False:
        result = {"type": "auto"} if result is None else result
        result["disable_parallel_tool_use"] = True
    return result


# --- requests: Anthropic → OpenAI -----------------------------------------------------------------------------


def openai_request_from_anthropic(body: JsonDict, model: str) -> JsonDict:
    messages: list[JsonDict] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": anthropic_text(system, "\n\n")})
    for index, message in enumerate(messages_of(body)):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise InvalidRequestError(f"messages[{index}] has role {role!r}; Anthropic messages are user or assistant.")
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content})
        elif not isinstance(content, list):
            raise InvalidRequestError(f"messages[{index}].content must be a string or a list of content blocks.")
        elif role == "user":
            _openai_user_turn(messages, content, index)
        else:
            messages.append(_openai_assistant(content, index))

    out: JsonDict = {"model": model, "messages": messages}
    if (max_tokens := body.get("max_tokens")) is not None:
        out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        if (value := body.get(key)) is not None:
            out[key] = value
    if stop := stop_list(body.get("stop_sequences")):
        out["stop"] = stop
    out["stream"] = bool(body.get("stream"))
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(user := metadata.get("user_id"), str):
        out["user"] = user
    if tools := body.get("tools"):
        out["tools"] = [_openai_tool(tool, position) for position, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
        elif kind in ("auto", "any", "none"):
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use") and out.get("tools"):
            out["parallel_tool_calls"] = False
    return out


def anthropic_text(content: Any, separator: str = "") -> str:
    """The text of a `system` value or a block list: a string, or `text` blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return separator.join(block["text"] for block in content if isinstance(block, dict) and block.get("type") == "text")


def _openai_user_turn(messages: list[JsonDict], blocks: list[Any], index: int) -> None:
    # OpenAI wants each tool result as a `tool` message right after the assistant's calls, so results are
    # emitted first and the rest of the turn follows as one user message.
    parts: list[JsonDict] = []
    for position, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        field = f"messages[{index}].content[{position}]"
        if kind == "text":
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, field)}})
        elif kind == "tool_result":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": block.get("tool_use_id", ""),
                    "content": _tool_result_text(block.get("content"), field),
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            raise unsupported(field, ApiFormat.OPENAI, f"A content block of type {kind!r}", "send text and images")
    if parts:
        messages.append({"role": "user", "content": collapse_parts(parts)})


def _image_url(block: JsonDict, field: str) -> str:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if kind == "url":
        return str(source.get("url", ""))
    raise unsupported(field, ApiFormat.OPENAI, f"An image source of type {kind!r}", "send base64 or URL images")


def _tool_result_text(content: Any, field: str) -> str:
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") != "text":
                raise unsupported(
                    field, ApiFormat.OPENAI, "A tool result holding an image or document", "return text only"
                )
    return anthropic_text(content, "\n\n") if content is not None else ""


def _openai_assistant(blocks: list[Any], index: int) -> JsonDict:
    texts: list[str] = []
    calls: list[JsonDict] = []
    for position, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(_openai_call(block))
        elif kind not in ("thinking", "redacted_thinking"):
            raise unsupported(
                f"messages[{index}].content[{position}]",
                ApiFormat.OPENAI,
                f"An assistant block of type {kind!r}",
                "send text and tool_use blocks",
            )
    message: JsonDict = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _openai_call(block: JsonDict) -> JsonDict:
    """An Anthropic `tool_use` block as an OpenAI tool call."""
    return {
        "id": block.get("id", ""),
        "type": "function",
        "function": {"name": block.get("name", ""), "arguments": arguments_string(block.get("input"))},
    }


def _openai_tool(tool: Any, position: int) -> JsonDict:
    if not isinstance(tool, dict) or "input_schema" not in tool or tool.get("type", "custom") != "custom":
        kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
        raise unsupported(
            f"tools[{position}]", ApiFormat.OPENAI, f"The server tool {kind!r}", "declare custom tools only"
        )
    function: JsonDict = {"name": tool.get("name", "")}
    if description := tool.get("description"):
        function["description"] = description
    function["parameters"] = tool["input_schema"]
    return {"type": "function", "function": function}


# --- answers --------------------------------------------------------------------------------------------------


def openai_response_from_anthropic(body: JsonDict, model: str, created: int) -> JsonDict:
    content = body.get("content")
    if not isinstance(content, list):
        raise InvalidResponseError("The Anthropic answer has no `content` list.")
    texts: list[str] = []
    calls: list[JsonDict] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(_openai_call(block))
    message: JsonDict = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    reason = body.get("stop_reason")
    out: JsonDict = {
        "id": stamps.openai_id(body.get("id")),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_FROM_ANTHROPIC.get(reason, "stop") if isinstance(reason, str) else "stop",
            }
        ],
    }
    usage = body.get("usage")
    if isinstance(usage, dict):
        out["usage"] = openai_usage(anthropic_input_tokens(usage), usage.get("output_tokens"), usage)
    return out


def anthropic_response(body: JsonDict, model: str) -> JsonDict:
    """An OpenAI chat answer (the pivot) as an Anthropic message."""
    message, reason = first_choice(body)
    content: list[JsonDict] = []
    text = openai_text(message.get("content")) or message.get("refusal") or ""
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": anthropic_tool_id(str(call.get("id") or stamps.tool_call_id())),
                "name": function.get("name", ""),
                "input": arguments_object(function.get("arguments"), request=False),
            }
        )
    return {
        "id": stamps.anthropic_id(body.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": ANTHROPIC_FROM_FINISH.get(finish_from_openai(reason or "stop"), "end_turn"),
        "stop_sequence": None,
        "usage": anthropic_usage(body.get("usage")),
    }


def anthropic_usage(usage: Any) -> JsonDict:
    if not isinstance(usage, dict):
        return {"input_tokens": 0, "output_tokens": 0}
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") or 0 if isinstance(details, dict) else 0
    out: JsonDict = {"input_tokens": prompt - cached, "output_tokens": usage.get("completion_tokens") or 0}
    if cached:
        out["cache_read_input_tokens"] = cached
    return out
