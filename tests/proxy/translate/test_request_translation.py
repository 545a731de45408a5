"""translate_request: six directions, prompt-style requests, pass-through, and what cannot be translated."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest

from proxy.translate import (
    InvalidRequestError,
    TranslationError,
    UnsupportedField,
    is_streaming,
    stream_usage_requested,
    translate_request,
    upstream_path,
)
from proxy.translate.prompts import CURSOR, FIM_SYSTEM_PROMPT
from reconciler.models import ApiFormat

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

OPENAI_CHAT: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "14:00"}]},
        {"role": "user", "content": "Thanks. Tomorrow?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather now", "parameters": WEATHER_SCHEMA},
        },
        {"type": "function", "function": {"name": "get_time"}},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "max_completion_tokens": 300,
    "temperature": 0.3,
    "top_p": 0.9,
    "stop": "###",
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "user-42",
    "frequency_penalty": 0.5,
    "seed": 7,
}


def test_openai_to_anthropic() -> None:
    assert translate_request(OPENAI_CHAT, OPENAI, ANTHROPIC, model="claude-sonnet-4-5") == {
        "model": "claude-sonnet-4-5",
        "system": "You are terse.\n\nUse metric units.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where this photo was taken?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
                ],
            },
            {
                # Tool results and the user's next words are one user turn, results first.
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18°C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "14:00"},
                    {"type": "text", "text": "Thanks. Tomorrow?"},
                ],
            },
        ],
        "max_tokens": 300,
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["###"],
        "stream": True,
        "metadata": {"user_id": "user-42"},
        "tools": [
            {"name": "get_weather", "description": "Weather now", "input_schema": WEATHER_SCHEMA},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }


def test_anthropic_needs_max_tokens_so_it_defaults_to_4096() -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    out = translate_request(body, OPENAI, ANTHROPIC, model="claude")
    assert out == {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}
    assert translate_request({**body, "max_tokens": 50}, OPENAI, ANTHROPIC, model="c")["max_tokens"] == 50


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_openai_tool_choice_to_anthropic(choice: Any, expected: dict[str, Any]) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": OPENAI_CHAT["tools"], "tool_choice": choice}
    assert translate_request(body, OPENAI, ANTHROPIC, model="c")["tool_choice"] == expected


def test_openai_image_url_goes_to_anthropic_as_a_url_source() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]}]
    }
    out = translate_request(body, OPENAI, ANTHROPIC, model="c")
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}}
    ]


def test_odd_tool_call_ids_are_made_valid_for_anthropic_on_both_sides() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "t"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "functions.get_time:0",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "functions.get_time:0", "content": "14:00"},
        ]
    }
    out = translate_request(body, OPENAI, ANTHROPIC, model="c")
    assert out["messages"][1]["content"][0]["id"] == "functions_get_time_0"
    assert out["messages"][2]["content"][0]["tool_use_id"] == "functions_get_time_0"


ANTHROPIC_MESSAGES: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [
        {"type": "text", "text": "You are a coding assistant."},
        {"type": "text", "text": "Project rules follow.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
                {"type": "text", "text": "What is in main.py?"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should read it.", "signature": "EqQB"},
                {"type": "text", "text": "Reading it."},
                {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "main.py"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": [{"type": "text", "text": "print(1)"}]},
                {"type": "text", "text": "Explain it."},
            ],
        },
    ],
    "tools": [{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "stop_sequences": ["\n\nHuman:"],
    "temperature": 0.5,
    "top_k": 40,
    "stream": True,
    "metadata": {"user_id": "u-1"},
}


def test_anthropic_to_openai() -> None:
    assert translate_request(ANTHROPIC_MESSAGES, ANTHROPIC, OPENAI, model="gpt-4o") == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a coding assistant.\n\nProject rules follow."},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
                    {"type": "text", "text": "What is in main.py?"},
                ],
            },
            {
                "role": "assistant",
                "content": "Reading it.",
                "tool_calls": [
                    {
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path":"main.py"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "print(1)"},
            {"role": "user", "content": "Explain it."},
        ],
        "max_tokens": 1024,
        "temperature": 0.5,
        "stop": ["\n\nHuman:"],
        "stream": True,
        "user": "u-1",
        "tools": [
            {
                "type": "function",
                "function": {"name": "read_file", "description": "Read a file", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "stream_options": {"include_usage": True},
    }


def test_anthropic_to_openai_without_stream_usage() -> None:
    out = translate_request(ANTHROPIC_MESSAGES, ANTHROPIC, OPENAI, model="gpt-4o", stream_usage=False)
    assert "stream_options" not in out


def test_openai_to_ollama() -> None:
    assert translate_request(OPENAI_CHAT, OPENAI, OLLAMA, model="qwen2.5:7b") == {
        "model": "qwen2.5:7b",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": "Use metric units."},
            {"role": "user", "content": "Weather where this photo was taken?", "images": [PNG]},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                    {"function": {"name": "get_time", "arguments": {}}},
                ],
            },
            {"role": "tool", "content": "18°C", "tool_name": "get_weather"},
            {"role": "tool", "content": "14:00", "tool_name": "get_time"},
            {"role": "user", "content": "Thanks. Tomorrow?"},
        ],
        "stream": True,
        "options": {
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 7,
            "frequency_penalty": 0.5,
            "num_predict": 300,
            "stop": ["###"],
        },
        "tools": OPENAI_CHAT["tools"],
    }


def test_openai_to_ollama_always_says_whether_to_stream() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert translate_request(body, OPENAI, OLLAMA, model="q")["stream"] is False


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER_SCHEMA}}, WEATHER_SCHEMA),
    ],
)
def test_openai_structured_output_to_ollama_format(response_format: dict[str, Any], expected: Any) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "response_format": response_format}
    assert translate_request(body, OPENAI, OLLAMA, model="q")["format"] == expected


OLLAMA_CHAT: dict[str, Any] = {
    "model": "llava",
    "messages": [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "What is this?", "images": [JPEG]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"function": {"name": "lookup", "arguments": {"q": "cat"}}},
                {"function": {"name": "translate", "arguments": {"text": "cat"}}},
            ],
        },
        {"role": "tool", "content": "chat", "tool_name": "translate"},
        {"role": "tool", "content": "a small feline"},
        {"role": "user", "content": "And this?", "images": [PNG]},
    ],
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    "format": "json",
    "options": {"temperature": 0.1, "num_predict": 256, "num_ctx": 8192, "stop": ["<end>"], "top_k": 20},
    "keep_alive": "5m",
}


def test_ollama_to_openai() -> None:
    assert translate_request(OLLAMA_CHAT, OLLAMA, OPENAI, model="gpt-4o") == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Answer in French."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_2_0", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"cat"}'}},
                    {
                        "id": "call_2_1",
                        "type": "function",
                        "function": {"name": "translate", "arguments": '{"text":"cat"}'},
                    },
                ],
            },
            # Results link to calls by tool name, else to the earliest unanswered call.
            {"role": "tool", "tool_call_id": "call_2_1", "content": "chat"},
            {"role": "tool", "tool_call_id": "call_2_0", "content": "a small feline"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        # Ollama streams unless told otherwise.
        "stream": True,
        "temperature": 0.1,
        "max_tokens": 256,
        "stop": ["<end>"],
        "response_format": {"type": "json_object"},
        "tools": OLLAMA_CHAT["tools"],
        "stream_options": {"include_usage": True},
    }


def test_forced_tool_choice_cannot_reach_ollama() -> None:
    with pytest.raises(UnsupportedField, match="forced tool choice"):
        translate_request(ANTHROPIC_MESSAGES, ANTHROPIC, OLLAMA, model="qwen")


def test_anthropic_to_ollama_goes_through_the_pivot() -> None:
    body = {k: v for k, v in ANTHROPIC_MESSAGES.items() if k != "tool_choice"}
    out = translate_request(body, ANTHROPIC, OLLAMA, model="qwen")
    assert out["messages"][0] == {"role": "system", "content": "You are a coding assistant.\n\nProject rules follow."}
    assert out["messages"][1] == {"role": "user", "content": "What is in main.py?", "images": [JPEG]}
    assert out["messages"][2]["tool_calls"] == [{"function": {"name": "read_file", "arguments": {"path": "main.py"}}}]
    assert out["messages"][3] == {"role": "tool", "content": "print(1)", "tool_name": "read_file"}
    assert out["options"] == {"temperature": 0.5, "num_predict": 1024, "stop": ["\n\nHuman:"]}
    assert out["stream"] is True


def test_ollama_to_anthropic_goes_through_the_pivot() -> None:
    body = {k: v for k, v in OLLAMA_CHAT.items() if k != "format"}
    out = translate_request(body, OLLAMA, ANTHROPIC, model="claude")
    assert out["system"] == "Answer in French."
    assert out["max_tokens"] == 256
    assert out["stream"] is True
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_2_0", "name": "lookup", "input": {"q": "cat"}},
        {"type": "tool_use", "id": "call_2_1", "name": "translate", "input": {"text": "cat"}},
    ]
    assert out["messages"][2]["content"][:2] == [
        {"type": "tool_result", "tool_use_id": "call_2_1", "content": "chat"},
        {"type": "tool_result", "tool_use_id": "call_2_0", "content": "a small feline"},
    ]


def _strip_defaults(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("stream_options", "model")}


def test_openai_round_trip_through_anthropic_keeps_the_conversation() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "R"},
        ],
        "max_tokens": 10,
        "temperature": 0.2,
        "stop": ["x"],
        "stream": True,
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "required",
    }
    there = translate_request(body, OPENAI, ANTHROPIC, model="c")
    back = translate_request(there, ANTHROPIC, OPENAI, model="g")
    assert _strip_defaults(back) == _strip_defaults(body)


def test_anthropic_round_trip_through_ollama_keeps_text_and_tools() -> None:
    body = {
        "system": "S",
        "max_tokens": 99,
        "messages": [
            {"role": "user", "content": "U"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "R"}]},
        ],
    }
    back = translate_request(translate_request(body, ANTHROPIC, OLLAMA, model="q"), OLLAMA, ANTHROPIC, model="c")
    assert back["system"] == "S"
    assert back["max_tokens"] == 99
    call_id = back["messages"][1]["content"][0]["id"]
    assert back["messages"][1]["content"] == [{"type": "tool_use", "id": call_id, "name": "f", "input": {"a": 1}}]
    assert back["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": call_id, "content": "R"}]


# --- same format ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "body"), [(OPENAI, OPENAI_CHAT), (ANTHROPIC, ANTHROPIC_MESSAGES), (OLLAMA, OLLAMA_CHAT)]
)
def test_same_format_passes_through_with_the_routed_model(fmt: ApiFormat, body: dict[str, Any]) -> None:
    out = translate_request(body, fmt, fmt, model="routed")
    assert out == {**body, "model": "routed"}


def test_same_format_openai_stream_asks_for_usage() -> None:
    body = {"model": "a", "messages": [], "stream": True}
    assert translate_request(body, OPENAI, OPENAI, model="b")["stream_options"] == {"include_usage": True}
    assert "stream_options" not in translate_request(body, OPENAI, OPENAI, model="b", stream_usage=False)
    assert "stream_options" not in translate_request({**body, "stream": False}, OPENAI, OPENAI, model="b")


@pytest.mark.parametrize("source", list(ApiFormat))
@pytest.mark.parametrize("target", list(ApiFormat))
@pytest.mark.parametrize("body", [OPENAI_CHAT, ANTHROPIC_MESSAGES, OLLAMA_CHAT], ids=["openai", "anthropic", "ollama"])
def test_the_client_body_is_never_modified(source: ApiFormat, target: ApiFormat, body: dict[str, Any]) -> None:
    before = copy.deepcopy(body)
    with contextlib.suppress(TranslationError):
        translate_request(body, source, target, model="m")
    assert body == before


# --- prompt-style requests ------------------------------------------------------------------------------------

OPENAI_COMPLETION: dict[str, Any] = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "def add(a, b):\n    ",
    "suffix": "\n\nprint(add(1, 2))",
    "max_tokens": 64,
    "temperature": 0.0,
    "stop": ["\n\n"],
    "stream": True,
}
OLLAMA_GENERATE: dict[str, Any] = {
    "model": "qwen2.5-coder:1.5b",
    "prompt": "def add(a, b):\n    ",
    "suffix": "\n\nprint(add(1, 2))",
    "options": {"temperature": 0, "num_predict": 64, "stop": ["\n\n"]},
    "raw": False,
}


def test_completions_to_ollama_generate() -> None:
    assert translate_request(OPENAI_COMPLETION, OPENAI, OLLAMA, model="qwen", fim=True) == {
        "model": "qwen",
        "prompt": "def add(a, b):\n    ",
        "suffix": "\n\nprint(add(1, 2))",
        "stream": True,
        "options": {"temperature": 0.0, "num_predict": 64, "stop": ["\n\n"]},
    }


def test_ollama_generate_to_completions() -> None:
    assert translate_request(OLLAMA_GENERATE, OLLAMA, OPENAI, model="gpt", fim=True) == {
        "model": "gpt",
        "prompt": "def add(a, b):\n    ",
        "suffix": "\n\nprint(add(1, 2))",
        "stream": True,
        "temperature": 0,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(("source", "body"), [(OPENAI, OPENAI_COMPLETION), (OLLAMA, OLLAMA_GENERATE)])
def test_fim_prompt_to_anthropic_becomes_one_user_message_with_a_cursor(
    source: ApiFormat, body: dict[str, Any]
) -> None:
    out = translate_request(body, source, ANTHROPIC, model="claude-haiku", fim=True)
    assert out["system"] == FIM_SYSTEM_PROMPT
    assert out["messages"] == [
        {"role": "user", "content": f"def add(a, b):\n    {CURSOR}\n\nprint(add(1, 2))"},
    ]
    assert out["max_tokens"] == 64
    assert out["stop_sequences"] == ["\n\n"]
    assert out["stream"] is True


def test_plain_prompt_to_anthropic_keeps_the_generate_system_prompt() -> None:
    body = {"prompt": "Write a haiku.", "system": "You are a poet.", "images": [PNG], "stream": False}
    out = translate_request(body, OLLAMA, ANTHROPIC, model="c")
    assert out == {
        "model": "c",
        "system": "You are a poet.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Write a haiku."},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            }
        ],
        "max_tokens": 4096,
    }


@pytest.mark.parametrize(
    ("target", "body", "path"),
    [
        (OPENAI, {"messages": []}, "/chat/completions"),
        (OPENAI, {"prompt": ""}, "/completions"),
        (ANTHROPIC, {"messages": []}, "/messages"),
        (OLLAMA, {"messages": []}, "/api/chat"),
        (OLLAMA, {"prompt": ""}, "/api/generate"),
    ],
)
def test_upstream_path_fits_the_translated_body(target: ApiFormat, body: dict[str, Any], path: str) -> None:
    assert upstream_path(target, body) == path


def test_stream_flags() -> None:
    assert is_streaming({}, OLLAMA)
    assert not is_streaming({"stream": False}, OLLAMA)
    assert not is_streaming({}, OPENAI)
    assert is_streaming({"stream": True}, ANTHROPIC)
    assert stream_usage_requested({}, ANTHROPIC)
    assert not stream_usage_requested({"stream": True}, OPENAI)
    assert stream_usage_requested({"stream_options": {"include_usage": True}}, OPENAI)


# --- what cannot be translated --------------------------------------------------------------------------------

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "source", "target", "field"),
    [
        ({"messages": USER, "n": 2}, OPENAI, ANTHROPIC, "n"),
        ({"messages": USER, "n": 3}, OPENAI, OLLAMA, "n"),
        ({"messages": USER, "logprobs": True, "top_logprobs": 2}, OPENAI, ANTHROPIC, "logprobs"),
        ({"messages": USER, "modalities": ["text", "audio"]}, OPENAI, OLLAMA, "audio"),
        ({"messages": USER, "functions": [{"name": "f"}]}, OPENAI, ANTHROPIC, "functions"),
        ({"messages": USER, "response_format": {"type": "json_object"}}, OPENAI, ANTHROPIC, "response_format"),
        ({"messages": USER, "tools": [{"type": "custom", "custom": {"name": "x"}}]}, OPENAI, ANTHROPIC, "tools[0]"),
        ({"messages": USER, "tools": OPENAI_CHAT["tools"], "tool_choice": "required"}, OPENAI, OLLAMA, "tool_choice"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            OPENAI,
            ANTHROPIC,
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}
                ]
            },
            OPENAI,
            OLLAMA,
            "messages[0].content[0]",
        ),
        (
            {"messages": USER, "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]},
            ANTHROPIC,
            OPENAI,
            "tools[0]",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            ANTHROPIC,
            OPENAI,
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {}}]}
                        ],
                    }
                ]
            },
            ANTHROPIC,
            OLLAMA,
            "messages[0].content[0]",
        ),
        ({"prompt": ["a", "b"]}, OPENAI, OLLAMA, "prompt"),
        ({"prompt": "a", "echo": True}, OPENAI, ANTHROPIC, "echo"),
        ({"prompt": "a", "system": "s"}, OLLAMA, OPENAI, "system"),
        ({"prompt": "a", "format": "json"}, OLLAMA, ANTHROPIC, "format"),
    ],
)
def test_unsupported_fields_are_named(body: dict[str, Any], source: ApiFormat, target: ApiFormat, field: str) -> None:
    with pytest.raises(UnsupportedField) as caught:
        translate_request(body, source, target, model="m")
    assert caught.value.field == field
    assert caught.value.status == 400
    assert "cannot be sent to" in str(caught.value)


def test_unsupported_field_message_says_what_and_how_to_fix() -> None:
    with pytest.raises(UnsupportedField, match=r"^n > 1 .* cannot be sent to an Anthropic provider; ask for one"):
        translate_request({"messages": USER, "n": 2}, OPENAI, ANTHROPIC, model="m")


@pytest.mark.parametrize(
    ("body", "source", "target", "match"),
    [
        ({"model": "x"}, OPENAI, ANTHROPIC, "no `messages` list"),
        ({"messages": ["hi"]}, OPENAI, OLLAMA, r"messages\[0\] is not an object"),
        ({"messages": [{"role": "robot", "content": "x"}]}, OPENAI, ANTHROPIC, "role 'robot'"),
        ({"messages": [{"role": "system", "content": "x"}]}, ANTHROPIC, OPENAI, "role 'system'"),
        ({"messages": [{"role": "tool", "content": "x"}]}, OPENAI, ANTHROPIC, "without `tool_call_id`"),
        ({"messages": [{"role": "tool", "content": "x"}]}, OLLAMA, OPENAI, "answers no earlier tool call"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                        ],
                    }
                ]
            },
            OPENAI,
            ANTHROPIC,
            "not a JSON object",
        ),
        ({"messages": [{"role": "user", "content": 5}]}, OPENAI, ANTHROPIC, "must be a string or a list"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            OPENAI,
            ANTHROPIC,
            "does not follow the OpenAI API",
        ),
    ],
)
def test_malformed_requests_are_400s_with_a_reason(
    body: dict[str, Any], source: ApiFormat, target: ApiFormat, match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match) as caught:
        translate_request(body, source, target, model="m")
    assert caught.value.status == 400


def test_a_body_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        translate_request([], OPENAI, ANTHROPIC, model="m")  # type: ignore[arg-type]


def test_openai_own_api_gets_max_completion_tokens_for_translated_chat() -> None:
    anthropic = {"model": "c", "max_tokens": 300, "messages": [{"role": "user", "content": "hi"}]}
    ollama = {"model": "o", "messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 40}}
    for source, body, limit in ((ANTHROPIC, anthropic, 300), (OLLAMA, ollama, 40)):
        out = translate_request(body, source, OPENAI, model="o3", completion_tokens=True)
        assert (out.get("max_completion_tokens"), "max_tokens" in out) == (limit, False)
        # Other OpenAI-compatible servers keep the field all of them know.
        assert translate_request(body, source, OPENAI, model="m")["max_tokens"] == limit
    # What an OpenAI client wrote is its own choice, and a legacy completion has no other field.
    client = {"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert translate_request(client, OPENAI, OPENAI, model="o3", completion_tokens=True)["max_tokens"] == 5
    prompt = {"model": "o", "prompt": "def f(", "stream": False, "options": {"num_predict": 8}}
    out = translate_request(prompt, OLLAMA, OPENAI, model="m", completion_tokens=True)
    assert (out["max_tokens"], "messages" in out) == (8, False)
