"""How the gateway fails, over real HTTP: bad requests, providers that are down, slow, failing, speaking garbage or
hanging up mid-stream, and clients that leave. Every error reaches the client in the format of the API it called,
and the gateway keeps serving after each one."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import RETRY_AFTER_SECONDS, Behaviour, FakeProvider, Garbage
from tests.support.routes import (
    ALL_ROUTES,
    ANTHROPIC,
    CHAT_ROUTES,
    OLLAMA_CHAT,
    OLLAMA_GENERATE,
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    error_of,
)

Gateway = Callable[..., str]

PROVIDERS = ("openai", "anthropic", "ollama")
TRANSPORTS = ("aiohttp", "httpx")


def rule(provider: str, model: str = "routed-model") -> dict[str, Any]:
    return {"match": {"type": "catch_all"}, "provider": provider, "model": model}


def routed_to(provider: str, providers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A config whose default workspace sends everything to `provider`; workspace "healthy" uses the fake's Ollama."""
    return {
        "providers": dict(providers or {}),
        "workspaces": {"default": {"muxRules": [rule(provider)]}, "healthy": {"muxRules": [rule("ollama")]}},
    }


def request_body(route: str, text: str = "hello there", *, stream: bool = False) -> dict[str, Any]:
    if route in (OPENAI_COMPLETIONS, OLLAMA_GENERATE):
        return {"model": "client-model", "prompt": text, "stream": stream}
    body: dict[str, Any] = {"model": "client-model", "messages": [{"role": "user", "content": text}], "stream": stream}
    if route == ANTHROPIC:
        body["max_tokens"] = 64
    return body


def client_error(route: str, response: httpx.Response) -> tuple[str, str | None]:
    """(message, type) of an error answer, asserting it is JSON in the shape of the API `route` belongs to."""
    assert response.headers["content-type"].startswith("application/json")
    return error_of(route, response)


def stream_events(route: str, text: str) -> list[dict[str, Any]]:
    """The JSON payloads of a streamed answer, in order (OpenAI's [DONE] as {"done": "[DONE]"})."""
    if route.startswith("/api/"):
        return [json.loads(line) for line in text.splitlines() if line]
    events = []
    for block in filter(None, text.split("\n\n")):
        data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
        events.append({"done": data} if data == "[DONE]" else json.loads(data))
    return events


def stream_error(route: str, events: list[dict[str, Any]]) -> str:
    """The message of the error event that ends a stream, asserting its shape in the client's format."""
    last = events[-1]
    if route.startswith("/api/"):
        assert set(last) == {"error"}, last
        return str(last["error"])
    if route == ANTHROPIC:
        assert last["type"] == "error", last
        return str(last["error"]["message"])
    assert set(last) == {"error"}, last
    return str(last["error"]["message"])


def streamed_text(route: str, events: list[dict[str, Any]]) -> str:
    if route == OLLAMA_CHAT:
        return "".join(e.get("message", {}).get("content", "") for e in events)
    if route == OLLAMA_GENERATE:
        return "".join(e.get("response", "") for e in events)
    if route == ANTHROPIC:
        return "".join(e["delta"].get("text", "") for e in events if e.get("type") == "content_block_delta")
    return "".join(
        (choice.get("delta", {}).get("content") or choice.get("text") or "")
        for e in events
        for choice in e.get("choices", ())
    )


def assert_still_serves(http: httpx.Client, url: str, fake: FakeProvider) -> None:
    """After a failure, the same gateway answers a plain request again."""
    fake.behaviour = Behaviour()
    response = http.post(url + "/w/healthy" + OPENAI_CHAT, json=request_body(OPENAI_CHAT, "still there"))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: still there"


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- bad requests -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"model": "m", "messages": [', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'["a", "list"]', "must be a JSON object"),
        (b"", "has no body"),
    ],
    ids=["truncated", "not-utf8", "list", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, route: str, raw: bytes, words: str
) -> None:
    url = gateway(routed_to("ollama"))
    response = http.post(url + route, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    message, _ = client_error(route, response)
    assert words in message
    assert fake.requests == []
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize(
    ("route", "field"),
    [
        (OPENAI_CHAT, "messages"),
        (ANTHROPIC, "messages"),
        (OLLAMA_CHAT, "messages"),
        (OPENAI_COMPLETIONS, "prompt"),
        (OLLAMA_GENERATE, "prompt"),
    ],
)
def test_a_request_without_messages_or_prompt_is_a_400(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, route: str, field: str
) -> None:
    url = gateway(routed_to("anthropic"))
    body = request_body(route)
    del body[field]
    response = http.post(url + route, json=body)
    assert response.status_code == 400
    message, kind = client_error(route, response)
    assert message == f'The request has no "{field}" field.'
    assert kind in (None, "invalid_request_error")
    assert fake.requests == []
    assert_still_serves(http, url, fake)


LIMIT = 2048


@pytest.mark.parametrize("route", ALL_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_size_limit_is_a_413(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, route: str, chunked: bool
) -> None:
    url = gateway(routed_to("ollama"), max_body_bytes=LIMIT)
    raw = json.dumps(request_body(route, "word " * LIMIT)).encode()
    content: bytes | Iterator[bytes] = iter([raw[:1000], raw[1000:]]) if chunked else raw
    response = http.post(url + route, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 413
    message, _ = client_error(route, response)
    assert "larger than 2,048 bytes" in message
    assert fake.requests == []
    # A body just under the limit is served by the same gateway.
    small = json.dumps(request_body(route, "word " * 100)).encode()
    assert len(small) < LIMIT
    assert http.post(url + route, content=small).status_code == 200
    assert_still_serves(http, url, fake)


# --- the provider cannot be reached, is slow, or fails -----------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ALL_ROUTES)
def test_a_provider_that_is_down_is_a_502(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, closed_port: int, transport: str, route: str
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port}/v1"
    url = gateway(routed_to("down", {"down": {"type": "openai", "endpoint": endpoint}}), transport=transport)
    response = http.post(url + route, json=request_body(route))
    assert response.status_code == 502
    message, _ = client_error(route, response)
    assert message.startswith(f"Provider down at {endpoint} cannot be reached: ")
    assert response.headers["x-muxgate-provider"] == "down"
    assert_still_serves(http, url, fake)


SLOW = {"timeouts": {"connect": 1, "read": 0.3}}


def endpoint(kind: str, fake: FakeProvider) -> str:
    return fake.url if kind == "ollama" else f"{fake.url}/v1"


def slow_provider(kind: str, fake: FakeProvider) -> dict[str, Any]:
    return {"slow": {"type": kind, "endpoint": endpoint(kind, fake), **SLOW}}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("route", "provider"), [(OPENAI_CHAT, "anthropic"), (ANTHROPIC, "openai"), (OLLAMA_CHAT, "ollama")]
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_provider_slower_than_its_read_timeout_is_a_504(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, route: str, provider: str, stream: bool
) -> None:
    url = gateway(routed_to("slow", slow_provider(provider, fake)), transport=transport)
    fake.behaviour = Behaviour(first_byte_delay=10)
    started = time.monotonic()
    response = http.post(url + route, json=request_body(route, stream=stream))
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    message, _ = client_error(route, response)
    assert message == f"Timed out waiting for provider slow at {endpoint(provider, fake)}."
    assert 0.3 <= elapsed < 5
    # The gateway gave up on the provider: the fake sees its client leave before it answered.
    assert fake.requests[0].wait_done(5)
    assert fake.requests[0].client_disconnected
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_a_stream_that_stalls_longer_than_the_read_timeout_ends_with_an_error_event(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, route: str
) -> None:
    url = gateway(routed_to("slow", slow_provider("anthropic", fake)), transport=transport)
    fake.behaviour = Behaviour(chunks=4, chunk_delay=10)
    response = http.post(url + route, json=request_body(route, stream=True))
    assert response.status_code == 200
    events = stream_events(route, response.text)
    assert stream_error(route, events) == f"Timed out waiting for provider slow at {fake.url}/v1."
    # The first chunk came through before the stall.
    assert streamed_text(route, events)
    assert fake.requests[0].wait_done(5)
    assert fake.requests[0].client_disconnected
    assert fake.requests[0].chunks_written == 1
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize(
    ("provider", "route", "status", "kind"),
    [
        ("openai", OPENAI_CHAT, 429, "rate_limit_error"),
        ("anthropic", OPENAI_CHAT, 429, "rate_limit_error"),
        ("ollama", OPENAI_CHAT, 503, "server_error"),
        ("anthropic", ANTHROPIC, 529, "overloaded_error"),
        ("openai", ANTHROPIC, 400, "invalid_request_error"),
        ("ollama", ANTHROPIC, 500, "api_error"),
        ("ollama", OLLAMA_CHAT, 404, None),
        ("anthropic", OLLAMA_CHAT, 429, None),
        ("openai", OLLAMA_GENERATE, 502, None),
        ("anthropic", OPENAI_COMPLETIONS, 403, "permission_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_provider_error_status_is_passed_on_in_the_clients_format(
    gateway: Gateway,
    fake: FakeProvider,
    http: httpx.Client,
    provider: str,
    route: str,
    status: int,
    kind: str | None,
    stream: bool,
) -> None:
    url = gateway(routed_to(provider))
    fake.behaviour = Behaviour(status=status, error_message="The provider says no.")
    response = http.post(url + route, json=request_body(route, stream=stream))
    assert response.status_code == status
    message, error_type = client_error(route, response)
    assert message == "The provider says no."
    assert error_type == kind
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_rate_limited_client_is_told_when_to_retry(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, provider: str
) -> None:
    url = gateway(routed_to(provider))
    fake.behaviour = Behaviour(status=429, error_message="Slow down.")
    response = http.post(url + ANTHROPIC, json=request_body(ANTHROPIC))
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_a_provider_that_rejects_its_key_is_a_401_for_the_client(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client
) -> None:
    url = gateway(routed_to("anthropic"))
    fake.api_key = "another-key"
    response = http.post(url + OPENAI_CHAT, json=request_body(OPENAI_CHAT))
    assert response.status_code == 401
    assert client_error(OPENAI_CHAT, response) == ("Invalid API key.", "authentication_error")
    fake.api_key = None
    assert_still_serves(http, url, fake)


# --- the provider answers with garbage or hangs up ----------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", [OPENAI_CHAT, ANTHROPIC, OLLAMA_GENERATE])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_answer_that_is_not_http_is_a_502(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, route: str, stream: bool
) -> None:
    url = gateway(routed_to("anthropic"), transport=transport)
    fake.behaviour = Behaviour(garbage=Garbage.HTTP)
    response = http.post(url + route, json=request_body(route, stream=stream))
    assert response.status_code == 502
    message, _ = client_error(route, response)
    assert message.startswith(f"Provider anthropic at {fake.url}/v1 ")
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("route", [OPENAI_CHAT, ANTHROPIC, OLLAMA_CHAT, OPENAI_COMPLETIONS])
def test_a_json_answer_that_does_not_parse_is_a_502(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, provider: str, route: str
) -> None:
    url = gateway(routed_to(provider), transport=transport)
    fake.behaviour = Behaviour(garbage=Garbage.BODY)
    response = http.post(url + route, json=request_body(route))
    assert response.status_code == 502
    message, _ = client_error(route, response)
    assert message.startswith(f"Provider {provider} sent an answer that cannot be read")
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_provider_that_hangs_up_without_answering_is_a_502(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, route: str, stream: bool
) -> None:
    url = gateway(routed_to("openai"), transport=transport)
    fake.behaviour = Behaviour(hang_up=True)
    response = http.post(url + route, json=request_body(route, stream=stream))
    assert response.status_code == 502
    message, _ = client_error(route, response)
    assert message.startswith(f"Provider openai at {fake.url}/v1 failed: ")
    assert not message.endswith("..")
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_a_json_answer_cut_in_half_is_a_502(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, route: str
) -> None:
    url = gateway(routed_to("ollama"), transport=transport)
    fake.behaviour = Behaviour(close_after_chunks=1)
    response = http.post(url + route, json=request_body(route))
    assert response.status_code == 502
    message, _ = client_error(route, response)
    assert message.startswith(f"Provider ollama at {fake.url} ")
    assert "closed the connection before its answer was complete" in message or "peer closed connection" in message
    assert_still_serves(http, url, fake)


# Every provider format to every client format: the stream the client reads ends with an error event in its own
# format, after the text that did arrive and with nothing after it.
STREAM_PAIRS = [(provider, route) for provider in PROVIDERS for route in CHAT_ROUTES]


@pytest.mark.parametrize(("provider", "route"), STREAM_PAIRS)
def test_a_stream_the_provider_cuts_short_ends_with_an_error_event(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, provider: str, route: str
) -> None:
    url = gateway(routed_to(provider))
    fake.behaviour = Behaviour(close_after_chunks=2)
    response = http.post(url + route, json=request_body(route, "one two three four five", stream=True))
    assert response.status_code == 200
    events = stream_events(route, response.text)
    message = stream_error(route, events)
    assert message.startswith(f"Provider {provider} at ")
    assert streamed_text(route, events) == "echo: one"
    assert not any("error" in e for e in events[:-1])
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize(("provider", "route"), STREAM_PAIRS)
def test_a_stream_event_that_does_not_parse_ends_the_stream_with_an_error_event(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, provider: str, route: str
) -> None:
    url = gateway(routed_to(provider))
    fake.behaviour = Behaviour(garbage=Garbage.BODY)
    response = http.post(url + route, json=request_body(route, "one two three", stream=True))
    assert response.status_code == 200
    # Every event the client gets parses, and the last one is the error.
    events = stream_events(route, response.text)
    assert "is not a JSON object" in stream_error(route, events)
    assert streamed_text(route, events) == "echo:"
    assert_still_serves(http, url, fake)


# --- the client leaves --------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("provider", "route"), [("openai", ANTHROPIC), ("anthropic", OLLAMA_CHAT), ("ollama", OPENAI_CHAT)]
)
def test_a_client_that_disconnects_mid_stream_closes_the_providers_stream(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, provider: str, route: str
) -> None:
    url = gateway(routed_to(provider), transport=transport)
    total = 200
    fake.behaviour = Behaviour(chunks=total, chunk_delay=0.01)
    with http.stream("POST", url + route, json=request_body(route, stream=True)) as response:
        assert response.status_code == 200
        # Read until the first piece of text arrives, then leave.
        for line in response.iter_lines():
            if "text" in line or "content" in line:
                break
    received = fake.requests[0]
    assert received.wait_done(5), "the provider's stream was not closed after the client left"
    assert received.client_disconnected
    assert 0 < received.chunks_written < total
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize("transport", TRANSPORTS)
# A client that leaves before the disconnect watcher starts (50 ms) is noticed when it does.
@pytest.mark.parametrize("patience", [0.02, 0.3])
def test_a_client_that_gives_up_before_the_answer_cancels_the_providers_call(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, transport: str, patience: float
) -> None:
    url = gateway(routed_to("openai"), transport=transport)
    fake.behaviour = Behaviour(first_byte_delay=10)
    with pytest.raises(httpx.ReadTimeout):
        http.post(url + OPENAI_CHAT, json=request_body(OPENAI_CHAT), timeout=patience)
    received = fake.requests[0]
    assert received.wait_done(5), "the provider's call was not cancelled after the client left"
    assert received.client_disconnected
    assert received.status is None
    assert_still_serves(http, url, fake)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them from the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port: int = sock.getsockname()[1]
        yield port


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_provider_that_never_answers_does_not_hold_up_other_requests(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, black_hole: int, transport: str
) -> None:
    hole = {"type": "openai", "endpoint": f"http://127.0.0.1:{black_hole}/v1", "timeouts": {"connect": 1, "read": 1}}
    url = gateway(routed_to("hole", {"hole": hole}), transport=transport)
    outcome: list[httpx.Response] = []
    stuck = threading.Thread(
        target=lambda: outcome.append(http.post(url + OPENAI_CHAT, json=request_body(OPENAI_CHAT))), daemon=True
    )
    stuck.start()
    # While that request waits on the silent provider, other requests are answered at once.
    for _ in range(3):
        started = time.monotonic()
        assert_still_serves(http, url, fake)
        assert time.monotonic() - started < 1
    stuck.join(10)
    assert [r.status_code for r in outcome] == [504]


# --- streams that end cleanly but without their end ----------------------------------------------------------


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's canned body, framed by Content-Length: a clean end of the body."""

    server: _CannedServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        content_type, body = self.server.answer
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CannedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    answer: tuple[str, bytes] = ("text/plain", b"")


@pytest.fixture(scope="module")
def canned() -> Iterator[_CannedServer]:
    """A provider that answers every request with `canned.answer` (content type, body); tests set the answer."""
    server = _CannedServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()  # serve_forever notices within its poll interval (half a second), once per module
    server.server_close()
    thread.join(5)


def sse_body(*events: tuple[str | None, Any]) -> bytes:
    out = b""
    for name, data in events:
        out += (f"event: {name}\n" if name else "").encode()
        out += b"data: " + (data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n\n"
    return out


def openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


ANTHROPIC_START = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "m1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
    ),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "partial"}},
    ),
]
ANTHROPIC_END = [
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
    ("message_stop", {"type": "message_stop"}),
]
OLLAMA_PARTIAL = json.dumps({"model": "m", "message": {"role": "assistant", "content": "partial"}, "done": False})
OLLAMA_DONE = json.dumps(
    {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 3,
        "eval_count": 2,
    }
)
# Provider type → (content type, a stream that stops after "partial", the same stream whole but for the blank line
# after its last event, or the line break after its last NDJSON line).
CANNED_STREAMS = {
    "openai": (
        "text/event-stream",
        sse_body(
            (None, openai_chunk({"role": "assistant", "content": ""})), (None, openai_chunk({"content": "partial"}))
        ),
        sse_body((None, openai_chunk({"role": "assistant", "content": "partial"})), (None, openai_chunk({}, "stop")))
        + b"data: [DONE]\n",
    ),
    "anthropic": (
        "text/event-stream",
        sse_body(*ANTHROPIC_START),
        sse_body(*ANTHROPIC_START, *ANTHROPIC_END)[:-1],
    ),
    "ollama": ("application/x-ndjson", f"{OLLAMA_PARTIAL}\n".encode(), f"{OLLAMA_PARTIAL}\n{OLLAMA_DONE}".encode()),
}


def canned_provider(kind: str, server: _CannedServer) -> dict[str, Any]:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    return {"canned": {"type": kind, "endpoint": base if kind == "ollama" else f"{base}/v1"}}


@pytest.mark.parametrize(("provider", "route"), STREAM_PAIRS)
def test_a_stream_that_ends_without_its_end_event_ends_with_an_error_event(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client, canned: _CannedServer, provider: str, route: str
) -> None:
    url = gateway(routed_to("canned", canned_provider(provider, canned)))
    content_type, partial, _ = CANNED_STREAMS[provider]
    canned.answer = (content_type, partial)
    response = http.post(url + route, json=request_body(route, stream=True))
    assert response.status_code == 200
    events = stream_events(route, response.text)
    assert stream_error(route, events) == "The provider closed the stream before the answer was complete."
    assert streamed_text(route, events) == "partial"
    assert_still_serves(http, url, fake)


@pytest.mark.parametrize(("provider", "route"), STREAM_PAIRS)
def test_a_whole_stream_whose_last_event_lacks_its_blank_line_is_delivered_whole(
    gateway: Gateway, http: httpx.Client, canned: _CannedServer, provider: str, route: str
) -> None:
    url = gateway(routed_to("canned", canned_provider(provider, canned)))
    content_type, _, whole = CANNED_STREAMS[provider]
    canned.answer = (content_type, whole)
    response = http.post(url + route, json=request_body(route, stream=True))
    assert response.status_code == 200
    events = stream_events(route, response.text)
    assert not any("error" in e for e in events)
    assert streamed_text(route, events) == "partial"
    if route == OLLAMA_CHAT:
        assert events[-1]["done"] is True
    elif route == ANTHROPIC:
        assert events[-1]["type"] == "message_stop"
    else:
        assert events[-1] == {"done": "[DONE]"}
