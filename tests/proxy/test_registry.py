"""What the registry works out once for the request path: each rule's route headers and a provider's fixed
upstream headers (and when they cannot be fixed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from litestar.types import Scope

from proxy.gateway import upstream_headers
from proxy.registry import Registry
from tests.proxy.conftest import registry_for, write_config

SCOPE = cast(
    "Scope", {"type": "http", "headers": [(b"authorization", b"Bearer client-key"), (b"x-api-key", b"client-x-key")]}
)


@pytest.fixture
def registry(tmp_path: Path, provider_keys: dict[str, str]) -> Registry:
    config: dict[str, Any] = {
        "providers": {
            "relay": {"type": "openai", "endpoint": "http://127.0.0.1:9/v1", "auth": {"type": "passthrough"}},
        },
        "workspaces": {
            "team": {
                "muxRules": [
                    {"match": {"type": "fim_filename", "pattern": "*.py"}, "provider": "ollama", "model": "coder"},
                    {"match": {"type": "catch_all"}, "provider": "openai", "model": "gpt-ünïcode"},
                ]
            }
        },
    }
    return registry_for(write_config(tmp_path / "config", config, "http://127.0.0.1:9"))


def test_each_rule_names_its_workspace_provider_and_model(registry: Registry) -> None:
    first, second = registry.workspaces["team"].rules
    assert dict(first.route_headers) == {
        b"x-muxgate-workspace": b"team",
        b"x-muxgate-provider": b"ollama",
        b"x-muxgate-model": b"coder",
    }
    assert dict(second.route_headers)[b"x-muxgate-model"] == "gpt-ünïcode".encode()


def test_an_api_key_providers_headers_are_fixed_with_its_own_key(
    registry: Registry, provider_keys: dict[str, str]
) -> None:
    openai = registry.providers["openai"]
    assert openai.fixed_headers is not None
    assert openai.fixed_headers["authorization"] == f"Bearer {provider_keys['openai']}"
    # The client's key never replaces the provider's, and the fixed headers cannot be changed by a caller.
    assert upstream_headers(openai, SCOPE) is openai.fixed_headers
    with pytest.raises(TypeError):
        openai.fixed_headers["authorization"] = "Bearer other"  # type: ignore[index]


def test_a_provider_without_auth_has_fixed_headers_without_a_key(registry: Registry) -> None:
    ollama = registry.providers["ollama"]
    assert ollama.fixed_headers is not None
    assert "authorization" not in ollama.fixed_headers
    assert upstream_headers(ollama, SCOPE)["content-type"] == "application/json"


@pytest.mark.parametrize("name", ["relay", "anthropic"])
def test_headers_that_depend_on_the_request_are_built_per_request(registry: Registry, name: str) -> None:
    # A passthrough key comes from the client; Anthropic's version and beta headers may too.
    provider = registry.providers[name]
    assert provider.fixed_headers is None
    headers = upstream_headers(provider, SCOPE)
    if name == "relay":
        assert headers["authorization"] == "Bearer client-x-key"
    else:
        assert headers["anthropic-version"]
        assert "client" not in headers.get("x-api-key", "")
