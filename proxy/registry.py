"""The compiled registry: a DesiredState turned into what the request path reads, built once and never mutated.

Apply builds a new Registry beside the running one and swaps it in with one assignment; a request reads the
registry once when it starts and finishes on that snapshot. Credentials are read from the environment or files here,
when the registry is built, never per request; they are never logged and never part of an error message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from proxy.secrets.policy import SecretGuard, compile_guard, default_guard
from reconciler.globs import compile_glob
from reconciler.models import ApiFormat, ApiKeyAuth, MatcherType, PassthroughAuth, Provider, ProviderType
from reconciler.state import DesiredState

log = logging.getLogger("muxgate.registry")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input_per_m_tok: float
    output_per_m_tok: float


# What every call to a provider carries, whatever its API and auth.
BASE_UPSTREAM_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {"content-type": "application/json", "accept": "application/json, text/event-stream"}
)


@dataclass(frozen=True, slots=True)
class ProviderRuntime:
    name: str
    type: ProviderType
    api_format: ApiFormat
    base_url: str
    auth: str  # "none" | "passthrough" | "api_key"
    api_key: str | None = field(repr=False)
    # Why the key could not be read ("environment variable OPENAI_API_KEY is not set"), naming no value.
    key_error: str | None
    connect_timeout: float
    read_timeout: float
    models: tuple[str, ...]
    prices: Mapping[str, ModelPrice]
    # The headers of every call to an OpenAI or Ollama provider whose key is not the client's: they depend on
    # nothing in the request, so they are built here once (read-only). None when they do (see upstream_headers).
    fixed_headers: Mapping[str, str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        fixed: Mapping[str, str] | None = None
        if self.api_format is not ApiFormat.ANTHROPIC and self.auth != "passthrough":
            headers = dict(BASE_UPSTREAM_HEADERS)
            if self.auth == "api_key" and self.api_key:
                headers["authorization"] = f"Bearer {self.api_key}"
            fixed = MappingProxyType(headers)
        object.__setattr__(self, "fixed_headers", fixed)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    matcher_type: MatcherType
    pattern: str | None
    provider: ProviderRuntime
    model: str
    matches_names: Callable[[Sequence[str]], bool]
    # The workspace whose rule this is.
    workspace: str = ""
    # What analytics record about the rule, worked out once: provider, its type, model, index and the model's
    # prices (USD per million input and output tokens, None when undeclared).
    facts: tuple[str, str, str, int, float | None, float | None] = field(init=False)
    # The headers that tell a client where its request went (x-muxgate-workspace, -provider, -model).
    route_headers: tuple[tuple[bytes, bytes], ...] = field(init=False)

    def __post_init__(self) -> None:
        route_headers = (
            (b"x-muxgate-workspace", self.workspace.encode()),
            (b"x-muxgate-provider", self.provider.name.encode()),
            (b"x-muxgate-model", self.model.encode("utf-8", "replace")),
        )
        object.__setattr__(self, "route_headers", route_headers)
        provider, price = self.provider, self.provider.prices.get(self.model)
        facts = (
            provider.name,
            provider.type.value,
            self.model,
            self.index,
            price.input_per_m_tok if price else None,
            price.output_per_m_tok if price else None,
        )
        object.__setattr__(self, "facts", facts)

    def matches(self, fim: bool, filenames: Sequence[str]) -> bool:
        kind = self.matcher_type
        if kind is MatcherType.CATCH_ALL:
            return True
        if (kind is MatcherType.FIM_FILENAME and not fim) or (kind is MatcherType.CHAT_FILENAME and fim):
            return False
        return self.matches_names(filenames)


@dataclass(frozen=True, slots=True)
class WorkspaceRuntime:
    name: str
    archived: bool
    instructions: str
    rules: tuple[CompiledRule, ...]
    # Filename extraction costs a pass over the prompt; only done when a rule looks at filenames.
    needs_filenames: bool
    # Its secret protection (mode and scanner), with the patterns and values of every SecretPolicy.
    secrets: SecretGuard = field(default_factory=default_guard)
    # spec.history: what its requests leave in the messages table (full, metadata or off).
    history: str = "full"

    def route(self, fim: bool, filenames: Sequence[str]) -> CompiledRule | None:
        for rule in self.rules:
            if rule.matches(fim, filenames):
                return rule
        return None


@dataclass(frozen=True, slots=True)
class Registry:
    workspaces: Mapping[str, WorkspaceRuntime]
    providers: Mapping[str, ProviderRuntime]
    state: DesiredState
    revision: str | None = None

    @property
    def state_hash(self) -> str:
        return self.state.hash


def read_secret(provider: Provider, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(key, None) or (None, why not), for an api_key provider."""
    auth = provider.spec.auth
    if not isinstance(auth, ApiKeyAuth):
        return None, None
    ref = auth.api_key
    if ref.from_env is not None:
        value = environ.get(ref.from_env, "").strip()
        if not value:
            return None, f"environment variable {ref.from_env} is not set"
        return value, None
    path = Path(ref.from_file or "")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        return None, f"secret file {path} cannot be read ({exc.strerror or type(exc).__name__})"
    if not value:
        return None, f"secret file {path} is empty"
    return value, None


def compile_provider(provider: Provider, environ: Mapping[str, str]) -> ProviderRuntime:
    spec = provider.spec
    key, key_error = read_secret(provider, environ)
    if key_error:
        log.warning("provider %s: %s; requests routed to it will fail with 502", provider.metadata.name, key_error)
    auth = (
        "api_key"
        if isinstance(spec.auth, ApiKeyAuth)
        else "passthrough"
        if isinstance(spec.auth, PassthroughAuth)
        else "none"
    )
    return ProviderRuntime(
        name=provider.metadata.name,
        type=spec.type,
        api_format=spec.api_format,
        base_url=spec.base_url,
        auth=auth,
        api_key=key,
        key_error=key_error,
        connect_timeout=spec.timeouts.connect,
        read_timeout=spec.timeouts.read,
        models=tuple(m.name for m in spec.models),
        prices=MappingProxyType(
            {
                m.name: ModelPrice(m.price.input_per_m_tok, m.price.output_per_m_tok)
                for m in spec.models
                if m.price is not None
            }
        ),
    )


def build_registry(
    state: DesiredState, *, revision: str | None = None, environ: Mapping[str, str] | None = None
) -> Registry:
    env = os.environ if environ is None else environ
    providers = {name: compile_provider(p, env) for name, p in state.providers.items()}
    policies = [(p.spec.patterns, p.spec.values) for p in state.secret_policies.values()]
    guards: dict[str, SecretGuard] = {}  # by the JSON of spec.secrets: workspaces that declare alike share one
    workspaces: dict[str, WorkspaceRuntime] = {}
    for name, ws in state.workspaces.items():
        rules = tuple(
            CompiledRule(
                index=i,
                matcher_type=rule.match.type,
                pattern=rule.match.pattern or None,
                provider=providers[rule.provider],
                model=rule.model,
                matches_names=compile_glob(rule.match.pattern or None),
                workspace=name,
            )
            for i, rule in enumerate(ws.spec.mux_rules)
        )
        key = ws.spec.secrets.model_dump_json()
        if key not in guards:
            guards[key] = compile_guard(ws.spec.secrets, policies, env)
        workspaces[name] = WorkspaceRuntime(
            name=name,
            archived=ws.spec.archived,
            instructions=ws.spec.custom_instructions,
            rules=rules,
            needs_filenames=any(r.matcher_type is not MatcherType.CATCH_ALL and r.pattern for r in rules),
            secrets=guards[key],
            history=ws.spec.history.value,
        )
    return Registry(MappingProxyType(workspaces), MappingProxyType(providers), state, revision)
