"""OpenAI chat ⇄ Ollama chat (`/api/chat`), for requests and non-streaming answers.

Ollama keeps sampling settings under `options` (`num_predict` is the output limit), carries images as bare
base64 strings beside the text, gives tool-call arguments as an object, and links a tool result to its call by
`tool_name` only. Going to OpenAI, calls without ids get `call_<message>_<position>` and each tool message takes
the id of the earliest unanswered call of the same name (or, without a name, the earliest unanswered call).
Ollama streams unless told otherwise, so the translated request always says `stream` explicitly.
"""

from __future__ import annotations

from typing import Any

from reconciler.models import ApiFormat

from . import stamps
from .codec import JsonDict
from .content import (
    arguments_object,
    arguments_string,
    data_url,
    first_choice,
    image_url_of,
    max_output_tokens,
    messages_of,
    openai_text,
    positive_int,
    reject_openai_only,
    split_data_url,
    stop_list,
)
from .errors import InvalidRequestError, InvalidResponseError, unsupported
from .outcome import FINISH_FROM_OLLAMA, ollama_from_finish, openai_usage

OLLAMA = ApiFormat.OLLAMA
# OpenAI sampling fields that Ollama accepts under `options` with the same name and meaning.
SHARED_OPTIONS = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")

# --- requests: OpenAI → Ollama --------------------------------------------------------------------------------


def ollama_request(body: JsonDict, model: str) -> JsonDict:
    reject_openai_only(body, OLLAMA)
    messages: list[JsonDict] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages_of(body)):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            messages.append({"role": "system", "content": openai_text(content, "\n\n")})
        elif role == "user":
            messages.append(_ollama_user(content, index))
        elif role == "assistant":
            out: JsonDict = {"role": "assistant", "content": openai_text(content)}
            if calls := message.get("tool_calls"):
                out["tool_calls"] = [_ollama_call(call, call_names) for call in calls]
            messages.append(out)
        elif role == "tool":
            result: JsonDict = {"role": "tool", "content": openai_text(content, "\n\n")}
            if name := call_names.get(str(message.get("tool_call_id"))):
                result["tool_name"] = name
            messages.append(result)
        elif role == "function":
            raise unsupported(
                f"messages[{index}]",
                OLLAMA,
                "A deprecated `function` message",
                "send `tool` messages instead",
            )
        else:
            raise InvalidRequestError(f"messages[{index}] has role {role!r}; use system, user, assistant or tool.")

    request: JsonDict = {"model": model, "messages": messages, "stream": bool(body.get("stream"))}
    options = ollama_options(body)
    if options:
        request["options"] = options
    if (fmt := ollama_format(body.get("response_format"))) is not None:
        request["format"] = fmt
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if tools and choice != "none":
        if choice not in (None, "auto"):
            raise unsupported(
                "tool_choice",
                OLLAMA,
                "A forced tool choice",
                "use tool_choice auto or describe the need in the prompt",
            )
        request["tools"] = [{"type": "function", "function": tool["function"]} for tool in tools]
    return request


def ollama_options(body: JsonDict) -> JsonDict:
    options: JsonDict = {}
    for key in SHARED_OPTIONS:
        if (value := body.get(key)) is not None:
            options[key] = value
    if (limit := max_output_tokens(body)) is not None:
        options["num_predict"] = limit
    if stop := stop_list(body.get("stop")):
        options["stop"] = stop
    return options


def ollama_format(response_format: Any) -> str | JsonDict | None:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    return None


def _ollama_user(content: Any, index: int) -> JsonDict:
    if isinstance(content, str):
        return {"role": "user", "content": content}
    texts: list[str] = []
    images: list[str] = []
    for position, part in enumerate(content or ()):
        kind = part.get("type") if isinstance(part, dict) else None
        field = f"messages[{index}].content[{position}]"
        if kind == "text":
            texts.append(part["text"])
        elif kind == "image_url":
            parsed = split_data_url(image_url_of(part), field, OLLAMA)
            if parsed is None:
                raise unsupported(field, OLLAMA, "An image URL", "send the image inline as a base64 data URL")
            images.append(parsed[1])
        else:
            raise unsupported(field, OLLAMA, f"A content part of type {kind!r}", "send text and images only")
    message: JsonDict = {"role": "user", "content": "\n\n".join(texts)}
    if images:
        message["images"] = images
    return message


def _ollama_call(call: JsonDict, call_names: dict[str, str]) -> JsonDict:
    function = call.get("function") or {}
    name = function.get("name", "")
    call_names[str(call.get("id"))] = name
    return {"function": {"name": name, "arguments": arguments_object(function.get("arguments"), request=True)}}


# --- requests: Ollama → OpenAI --------------------------------------------------------------------------------


def openai_request_from_ollama(body: JsonDict, model: str) -> JsonDict:
    messages: list[JsonDict] = []
    unanswered: list[tuple[str, str]] = []  # (id, name) of calls still waiting for their tool message
    for index, message in enumerate(messages_of(body)):
        role = message.get("role")
        content = message.get("content") or ""
        if role == "system":
            messages.append({"role": "system", "content": content})
        elif role == "user":
            images = message.get("images")
            if images:
                parts: list[JsonDict] = [{"type": "text", "text": content}] if content else []
                parts.extend({"type": "image_url", "image_url": {"url": data_url(image)}} for image in images)
                messages.append({"role": "user", "content": parts})
            else:
                messages.append({"role": "user", "content": content})
        elif role == "assistant":
            calls = message.get("tool_calls")
            out: JsonDict = {"role": "assistant", "content": content or (None if calls else "")}
            if calls:
                out["tool_calls"] = [_openai_call(call, index, position) for position, call in enumerate(calls)]
                unanswered = [(call["id"], call["function"]["name"]) for call in out["tool_calls"]]
            messages.append(out)
        elif role == "tool":
            call_id = _claim(unanswered, message.get("tool_name"), index)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        else:
            raise InvalidRequestError(f"messages[{index}] has role {role!r}; use system, user, assistant or tool.")

    stream = body.get("stream", True) is not False
    out_body: JsonDict = {"model": model, "messages": messages, "stream": stream}
    out_body.update(openai_sampling(body.get("options")))
    fmt = body.get("format")
    if fmt == "json":
        out_body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        out_body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": fmt},
        }
    if tools := body.get("tools"):
        out_body["tools"] = tools
    return out_body


def openai_sampling(options: Any) -> JsonDict:
    """Ollama `options` as top-level OpenAI fields; options without an OpenAI equivalent are dropped."""
    out: JsonDict = {}
    if not isinstance(options, dict):
        return out
    for key in SHARED_OPTIONS:
        if (value := options.get(key)) is not None:
            out[key] = value
    # num_predict -1 (unlimited) and -2 (fill the context) have no OpenAI spelling: leave the limit out.
    if (limit := positive_int(options.get("num_predict"))) is not None:
        out["max_tokens"] = limit
    if stop := stop_list(options.get("stop")):
        out["stop"] = stop
    return out


def _openai_call(call: JsonDict, index: int, position: int) -> JsonDict:
    function = call.get("function") or {}
    return {
        "id": call.get("id") or f"call_{index}_{position}",
        "type": "function",
        "function": {
            "name": function.get("name", ""),
            "arguments": arguments_string(function.get("arguments")),
        },
    }


def _claim(unanswered: list[tuple[str, str]], name: Any, index: int) -> str:
    if unanswered:
        position = next((i for i, (_, call_name) in enumerate(unanswered) if call_name == name), 0)
        return unanswered.pop(position)[0]
    raise InvalidRequestError(
        f"messages[{index}] is a tool result that answers no earlier tool call; "
        "put it after the assistant message that made the call."
    )


# --- answers --------------------------------------------------------------------------------------------------


def openai_response_from_ollama(body: JsonDict, model: str, created: int) -> JsonDict:
    message = body.get("message")
    calls: list[JsonDict] = []
    if isinstance(message, dict):
        text = message.get("content") or ""
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            calls.append(
                {
                    "id": call.get("id") or stamps.tool_call_id(),
                    "type": "function",
                    "function": {
                        "name": function.get("name", ""),
                        "arguments": arguments_string(function.get("arguments")),
                    },
                }
            )
    elif isinstance(body.get("response"), str):
        text = body["response"]
    else:
        raise InvalidResponseError("The Ollama answer has neither `message` nor `response`.")
    out_message: JsonDict = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        out_message["tool_calls"] = calls
    reason = body.get("done_reason")
    finish = "tool_calls" if calls else FINISH_FROM_OLLAMA.get(reason, "stop") if isinstance(reason, str) else "stop"
    return {
        "id": stamps.openai_id(None),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": out_message, "logprobs": None, "finish_reason": finish}],
        "usage": openai_usage(body.get("prompt_eval_count"), body.get("eval_count")),
    }


def ollama_response(body: JsonDict, model: str, created: int, *, legacy: bool) -> JsonDict:
    """An OpenAI chat answer (the pivot) as an Ollama chat answer, or a generate answer when `legacy`."""
    message, reason = first_choice(body)
    text = openai_text(message.get("content")) or message.get("refusal") or ""
    out: JsonDict = {"model": model, "created_at": stamps.iso_time(created)}
    if legacy:
        out["response"] = text
    else:
        out_message: JsonDict = {"role": "assistant", "content": text}
        if calls := message.get("tool_calls"):
            out_message["tool_calls"] = [
                {
                    "function": {
                        "name": (call.get("function") or {}).get("name", ""),
                        "arguments": arguments_object((call.get("function") or {}).get("arguments"), request=False),
                    }
                }
                for call in calls
            ]
        out["message"] = out_message
    out["done"] = True
    out["done_reason"] = ollama_from_finish(reason)
    usage = body.get("usage")
    if isinstance(usage, dict):
        out["prompt_eval_count"] = usage.get("prompt_tokens") or 0
        out["eval_count"] = usage.get("completion_tokens") or 0
    return out
