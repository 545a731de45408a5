"""Secret protection end to end: a real gateway, the fake provider (which echoes the last user text), every client
format, streaming and not, to a provider of every format. The provider never receives the secret; the client gets
it back in the answer; the analytics record one critical alert without the value."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import Behaviour, FakeProvider
from tests.proxy.conftest import Config, registry_for
from tests.proxy.secrets.samples import samples

Gateway = Callable[..., str]

SECRETS = {s.rule: s.secret for s in samples()}
GITHUB = SECRETS["github-pat"]
AWS = SECRETS["aws-access-key-id"]

ROUTES = {
    "openai-chat": "/v1/chat/completions",
    "openai-completions": "/v1/completions",
    "anthropic": "/v1/messages",
    "ollama-chat": "/api/chat",
    "ollama-generate": "/api/generate",
}
MODELS = {"openai": "fake-model", "anthropic": "fake-model", "ollama": "fake-model"}


def config(provider: str, **secrets: Any) -> Config:
    spec: dict[str, Any] = {"muxRules": [{"match": {"type": "catch_all"}, "provider": provider, "model": "fake-model"}]}
    if secrets:
        spec["secrets"] = secrets
    return {"workspaces": {"default": spec}}


def request_body(client: str, text: str, *, stream: bool) -> dict[str, Any]:
    if client in ("openai-completions", "ollama-generate"):
        return {"model": "m", "prompt": text, "stream": stream}
    body: dict[str, Any] = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]}
    if client == "anthropic":
        body["max_tokens"] = 64
        body["system"] = f"The deploy key is {AWS}."
    else:
        body["messages"].insert(0, {"role": "system", "content": f"The deploy key is {AWS}."})
    return body


def answer_text(client: str, response: httpx.Response, *, stream: bool) -> str:
    """The answer's text as the client reads it, from a JSON body or from the stream's text deltas."""
    assert response.status_code == 200, response.text
    if not stream:
        body = response.json()
        if client == "openai-chat":
            return str(body["choices"][0]["message"]["content"])
        if client == "openai-completions":
            return str(body["choices"][0]["text"])
        if client == "anthropic":
            return "".join(b["text"] for b in body["content"] if b["type"] == "text")
        if client == "ollama-chat":
            return str(body["message"]["content"])
        return str(body["response"])
    parts: list[str] = []
    if client.startswith("ollama"):
        for line in response.text.splitlines():
            if line.strip():
                event = json.loads(line)
                parts.append(event["message"]["content"] if client == "ollama-chat" else event["response"])
        return "".join(parts)
    for line in response.text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if client == "anthropic":
            if event.get("type") == "content_block_delta" and event["delta"]["type"] == "text_delta":
                parts.append(event["delta"]["text"])
        elif event.get("choices"):
            choice = event["choices"][0]
            parts.append(choice.get("text") or (choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


def wire(fake: FakeProvider) -> str:
    """Every byte the provider received, as text."""
    return b"".join(r.body for r in fake.requests).decode()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize("client", sorted(ROUTES))
def test_the_provider_never_sees_the_secret_and_the_client_gets_it_back(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, client: str, provider: str, stream: bool
) -> None:
    url = gateway(config(provider))
    # Many small chunks: the placeholder the provider echoes is cut across events and lines.
    fake.behaviour = Behaviour(chunks=40)
    text = f"why does git say {GITHUB} is bad?"
    response = http.post(url + ROUTES[client], json=request_body(client, text, stream=stream))
    answer = answer_text(client, response, stream=stream)
    assert answer.startswith("echo: ")
    assert GITHUB in answer
    assert "REDACTED" not in answer
    sent = wire(fake)
    assert GITHUB not in sent
    assert AWS not in sent
    assert "REDACTED<" in sent


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_secret_in_tool_call_arguments_is_restored(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, provider: str, stream: bool
) -> None:
    url = gateway(config(provider))
    body = request_body("openai-chat", f"save {GITHUB}", stream=stream)
    body["tools"] = [{"type": "function", "function": {"name": "save", "parameters": {"type": "object"}}}]
    fake.behaviour = Behaviour(tool_call=True, chunks=30)
    response = http.post(url + ROUTES["openai-chat"], json=body)
    assert response.status_code == 200
    if stream:
        fragments = []
        for line in response.text.splitlines():
            if line.startswith("data: {"):
                for call in json.loads(line[6:])["choices"][0].get("delta", {}).get("tool_calls") or ():
                    fragments.append(call["function"].get("arguments", ""))
        arguments = "".join(fragments)
    else:
        arguments = response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"text": f"echo: save {GITHUB}"}
    assert GITHUB not in wire(fake)


def test_a_placeholder_the_client_wrote_is_left_as_it_is(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(config("openai"))
    text = f"REDACTED<0badf00d> and redacted<CAFEBABE> are mine; {GITHUB}"
    response = http.post(url + ROUTES["openai-chat"], json=request_body("openai-chat", text, stream=False))
    assert answer_text("openai-chat", response, stream=False) == f"echo: {text}"


def test_a_provider_that_changes_the_placeholders_case_and_spacing(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(config("openai"))
    http.post(url + ROUTES["openai-chat"], json=request_body("openai-chat", GITHUB, stream=False))
    placeholder = fake.requests[-1].body.decode().split("REDACTED<")[-1][:8]
    reworded = f"Use redacted < {placeholder.upper()} > there."
    fake.behaviour = Behaviour(text=reworded, chunks=20)
    response = http.post(url + ROUTES["openai-chat"], json=request_body("openai-chat", GITHUB, stream=True))
    assert answer_text("openai-chat", response, stream=True) == f"Use {GITHUB} there."


def test_alert_mode_sends_the_secret_and_off_mode_does_nothing(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    for mode in ("alert", "off"):
        url = gateway(config("openai", mode=mode))
        response = http.post(url + ROUTES["openai-chat"], json=request_body("openai-chat", GITHUB, stream=False))
        assert GITHUB in answer_text("openai-chat", response, stream=False)
        assert GITHUB in fake.requests[-1].body.decode()


@pytest.fixture
def served_with_policy(
    config_dir: Callable[[Config], Path], provider_keys: dict[str, str], _session_gateways: Any
) -> Iterator[Callable[[Config, str], str]]:
    def serve(cfg: Config, policy: str) -> str:
        directory = config_dir(cfg)
        (directory / "secretpolicies.yaml").write_text(policy, encoding="utf-8")
        server = _session_gateways.get({})
        server.apply(registry_for(directory))
        return str(server.url)

    yield serve
    _session_gateways.clear()


def test_a_secret_policy_protects_declared_patterns_and_values_and_alerts_are_recorded(
    http: httpx.Client,
    fake: FakeProvider,
    served_with_policy: Callable[[Config, str], str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    value = "staging-db-" + "k3y" * 4
    monkeypatch.setenv("STAGING_DB_PASSWORD", value)
    policy = (
        "apiVersion: muxgate/v1\nkind: SecretPolicy\nmetadata: {name: company}\nspec:\n"
        "  patterns: [{name: acme-token, regex: 'acme_[a-z0-9]{16}'}]\n"
        "  values: [{fromEnv: STAGING_DB_PASSWORD}]\n"
    )
    url = served_with_policy(config("anthropic"), policy)
    token = "acme_" + "0123456789abcdef"
    text = f"token {token}, password {value}"
    fake.behaviour = Behaviour(chunks=50)
    response = http.post(url + ROUTES["anthropic"], json=request_body("anthropic", text, stream=True))
    assert answer_text("anthropic", response, stream=True) == f"echo: {text}"
    sent = fake.requests[-1].body.decode()
    assert token not in sent
    assert value not in sent
    analytics = request.getfixturevalue("_session_gateways").get({}).app.state.gateway.analytics
    if analytics is None:
        pytest.skip("analytics are off for this gateway")
    request_id = response.headers["x-muxgate-request-id"]
    assert analytics.writer.flush(5)
    rows = analytics.writer.read(
        "SELECT trigger_type, trigger_category, detail, code_snippet FROM alerts WHERE request_id = ? ORDER BY detail",
        [request_id],
    )
    assert [(r[0], r[1]) for r in rows] == [("codegate-secrets", "critical")] * 3
    labels = sorted(r[2].rsplit(" (", 1)[0] for r in rows)
    assert labels == ["AWS access key ID", "acme-token", "declared secret (environment variable STAGING_DB_PASSWORD)"]
    for row in rows:
        assert token not in row[3]
        assert value not in row[3]
        assert AWS not in row[3]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_the_official_sdks_get_their_secret_back_and_the_provider_never_sees_it(
    gateway: Gateway, fake: FakeProvider, provider: str, stream: bool
) -> None:
    import anthropic
    import openai

    url = gateway(config(provider))
    fake.behaviour = Behaviour(chunks=40)
    question = f"why does git say {GITHUB} is bad?"

    with openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0) as oa:
        if stream:
            chunks = oa.chat.completions.create(
                model="m", messages=[{"role": "user", "content": question}], stream=True
            )
            openai_answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            completion = oa.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])
            openai_answer = completion.choices[0].message.content or ""

    with anthropic.Anthropic(base_url=url, api_key="client-key", max_retries=0) as an:
        messages: list[anthropic.types.MessageParam] = [{"role": "user", "content": question}]
        if stream:
            with an.messages.stream(model="m", max_tokens=64, messages=messages) as events:
                anthropic_answer = events.get_final_text()
        else:
            message = an.messages.create(model="m", max_tokens=64, messages=messages)
            anthropic_answer = "".join(b.text for b in message.content if b.type == "text")

    for answer in (openai_answer, anthropic_answer):
        assert GITHUB in answer
        assert "REDACTED" not in answer
    assert len(fake.requests) == 2
    assert GITHUB not in wire(fake)
