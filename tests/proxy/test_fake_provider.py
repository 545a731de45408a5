from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import Behaviour, FakeProvider, Garbage

REPO = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "hello there world"}]
CHAT = {"model": "gpt-x", "messages": USER}
ANTHROPIC = {"model": "claude-x", "max_tokens": 64, "messages": USER}


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider() as provider:
        yield provider


@pytest.fixture
async def client(fake: FakeProvider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=10) as http:
        yield http


@pytest.fixture
def threaded() -> Iterator[tuple[FakeProvider, httpx.Client]]:
    with FakeProvider.running_in_thread() as provider, httpx.Client(base_url=provider.url, timeout=10) as http:
        yield provider, http


def sse(text: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) for each server-sent event; '[DONE]' stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in filter(None, text.split("\n\n")):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        data = fields["data"]
        events.append((fields.get("event"), data if data == "[DONE]" else json.loads(data)))
    return events


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# --- OpenAI -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_openai_chat_answers_with_an_echo_and_records_the_request(
    fake: FakeProvider, client: httpx.AsyncClient
) -> None:
    response = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-test"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "gpt-x"
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: hello there world",
        "refusal": None,
    }
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    [received] = fake.requests
    assert (received.method, received.path, received.model, received.api_key) == (
        "POST",
        "/v1/chat/completions",
        "gpt-x",
        "sk-test",
    )
    assert received.json == CHAT
    assert received.status == 200
    assert received.done


@pytest.mark.anyio
async def test_openai_chat_stream_without_usage(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks]
    assert pieces[1:-1] == ["echo:", " hello", " there", " world"]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"


@pytest.mark.anyio
async def test_openai_stream_usage_only_with_include_usage(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    chunks = [data for _, data in sse((await client.post("/v1/chat/completions", json=body)).text)[:-1]]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


@pytest.mark.anyio
async def test_openai_legacy_completions(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-x", "prompt": "def add(a, b):"}
    answer = (await client.post("/v1/completions", json=body)).json()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "echo: def add(a, b):"
    streamed = sse((await client.post("/v1/completions", json={**body, "stream": True})).text)
    assert "".join(data["choices"][0]["text"] for _, data in streamed[:-1]) == "echo: def add(a, b):"
    assert streamed[-2][1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.anyio
async def test_openai_models(client: httpx.AsyncClient) -> None:
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["fake-model", "fake-model-large"]


@pytest.mark.anyio
async def test_openai_tool_call(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(tool_call=True)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    answer = (await client.post("/v1/chat/completions", json={**CHAT, "tools": tools})).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"text": "echo: hello there world"}

    streamed = sse((await client.post("/v1/chat/completions", json={**CHAT, "tools": tools, "stream": True})).text)
    deltas = [data["choices"][0]["delta"] for _, data in streamed[:-1]]
    assert deltas[0]["tool_calls"][0]["function"]["name"] == "lookup"
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas if "tool_calls" in d)
    assert json.loads(arguments) == {"text": "echo: hello there world"}
    assert streamed[-2][1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.anyio
async def test_tool_call_without_tools_in_the_request_answers_text(
    fake: FakeProvider, client: httpx.AsyncClient
) -> None:
    fake.behaviour = Behaviour(tool_call=True)
    answer = (await client.post("/v1/chat/completions", json=CHAT)).json()
    assert answer["choices"][0]["message"]["content"] == "echo: hello there world"


# --- Anthropic ----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_anthropic_messages(client: httpx.AsyncClient) -> None:
    answer = (await client.post("/v1/messages", json=ANTHROPIC)).json()
    assert answer["type"] == "message"
    assert answer["content"] == [{"type": "text", "text": "echo: hello there world"}]
    assert answer["stop_reason"] == "end_turn"
    assert answer["usage"] == {"input_tokens": 3, "output_tokens": 4}


@pytest.mark.anyio
async def test_anthropic_stream_event_sequence(client: httpx.AsyncClient) -> None:
    events = sse((await client.post("/v1/messages", json={**ANTHROPIC, "stream": True})).text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    assert events[0][1]["message"]["usage"]["input_tokens"] == 3
    assert "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta") == (
        "echo: hello there world"
    )
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"] == {"output_tokens": 4}


@pytest.mark.anyio
async def test_anthropic_tool_use(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(tool_call=True)
    body = {**ANTHROPIC, "tools": [{"name": "lookup", "input_schema": {"type": "object"}}]}
    answer = (await client.post("/v1/messages", json=body)).json()
    assert answer["stop_reason"] == "tool_use"
    assert answer["content"][0]["name"] == "lookup"
    assert answer["content"][0]["input"] == {"text": "echo: hello there world"}
    events = sse((await client.post("/v1/messages", json={**body, "stream": True})).text)
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert json.loads(partial) == {"text": "echo: hello there world"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "c", "messages": USER}, "max_tokens"),
        ({**ANTHROPIC, "messages": [{"role": "system", "content": "s"}, *USER]}, "top-level 'system'"),
        ({"max_tokens": 5, "messages": USER}, "'model'"),
    ],
)
async def test_anthropic_rejects_what_the_real_api_rejects(
    client: httpx.AsyncClient, body: dict[str, Any], message: str
) -> None:
    response = await client.post("/v1/messages", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


@pytest.mark.anyio
async def test_api_key_is_required_only_when_configured() -> None:
    async with FakeProvider(api_key="k1") as fake, httpx.AsyncClient(base_url=fake.url) as client:
        missing = await client.post("/v1/messages", json=ANTHROPIC)
        assert missing.status_code == 401
        assert missing.json()["error"]["type"] == "authentication_error"
        assert (await client.post("/v1/messages", json=ANTHROPIC, headers={"x-api-key": "k1"})).status_code == 200
        wrong = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer k2"})
        assert wrong.status_code == 401
        assert "error" in wrong.json()
        right = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer k1"})
        assert right.status_code == 200
        assert (await client.post("/api/chat", json={**CHAT, "stream": False})).status_code == 200
        assert [r.api_key for r in fake.requests] == [None, "k1", "k2", "k1", None]


# --- Ollama -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_ollama_chat_streams_ndjson_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json=CHAT)
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = ndjson(response.text)
    assert "".join(line["message"]["content"] for line in lines) == "echo: hello there world"
    assert [line["done"] for line in lines] == [False] * 4 + [True]
    assert lines[-1]["done_reason"] == "stop"
    assert (lines[-1]["prompt_eval_count"], lines[-1]["eval_count"]) == (3, 4)


@pytest.mark.anyio
async def test_ollama_chat_without_stream(client: httpx.AsyncClient) -> None:
    answer = (await client.post("/api/chat", json={**CHAT, "stream": False})).json()
    assert answer["message"] == {"role": "assistant", "content": "echo: hello there world"}
    assert answer["done"] is True


@pytest.mark.anyio
async def test_ollama_tool_call(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(tool_call=True)
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    lines = ndjson((await client.post("/api/chat", json={**CHAT, "tools": tools})).text)
    call = lines[0]["message"]["tool_calls"][0]["function"]
    assert call == {"name": "lookup", "arguments": {"text": "echo: hello there world"}}


@pytest.mark.anyio
async def test_ollama_generate_and_tags(client: httpx.AsyncClient) -> None:
    body = {"model": "qwen", "prompt": "def f("}
    lines = ndjson((await client.post("/api/generate", json=body)).text)
    assert "".join(line["response"] for line in lines) == "echo: def f("
    assert lines[-1]["done"] is True
    whole = (await client.post("/api/generate", json={**body, "stream": False})).json()
    assert whole["response"] == "echo: def f("
    tags = (await client.get("/api/tags")).json()
    assert [m["name"] for m in tags["models"]] == ["fake-model", "fake-model-large"]


# --- errors and misbehaviour --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/v1/chat/completions",
            CHAT,
            {"error": {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}},
        ),
        ("/v1/messages", ANTHROPIC, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        ("/api/chat", CHAT, {"error": "slow down"}),
    ],
)
async def test_error_status_in_each_providers_format(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = await client.post(path, json=body, headers={"x-fake-scenario": "status=429, error_message=slow down"})
    assert response.status_code == 429
    assert response.json() == expected


@pytest.mark.anyio
async def test_behaviour_applies_to_every_request_until_changed(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(status=503)
    assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 503
    assert (await client.post("/api/chat", json=CHAT)).status_code == 503
    assert (await client.get("/v1/models")).status_code == 503
    fake.behaviour = Behaviour()
    assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200


@pytest.mark.anyio
async def test_unknown_routes_and_bad_scenarios(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/embeddings", json=CHAT)).status_code == 404
    assert (await client.get("/v1/chat/completions")).status_code == 405
    assert (await client.get("/api/nothing")).json() == {
        "error": "GET /api/nothing is not served by the fake provider."
    }
    bad = await client.post("/v1/chat/completions", json=CHAT, headers={"x-fake-scenario": "colour=blue"})
    assert bad.status_code == 400
    assert "Unknown scenario field 'colour'" in bad.json()["error"]["message"]
    not_json = await client.post("/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400


@pytest.mark.anyio
async def test_delay_before_the_first_byte(client: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    response = await client.post("/v1/chat/completions", json=CHAT, headers={"x-fake-scenario": "first_byte_delay=0.2"})
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.2


@pytest.mark.anyio
async def test_exact_chunk_count_pads_short_text(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": True}
    events = sse((await client.post("/v1/chat/completions", json=body, headers={"x-fake-scenario": "chunks=30"})).text)
    pieces = [d["choices"][0]["delta"]["content"] for _, d in events[1:-2]]
    assert len(pieces) == 30
    assert "".join(pieces) == "echo: hello there world".ljust(30, ".")


@pytest.mark.anyio
async def test_connection_closed_mid_stream(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(chunks=10, close_after_chunks=3)
    received: list[str] = []

    async def read_stream() -> None:
        async with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            async for line in response.aiter_lines():
                received.append(line)

    with pytest.raises(httpx.RemoteProtocolError):
        await read_stream()
    contents = [json.loads(line[6:])["choices"][0]["delta"]["content"] for line in received if line.startswith("data")]
    assert len(contents) == 4  # the role chunk, then three content chunks
    assert fake.requests[0].chunks_written == 3
    assert not fake.requests[0].client_disconnected


@pytest.mark.anyio
async def test_non_streaming_answer_cut_short(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(close_after_chunks=0)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/chat/completions", json=CHAT)


@pytest.mark.anyio
async def test_hang_up_without_answering(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(hang_up=True)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await client.post("/v1/chat/completions", json=CHAT)
    assert fake.requests[0].status is None


@pytest.mark.anyio
async def test_garbage_instead_of_http(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(garbage=Garbage.HTTP)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/v1/chat/completions", json=CHAT)


@pytest.mark.anyio
async def test_garbage_body(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(garbage=Garbage.BODY)
    response = await client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    lines = (await client.post("/api/chat", json=CHAT)).text.splitlines()
    assert lines[1] == "{not json"
    assert json.loads(lines[0])["message"]["content"] == "echo:"
    events = (await client.post("/v1/messages", json={**ANTHROPIC, "stream": True})).text.split("\n\n")
    assert "data: {not json" in events


@pytest.mark.anyio
async def test_client_that_leaves_mid_stream_is_recorded(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    fake.behaviour = Behaviour(chunks=100, chunk_delay=0.05)
    async with client.stream("POST", "/v1/messages", json={**ANTHROPIC, "stream": True}) as response:
        deltas = 0
        async for line in response.aiter_lines():
            deltas += line == "event: content_block_delta"
            if deltas == 2:
                break
    received = fake.requests[0]
    assert await received.wait_done_async()
    assert received.client_disconnected
    assert 2 <= received.chunks_written < 10


@pytest.mark.anyio
async def test_scenario_as_json_with_commas_in_the_text(client: httpx.AsyncClient) -> None:
    scenario = json.dumps({"text": "a, b, c", "status": 201})
    response = await client.post("/v1/chat/completions", json=CHAT, headers={"x-fake-scenario": scenario})
    assert response.status_code == 201
    assert response.json()["choices"][0]["message"]["content"] == "a, b, c"


# --- HTTP/1.1 -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_chunked_request_body(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    payload = json.dumps(CHAT).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 7):
            yield payload[i : i + 7]

    response = await client.post("/v1/chat/completions", content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert fake.requests[0].headers["transfer-encoding"] == "chunked"
    assert fake.requests[0].json == CHAT


@pytest.mark.anyio
async def test_pipelined_keep_alive_requests_then_close(fake: FakeProvider) -> None:
    body = json.dumps({**CHAT, "stream": False}).encode()
    head = f"POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    try:
        writer.write((head + "\r\n").encode() + body + (head + "connection: close\r\n\r\n").encode() + body)
        data = await asyncio.wait_for(reader.read(), timeout=10)  # until the server closes
    finally:
        writer.close()
        await writer.wait_closed()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.count(b"connection: close") == 1
    assert len(fake.requests) == 2


@pytest.mark.anyio
async def test_malformed_request_gets_400(fake: FakeProvider) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    try:
        writer.write(b"NONSENSE\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    assert data.startswith(b"HTTP/1.1 400 Bad Request")


@pytest.mark.anyio
async def test_large_body(fake: FakeProvider, client: httpx.AsyncClient) -> None:
    text = "word " * 400_000
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": True}
    response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert fake.requests[0].json["messages"][0]["content"] == text


def test_small_answers_are_not_held_back_by_nagle(threaded: tuple[FakeProvider, httpx.Client]) -> None:
    _, client = threaded
    client.post("/v1/chat/completions", json=CHAT)  # connect first
    started = time.perf_counter()
    for _ in range(20):
        client.post("/v1/chat/completions", json=CHAT)
    # With Nagle's algorithm on, each answer (head and body written apart) waits ~40 ms for a delayed ACK.
    assert time.perf_counter() - started < 0.5


# --- thread, records and command line -----------------------------------------------------------------------


def test_running_in_a_thread(threaded: tuple[FakeProvider, httpx.Client]) -> None:
    fake, client = threaded
    assert client.post("/v1/messages", json=ANTHROPIC).json()["content"][0]["text"] == "echo: hello there world"
    assert fake.requests[0].wait_done(timeout=5)
    assert fake.requests[0].path == "/v1/messages"


def test_the_url_needs_a_running_server() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeProvider().url


@pytest.mark.anyio
async def test_recording_can_be_turned_off() -> None:
    async with FakeProvider(record=False) as fake, httpx.AsyncClient(base_url=fake.url) as client:
        assert (await client.get("/v1/models")).status_code == 200
        assert fake.requests == []


def test_behaviour_rejects_impossible_values() -> None:
    with pytest.raises(ValueError, match="not an HTTP status"):
        Behaviour(status=42)
    with pytest.raises(ValueError, match="at least 1"):
        Behaviour().updated("chunks=0")
    with pytest.raises(ValueError, match="cannot be 'soon'"):
        Behaviour().updated("first_byte_delay=soon")
    with pytest.raises(ValueError, match="not key=value"):
        Behaviour().updated("status")
    assert Behaviour().updated("garbage=body, hang_up=true, text=none") == Behaviour(garbage=Garbage.BODY, hang_up=True)


def test_command_line_prints_its_url_and_serves() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0", "--scenario", "text=from the cli"]
    with subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            answer = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=10).json()
            assert answer["choices"][0]["message"]["content"] == "from the cli"
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
