"""Prompt-style requests: OpenAI legacy completions (`/v1/completions`) and Ollama `/api/generate`.

Between OpenAI and Ollama a prompt stays a prompt (`prompt`, `suffix`, sampling settings). Anthropic has no
completion API, so a prompt becomes a chat: `prompt_to_chat` builds an OpenAI chat request (the pivot) with
one user message. For fill-in-the-middle (`fim=True`) that message is the code before the cursor, the marker
`<|cursor|>`, and the code after it (`suffix`), and a system prompt asks for the missing text only, since a
chat model would otherwise answer with prose about the code.

Answers go the other way: `text_completion` ⇄ chat shapes, so the response and stream converters can treat a
completion as a chat answer with text only.
"""

from __future__ import annotations

from typing import Any

from reconciler.models import ApiFormat

from . import stamps
from .codec import JsonDict
from .content import data_url, openai_text, positive_int, stop_list
from .errors import InvalidRequestError, InvalidResponseError, unsupported
from .openai_ollama import SHARED_OPTIONS, openai_sampling

CURSOR = "<|cursor|>"
FIM_SYSTEM_PROMPT = (
    f"You complete code. The user message is a file with the marker {CURSOR} where text is missing. "
    f"Reply with exactly the text that belongs at {CURSOR}: no explanation, no code fences, and none of the "
    "code before or after the marker."
)


def is_prompt_request(body: JsonDict) -> bool:
    """A legacy completion or generate request (a `prompt`, no `messages`)."""
    return "prompt" in body and "messages" not in body


def _prompt_text(body: JsonDict, target: ApiFormat) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise unsupported(
                "prompt",
                target,
                "A prompt given as several prompts or as token ids",
                "send one prompt string",
            )
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequestError("`prompt` must be a string.")
    return prompt


def _reject_completion_only(body: JsonDict, target: ApiFormat) -> None:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise unsupported("n", target, "n > 1 (several completions)", "ask for one completion per request")
    best_of = body.get("best_of")
    if isinstance(best_of, int) and best_of > 1:
        raise unsupported("best_of", target, "best_of > 1", "leave out `best_of`")
    if body.get("logprobs") is not None:
        raise unsupported("logprobs", target, "logprobs", "leave out `logprobs`")
    if body.get("echo"):
        raise unsupported("echo", target, "echo", "leave out `echo`")


def _reject_generate_only(body: JsonDict, target: ApiFormat, *, chat: bool) -> None:
    fields = ("template", "context", "format") if chat else ("system", "template", "context", "images", "format")
    for field in fields:
        if body.get(field):
            raise unsupported(
                field, target, f"`{field}` on a generate request", "send a chat request (/api/chat) instead"
            )


def ollama_generate_request(body: JsonDict, model: str) -> JsonDict:
    """OpenAI completions → Ollama generate."""
    _reject_completion_only(body, ApiFormat.OLLAMA)
    out: JsonDict = {"model": model, "prompt": _prompt_text(body, ApiFormat.OLLAMA)}
    if isinstance(suffix := body.get("suffix"), str) and suffix:
        out["suffix"] = suffix
    out["stream"] = bool(body.get("stream"))
    options: JsonDict = {key: body[key] for key in SHARED_OPTIONS if body.get(key) is not None}
    if (limit := positive_int(body.get("max_tokens"))) is not None:
        options["num_predict"] = limit
    if stop := stop_list(body.get("stop")):
        options["stop"] = stop
    if options:
        out["options"] = options
    return out


def completions_request(body: JsonDict, model: str) -> JsonDict:
    """Ollama generate → OpenAI completions."""
    _reject_generate_only(body, ApiFormat.OPENAI, chat=False)
    out: JsonDict = {"model": model, "prompt": _prompt_text(body, ApiFormat.OPENAI)}
    if isinstance(suffix := body.get("suffix"), str) and suffix:
        out["suffix"] = suffix
    out["stream"] = body.get("stream", True) is not False
    out.update(openai_sampling(body.get("options")))
    return out


def prompt_to_chat(body: JsonDict, source: ApiFormat, *, fim: bool) -> JsonDict:
    """A prompt request of format `source` as an OpenAI chat request, for targets without a completion API."""
    target = ApiFormat.ANTHROPIC
    prompt = _prompt_text(body, target)
    suffix = body.get("suffix") if isinstance(body.get("suffix"), str) else ""
    messages: list[JsonDict] = []
    if source is ApiFormat.OLLAMA:
        _reject_generate_only(body, target, chat=True)
        chat: JsonDict = {
            "stream": body.get("stream", True) is not False,
            **openai_sampling(body.get("options")),
        }
        system = body.get("system") if isinstance(body.get("system"), str) else ""
    else:
        _reject_completion_only(body, target)
        chat = {key: body[key] for key in ("temperature", "top_p", "max_tokens", "stop", "user") if key in body}
        chat["stream"] = bool(body.get("stream"))
        system = ""
    if fim:
        system = f"{system}\n\n{FIM_SYSTEM_PROMPT}" if system else FIM_SYSTEM_PROMPT
        text: Any = f"{prompt}{CURSOR}{suffix}"
    else:
        text = prompt + suffix if suffix else prompt
    if system:
        messages.append({"role": "system", "content": system})
    images = body.get("images") if source is ApiFormat.OLLAMA else None
    if images:
        text = [{"type": "text", "text": text}] + [
            {"type": "image_url", "image_url": {"url": data_url(image)}} for image in images
        ]
    messages.append({"role": "user", "content": text})
    chat["messages"] = messages
    return chat


# --- answers --------------------------------------------------------------------------------------------------


def chat_from_completion(body: JsonDict) -> JsonDict:
    """An OpenAI `text_completion` answer in chat shape (the pivot)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise InvalidResponseError("The OpenAI completion has no `choices`.")
    choice = choices[0]
    return {
        **body,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": choice.get("text") or ""},
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
        ],
    }


def completion_from_chat(body: JsonDict, model: str, created: int) -> JsonDict:
    """An OpenAI chat answer (the pivot) as a legacy `text_completion` answer."""
    choices = body.get("choices")
    choice: JsonDict = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    text = openai_text(message.get("content")) if isinstance(message, dict) else ""
    provider_id = body.get("id")
    out: JsonDict = {
        "id": stamps.openai_id(
            provider_id.removeprefix("chatcmpl-") if isinstance(provider_id, str) else None, legacy=True
        ),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "text": text,
                "index": 0,
                "logprobs": None,
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        ],
    }
    if "usage" in body:
        out["usage"] = body["usage"]
    return out
