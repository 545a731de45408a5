"""Translated streams read by the official client libraries, through an in-memory HTTP transport."""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest

from proxy.translate import StreamTranslator
from reconciler.models import ApiFormat

from .translate_samples import (
    ANTHROPIC_TOOL_STREAM,
    OLLAMA_GENERATE_STREAM,
    OLLAMA_TEXT_STREAM,
    OLLAMA_TOOL_STREAM,
    OPENAI_COMPLETION_STREAM,
    OPENAI_TOOL_STREAM,
    TEXT,
)

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA


def _sdk_httpx() -> ModuleType:
    # Recent OpenAI and Anthropic SDKs moved to the httpx2 fork and refuse httpx clients.
    try:
        return importlib.import_module("httpx2")
    except ImportError:  # pragma: no cover - older SDKs
        return httpx


sdk_httpx = _sdk_httpx()


def translated_body(source: ApiFormat, target: ApiFormat, data: bytes, **options: Any) -> bytes:
    translator = StreamTranslator(source, target, model="routed-model", **options)
    # Feed in small pieces, as a provider's body arrives.
    return b"".join(translator.feed(data[i : i + 13]) for i in range(0, len(data), 13)) + translator.close()


def sdk_client(source: ApiFormat, target: ApiFormat, data: bytes, **options: bool) -> Any:
    """An HTTP client of the SDKs' own kind that answers every request with the translated stream."""

    def handler(request: Any) -> Any:
        body = translated_body(source, target, data, **options)
        return sdk_httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return sdk_httpx.Client(transport=sdk_httpx.MockTransport(handler))


def serving(source: ApiFormat, target: ApiFormat, data: bytes, **options: bool) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = translated_body(source, target, data, **options)
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=body)

    return httpx.MockTransport(handler)


def test_anthropic_sdk_reads_an_openai_tool_stream() -> None:
    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://gateway.test",
        http_client=sdk_client(OPENAI, ANTHROPIC, OPENAI_TOOL_STREAM),
    )
    with client.messages.stream(
        model="any", max_tokens=100, messages=[{"role": "user", "content": "weather and time?"}]
    ) as stream:
        message = stream.get_final_message()
    assert message.model == "routed-model"
    assert message.stop_reason == "tool_use"
    assert [(block.type, getattr(block, "input", None)) for block in message.content] == [
        ("tool_use", {"city": "Paris"}),
        ("tool_use", {"tz": "CET"}),
    ]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (80, 31)


def test_anthropic_sdk_reads_an_ollama_text_stream() -> None:
    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://gateway.test",
        http_client=sdk_client(OLLAMA, ANTHROPIC, OLLAMA_TEXT_STREAM),
    )
    with client.messages.stream(model="any", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == TEXT
    assert message.stop_reason == "end_turn"


def test_openai_sdk_reads_an_anthropic_tool_stream() -> None:
    client = openai.OpenAI(
        api_key="test",
        base_url="http://gateway.test/v1",
        http_client=sdk_client(ANTHROPIC, OPENAI, ANTHROPIC_TOOL_STREAM, include_usage=True),
    )
    stream = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "weather?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    finish = usage = None
    for chunk in stream:
        assert chunk.model == "routed-model"
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or ():
                if call.function and call.function.name:
                    names[call.index] = call.function.name
                arguments[call.index] = arguments.get(call.index, "") + (
                    (call.function and call.function.arguments) or ""
                )
            finish = choice.finish_reason or finish
    assert names == {0: "get_weather", 1: "get_time"}
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: {"city": "Paris"}, 1: {"tz": "CET"}}
    assert finish == "tool_calls"
    assert usage == (80, 31)


def test_openai_sdk_legacy_completions_read_an_ollama_generate_stream() -> None:
    client = openai.OpenAI(
        api_key="test",
        base_url="http://gateway.test/v1",
        http_client=sdk_client(OLLAMA, OPENAI, OLLAMA_GENERATE_STREAM, legacy=True),
    )
    text = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(model="any", prompt="def", stream=True)
        if chunk.choices
    )
    assert text == "def add(a, b):"


def _ollama_client(transport: httpx.MockTransport) -> ollama.Client:
    return ollama.Client(host="http://gateway.test", transport=transport)


def test_ollama_client_reads_an_anthropic_tool_stream() -> None:
    client = _ollama_client(serving(ANTHROPIC, OLLAMA, ANTHROPIC_TOOL_STREAM))
    parts = list(client.chat(model="any", messages=[{"role": "user", "content": "weather?"}], stream=True))
    calls = [
        (call.function.name, dict(call.function.arguments)) for part in parts for call in part.message.tool_calls or ()
    ]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]
    assert parts[-1].done
    assert (parts[-1].prompt_eval_count, parts[-1].eval_count) == (80, 31)


def test_ollama_client_generate_reads_an_openai_completion_stream() -> None:
    client = _ollama_client(serving(OPENAI, OLLAMA, OPENAI_COMPLETION_STREAM, legacy=True))
    parts = list(client.generate(model="any", prompt="def", stream=True))
    assert "".join(part.response or "" for part in parts) == "def add(a, b):"
    assert parts[-1].done_reason == "length"


def test_ollama_client_surfaces_a_cut_stream_as_an_error() -> None:
    cut = OLLAMA_TOOL_STREAM[: OLLAMA_TOOL_STREAM.index(b"get_time")]
    client = _ollama_client(serving(OLLAMA, OLLAMA, cut))
    with pytest.raises(ollama.ResponseError, match="closed the stream"):
        list(client.chat(model="any", messages=[], stream=True))
