"""Request translation: the client's body, in the client's format, becomes the body the provider expects.

Each format converts to and from OpenAI chat, the pivot, so six directions need four converters plus the
prompt-style ones. A same-format request passes through with only the model replaced (and, for OpenAI streams,
`stream_options.include_usage` switched on so the gateway learns the token counts; `StreamTranslator` removes
the extra usage chunk again when the client did not ask for it).

Prompt-style requests (legacy completions, Ollama generate) stay prompt-style between OpenAI and Ollama and
become a chat for Anthropic; `upstream_path` names the provider route that fits the translated body.
"""

from __future__ import annotations

from reconciler.models import ApiFormat

from .codec import JsonDict
from .errors import InvalidRequestError, TranslationError
from .openai_anthropic import anthropic_request, openai_request_from_anthropic
from .openai_ollama import ollama_request, openai_request_from_ollama
from .prompts import completions_request, is_prompt_request, ollama_generate_request, prompt_to_chat

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA

_FORMAT_NAMES = {OPENAI: "OpenAI", ANTHROPIC: "Anthropic", OLLAMA: "Ollama"}


def translate_request(
    body: JsonDict,
    source: ApiFormat,
    target: ApiFormat,
    *,
    model: str,
    fim: bool = False,
    stream_usage: bool = True,
    completion_tokens: bool = False,
) -> JsonDict:
    """`body` as sent by a `source` client, rewritten for a `target` provider serving `model`.

    `fim` marks a fill-in-the-middle request: a prompt sent to Anthropic then asks for the missing text only.
    `stream_usage` asks OpenAI providers for a usage chunk at the end of a stream (turn it off for servers
    that reject `stream_options`). `completion_tokens` says the provider is OpenAI's own API: a chat request
    translated from another format carries its output limit as `max_completion_tokens`, which OpenAI's
    reasoning models require (they refuse `max_tokens`) and its other models accept; other OpenAI-compatible
    servers get `max_tokens`, which all of them know. The input dict is never modified. Raises
    `TranslationError`.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    try:
        out = _translate(body, source, target, model, fim)
    except TranslationError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidRequestError(
            f"The request body does not follow the {_FORMAT_NAMES[source]} API ({type(exc).__name__}: {exc}); "
            "check it against the API reference."
        ) from exc
    if completion_tokens and target is OPENAI and source is not OPENAI and "messages" in out and "max_tokens" in out:
        out["max_completion_tokens"] = out.pop("max_tokens")
    if target is OPENAI and stream_usage and out.get("stream"):
        options = out.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage")):
            out["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return out


def _translate(body: JsonDict, source: ApiFormat, target: ApiFormat, model: str, fim: bool) -> JsonDict:
    if source is target:
        return {**body, "model": model}
    if source is not ANTHROPIC and is_prompt_request(body):
        if source is OPENAI and target is OLLAMA:
            return ollama_generate_request(body, model)
        if source is OLLAMA and target is OPENAI:
            return completions_request(body, model)
        pivot = prompt_to_chat(body, source, fim=fim)
    elif source is ANTHROPIC:
        pivot = openai_request_from_anthropic(body, model)
    elif source is OLLAMA:
        pivot = openai_request_from_ollama(body, model)
    else:
        pivot = body
    if target is ANTHROPIC:
        return anthropic_request(pivot, model)
    if target is OLLAMA:
        return ollama_request(pivot, model)
    return pivot


def upstream_path(target: ApiFormat, request: JsonDict) -> str:
    """The provider route for a translated request, relative to the provider's endpoint
    (`https://api.openai.com/v1`, `https://api.anthropic.com/v1`, `http://localhost:11434`)."""
    prompt = is_prompt_request(request)
    if target is ANTHROPIC:
        return "/messages"
    if target is OLLAMA:
        return "/api/generate" if prompt else "/api/chat"
    return "/completions" if prompt else "/chat/completions"


def stream_usage_requested(body: JsonDict, source: ApiFormat) -> bool:
    """Whether a streaming client expects token usage at the end of its stream. Anthropic and Ollama streams
    always carry it; an OpenAI client must ask with `stream_options.include_usage`."""
    if source is not OPENAI:
        return True
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def is_streaming(body: JsonDict, source: ApiFormat) -> bool:
    """Whether the client asked for a stream; Ollama streams unless told `"stream": false`."""
    if source is OLLAMA:
        return body.get("stream", True) is not False
    return bool(body.get("stream"))
