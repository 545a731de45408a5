"""translate_response: non-streaming answers in every direction, checked against the client SDKs' models."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types
import ollama
import openai.types
import openai.types.chat
import pytest

from proxy.translate import (
    InvalidResponseError,
    Usage,
    passes_through,
    response_stop_reason,
    response_usage,
    translate_response,
)
from reconciler.models import ApiFormat

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA
CREATED = 1730000000

OPENAI_ANSWER: dict[str, Any] = {
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": 1729999999,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Let me look.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 20,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0},
    },
    "system_fingerprint": "fp_abc",
}

ANTHROPIC_ANSWER: dict[str, Any] = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Weather needs a tool.", "signature": "EqQB"},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Oslo"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "output_tokens": 20,
    },
}

OLLAMA_ANSWER: dict[str, Any] = {
    "model": "qwen3:8b",
    "created_at": "2025-05-27T22:54:57.641643Z",
    "message": {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
    },
    "done_reason": "stop",
    "done": True,
    "total_duration": 4883583458,
    "load_duration": 1334875,
    "prompt_eval_count": 120,
    "prompt_eval_duration": 342546000,
    "eval_count": 20,
    "eval_duration": 1257000000,
}

ANSWERS = {OPENAI: OPENAI_ANSWER, ANTHROPIC: ANTHROPIC_ANSWER, OLLAMA: OLLAMA_ANSWER}


def test_anthropic_to_openai() -> None:
    out = translate_response(ANTHROPIC_ANSWER, ANTHROPIC, OPENAI, model="claude-sonnet-4-5", created=CREATED)
    assert out == {
        "id": "chatcmpl-msg_01Aq9w938a90dw8q",
        "object": "chat.completion",
        "created": CREATED,
        "model": "claude-sonnet-4-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me look.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "toolu_01",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 20,
            "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
    openai.types.chat.ChatCompletion.model_validate(out)


def test_openai_to_anthropic() -> None:
    out = translate_response(OPENAI_ANSWER, OPENAI, ANTHROPIC, model="gpt-4o")
    assert out == {
        "id": "msg_chatcmpl-AbC123",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 20, "cache_read_input_tokens": 100},
    }
    anthropic.types.Message.model_validate(out)


def test_ollama_to_openai() -> None:
    out = translate_response(OLLAMA_ANSWER, OLLAMA, OPENAI, model="qwen3:8b", created=CREATED)
    assert out["id"].startswith("chatcmpl-")
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}
    openai.types.chat.ChatCompletion.model_validate(out)


def test_openai_to_ollama() -> None:
    out = translate_response(OPENAI_ANSWER, OPENAI, OLLAMA, model="gpt-4o", created=CREATED)
    assert out == {
        "model": "gpt-4o",
        "created_at": "2024-10-27T03:33:20Z",
        "message": {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 120,
        "eval_count": 20,
    }
    ollama.ChatResponse.model_validate(out)


def test_anthropic_to_ollama_and_back_keep_text_tools_and_usage() -> None:
    there = translate_response(ANTHROPIC_ANSWER, ANTHROPIC, OLLAMA, model="m", created=CREATED)
    ollama.ChatResponse.model_validate(there)
    assert there["prompt_eval_count"] == 120
    back = translate_response(there, OLLAMA, ANTHROPIC, model="m")
    anthropic.types.Message.model_validate(back)
    assert [block["type"] for block in back["content"]] == ["text", "tool_use"]
    assert back["content"][1]["input"] == {"city": "Oslo"}
    assert back["stop_reason"] == "tool_use"
    assert back["usage"] == {"input_tokens": 120, "output_tokens": 20}


@pytest.mark.parametrize(
    ("reason", "finish", "done_reason"),
    [("end_turn", "stop", "stop"), ("max_tokens", "length", "length"), ("stop_sequence", "stop", "stop")],
)
def test_stop_reasons(reason: str, finish: str, done_reason: str) -> None:
    body = {**ANTHROPIC_ANSWER, "content": [{"type": "text", "text": "x"}], "stop_reason": reason}
    assert translate_response(body, ANTHROPIC, OPENAI, model="m")["choices"][0]["finish_reason"] == finish
    assert translate_response(body, ANTHROPIC, OLLAMA, model="m")["done_reason"] == done_reason


def test_text_only_openai_answer_keeps_content_and_no_tool_calls() -> None:
    body = {
        **OPENAI_ANSWER,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}],
    }
    out = translate_response(body, OPENAI, ANTHROPIC, model="m")
    assert out["content"] == [{"type": "text", "text": "Hi"}]
    assert out["stop_reason"] == "max_tokens"


@pytest.mark.parametrize("fmt", list(ApiFormat))
def test_same_format_answers_pass_through_untouched(fmt: ApiFormat) -> None:
    assert translate_response(ANSWERS[fmt], fmt, fmt, model="other") is ANSWERS[fmt]


# --- prompt-style clients -------------------------------------------------------------------------------------

OPENAI_COMPLETION_ANSWER: dict[str, Any] = {
    "id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7",
    "object": "text_completion",
    "created": 1589478378,
    "model": "gpt-3.5-turbo-instruct",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [{"text": "return a + b", "index": 0, "logprobs": None, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
}
OLLAMA_GENERATE_ANSWER: dict[str, Any] = {
    "model": "qwen2.5-coder:1.5b",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "response": "return a + b",
    "done": True,
    "done_reason": "length",
    "context": [1, 2, 3],
    "prompt_eval_count": 9,
    "eval_count": 5,
}


def test_completion_to_ollama_generate_client() -> None:
    out = translate_response(OPENAI_COMPLETION_ANSWER, OPENAI, OLLAMA, model="m", legacy=True, created=CREATED)
    assert out == {
        "model": "m",
        "created_at": "2024-10-27T03:33:20Z",
        "response": "return a + b",
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 9,
        "eval_count": 5,
    }
    ollama.GenerateResponse.model_validate(out)


def test_ollama_generate_to_completions_client() -> None:
    out = translate_response(OLLAMA_GENERATE_ANSWER, OLLAMA, OPENAI, model="m", legacy=True, created=CREATED)
    assert out["object"] == "text_completion"
    assert out["id"].startswith("cmpl-")
    assert out["choices"] == [{"text": "return a + b", "index": 0, "logprobs": None, "finish_reason": "length"}]
    assert out["usage"] == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    openai.types.Completion.model_validate(out)


@pytest.mark.parametrize("target", [OPENAI, OLLAMA])
def test_anthropic_answer_to_a_prompt_style_client(target: ApiFormat) -> None:
    body = {**ANTHROPIC_ANSWER, "content": [{"type": "text", "text": "return a + b"}], "stop_reason": "end_turn"}
    out = translate_response(body, ANTHROPIC, target, model="m", legacy=True, created=CREATED)
    if target is OPENAI:
        assert out["id"] == "cmpl-msg_01Aq9w938a90dw8q"
        assert out["choices"][0]["text"] == "return a + b"
        openai.types.Completion.model_validate(out)
    else:
        assert out["response"] == "return a + b"
        ollama.GenerateResponse.model_validate(out)


def test_same_format_prompt_answer_passes_through() -> None:
    assert (
        translate_response(OPENAI_COMPLETION_ANSWER, OPENAI, OPENAI, model="m", legacy=True) is OPENAI_COMPLETION_ANSWER
    )


# --- usage and stop reason for analytics ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(ApiFormat))
def test_usage_and_stop_reason_of_each_format(fmt: ApiFormat) -> None:
    assert response_usage(ANSWERS[fmt], fmt) == Usage(120, 20)
    assert response_stop_reason(ANSWERS[fmt], fmt) == "tool_calls"


def test_missing_usage_is_none() -> None:
    assert response_usage({"choices": []}, OPENAI) is None
    assert response_usage({"content": []}, ANTHROPIC) is None
    assert response_usage({"done": True}, OLLAMA) is None
    assert response_usage({"done": True, "eval_count": 3}, OLLAMA) == Usage(None, 3)
    assert response_stop_reason({"choices": []}, OPENAI) is None


# --- broken answers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "source", "target", "match"),
    [
        ({"id": "x"}, OPENAI, ANTHROPIC, "no `choices`"),
        ({"choices": [{"index": 0}]}, OPENAI, OLLAMA, "no `message`"),
        ({"type": "message"}, ANTHROPIC, OPENAI, "no `content` list"),
        ({"done": True}, OLLAMA, OPENAI, "neither `message` nor `response`"),
        (
            {
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"a": '}}],
                        }
                    }
                ]
            },
            OPENAI,
            ANTHROPIC,
            "model returned tool-call arguments that are not a JSON object",
        ),
        ({"content": [{"type": "text"}]}, ANTHROPIC, OPENAI, "does not follow its API"),
    ],
)
def test_broken_answers_are_502s(body: dict[str, Any], source: ApiFormat, target: ApiFormat, match: str) -> None:
    with pytest.raises(InvalidResponseError, match=match) as caught:
        translate_response(body, source, target, model="m")
    assert caught.value.status == 502


@pytest.mark.parametrize("target", list(ApiFormat))
@pytest.mark.parametrize("source", list(ApiFormat))
def test_history_text_of_the_providers_answer_is_the_clients(source: ApiFormat, target: ApiFormat) -> None:
    # History reads the answer's text from the provider's parsed answer instead of parsing the client's again.
    from proxy.analytics.texts import answer_text

    from .translate_samples import history_shape

    client = translate_response(ANSWERS[source], source, target, model="routed", created=CREATED)
    kept, read_back = answer_text(source, ANSWERS[source]), answer_text(target, client)
    assert kept
    assert history_shape(kept) == history_shape(read_back)


# --- answers that go out as the provider's bytes --------------------------------------------------------------

_SAME_FORMAT_ANSWERS = [
    (OPENAI, OPENAI_ANSWER),
    (OPENAI, OPENAI_COMPLETION_ANSWER),
    (ANTHROPIC, ANTHROPIC_ANSWER),
    (OLLAMA, OLLAMA_ANSWER),
    (OLLAMA, OLLAMA_GENERATE_ANSWER),
    (OLLAMA, {"done": True}),
    (OPENAI, {}),
]


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize(("fmt", "answer"), _SAME_FORMAT_ANSWERS)
def test_passes_through_says_when_translate_response_would_return_the_answer_as_it_is(
    fmt: ApiFormat, answer: dict[str, Any], legacy: bool
) -> None:
    raw = json.dumps(answer).encode()
    parsed = json.loads(raw)
    try:
        unchanged = translate_response(parsed, fmt, fmt, model="m", legacy=legacy) is parsed
    except InvalidResponseError:  # the gateway's 502: the full reading must say so
        unchanged = False
    assert passes_through(raw, fmt, legacy=legacy) is unchanged


@pytest.mark.parametrize("fmt", list(ApiFormat))
@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b"null", b'{"object": "chat.completion"', b'{"a": 1} trailing', b"\xff{}"],
)
def test_an_answer_that_is_not_one_json_object_never_passes_through(fmt: ApiFormat, raw: bytes) -> None:
    assert not passes_through(raw, fmt)
    assert not passes_through(raw, fmt, legacy=True)
