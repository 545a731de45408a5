"""Fixtures for the gateway tests: a fake provider, config trees written from a dict, and a real gateway served by
uvicorn on a free port in a thread of its own.

    test ──HTTP──▶ gateway (uvicorn thread, create_app over build_registry(check_dir(DIR).state))
                      └──HTTP──▶ FakeProvider (thread) — records what it received, misbehaves on request

Fixtures hand out plain callables and values, so test modules never import this file. The e2e tests register the
same fixtures (tests/e2e/conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.app import create_app
from proxy.registry import Registry, build_registry
from proxy.settings import Settings
from proxy.testing.fake_provider import Behaviour, FakeProvider
from reconciler.check import check_dir
from reconciler.state import DesiredState
from tests.support.servers import ThreadedServer

# Provider name → environment variable holding its key; the values are set per test with monkeypatch.
KEY_VARIABLES = {"openai": "TEST_OPENAI_API_KEY", "anthropic": "TEST_ANTHROPIC_API_KEY"}
PROVIDER_KEYS = {"openai": "provider-key-for-openai", "anthropic": "provider-key-for-anthropic"}

# A config as tests write it: {"workspaces": {name: spec}, "providers": {name: spec or None}, "personas": {...}}.
# Specs use the YAML spelling (camelCase). The three providers below exist unless "providers" replaces one (a
# spec) or removes it (None).
Config = Mapping[str, Mapping[str, Any]]


def default_providers(fake_url: str) -> dict[str, dict[str, Any]]:
    def api_key(name: str) -> dict[str, Any]:
        return {"type": "api_key", "apiKey": {"fromEnv": KEY_VARIABLES[name]}}

    return {
        "openai": {"type": "openai", "endpoint": f"{fake_url}/v1", "auth": api_key("openai")},
        "anthropic": {"type": "anthropic", "endpoint": f"{fake_url}/v1", "auth": api_key("anthropic")},
        "ollama": {"type": "ollama", "endpoint": fake_url, "auth": {"type": "none"}},
    }


def write_config(directory: Path, config: Config, fake_url: str) -> Path:
    """One YAML file per kind in `directory`; each document is written as JSON, which YAML reads as is."""
    providers: dict[str, Any] = default_providers(fake_url)
    for name, spec in config.get("providers", {}).items():
        if spec is None:
            providers.pop(name, None)
        else:
            providers[name] = spec
    kinds = {
        "Provider": providers,
        "Persona": dict(config.get("personas", {})),
        "Workspace": dict(config.get("workspaces", {})),
    }
    unknown = set(config) - {"providers", "personas", "workspaces"}
    if unknown:
        raise ValueError(f"Unknown config sections {sorted(unknown)}; use providers, personas and workspaces.")
    directory.mkdir(parents=True, exist_ok=True)
    for kind, resources in kinds.items():
        documents = [
            json.dumps({"apiVersion": "muxgate/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}, indent=2)
            for name, spec in resources.items()
        ]
        (directory / f"{kind.lower()}s.yaml").write_text("\n---\n".join(documents) + "\n", encoding="utf-8")
    return directory


class ServedGateway(ThreadedServer):
    """A gateway serving `registry` with `settings` on a free loopback port until `stop()`."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.app = create_app(settings, registry)
        super().__init__(self.app)

    def apply(self, registry: Registry) -> None:
        """Swap in a new registry, as a reconcile does."""
        self.app.state.gateway.registry = registry


def registry_for(directory: Path) -> Registry:
    """The registry `muxgate serve` builds for `directory`, reading keys from the environment now."""
    checked = check_dir(directory)
    if checked.state is None:
        problems = "; ".join(f"{d.file}:{d.line}: {d.summary} {d.message}" for d in checked.diagnostics)
        raise AssertionError(f"The test config in {directory} is invalid: {problems}")
    return build_registry(checked.state)


@pytest.fixture(scope="session")
def _session_fake() -> Iterator[FakeProvider]:
    with FakeProvider.running_in_thread() as provider:
        yield provider


@pytest.fixture
def fake(_session_fake: FakeProvider) -> Iterator[FakeProvider]:
    """A fake OpenAI/Anthropic/Ollama provider on a free port, in a thread of its own: one per test session,
    with no recorded requests and the default behaviour at the start of each test."""

    def reset() -> None:
        _session_fake.requests.clear()
        _session_fake.behaviour = Behaviour()
        _session_fake.api_key = None

    reset()
    yield _session_fake
    reset()


class _Gateways:
    """Gateways of the session, one per distinct Settings, started when first asked for."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._served: dict[tuple[tuple[str, Any], ...], ServedGateway] = {}

    def get(self, settings: Mapping[str, Any]) -> ServedGateway:
        key = tuple(sorted(settings.items()))
        if key not in self._served:
            server = ServedGateway(
                Settings(**{"data_dir": self._data_dir / str(len(self._served)), **settings}),
                build_registry(DesiredState.empty()),
            )
            server.start()
            self._served[key] = server
        return self._served[key]

    def clear(self) -> None:
        for server in self._served.values():
            server.apply(build_registry(DesiredState.empty()))

    def stop(self) -> None:
        for server in self._served.values():
            server.stop()


@pytest.fixture(scope="session")
def _session_gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Gateways]:
    gateways = _Gateways(tmp_path_factory.mktemp("gateway-data"))
    yield gateways
    gateways.stop()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the session: building one costs ~40 ms (its TLS context)."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def provider_keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Provider name → the key the gateway reads from the environment for it (set for this test only)."""
    for name, variable in KEY_VARIABLES.items():
        monkeypatch.setenv(variable, PROVIDER_KEYS[name])
    return dict(PROVIDER_KEYS)


@pytest.fixture
def config_dir(tmp_path: Path, fake: FakeProvider) -> Callable[[Config], Path]:
    """Write a config (see `Config`) into a fresh folder under tmp_path, providers pointing at the fake."""
    counter = iter(range(1_000_000))

    def write(config: Config) -> Path:
        return write_config(tmp_path / f"config{next(counter)}", config, fake.url)

    return write


@pytest.fixture
def gateway(
    config_dir: Callable[[Config], Path], provider_keys: dict[str, str], _session_gateways: _Gateways
) -> Iterator[Callable[..., str]]:
    """`gateway(config, **settings)` serves `config` with `Settings(**settings)`; returns the gateway's base URL.

    The config is applied to a gateway of the session with those settings, as a reconcile applies a change: a
    server per test would cost a fifth of a second to stop. After the test the gateway serves an empty config.
    """

    def serve(config: Config, **settings: Any) -> str:
        server = _session_gateways.get(settings)
        server.apply(registry_for(config_dir(config)))
        return server.url

    yield serve
    _session_gateways.clear()
