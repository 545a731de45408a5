"""The gateway's request path against a fake provider, over real HTTP: workspace selection, mux rules, custom
instructions, provider auth, forwarded headers, model listings and health."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import Behaviour, FakeProvider, ReceivedRequest
from tests.support.routes import (
    ANTHROPIC,
    CHAT_ROUTES,
    OLLAMA_CHAT,
    OLLAMA_GENERATE,
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    error_of,
)

Gateway = Callable[..., str]


def rule(match: str, provider: str, model: str, pattern: str | None = None) -> dict[str, Any]:
    matcher: dict[str, Any] = {"type": match}
    if pattern is not None:
        matcher["pattern"] = pattern
    return {"match": matcher, "provider": provider, "model": model}


def workspaces(**specs: Mapping[str, Any]) -> dict[str, Any]:
    return {"workspaces": dict(specs)}


def catch_all(provider: str = "ollama", model: str = "fallback-model", **spec: Any) -> dict[str, Any]:
    return {**spec, "muxRules": [rule("catch_all", provider, model)]}


def chat(route: str, text: str, *, system: str | None = None, stream: bool = False) -> dict[str, Any]:
    """A minimal chat body for `route`, in that API's shape."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    body: dict[str, Any] = {"model": "client-model", "stream": stream}
    if route == ANTHROPIC:
        body["max_tokens"] = 256
        if system is not None:
            body["system"] = system
    elif system is not None:
        messages.insert(0, {"role": "system", "content": system})
    body["messages"] = messages
    return body


def post(
    http: httpx.Client, url: str, path: str, body: Any, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    return http.post(url + path, json=body, headers=dict(headers or {}))


def only(fake: FakeProvider) -> ReceivedRequest:
    assert len(fake.requests) == 1, [r.path for r in fake.requests]
    return fake.requests[0]


# --- workspace selection ------------------------------------------------------------------------------------

TWO_WORKSPACES = workspaces(
    default=catch_all(model="default-model"),
    backend=catch_all(model="backend-model"),
)


def test_the_default_workspace_serves_a_request_that_names_none(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(TWO_WORKSPACES)
    response = post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hello"))
    assert response.status_code == 200, response.text
    assert only(fake).model == "default-model"
    assert response.headers["x-muxgate-workspace"] == "default"


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_the_workspace_header_selects_the_workspace(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str
) -> None:
    url = gateway(TWO_WORKSPACES)
    response = post(http, url, route, chat(route, "hello"), {"X-Muxgate-Workspace": "backend"})
    assert response.status_code == 200, response.text
    assert only(fake).model == "backend-model"
    assert response.headers["x-muxgate-workspace"] == "backend"


@pytest.mark.parametrize("route", [*CHAT_ROUTES, OPENAI_COMPLETIONS, OLLAMA_GENERATE, "/v1/mux/chat/completions"])
def test_the_path_prefix_selects_the_workspace(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str
) -> None:
    url = gateway(TWO_WORKSPACES)
    prompt_style = route in (OPENAI_COMPLETIONS, OLLAMA_GENERATE)
    body = {"model": "m", "prompt": "def f():", "stream": False} if prompt_style else chat(route, "hello")
    response = post(http, url, f"/w/backend{route}", body)
    assert response.status_code == 200, response.text
    assert only(fake).model == "backend-model"


def test_the_path_prefix_wins_over_the_header(http: httpx.Client, gateway: Gateway, fake: FakeProvider) -> None:
    url = gateway(TWO_WORKSPACES)
    response = post(http, url, f"/w/backend{OPENAI_CHAT}", chat(OPENAI_CHAT, "hi"), {"x-muxgate-workspace": "default"})
    assert response.status_code == 200, response.text
    assert only(fake).model == "backend-model"


def test_several_workspaces_are_served_at_once(http: httpx.Client, gateway: Gateway, fake: FakeProvider) -> None:
    url = gateway(TWO_WORKSPACES)
    for workspace in ("backend", "default", "backend"):
        response = post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi"), {"x-muxgate-workspace": workspace})
        assert response.status_code == 200, response.text
    assert [r.model for r in fake.requests] == ["backend-model", "default-model", "backend-model"]


@pytest.mark.parametrize("route", CHAT_ROUTES)
@pytest.mark.parametrize("how", ["header", "prefix"])
def test_an_unknown_workspace_is_a_404_in_the_clients_format(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str, how: str
) -> None:
    url = gateway(TWO_WORKSPACES)
    if how == "header":
        response = post(http, url, route, chat(route, "hi"), {"x-muxgate-workspace": "frontend"})
    else:
        response = post(http, url, f"/w/frontend{route}", chat(route, "hi"))
    assert response.status_code == 404
    message, kind = error_of(route, response)
    assert '"frontend"' in message
    assert "does not exist" in message
    if kind is not None:
        assert kind == "not_found_error"
    assert fake.requests == []


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_an_archived_workspace_is_a_404_saying_it_is_archived(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str
) -> None:
    url = gateway(workspaces(default=catch_all(), legacy=catch_all(archived=True)))
    response = post(http, url, route, chat(route, "hi"), {"x-muxgate-workspace": "legacy"})
    assert response.status_code == 404
    message, _ = error_of(route, response)
    assert '"legacy"' in message
    assert "archived" in message
    assert fake.requests == []


# --- mux rules ----------------------------------------------------------------------------------------------

# The first matching rule wins; each request below is shaped as a real assistant sends it.
RULES = workspaces(
    default={
        "muxRules": [
            rule("chat_filename", "openai", "chat-python", "*.py"),
            rule("filename_match", "anthropic", "any-typescript", "*.ts"),
            rule("fim_filename", "ollama", "fim-python", "*.py"),
            rule("filename_match", "ollama", "any-python", "*.py"),
            rule("catch_all", "ollama", "fallback"),
        ]
    }
)

FENCED_PYTHON = "Why does this fail?\n\n```py src/app.py\nimport os\nprint(os.environ['HOME'])\n```\n"
CLINE_TYPESCRIPT = (
    "<task>\nAdd a loading state\n</task>\n"
    '<file_content path="web/src/App.ts">\nexport function App() {}\n</file_content>\n'
)
FIM_PROMPT = "# Path: src/app.py\nimport os\n\ndef home():\n    return "
# Continue's chat template for autocomplete: the first message carries the <QUERY>/<COMPLETION> markers.
CONTINUE_SYSTEM = (
    "You are a HOLE FILLER. You are provided with a file containing holes, formatted as '{{HOLE_NAME}}'.\n"
    "## EXAMPLE QUERY:\n<QUERY>\nfunction sum(a, b) {\n  {{FILL_HERE}}\n}\n</QUERY>\n"
    "## CORRECT COMPLETION\n<COMPLETION>return a + b;</COMPLETION>\n"
)
CONTINUE_USER = (
    "<QUERY>\n# Path: src/app.py\ndef home():\n    {{FILL_HERE}}\n</QUERY>\n"
    "TASK: Fill the {{FILL_HERE}} hole. Answer only with the CORRECT completion, inside <COMPLETION/> tags."
)


@pytest.mark.parametrize(
    ("route", "body", "model"),
    [
        pytest.param(OPENAI_CHAT, chat(OPENAI_CHAT, FENCED_PYTHON), "chat-python", id="fenced-block-openai"),
        pytest.param(ANTHROPIC, chat(ANTHROPIC, FENCED_PYTHON), "chat-python", id="fenced-block-anthropic"),
        pytest.param(OLLAMA_CHAT, chat(OLLAMA_CHAT, FENCED_PYTHON, stream=False), "chat-python", id="fenced-ollama"),
        pytest.param(OPENAI_CHAT, chat(OPENAI_CHAT, CLINE_TYPESCRIPT), "any-typescript", id="cline-file-content"),
        pytest.param(
            OPENAI_COMPLETIONS,
            {"model": "m", "prompt": FIM_PROMPT, "suffix": "\n", "max_tokens": 32},
            "fim-python",
            id="fim-completions",
        ),
        pytest.param(
            OLLAMA_GENERATE,
            {"model": "m", "prompt": FIM_PROMPT, "suffix": "\n", "stream": False},
            "fim-python",
            id="fim-generate",
        ),
        pytest.param(
            OPENAI_CHAT,
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": CONTINUE_SYSTEM},
                    {"role": "user", "content": CONTINUE_USER},
                ],
            },
            "fim-python",
            id="continue-completion-markers",
        ),
        pytest.param(
            OPENAI_COMPLETIONS,
            {"model": "m", "prompt": "# Path: notes/todo.md\n- [ ] ", "max_tokens": 8},
            "fallback",
            id="fim-other-file",
        ),
        pytest.param(OPENAI_CHAT, chat(OPENAI_CHAT, "What is a monad?"), "fallback", id="no-file"),
    ],
)
def test_the_first_matching_rule_routes_the_request(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str, body: dict[str, Any], model: str
) -> None:
    url = gateway(RULES)
    response = post(http, url, route, body)
    assert response.status_code == 200, response.text
    assert only(fake).model == model
    assert response.headers["x-muxgate-model"] == model


def test_rule_order_decides_between_two_matching_rules(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    both = [rule("filename_match", "ollama", "first", "*.py"), rule("chat_filename", "ollama", "second", "*.py")]
    url = gateway(workspaces(default={"muxRules": both}, swapped={"muxRules": both[::-1]}))
    post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, FENCED_PYTHON))
    post(http, url, "/w/swapped" + OPENAI_CHAT, chat(OPENAI_CHAT, FENCED_PYTHON))
    assert [r.model for r in fake.requests] == ["first", "second"]


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("src/app.py", "under-src"),
        ("/home/me/project/src/app.py", "under-src"),
        ("tests/src_app.py", "any-python"),
        ("app.py", "any-python"),
        ("src/app.rs", "fallback"),
    ],
)
def test_a_glob_with_a_slash_is_matched_against_the_path(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, path: str, model: str
) -> None:
    url = gateway(
        workspaces(
            default={
                "muxRules": [
                    rule("filename_match", "ollama", "under-src", "src/*.py"),
                    rule("filename_match", "ollama", "any-python", "*.py"),
                    rule("catch_all", "ollama", "fallback"),
                ]
            }
        )
    )
    response = post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, f"Look at this:\n```python {path}\npass\n```"))
    assert response.status_code == 200, response.text
    assert only(fake).model == model


@pytest.mark.parametrize("route", [*CHAT_ROUTES, OPENAI_COMPLETIONS])
def test_no_matching_rule_is_a_404_naming_the_workspace(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str
) -> None:
    url = gateway(workspaces(default=catch_all(), py={"muxRules": [rule("chat_filename", "ollama", "m", "*.py")]}))
    body = {"model": "m", "prompt": "x = "} if route == OPENAI_COMPLETIONS else chat(route, "no file here")
    response = post(http, url, "/w/py" + route, body)
    assert response.status_code == 404
    message, kind = error_of(route, response)
    assert message == 'No matching rule found for workspace "py".'
    assert kind in (None, "not_found_error")
    assert fake.requests == []


# --- custom instructions ------------------------------------------------------------------------------------

INSTRUCTIONS = "Prefer the standard library."
WITH_INSTRUCTIONS = workspaces(
    default={
        "customInstructions": INSTRUCTIONS,
        "muxRules": [rule("catch_all", "openai", "gpt-test")],
    },
    claude={"customInstructions": INSTRUCTIONS, "muxRules": [rule("catch_all", "anthropic", "claude-test")]},
    local={"customInstructions": INSTRUCTIONS, "muxRules": [rule("catch_all", "ollama", "llama-test")]},
)


def test_openai_instructions_go_ahead_of_the_clients_system_message(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    body = chat(OPENAI_CHAT, "hi", system="You are terse.")
    body["messages"].append({"role": "system", "content": "A later system note."})
    assert post(http, url, OPENAI_CHAT, body).status_code == 200
    messages = only(fake).json["messages"]
    assert messages == [
        {"role": "system", "content": f"{INSTRUCTIONS}\n\nYou are terse."},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "A later system note."},
    ]


def test_openai_instructions_become_the_first_message_when_the_client_has_none(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    assert post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi")).status_code == 200
    assert only(fake).json["messages"] == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("You are terse.", f"{INSTRUCTIONS}\n\nYou are terse."),
        (
            [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            [
                {"type": "text", "text": INSTRUCTIONS},
                {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
            ],
        ),
        (None, INSTRUCTIONS),
    ],
    ids=["string", "blocks", "absent"],
)
def test_anthropic_instructions_go_ahead_of_the_top_level_system(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, system: Any, expected: Any
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    body = chat(ANTHROPIC, "hi")
    if system is not None:
        body["system"] = system
    assert post(http, url, "/w/claude" + ANTHROPIC, body).status_code == 200
    received = only(fake).json
    assert received["system"] == expected
    assert received["messages"] == [{"role": "user", "content": "hi"}]


def test_ollama_instructions_go_ahead_of_the_clients_system_message(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    response = post(http, url, "/w/local" + OLLAMA_CHAT, chat(OLLAMA_CHAT, "hi", system="You are terse."))
    assert response.status_code == 200
    assert only(fake).json["messages"] == [
        {"role": "system", "content": f"{INSTRUCTIONS}\n\nYou are terse."},
        {"role": "user", "content": "hi"},
    ]


def test_instructions_reach_a_provider_of_another_format(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    response = post(http, url, "/w/claude" + OPENAI_CHAT, chat(OPENAI_CHAT, "hi", system="You are terse."))
    assert response.status_code == 200
    received = only(fake).json
    assert received["system"] == f"{INSTRUCTIONS}\n\nYou are terse."
    assert received["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (OPENAI_COMPLETIONS, {"model": "m", "prompt": FIM_PROMPT, "suffix": "\n", "max_tokens": 16}),
        (OLLAMA_GENERATE, {"model": "m", "prompt": FIM_PROMPT, "suffix": "\n", "stream": False}),
        (
            OPENAI_CHAT,
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": CONTINUE_SYSTEM},
                    {"role": "user", "content": CONTINUE_USER},
                ],
            },
        ),
    ],
    ids=["completions", "generate", "continue-markers"],
)
@pytest.mark.parametrize("workspace", ["default", "local"])
def test_fim_requests_never_get_instructions(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str, body: dict[str, Any], workspace: str
) -> None:
    url = gateway(WITH_INSTRUCTIONS)
    response = post(http, url, f"/w/{workspace}{route}", body)
    assert response.status_code == 200, response.text
    received = only(fake)
    assert INSTRUCTIONS not in received.body.decode()
    if route == OPENAI_CHAT and workspace == "default":
        assert received.json["messages"] == body["messages"]


# --- auth ---------------------------------------------------------------------------------------------------

CLIENT_KEY = "client-own-key-123"


@pytest.mark.parametrize(
    ("route", "provider", "client_headers"),
    [
        (OPENAI_CHAT, "openai", {"authorization": f"Bearer {CLIENT_KEY}"}),
        (OPENAI_CHAT, "anthropic", {"authorization": f"Bearer {CLIENT_KEY}"}),
        (ANTHROPIC, "anthropic", {"x-api-key": CLIENT_KEY}),
        (ANTHROPIC, "openai", {"x-api-key": CLIENT_KEY, "authorization": f"Bearer {CLIENT_KEY}"}),
    ],
)
def test_an_api_key_provider_gets_its_own_key_never_the_clients(
    http: httpx.Client,
    gateway: Gateway,
    fake: FakeProvider,
    provider_keys: dict[str, str],
    route: str,
    provider: str,
    client_headers: dict[str, str],
) -> None:
    url = gateway(workspaces(default=catch_all(provider, "m")))
    response = post(http, url, route, chat(route, "hi"), client_headers)
    assert response.status_code == 200, response.text
    received = only(fake)
    assert received.api_key == provider_keys[provider]
    assert CLIENT_KEY not in json.dumps(received.headers)
    if provider == "anthropic":
        assert "authorization" not in received.headers
    else:
        assert "x-api-key" not in received.headers


PASSTHROUGH = {
    "providers": {
        "pass-openai": {"type": "openai", "endpoint": "FAKE/v1", "auth": {"type": "passthrough"}},
        "pass-anthropic": {"type": "anthropic", "endpoint": "FAKE/v1", "auth": {"type": "passthrough"}},
        "keyless-openai": {"type": "vllm", "endpoint": "FAKE/v1", "auth": {"type": "none"}},
    }
}


def with_fake(config: dict[str, Any], fake: FakeProvider) -> dict[str, Any]:
    """`config` with FAKE in provider endpoints replaced by the fake's URL."""
    replaced: dict[str, Any] = json.loads(json.dumps(config).replace("FAKE", fake.url))
    return replaced


@pytest.mark.parametrize(
    ("route", "provider", "client_headers", "header", "value"),
    [
        (
            OPENAI_CHAT,
            "pass-openai",
            {"authorization": f"Bearer {CLIENT_KEY}"},
            "authorization",
            f"Bearer {CLIENT_KEY}",
        ),
        (OPENAI_CHAT, "pass-anthropic", {"authorization": f"Bearer {CLIENT_KEY}"}, "x-api-key", CLIENT_KEY),
        (ANTHROPIC, "pass-anthropic", {"x-api-key": CLIENT_KEY}, "x-api-key", CLIENT_KEY),
        # The Anthropic SDK's auth token (an OAuth token, say) is read by Anthropic from this header only.
        (
            ANTHROPIC,
            "pass-anthropic",
            {"authorization": f"Bearer {CLIENT_KEY}"},
            "authorization",
            f"Bearer {CLIENT_KEY}",
        ),
        (ANTHROPIC, "pass-openai", {"x-api-key": CLIENT_KEY}, "authorization", f"Bearer {CLIENT_KEY}"),
    ],
)
def test_a_passthrough_provider_gets_the_clients_key_in_its_own_header(
    http: httpx.Client,
    gateway: Gateway,
    fake: FakeProvider,
    route: str,
    provider: str,
    client_headers: dict[str, str],
    header: str,
    value: str,
) -> None:
    url = gateway(with_fake({**PASSTHROUGH, **workspaces(default=catch_all(provider, "m"))}, fake))
    response = post(http, url, route, chat(route, "hi"), client_headers)
    assert response.status_code == 200, response.text
    received = only(fake)
    assert received.headers[header] == value
    assert received.api_key == CLIENT_KEY
    other = "x-api-key" if header == "authorization" else "authorization"
    assert other not in received.headers


@pytest.mark.parametrize("provider", ["ollama", "keyless-openai"])
def test_a_provider_without_auth_gets_no_key(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, provider: str
) -> None:
    url = gateway(with_fake({**PASSTHROUGH, **workspaces(default=catch_all(provider, "m"))}, fake))
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY}
    response = post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi"), headers)
    assert response.status_code == 200, response.text
    received = only(fake)
    assert "authorization" not in received.headers
    assert "x-api-key" not in received.headers


@pytest.mark.parametrize("route", CHAT_ROUTES)
def test_a_provider_whose_key_variable_is_missing_is_a_502_naming_the_variable(
    http: httpx.Client,
    gateway: Gateway,
    fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    provider_keys: dict[str, str],
    route: str,
) -> None:
    config = {
        "providers": {
            "unkeyed": {
                "type": "openai",
                "endpoint": f"{fake.url}/v1",
                "auth": {"type": "api_key", "apiKey": {"fromEnv": "MUXGATE_TEST_UNSET_KEY"}},
            }
        },
        **workspaces(default=catch_all("unkeyed", "m")),
    }
    monkeypatch.delenv("MUXGATE_TEST_UNSET_KEY", raising=False)
    url = gateway(config)
    response = post(http, url, route, chat(route, "hi"), {"authorization": f"Bearer {CLIENT_KEY}"})
    assert response.status_code == 502
    message, _ = error_of(route, response)
    assert "MUXGATE_TEST_UNSET_KEY" in message
    assert "unkeyed" in message
    for secret in (CLIENT_KEY, *provider_keys.values()):
        assert secret not in response.text
    assert fake.requests == []


# --- headers ------------------------------------------------------------------------------------------------


def test_hop_by_hop_and_client_headers_are_not_forwarded(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(workspaces(default=catch_all("openai", "m")))
    client_headers = {
        "connection": "keep-alive, x-hop-marker",
        "x-hop-marker": "hop-value",
        "keep-alive": "timeout=99",
        "te": "trailers",
        "upgrade": "websocket-marker",
        "proxy-authorization": "Basic proxy-secret",
        "cookie": "session=cookie-secret",
        "x-forwarded-for": "203.0.113.7",
        "x-real-ip": "203.0.113.8",
        "forwarded": "for=203.0.113.9",
        "user-agent": "editor-marker/1.0",
        "x-custom-client-header": "custom-marker",
        "x-fake-scenario": "status=500",
    }
    response = post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi"), client_headers)
    assert response.status_code == 200, response.text
    received = only(fake)
    for name in client_headers:
        if name not in ("connection", "user-agent"):
            assert name not in received.headers, name
    forwarded = json.dumps(received.headers)
    for marker in ("x-hop-marker", "timeout=99", "proxy-secret", "cookie-secret", "203.0.113", "editor-marker"):
        assert marker not in forwarded


def test_anthropic_version_and_beta_reach_an_anthropic_provider(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(workspaces(default=catch_all("anthropic", "m")))
    headers = {"anthropic-version": "2023-01-01", "anthropic-beta": "tools-2024-05-16"}
    assert post(http, url, ANTHROPIC, chat(ANTHROPIC, "hi"), headers).status_code == 200
    assert post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi")).status_code == 200
    first, second = fake.requests
    assert (first.headers["anthropic-version"], first.headers["anthropic-beta"]) == (
        "2023-01-01",
        "tools-2024-05-16",
    )
    assert second.headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in second.headers


# --- model listings and health -------------------------------------------------------------------------------

LISTED = workspaces(
    default={
        "muxRules": [
            rule("chat_filename", "openai", "gpt-a", "*.py"),
            rule("fim_filename", "ollama", "coder-b"),
            rule("filename_match", "openai", "gpt-a", "*.ts"),
            rule("catch_all", "anthropic", "claude-c"),
        ]
    },
    backend=catch_all("ollama", "backend-model"),
    old=catch_all("ollama", "old-model", archived=True),
)


def get(http: httpx.Client, url: str, path: str, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return http.get(url + path, headers=dict(headers or {}))


def test_openai_model_list_names_the_routed_models_in_rule_order(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(LISTED)
    response = get(http, url, "/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in body["data"]] == [
        ("gpt-a", "model", "openai"),
        ("coder-b", "model", "ollama"),
        ("claude-c", "model", "anthropic"),
    ]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/models", {"x-muxgate-workspace": "backend"}),
        ("/w/backend/v1/models", {}),
        ("/v1/mux/models", {"x-muxgate-workspace": "backend"}),
    ],
)
def test_a_workspaces_model_list(http: httpx.Client, gateway: Gateway, path: str, headers: dict[str, str]) -> None:
    url = gateway(LISTED)
    response = get(http, url, path, headers)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["backend-model"]


@pytest.mark.parametrize("path", ["/v1/models", "/w/backend/v1/models"])
def test_the_model_list_takes_anthropics_shape_for_an_anthropic_client(
    http: httpx.Client, gateway: Gateway, path: str
) -> None:
    url = gateway(LISTED)
    response = get(http, url, path, {"anthropic-version": "2023-06-01", "x-api-key": "k"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "has_more", "first_id", "last_id"}
    ids = ["backend-model"] if "backend" in path else ["gpt-a", "coder-b", "claude-c"]
    assert [m["id"] for m in body["data"]] == ids
    assert all(m["type"] == "model" and m["display_name"] == m["id"] for m in body["data"])
    assert (body["has_more"], body["first_id"], body["last_id"]) == (False, ids[0], ids[-1])


@pytest.mark.parametrize(
    ("path", "headers", "names"),
    [
        ("/api/tags", {}, ["gpt-a", "coder-b", "claude-c"]),
        ("/api/tags", {"x-muxgate-workspace": "backend"}, ["backend-model"]),
        ("/w/backend/api/tags", {}, ["backend-model"]),
    ],
)
def test_ollama_tags_list_the_routed_models(
    http: httpx.Client, gateway: Gateway, path: str, headers: dict[str, str], names: list[str]
) -> None:
    url = gateway(LISTED)
    response = get(http, url, path, headers)
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["name"] for m in models] == names
    assert all(m["model"] == m["name"] and "details" in m for m in models)


@pytest.mark.parametrize(
    ("path", "headers", "route"),
    [
        ("/v1/models", {"x-muxgate-workspace": "nope"}, OPENAI_CHAT),
        ("/w/nope/v1/models", {}, OPENAI_CHAT),
        ("/w/old/v1/models", {}, OPENAI_CHAT),
        ("/w/nope/v1/models", {"anthropic-version": "2023-06-01"}, ANTHROPIC),
        ("/api/tags", {"x-muxgate-workspace": "old"}, OLLAMA_CHAT),
        ("/w/nope/api/tags", {}, OLLAMA_CHAT),
    ],
)
def test_listing_an_unknown_or_archived_workspace_is_a_404(
    http: httpx.Client, gateway: Gateway, path: str, headers: dict[str, str], route: str
) -> None:
    url = gateway(LISTED)
    response = get(http, url, path, headers)
    assert response.status_code == 404
    message, _ = error_of(route, response)
    assert ("archived" if "old" in path or headers.get("x-muxgate-workspace") == "old" else "does not exist") in message


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health(http: httpx.Client, gateway: Gateway, path: str) -> None:
    url = gateway(LISTED)
    response = get(http, url, path)
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.parametrize("route", [*CHAT_ROUTES, OLLAMA_GENERATE])
def test_a_client_route_answers_get_with_405_in_its_format(http: httpx.Client, gateway: Gateway, route: str) -> None:
    url = gateway(LISTED)
    response = get(http, url, route)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    message, _ = error_of(route, response)
    assert "POST" in message


def test_an_unknown_path_under_a_workspace_prefix_is_a_404_naming_it(http: httpx.Client, gateway: Gateway) -> None:
    url = gateway(LISTED)
    response = get(http, url, "/w/backend/v2/nothing")
    assert response.status_code == 404
    assert "/w/backend/v2/nothing" in response.json()["detail"]


# --- config changes ------------------------------------------------------------------------------------------


def test_a_request_in_flight_finishes_on_the_config_it_started_with(
    gateway: Gateway, fake: FakeProvider, http: httpx.Client
) -> None:
    before = workspaces(default=catch_all("ollama", "old-model", customInstructions="Old rules."))
    after = workspaces(default=catch_all("anthropic", "new-model", customInstructions="New rules."))
    url = gateway(before)
    fake.behaviour = Behaviour(chunks=5, chunk_delay=0.05)
    with http.stream("POST", url + OPENAI_CHAT, json=chat(OPENAI_CHAT, "hi", stream=True)) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        # A reconcile applies a new config while the answer is streaming.
        assert gateway(after) == url
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]"
    assert response.headers["x-muxgate-model"] == "old-model"
    fake.behaviour = Behaviour()
    assert post(http, url, OPENAI_CHAT, chat(OPENAI_CHAT, "hi")).headers["x-muxgate-model"] == "new-model"
    first, second = fake.requests
    assert (first.path, first.model, first.json["messages"][0]["content"]) == ("/api/chat", "old-model", "Old rules.")
    assert (second.path, second.model, second.json["system"]) == ("/v1/messages", "new-model", "New rules.")
    assert first.chunks_written == 5


# --- the output limit ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider_type", "field"), [("openai", "max_completion_tokens"), ("vllm", "max_tokens")])
def test_an_anthropic_clients_limit_reaches_an_openai_provider_in_the_field_it_accepts(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, provider_type: str, field: str
) -> None:
    # OpenAI's reasoning models refuse max_tokens; other OpenAI-compatible servers all know it.
    config = workspaces(default={"muxRules": [rule("catch_all", "server", "gpt-test")]})
    endpoint = {"type": provider_type, "endpoint": f"{fake.url}/v1", "auth": {"type": "none"}}
    url = gateway({**config, "providers": {"server": endpoint}})
    response = post(http, url, ANTHROPIC, chat(ANTHROPIC, "hi"))
    assert response.status_code == 200, response.text
    received = only(fake).json
    assert received[field] == 256
    assert ({"max_tokens", "max_completion_tokens"} - {field}) & set(received) == set()


# --- the usage chunk of OpenAI streams ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "analytics", "asked"),
    [
        pytest.param(OPENAI_CHAT, True, True, id="openai-client-analytics-on"),
        pytest.param(OPENAI_CHAT, False, False, id="openai-client-analytics-off"),
        pytest.param(ANTHROPIC, False, True, id="anthropic-client-analytics-off"),
    ],
)
def test_an_openai_provider_is_asked_for_a_streams_usage_only_when_something_reads_it(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider, route: str, analytics: bool, asked: bool
) -> None:
    # Analytics record the usage; an Anthropic client's stream carries it (message_start, message_delta).
    url = gateway(workspaces(default=catch_all("openai", "gpt-test")), analytics=analytics)
    with http.stream("POST", url + route, json=chat(route, "hi", stream=True)) as response:
        assert response.status_code == 200
        text = response.read().decode()
    received = only(fake).json
    assert ("stream_options" in received) is asked
    if asked:
        assert received["stream_options"] == {"include_usage": True}
    if route == OPENAI_CHAT:
        # The client did not ask for usage: it gets none, whether or not the provider sent it.
        chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        assert chunks
        assert all(chunk.get("usage") is None and chunk["choices"] for chunk in chunks)
        assert text.rstrip().endswith("data: [DONE]")
    else:
        assert '"output_tokens"' in text


def test_an_openai_clients_own_stream_options_reach_the_provider_as_sent_with_analytics_off(
    http: httpx.Client, gateway: Gateway, fake: FakeProvider
) -> None:
    url = gateway(workspaces(default=catch_all("openai", "gpt-test")), analytics=False)
    body = {**chat(OPENAI_CHAT, "hi", stream=True), "stream_options": {"include_usage": True}}
    with http.stream("POST", url + OPENAI_CHAT, json=body) as response:
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert only(fake).json["stream_options"] == {"include_usage": True}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] > 0
