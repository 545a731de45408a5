"""The official OpenAI and Anthropic SDKs, and Ollama's wire format over plain HTTP, against a real gateway routing
to a fake provider of each format: what the client reads, and what the provider received.

The SDKs validate every answer against their own models (`_strict_response_validation`), so a translated answer
that is missing a field the SDK requires fails here, not in a user's editor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam

from proxy.testing.fake_provider import Behaviour, FakeProvider, ReceivedRequest

Gateway = Callable[..., str]

CLIENT_KEY = "client-key-that-must-stay-home"
INSTRUCTIONS = "Answer in plain English."
SYSTEM = "You are terse."
QUESTION = "what is två plus 二"  # non-ASCII on purpose: every hop must keep UTF-8 whole
ANSWER = f"echo: {QUESTION}"
# The fake counts words: the instructions and the client's system prompt (7) plus the question (5) in, the answer out.
INPUT_TOKENS, OUTPUT_TOKENS = 12, 6

# Provider → (the model its workspace routes to, the path the provider is called on).
ROUTES = {
    "openai": ("gpt-routed", "/v1/chat/completions"),
    "anthropic": ("claude-routed", "/v1/messages"),
    "ollama": ("llama-routed", "/api/chat"),
}
PROVIDERS = list(ROUTES)
CONFIG = {
    "workspaces": {
        f"via-{provider}": {
            "customInstructions": INSTRUCTIONS,
            "muxRules": [{"match": {"type": "catch_all"}, "provider": provider, "model": model}],
        }
        for provider, (model, _) in ROUTES.items()
    }
}


def openai_client(url: str, workspace: str, *, strict: bool = True) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=CLIENT_KEY, base_url=f"{url}/w/{workspace}/v1", max_retries=0, _strict_response_validation=strict
    )


def anthropic_client(url: str, workspace: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=CLIENT_KEY, base_url=f"{url}/w/{workspace}", max_retries=0, _strict_response_validation=True
    )


def only(fake: FakeProvider) -> ReceivedRequest:
    assert len(fake.requests) == 1, [r.path for r in fake.requests]
    return fake.requests[0]


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def assert_provider_received(
    received: ReceivedRequest, provider: str, provider_keys: dict[str, str], *, stream: bool
) -> None:
    """The provider got its own wire format on its own path, the routed model, the instructions ahead of the
    client's system prompt, its own key and never the client's."""
    model, path = ROUTES[provider]
    body = received.json
    assert (received.method, received.path, received.model) == ("POST", path, model)
    system = f"{INSTRUCTIONS}\n\n{SYSTEM}"
    if provider == "anthropic":
        # A system prompt given as blocks keeps its blocks, the instructions in one of their own.
        blocks = [{"type": "text", "text": INSTRUCTIONS}, {"type": "text", "text": SYSTEM}]
        assert body["system"] in (system, blocks)
        messages = body["messages"]
        assert isinstance(body["max_tokens"], int)
    else:
        assert body["messages"][0]["role"] == "system"
        assert text_of(body["messages"][0]["content"]) == system
        messages = body["messages"][1:]
    assert [(m["role"], text_of(m["content"])) for m in messages] == [("user", QUESTION)]
    if provider == "ollama":
        assert body["stream"] is stream  # Ollama streams unless told otherwise
        assert "authorization" not in received.headers
        assert "x-api-key" not in received.headers
    else:
        assert bool(body.get("stream")) is stream
        assert received.api_key == provider_keys[provider]
    if provider == "openai":
        assert received.headers["authorization"] == f"Bearer {provider_keys['openai']}"
    if provider == "anthropic":
        assert received.headers["x-api-key"] == provider_keys["anthropic"]
        assert received.headers["anthropic-version"]
    assert CLIENT_KEY not in json.dumps(received.headers)


# --- the OpenAI SDK -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_chat(gateway: Gateway, fake: FakeProvider, provider_keys: dict[str, str], provider: str) -> None:
    client = openai_client(gateway(CONFIG), f"via-{provider}")
    completion = client.chat.completions.create(
        model="client-chosen-model",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
    )
    choice = completion.choices[0]
    assert choice.message.content == ANSWER
    assert choice.finish_reason == "stop"
    assert completion.model == ROUTES[provider][0]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert_provider_received(only(fake), provider, provider_keys, stream=False)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("include_usage", [True, False], ids=["usage", "no-usage"])
def test_openai_sdk_streaming_chat(
    gateway: Gateway, fake: FakeProvider, provider_keys: dict[str, str], provider: str, include_usage: bool
) -> None:
    client = openai_client(gateway(CONFIG), f"via-{provider}")
    chunks = list(
        client.chat.completions.create(
            model="client-chosen-model",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": include_usage},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert {c.model for c in chunks} == {ROUTES[provider][0]}
    usages = [c.usage for c in chunks if c.usage is not None]
    if include_usage:
        assert [(u.prompt_tokens, u.completion_tokens) for u in usages] == [(INPUT_TOKENS, OUTPUT_TOKENS)]
        assert chunks[-1].usage is not None
        assert chunks[-1].choices == []
    else:
        assert usages == []
    assert_provider_received(only(fake), provider, provider_keys, stream=True)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_sdk_legacy_completion_gets_no_instructions(
    gateway: Gateway, fake: FakeProvider, provider: str, stream: bool
) -> None:
    # The SDK's Completion model requires a finish_reason that OpenAI's own stream chunks leave null, so its
    # strict validation rejects every completion stream, real ones included.
    client = openai_client(gateway(CONFIG), f"via-{provider}", strict=not stream)
    prompt = "# Path: calc.py\ndef add(a, b):\n    return "
    if stream:
        chunks = list(client.completions.create(model="m", prompt=prompt, max_tokens=16, stream=True))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    else:
        completion = client.completions.create(model="m", prompt=prompt, max_tokens=16)
        text, reasons = completion.choices[0].text, [completion.choices[0].finish_reason]
    assert text.startswith("echo: ")
    assert "def add(a, b):" in text
    assert reasons == ["stop"]
    received = only(fake)
    assert (
        received.path == {"openai": "/v1/completions", "anthropic": "/v1/messages", "ollama": "/api/generate"}[provider]
    )
    assert INSTRUCTIONS not in received.body.decode()


def test_openai_sdk_lists_the_workspaces_models(gateway: Gateway) -> None:
    client = openai_client(gateway(CONFIG), "via-anthropic")
    assert [m.id for m in client.models.list()] == ["claude-routed"]


def test_openai_sdk_raises_not_found_for_an_unknown_workspace(gateway: Gateway, fake: FakeProvider) -> None:
    client = openai_client(gateway(CONFIG), "via-nowhere")
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    assert raised.value.status_code == 404
    assert 'Workspace "via-nowhere" does not exist.' in raised.value.message
    assert fake.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openai_sdk_raises_on_a_stream_the_provider_cuts_short(
    gateway: Gateway, fake: FakeProvider, provider: str
) -> None:
    client = openai_client(gateway(CONFIG), f"via-{provider}")
    fake.behaviour = Behaviour(close_after_chunks=2)
    text: list[str] = []

    def read_stream() -> None:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "one two three four"}], stream=True
        )
        text.extend(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    with pytest.raises(openai.APIError) as raised:
        read_stream()
    assert "".join(text) == "echo: one"
    assert f"Provider {provider} at " in raised.value.message


TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up in the dictionary.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_sdk_tool_call_round_trip_through_an_anthropic_provider(
    gateway: Gateway, fake: FakeProvider, stream: bool
) -> None:
    client = openai_client(gateway(CONFIG), "via-anthropic")
    messages: list[Any] = [{"role": "user", "content": "look up cat"}]
    fake.behaviour = Behaviour(tool_call=True)
    if stream:
        calls: dict[int, dict[str, str]] = {}
        reasons = []
        for chunk in client.chat.completions.create(model="m", messages=messages, tools=[TOOL], stream=True):
            if not chunk.choices:
                continue
            for delta in chunk.choices[0].delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.id or ""
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
            if chunk.choices[0].finish_reason:
                reasons.append(chunk.choices[0].finish_reason)
        assert list(calls) == [0]
        call_id, name, arguments = calls[0]["id"], calls[0]["name"], calls[0]["arguments"]
        assert reasons == ["tool_calls"]
    else:
        completion = client.chat.completions.create(model="m", messages=messages, tools=[TOOL])
        assert completion.choices[0].finish_reason == "tool_calls"
        [tool_call] = completion.choices[0].message.tool_calls or []
        assert tool_call.type == "function"
        call_id, name, arguments = tool_call.id, tool_call.function.name, tool_call.function.arguments
    assert call_id
    assert name == "lookup"
    assert json.loads(arguments) == {"text": "echo: look up cat"}
    first = fake.requests[0].json
    assert first["tools"] == [
        {
            "name": "lookup",
            "description": "Look a word up in the dictionary.",
            "input_schema": TOOL["function"].get("parameters"),
        }
    ]

    # The client runs the tool and sends its result back.
    fake.behaviour = Behaviour(text="A cat is a small animal.")
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "a small domesticated animal"},
    ]
    final = client.chat.completions.create(model="m", messages=messages, tools=[TOOL])
    assert final.choices[0].message.content == "A cat is a small animal."
    assert final.choices[0].finish_reason == "stop"
    second = fake.requests[1].json
    assert second["system"] == INSTRUCTIONS
    assert second["messages"] == [
        {"role": "user", "content": "look up cat"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": call_id, "name": "lookup", "input": {"text": "echo: look up cat"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "a small domesticated animal"}],
        },
    ]


# --- the Anthropic SDK --------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_message(
    gateway: Gateway, fake: FakeProvider, provider_keys: dict[str, str], provider: str
) -> None:
    client = anthropic_client(gateway(CONFIG), f"via-{provider}")
    message = client.messages.create(
        model="client-chosen-model",
        max_tokens=256,
        system=SYSTEM,
        messages=[{"role": "user", "content": QUESTION}],
    )
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [("text", ANSWER)]
    assert message.stop_reason == "end_turn"
    assert message.model == ROUTES[provider][0]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert_provider_received(only(fake), provider, provider_keys, stream=False)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_streaming_message(
    gateway: Gateway, fake: FakeProvider, provider_keys: dict[str, str], provider: str
) -> None:
    client = anthropic_client(gateway(CONFIG), f"via-{provider}")
    with client.messages.stream(
        model="client-chosen-model",
        max_tokens=256,
        system=[{"type": "text", "text": SYSTEM}],
        messages=[{"role": "user", "content": QUESTION}],
    ) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == ANSWER
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [("text", ANSWER)]
    assert message.stop_reason == "end_turn"
    assert message.model == ROUTES[provider][0]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert_provider_received(only(fake), provider, provider_keys, stream=True)


def test_anthropic_sdk_tool_use_from_an_openai_provider(gateway: Gateway, fake: FakeProvider) -> None:
    client = anthropic_client(gateway(CONFIG), "via-openai")
    fake.behaviour = Behaviour(tool_call=True)
    tool: ToolParam = {
        "name": "lookup",
        "description": "Look a word up in the dictionary.",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    }
    message = client.messages.create(
        model="m", max_tokens=256, tools=[tool], messages=[{"role": "user", "content": "look up cat"}]
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("lookup", {"text": "echo: look up cat"})
    assert only(fake).json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look a word up in the dictionary.",
                "parameters": tool["input_schema"],
            },
        }
    ]


def test_anthropic_sdk_lists_the_workspaces_models(gateway: Gateway) -> None:
    client = anthropic_client(gateway(CONFIG), "via-ollama")
    assert [m.id for m in client.models.list()] == ["llama-routed"]


def test_anthropic_sdk_raises_rate_limit_for_a_provider_429(gateway: Gateway, fake: FakeProvider) -> None:
    client = anthropic_client(gateway(CONFIG), "via-openai")
    fake.behaviour = Behaviour(status=429, error_message="Slow down.")
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model="m", max_tokens=16, messages=[{"role": "user", "content": QUESTION}])
    assert raised.value.status_code == 429
    assert raised.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down."}}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_anthropic_sdk_raises_on_a_stream_the_provider_cuts_short(
    gateway: Gateway, fake: FakeProvider, provider: str
) -> None:
    client = anthropic_client(gateway(CONFIG), f"via-{provider}")
    fake.behaviour = Behaviour(close_after_chunks=2)
    pieces: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client.messages.stream(
            model="m", max_tokens=16, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream,
    ):
        pieces.extend(stream.text_stream)
    assert "".join(pieces) == "echo: one"
    assert f"Provider {provider} at " in str(raised.value.body)


# --- Ollama's wire format, over plain HTTP ------------------------------------------------------------------


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_ollama_chat(
    gateway: Gateway,
    fake: FakeProvider,
    http: httpx.Client,
    provider_keys: dict[str, str],
    provider: str,
    stream: bool,
) -> None:
    url = gateway(CONFIG)
    body = {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        "stream": stream,
    }
    response = http.post(
        f"{url}/w/via-{provider}/api/chat", json=body, headers={"authorization": f"Bearer {CLIENT_KEY}"}
    )
    assert response.status_code == 200, response.text
    if stream:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = ndjson(response.text)
        assert len(lines) > 2
        assert all(not line["done"] for line in lines[:-1])
        text = "".join(line["message"]["content"] for line in lines)
        last = lines[-1]
    else:
        last = response.json()
        text = last["message"]["content"]
    assert text == ANSWER
    assert last["done"] is True
    assert last["done_reason"] == "stop"
    assert last["model"] == ROUTES[provider][0]
    assert (last["prompt_eval_count"], last["eval_count"]) == (INPUT_TOKENS, OUTPUT_TOKENS)
    assert_provider_received(only(fake), provider, provider_keys, stream=stream)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_ollama_generate_gets_no_instructions(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, provider: str, stream: bool
) -> None:
    url = gateway(CONFIG)
    body = {"model": "qwen2.5-coder", "prompt": "def add(a, b):\n    return ", "suffix": "\n", "stream": stream}
    response = http.post(f"{url}/w/via-{provider}/api/generate", json=body)
    assert response.status_code == 200, response.text
    lines = ndjson(response.text) if stream else [response.json()]
    text = "".join(line["response"] for line in lines)
    assert text.startswith("echo: def add(a, b):")
    assert lines[-1]["done"] is True
    assert lines[-1]["done_reason"] == "stop"
    assert isinstance(lines[-1]["eval_count"], int)
    received = only(fake)
    assert received.model == ROUTES[provider][0]
    assert (
        received.path == {"openai": "/v1/completions", "anthropic": "/v1/messages", "ollama": "/api/generate"}[provider]
    )
    assert INSTRUCTIONS not in received.body.decode()


def test_ollama_tags_list_the_workspaces_models(gateway: Gateway, http: httpx.Client) -> None:
    url = gateway(CONFIG)
    response = http.get(f"{url}/w/via-openai/api/tags")
    assert response.status_code == 200
    assert [m["name"] for m in response.json()["models"]] == ["gpt-routed"]
