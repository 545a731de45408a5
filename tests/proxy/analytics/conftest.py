"""Fixtures of the analytics tests: a real gateway with analytics on (a real DuckDB file in its data dir), the
fake provider behind it with priced models, and `sql(...)` to query the gateway's SQL endpoint.

The gateway is one of the session (tests/proxy/conftest.py): rows of earlier tests stay in its database, so
tests select their own rows by request id or by a workspace of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from proxy.registry import Registry, build_registry
from tests.proxy.conftest import Config, ServedGateway, _Gateways, registry_for

ADMIN_TOKEN = "analytics-test-token"
SETTINGS = {"admin_token": ADMIN_TOKEN}
# USD per million tokens, distinct per provider so a wrong join shows.
PRICES = {
    "openai": {"inputPerMTok": 2.5, "outputPerMTok": 10.0},
    "anthropic": {"inputPerMTok": 3.0, "outputPerMTok": 15.0},
    "ollama": {"inputPerMTok": 0.5, "outputPerMTok": 1.5},
}
MODEL = {"openai": "gpt-test", "anthropic": "claude-test", "ollama": "llama-test"}


def priced_providers(fake_url: str) -> dict[str, Any]:
    def api_key(variable: str) -> dict[str, Any]:
        return {"type": "api_key", "apiKey": {"fromEnv": variable}}

    return {
        "openai": {
            "type": "openai",
            "endpoint": f"{fake_url}/v1",
            "auth": api_key("TEST_OPENAI_API_KEY"),
            "models": [{"name": MODEL["openai"], "price": PRICES["openai"]}, {"name": "gpt-unpriced"}],
        },
        "anthropic": {
            "type": "anthropic",
            "endpoint": f"{fake_url}/v1",
            "auth": api_key("TEST_ANTHROPIC_API_KEY"),
            "models": [{"name": MODEL["anthropic"], "price": PRICES["anthropic"]}],
        },
        "ollama": {
            "type": "ollama",
            "endpoint": fake_url,
            "auth": {"type": "none"},
            "models": [{"name": MODEL["ollama"], "price": PRICES["ollama"]}],
        },
    }


def catch_all(provider: str, model: str | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "muxRules": [{"match": {"type": "catch_all"}, "provider": provider, "model": model or MODEL[provider]}],
        **spec,
    }


@dataclass
class Analysed:
    """A served gateway with analytics on."""

    url: str
    server: ServedGateway
    http: httpx.Client

    def sql(self, query: str, **extra: Any) -> list[dict[str, Any]]:
        """Rows of `query` (through POST /api/v1/sql) as dicts; fails the test on an error answer."""
        response = self.sql_response(query, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]

    def sql_response(self, query: str, token: str | None = ADMIN_TOKEN, **extra: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return self.http.post(f"{self.url}/api/v1/sql", json={"sql": query, **extra}, headers=headers)

    def row(self, request_id: str) -> dict[str, Any]:
        rows = self.sql(f"SELECT * FROM requests WHERE request_id = '{request_id}'")
        assert len(rows) == 1, f"expected one row for {request_id}, got {rows}"
        return rows[0]

    def apply(self, registry: Registry) -> None:
        self.server.apply(registry)


@pytest.fixture
def analysed(
    config_dir: Callable[[Config], Any],
    provider_keys: dict[str, str],
    _session_gateways: _Gateways,
    fake: Any,
    http: httpx.Client,
) -> Iterator[Callable[..., Analysed]]:
    """`analysed(config, **settings)` serves `config` (providers priced, pointing at the fake) with analytics on."""

    def serve(config: Config, **settings: Any) -> Analysed:
        server = _session_gateways.get({**SETTINGS, **settings})
        full = {**config, "providers": {**priced_providers(fake.url), **config.get("providers", {})}}
        server.apply(registry_for(config_dir(full)))
        return Analysed(server.url, server, http)

    yield serve
    _session_gateways.clear()


def registry_with_revision(registry: Registry, revision: str) -> Registry:
    return build_registry(registry.state, revision=revision)
