"""Token usage and cost recorded for every client API and provider format, JSON and streaming, translated and not,
against a real gateway writing a real DuckDB file."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proxy.request_info import ClientApi
from tests.proxy.analytics.conftest import MODEL, PRICES, Analysed, catch_all, priced_providers

PROMPT = "count these five words"
ROUTES = {
    ClientApi.OPENAI_CHAT: "/v1/chat/completions",
    ClientApi.OPENAI_COMPLETIONS: "/v1/completions",
    ClientApi.ANTHROPIC_MESSAGES: "/v1/messages",
    ClientApi.OLLAMA_CHAT: "/api/chat",
    ClientApi.OLLAMA_GENERATE: "/api/generate",
}
PROVIDERS = ("openai", "anthropic", "ollama")
CONFIG = {"workspaces": {f"via-{p}": catch_all(p) for p in PROVIDERS}}


def request_body(api: ClientApi, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "the-client-model", "stream": stream}
    if api in (ClientApi.OPENAI_COMPLETIONS, ClientApi.OLLAMA_GENERATE):
        body["prompt"] = PROMPT
    else:
        body["messages"] = [{"role": "user", "content": PROMPT}]
    if api is ClientApi.ANTHROPIC_MESSAGES:
        body["max_tokens"] = 200
    return body


def client_usage(api: ClientApi, body: dict[str, Any]) -> tuple[int, int]:
    """The usage the client itself was told, in its own format."""
    if api is ClientApi.ANTHROPIC_MESSAGES:
        return body["usage"]["input_tokens"], body["usage"]["output_tokens"]
    if api in (ClientApi.OLLAMA_CHAT, ClientApi.OLLAMA_GENERATE):
        return body["prompt_eval_count"], body["eval_count"]
    return body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]


def post(gateway: Analysed, api: ClientApi, provider: str, stream: bool) -> httpx.Response:
    response = gateway.http.post(
        gateway.url + ROUTES[api],
        json=request_body(api, stream),
        headers={"x-muxgate-workspace": f"via-{provider}", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("api", list(ROUTES))
def test_tokens_and_cost_come_from_the_providers_usage_streaming_or_not(
    analysed: Any, api: ClientApi, provider: str
) -> None:
    gateway: Analysed = analysed(CONFIG)
    plain = post(gateway, api, provider, stream=False)
    streamed = post(gateway, api, provider, stream=True)
    expected_in, expected_out = client_usage(api, plain.json())
    assert expected_in > 0
    assert expected_out > 0

    for response, stream in ((plain, False), (streamed, True)):
        row = gateway.row(response.headers["x-muxgate-request-id"])
        assert (row["input_tokens"], row["output_tokens"]) == (expected_in, expected_out), (api, provider, stream)
        assert row["usage_source"] == "provider"
        price = PRICES[provider]
        assert row["input_cost"] == pytest.approx(expected_in * price["inputPerMTok"] / 1e6)
        assert row["output_cost"] == pytest.approx(expected_out * price["outputPerMTok"] / 1e6)
        assert row["stream"] is stream
        assert (row["status"], row["outcome"], row["error"]) == (200, "ok", None)
        assert row["client_api"] == api.value
        assert (row["workspace"], row["provider"], row["provider_type"]) == (f"via-{provider}", provider, provider)
        assert (row["requested_model"], row["model"], row["rule_index"]) == ("the-client-model", MODEL[provider], 0)
        assert row["request_type"] == (
            "fim" if api in (ClientApi.OPENAI_COMPLETIONS, ClientApi.OLLAMA_GENERATE) else "chat"
        )
        assert row["stop_reason"] == "stop"
        assert row["latency_ms"] > 0
        if stream:
            assert 0 < row["ttft_ms"] <= row["latency_ms"]
        else:
            assert row["ttft_ms"] is None

    # History keeps the answer's text, read back from the stream as from the JSON body.
    answers = gateway.sql(
        "SELECT answer FROM messages WHERE request_id IN "
        f"('{plain.headers['x-muxgate-request-id']}', '{streamed.headers['x-muxgate-request-id']}')"
    )
    assert len(answers) == 2
    assert answers[0]["answer"] == answers[1]["answer"]
    assert PROMPT in answers[0]["answer"]


def test_an_openai_stream_whose_client_asked_for_no_usage_is_still_counted(analysed: Any) -> None:
    gateway: Analysed = analysed(CONFIG)
    response = post(gateway, ClientApi.OPENAI_CHAT, "openai", stream=True)
    # The usage chunk the gateway asked for is not passed on to a client that did not ask for it…
    assert '"usage":{' not in response.text.replace(" ", "")
    # …but it is what the row counts.
    row = gateway.row(response.headers["x-muxgate-request-id"])
    assert row["usage_source"] == "provider"
    assert row["input_tokens"] > 0
    assert row["output_tokens"] > 0


def test_a_model_without_a_price_has_null_cost(analysed: Any) -> None:
    gateway: Analysed = analysed({"workspaces": {"unpriced": catch_all("openai", "gpt-unpriced")}})
    response = gateway.http.post(
        gateway.url + "/v1/chat/completions",
        json=request_body(ClientApi.OPENAI_CHAT, False),
        headers={"x-muxgate-workspace": "unpriced"},
    )
    row = gateway.row(response.headers["x-muxgate-request-id"])
    assert row["input_tokens"] > 0
    assert (row["input_cost"], row["output_cost"]) == (None, None)


def test_cost_is_frozen_when_recorded(analysed: Any, fake: Any) -> None:
    gateway: Analysed = analysed(CONFIG)
    before = post(gateway, ClientApi.OPENAI_CHAT, "openai", stream=False)
    dearer = {"inputPerMTok": 100.0, "outputPerMTok": 400.0}
    provider = priced_providers(fake.url)["openai"]
    provider["models"] = [{"name": MODEL["openai"], "price": dearer}]
    gateway = analysed({**CONFIG, "providers": {"openai": provider}})
    after = post(gateway, ClientApi.OPENAI_CHAT, "openai", stream=False)

    old, new = (gateway.row(r.headers["x-muxgate-request-id"]) for r in (before, after))
    assert old["input_tokens"] == new["input_tokens"]
    assert old["input_cost"] == pytest.approx(old["input_tokens"] * PRICES["openai"]["inputPerMTok"] / 1e6)
    assert new["input_cost"] == pytest.approx(new["input_tokens"] * dearer["inputPerMTok"] / 1e6)
    assert old["state_hash"] != new["state_hash"]
