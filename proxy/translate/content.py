"""Pieces shared by the request and response converters: message content, images, tool calls.

The converters pivot on OpenAI's chat format, so most helpers read or write OpenAI shapes.
"""

from __future__ import annotations

from typing import Any

from reconciler.models import ApiFormat

from .codec import DecodeError, JsonDict, dumps_str, loads
from .errors import InvalidRequestError, InvalidResponseError, TranslationError, unsupported

# Base64 prefixes of the image formats the providers accept; Ollama sends images without a media type.
_IMAGE_MAGIC = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def messages_of(body: JsonDict) -> list[JsonDict]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequestError("The request has no `messages` list; send the conversation as a list of messages.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{index}] is not an object; send each message as a JSON object.")
    return messages


def openai_text(content: Any, separator: str = "") -> str:
    """The text of an OpenAI content value: a string, None, or a list of `text` / `refusal` parts."""
    if isinstance(content, str):
        return content
    if not content:
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, dict):
            text = part.get("text") if part.get("type") == "text" else part.get("refusal")
            if isinstance(text, str):
                texts.append(text)
    return separator.join(texts)


def collapse_parts(parts: list[JsonDict]) -> str | list[JsonDict]:
    """A single text part is sent as a plain string, which every OpenAI-compatible server accepts."""
    if len(parts) == 1 and parts[0].get("type") == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def split_data_url(url: str, field: str, target: ApiFormat) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:` URL, or None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    if not header.endswith(";base64"):
        raise unsupported(field, target, "An image data URL that is not base64", "encode the image as base64")
    return header[5:].partition(";")[0] or "image/png", data


def image_url_of(part: JsonDict) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequestError("An `image_url` content part has no `url`; send the image as a URL or a data URL.")
    return url


def data_url(data: str, media_type: str | None = None) -> str:
    if media_type is None:
        media_type = next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), "image/png")
    return f"data:{media_type};base64,{data}"


def arguments_object(arguments: Any, *, request: bool) -> JsonDict:
    """Tool-call arguments (an OpenAI JSON string) as the object Anthropic and Ollama expect."""
    error: type[TranslationError] = InvalidRequestError if request else InvalidResponseError
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if not isinstance(arguments, str):
        raise error(f"Tool-call arguments must be a JSON string, not {type(arguments).__name__}.")
    try:
        value = loads(arguments)
    except DecodeError:
        value = None
    if not isinstance(value, dict):
        who = "request carries" if request else "model returned"
        raise error(
            f"The {who} tool-call arguments that are not a JSON object ({arguments[:80]!r}); "
            "the target API needs an object."
        )
    return value


def arguments_string(arguments: Any) -> str:
    """Tool-call arguments (an object in Anthropic and Ollama) as OpenAI's JSON string."""
    if isinstance(arguments, str):
        return arguments
    return dumps_str(arguments if arguments is not None else {})


def anthropic_tool_id(call_id: str) -> str:
    """Anthropic tool ids must match `^[a-zA-Z0-9_-]+$`; other servers' ids may not."""
    if call_id and call_id.isascii() and call_id.replace("_", "a").replace("-", "a").isalnum():
        return call_id
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in call_id)
    return cleaned or "call_"


def stop_list(stop: Any) -> list[str] | None:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and stop:
        return [item for item in stop if isinstance(item, str)]
    return None


def positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def reject_openai_only(body: JsonDict, target: ApiFormat) -> None:
    """Raise for OpenAI request fields whose answer the client reads and the target cannot produce."""
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise unsupported("n", target, "n > 1 (several choices in one answer)", "ask for one choice per request")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise unsupported("logprobs", target, "logprobs", "leave out `logprobs` and `top_logprobs`")
    modalities = body.get("modalities")
    if body.get("audio") or (isinstance(modalities, list) and "audio" in modalities):
        raise unsupported("audio", target, "Audio output", "ask for text only")
    for field in ("functions", "function_call"):
        if body.get(field):
            raise unsupported(field, target, f"The deprecated `{field}`", "send `tools` and `tool_choice` instead")
    response_format = body.get("response_format")
    if (
        target is ApiFormat.ANTHROPIC
        and isinstance(response_format, dict)
        and response_format.get("type", "text") != "text"
    ):
        raise unsupported(
            "response_format",
            target,
            "Structured output (`response_format`)",
            "describe the JSON in the prompt",
        )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequestError("`tools` must be a list of tool definitions.")
    for index, tool in enumerate(tools or ()):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise unsupported(f"tools[{index}]", target, f"A tool of type {kind!r}", "declare function tools only")
        if not isinstance(tool.get("function"), dict):
            raise InvalidRequestError(f"tools[{index}] has no `function` object; give its name and parameters there.")


def max_output_tokens(body: JsonDict) -> int | None:
    """OpenAI's output limit: `max_completion_tokens` replaced `max_tokens`, and either may be sent."""
    return positive_int(body.get("max_completion_tokens")) or positive_int(body.get("max_tokens"))


def first_choice(body: JsonDict) -> tuple[JsonDict, str | None]:
    """The message and finish reason of an OpenAI chat answer's first choice."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponseError("The OpenAI answer has no `choices`.")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise InvalidResponseError("The OpenAI answer's first choice has no `message`.")
    reason = choice.get("finish_reason")
    return message, reason if isinstance(reason, str) else None
