"""Answer translation (non-streaming): the provider's body becomes the body the client expects.

The provider's answer is read into OpenAI chat shape (the pivot) and written out in the client's format. The
client's shape also depends on its route: `legacy=True` means it called a prompt-style route (legacy
completions or Ollama generate) and expects `text_completion` or a generate answer. The provider's shape is
read from the body itself. A same-format answer passes through untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

from reconciler.models import ApiFormat

from . import stamps
from .codec import JsonDict
from .errors import InvalidResponseError, TranslationError
from .openai_anthropic import anthropic_response, openai_response_from_anthropic
from .openai_ollama import ollama_response, openai_response_from_ollama
from .prompts import chat_from_completion, completion_from_chat

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA


def translate_response(
    body: JsonDict,
    source: ApiFormat,
    target: ApiFormat,
    *,
    model: str,
    legacy: bool = False,
    created: int | None = None,
) -> JsonDict:
    """A `source` provider's answer rewritten for a `target` client; `model` is the routed model the client
    is told about, `created` the Unix time stamped on it (now by default). Raises `InvalidResponseError`."""
    if not isinstance(body, dict):
        raise InvalidResponseError("The provider's answer is not a JSON object.")
    if source is target and _is_prompt_answer(body, source) == legacy:
        return body
    when = stamps.unix_now() if created is None else created
    try:
        pivot = _to_pivot(body, source, model, when)
        return _from_pivot(pivot, target, model, when, legacy)
    except TranslationError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidResponseError(
            f"The provider's answer does not follow its API ({type(exc).__name__}: {exc})."
        ) from exc


class _Head(msgspec.Struct):
    """What tells an answer's kind (`_is_prompt_answer`); decoding into it checks the whole answer is valid JSON
    while skipping, not building, the rest."""

    object: Any = None
    message: Any = msgspec.UNSET
    response: Any = msgspec.UNSET


_decode_head = msgspec.json.Decoder(_Head).decode


def passes_through(raw: bytes, fmt: ApiFormat, *, legacy: bool = False) -> bool:
    """True when `raw`, a `fmt` provider's answer to a `fmt` client, goes out unchanged: `translate_response`
    would return it as it is. Told without building the answer's objects; False for anything it would rewrite
    or refuse (read it with `translate_response` then)."""
    try:
        head = _decode_head(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):  # not JSON, or not an object
        return False
    if fmt is OPENAI:
        prompt = bool(head.object == "text_completion")
    elif fmt is OLLAMA:
        prompt = head.message is msgspec.UNSET and head.response is not msgspec.UNSET
    else:
        prompt = False
    return prompt == legacy


def _is_prompt_answer(body: JsonDict, fmt: ApiFormat) -> bool:
    if fmt is OPENAI:
        return body.get("object") == "text_completion"
    if fmt is OLLAMA:
        return "message" not in body and "response" in body
    return False


def _to_pivot(body: JsonDict, source: ApiFormat, model: str, created: int) -> JsonDict:
    if source is ANTHROPIC:
        return openai_response_from_anthropic(body, model, created)
    if source is OLLAMA:
        return openai_response_from_ollama(body, model, created)
    return chat_from_completion(body) if _is_prompt_answer(body, OPENAI) else body


def _from_pivot(pivot: JsonDict, target: ApiFormat, model: str, created: int, legacy: bool) -> JsonDict:
    if target is ANTHROPIC:
        return anthropic_response(pivot, model)
    if target is OLLAMA:
        return ollama_response(pivot, model, created, legacy=legacy)
    if legacy:
        return completion_from_chat(pivot, model, created)
    return {**pivot, "model": model}
