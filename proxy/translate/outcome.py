"""How an answer ended and what it cost: stop reasons and token usage in the three vocabularies.

The translation layer speaks OpenAI's `finish_reason` words internally (`stop`, `length`, `tool_calls`,
`content_filter`); these tables convert from and to Anthropic's `stop_reason` and Ollama's `done_reason`.
Analytics read `response_usage` / `response_stop_reason` for plain answers, and the same values from a
`StreamTranslator` for streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.models import ApiFormat

from .codec import JsonDict

FINISH_FROM_ANTHROPIC = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ANTHROPIC_FROM_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Ollama also says "load" and "unload" for requests that only (un)load a model: both are a normal stop.
FINISH_FROM_OLLAMA = {"stop": "stop", "length": "length"}


def finish_from_openai(reason: str) -> str:
    return "tool_calls" if reason == "function_call" else reason


def ollama_from_finish(reason: str | None) -> str:
    # Ollama reports "stop" after tool calls too.
    return "length" if reason == "length" else "stop"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one answer as the provider counted them. `input_tokens` includes prompt-cache reads and
    writes, so it is comparable across providers; None means the provider did not say."""

    input_tokens: int | None
    output_tokens: int | None


def token_count(value: Any) -> int | None:
    """A count of tokens as a provider reported it: an integer, or None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def anthropic_input_tokens(usage: JsonDict) -> int | None:
    """Anthropic counts cached prompt tokens apart from `input_tokens`; the prompt is their sum."""
    base = token_count(usage.get("input_tokens"))
    if base is None:
        return None
    return (
        base
        + (token_count(usage.get("cache_creation_input_tokens")) or 0)
        + (token_count(usage.get("cache_read_input_tokens")) or 0)
    )


def response_usage(body: JsonDict, fmt: ApiFormat) -> Usage | None:
    """The usage a provider reported in a non-streaming answer of format `fmt`, or None."""
    if fmt is ApiFormat.OLLAMA:
        prompt, output = token_count(body.get("prompt_eval_count")), token_count(body.get("eval_count"))
        return None if prompt is None and output is None else Usage(prompt, output)
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    if fmt is ApiFormat.ANTHROPIC:
        return Usage(anthropic_input_tokens(usage), token_count(usage.get("output_tokens")))
    return Usage(token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens")))


def response_stop_reason(body: JsonDict, fmt: ApiFormat) -> str | None:
    """Why a non-streaming answer ended, in OpenAI's words (`stop`, `length`, `tool_calls`, …)."""
    if fmt is ApiFormat.ANTHROPIC:
        reason = body.get("stop_reason")
        return FINISH_FROM_ANTHROPIC.get(reason, "stop") if isinstance(reason, str) else None
    if fmt is ApiFormat.OLLAMA:
        message = body.get("message")
        if isinstance(message, dict) and message.get("tool_calls"):
            return "tool_calls"
        reason = body.get("done_reason")
        return FINISH_FROM_OLLAMA.get(reason, "stop") if isinstance(reason, str) else None
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return finish_from_openai(reason) if isinstance(reason, str) else None
    return None


def openai_usage(prompt: Any, completion: Any, anthropic: JsonDict | None = None) -> JsonDict:
    """OpenAI's `usage` object; Anthropic's cache reads, when given, become `cached_tokens`."""
    prompt_tokens = prompt if isinstance(prompt, int) else 0
    completion_tokens = completion if isinstance(completion, int) else 0
    usage: JsonDict = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    cached = anthropic.get("cache_read_input_tokens") if anthropic else None
    if isinstance(cached, int) and cached:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage
