"""What a request row says about how the request went: its id, outcome and status, estimated usage when the
provider gave none, a client that left mid-stream, the config revision it ran on, and the history kept."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from proxy.analytics.texts import estimate_tokens
from proxy.registry import build_registry
from tests.proxy.analytics.conftest import Analysed, catch_all
from tests.proxy.conftest import registry_for

QUESTION = "What is twelve times twelve?"
CHAT: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
WORKSPACES = {
    "default": catch_all("openai"),
    "full": catch_all("anthropic"),
    "meta": catch_all("anthropic", history="metadata"),
    "silent": catch_all("anthropic", history="off"),
}


def chat(gateway: Analysed, workspace: str = "default", **extra: Any) -> httpx.Response:
    headers = {"x-muxgate-workspace": workspace, **extra.pop("headers", {})}
    return gateway.http.post(f"{gateway.url}/v1/chat/completions", json={**CHAT, **extra}, headers=headers)


def rid(response: httpx.Response) -> str:
    value = response.headers["x-muxgate-request-id"]
    assert len(value) == 32
    return value


def test_every_answer_carries_a_distinct_request_id_that_names_its_row(analysed: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    ids = {rid(chat(gateway)) for _ in range(3)}
    assert len(ids) == 3
    rows = gateway.sql(f"SELECT request_id FROM requests WHERE request_id IN {tuple(sorted(ids))}")
    assert {r["request_id"] for r in rows} == ids


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_either_writer_records_the_request_with_its_usage_and_cost(analysed: Any, writer: str) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES}, analytics_writer=writer)
    request_id = rid(chat(gateway))
    row = gateway.row(request_id)
    assert (row["status"], row["outcome"], row["usage_source"]) == (200, "ok", "provider")
    assert row["input_tokens"] > 0
    assert row["output_cost"] > 0
    status = gateway.http.get(f"{gateway.url}/api/v1/analytics").json()
    assert (status["writer"], status["dropped"]) == (writer, 0)


@pytest.mark.parametrize(
    ("send", "behaviour", "status", "outcome", "error"),
    [
        (lambda g: g.http.post(f"{g.url}/v1/chat/completions", content=b"{"), "", 400, "rejected", "not valid JSON"),
        (lambda g: chat(g, "nowhere"), "", 404, "rejected", 'Workspace "nowhere" does not exist'),
        (chat, "status=429", 429, "upstream_error", "Fake error 429"),
        (chat, "hang_up=true", 502, "upstream_error", "openai"),
    ],
    ids=["bad-json", "unknown-workspace", "provider-429", "provider-hangs-up"],
)
def test_refused_and_failed_requests_are_rows_with_their_status_and_reason(
    analysed: Any, fake: Any, send: Any, behaviour: str, status: int, outcome: str, error: str
) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    fake.behaviour = fake.behaviour.updated(behaviour)
    response = send(gateway)
    assert response.status_code == status
    row = gateway.row(rid(response))
    assert (row["status"], row["outcome"]) == (status, outcome)
    assert error in row["error"]
    assert (row["input_tokens"], row["output_tokens"], row["usage_source"], row["input_cost"]) == (None,) * 4


def test_a_stream_the_provider_cuts_short_is_a_stream_error_with_what_was_seen(analysed: Any, fake: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    fake.behaviour = fake.behaviour.updated("chunks=6, close_after_chunks=3")
    response = chat(gateway, "full", stream=True)
    assert response.status_code == 200
    row = gateway.row(rid(response))
    assert (row["status"], row["outcome"]) == (200, "stream_error")
    assert "closed the connection before its answer was complete" in row["error"]
    # Anthropic said the prompt's size up front; the output so far is estimated from the text that arrived.
    assert row["usage_source"] == "estimated"
    assert row["input_tokens"] > 0
    assert row["output_tokens"] > 0


def test_a_client_that_leaves_mid_stream_is_recorded_as_such_with_what_it_saw(analysed: Any, fake: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    fake.behaviour = fake.behaviour.updated("chunks=40, chunk_delay=0.05")
    with gateway.http.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={"x-muxgate-workspace": "default"},
    ) as response:
        request_id = rid(response)
        for line in response.iter_lines():
            if '"content"' in line:
                break
    assert fake.requests[-1].wait_done(5)
    assert fake.requests[-1].client_disconnected
    row = None
    deadline = time.monotonic() + 5
    while row is None and time.monotonic() < deadline:
        # Each query waits for the queue to be written; the row is queued once the gateway noticed the client left.
        found = gateway.sql(f"SELECT * FROM requests WHERE request_id = '{request_id}'")
        row = found[0] if found else None
    assert row is not None
    assert (row["status"], row["outcome"]) == (499, "client_disconnected")
    # OpenAI streams say their usage at the end only: what the client saw is estimated.
    assert row["usage_source"] == "estimated"
    assert row["input_tokens"] == estimate_tokens(len(QUESTION))
    assert 0 < row["output_tokens"] < 40


class _NoUsageProvider(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible server that never reports usage, as some local servers do."""

    protocol_version = "HTTP/1.1"
    ANSWER = "forty plus four is forty-four"  # 29 characters

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body.get("stream"):
            words = self.ANSWER.split(" ")
            chunks = [
                {"choices": [{"index": 0, "delta": {"content": w if i == 0 else " " + w}}]} for i, w in enumerate(words)
            ]
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            payload = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
            content_type = "text/event-stream"
        else:
            answer = {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": self.ANSWER}, "finish_reason": "stop"}
                ]
            }
            payload, content_type = json.dumps(answer).encode(), "application/json"
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


@pytest.fixture
def no_usage_url() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _NoUsageProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stream", [False, True])
def test_usage_is_estimated_when_the_provider_gives_none(analysed: Any, no_usage_url: str, stream: bool) -> None:
    local = {"type": "openai", "endpoint": no_usage_url, "auth": {"type": "none"}}
    gateway: Analysed = analysed(
        {"providers": {"local": local}, "workspaces": {"local": catch_all("local", "any-model")}}
    )
    response = chat(gateway, "local", stream=stream)
    assert response.status_code == 200
    row = gateway.row(rid(response))
    assert row["usage_source"] == "estimated"
    assert row["input_tokens"] == estimate_tokens(len("What is twelve times twelve?"))
    assert row["output_tokens"] == estimate_tokens(len(_NoUsageProvider.ANSWER))
    assert row["outcome"] == "ok"


def test_each_row_names_the_config_revision_and_state_it_ran_on(analysed: Any, config_dir: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    first = build_registry(gateway.server.app.state.gateway.registry.state, revision="1111aaaa2222")
    gateway.apply(first)
    before = rid(chat(gateway))
    second = registry_for(config_dir({"workspaces": {"default": catch_all("ollama")}}))
    second = build_registry(second.state, revision="3333bbbb4444-dirty")
    gateway.apply(second)
    after = rid(chat(gateway))

    old, new = gateway.row(before), gateway.row(after)
    assert (old["config_revision"], old["state_hash"]) == ("1111aaaa2222", first.state_hash)
    assert (new["config_revision"], new["state_hash"]) == ("3333bbbb4444-dirty", second.state_hash)
    assert (old["provider"], new["provider"]) == ("openai", "ollama")


def test_a_recorded_revision_can_be_joined_to_the_requests_it_served(analysed: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    registry = build_registry(gateway.server.app.state.gateway.registry.state, revision="5555cccc6666")
    gateway.apply(registry)
    analytics = gateway.server.app.state.gateway.analytics
    analytics.record_revision(registry.revision, registry.state_hash, added=1, changed=2, archived=3)
    request_id = rid(chat(gateway))
    rows = gateway.sql(
        "SELECT c.revision, c.source, c.added, c.changed, c.archived, c.recovered, c.deleted, r.request_id "
        "FROM requests r JOIN config_revisions c ON c.state_hash = r.state_hash AND c.revision = r.config_revision "
        f"WHERE r.request_id = '{request_id}'"
    )
    assert rows == [
        {
            "revision": "5555cccc6666",
            "source": "apply",
            "added": 1,
            "changed": 2,
            "archived": 3,
            "recovered": 0,
            "deleted": 0,
            "request_id": request_id,
        }
    ]


def test_the_starting_config_is_a_recorded_revision(analysed: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    rows = gateway.sql("SELECT source, added FROM config_revisions WHERE source = 'startup'")
    # The session's gateway started on the empty config: the implicit default workspace.
    assert rows == [{"source": "startup", "added": 1}]


def test_history_keeps_messages_and_answer_metadata_or_nothing_as_the_workspace_says(analysed: Any) -> None:
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    conversation = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What is twelve times twelve?"},
    ]
    ids = {
        ws: rid(chat(gateway, ws, messages=conversation, system="Be exact."))
        if ws != "full"
        else rid(
            gateway.http.post(
                f"{gateway.url}/v1/messages",
                json={"model": "m", "max_tokens": 50, "system": "Be exact.", "messages": conversation},
                headers={"x-muxgate-workspace": ws},
            )
        )
        for ws in ("full", "meta", "silent")
    }
    rows = {
        r["workspace"]: r
        for r in gateway.sql(f"SELECT * FROM messages WHERE request_id IN {tuple(sorted(ids.values()))}")
    }
    assert set(rows) == {"full", "meta"}
    full = rows["full"]
    assert (full["history"], full["message_count"], full["prompt"]) == ("full", 4, "What is twelve times twelve?")
    assert json.loads(full["request"])[0] == {"role": "system", "content": "Be exact."}
    assert full["answer"] == "echo: What is twelve times twelve?"
    meta = rows["meta"]
    assert (meta["history"], meta["message_count"]) == ("metadata", 4)
    assert (meta["prompt"], meta["request"], meta["answer"]) == (None, None, None)
    # Usage is recorded whatever the history says.
    assert len(gateway.sql(f"SELECT 1 FROM requests WHERE request_id = '{ids['silent']}' AND input_tokens > 0")) == 1


@pytest.mark.parametrize("stream", [False, True])
def test_history_never_holds_a_secret_the_gateway_redacted(analysed: Any, stream: bool) -> None:
    from tests.proxy.secrets.samples import samples

    secret = next(s.secret for s in samples() if s.rule == "github-pat")
    gateway: Analysed = analysed({"workspaces": WORKSPACES})
    response = chat(gateway, "full", stream=stream, messages=[{"role": "user", "content": f"my token is {secret}"}])
    assert secret in response.text  # the client gets its secret back in the echo…
    request_id = rid(response)
    (row,) = gateway.sql(f"SELECT prompt, request, answer FROM messages WHERE request_id = '{request_id}'")
    for column in ("prompt", "request", "answer"):
        assert secret not in row[column], column  # …history keeps the placeholder
        assert "REDACTED<" in row[column], column
    alerts = gateway.sql(f"SELECT trigger_type, detail FROM alerts WHERE request_id = '{request_id}'")
    assert [a["trigger_type"] for a in alerts] == ["codegate-secrets"]
    assert secret not in alerts[0]["detail"]
