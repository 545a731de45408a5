"""Config resources and desired states built in code, for tests of what comes after loading (plan, render).

Defaults are the plainest valid values, so a test names only what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.models import (
    API_VERSION,
    ApiKeyAuth,
    Match,
    MatcherType,
    Metadata,
    ModelSpec,
    MuxRule,
    Persona,
    PersonaSpec,
    Provider,
    ProviderSpec,
    ProviderType,
    Resource,
    SecretRef,
    Workspace,
    WorkspaceSpec,
)
from reconciler.state import DesiredState, Origin


def rule(model: str, *, pattern: str | None = None, provider: str = "openai") -> MuxRule:
    """A catch-all rule, or a chat-filename rule when `pattern` is given."""
    matcher = MatcherType.CATCH_ALL if pattern is None else MatcherType.CHAT_FILENAME
    return MuxRule(match=Match(type=matcher, pattern=pattern), provider=provider, model=model)


def workspace(
    name: str,
    *,
    instructions: str = "",
    rules: Sequence[MuxRule] = (),
    archived: bool = False,
    labels: dict[str, str] | None = None,
) -> Workspace:
    return Workspace(
        api_version=API_VERSION,
        kind="Workspace",
        metadata=Metadata(name=name, labels=labels or {}),
        spec=WorkspaceSpec(archived=archived, custom_instructions=instructions, mux_rules=list(rules)),
    )


def provider(
    name: str = "openai",
    *,
    endpoint: str | None = None,
    models: Sequence[str] = (),
    key_env: str = "OPENAI_API_KEY",
) -> Provider:
    """An OpenAI provider whose key comes from the variable `key_env`."""
    return Provider(
        api_version=API_VERSION,
        kind="Provider",
        metadata=Metadata(name=name),
        spec=ProviderSpec(
            type=ProviderType.OPENAI,
            endpoint=endpoint,
            auth=ApiKeyAuth(type="api_key", api_key=SecretRef(from_env=key_env)),
            models=[ModelSpec(name=m) for m in models],
        ),
    )


def persona(name: str, description: str = "Reviews code") -> Persona:
    return Persona(
        api_version=API_VERSION,
        kind="Persona",
        metadata=Metadata(name=name),
        spec=PersonaSpec(description=description),
    )


def state(*resources: Resource, folder: str = "config") -> DesiredState:
    """The resources as if each were declared in FOLDER/NAME.yaml, the n-th on line n."""
    return DesiredState.build([(r, Origin(f"{folder}/{r.metadata.name}.yaml", 1 + i)) for i, r in enumerate(resources)])
