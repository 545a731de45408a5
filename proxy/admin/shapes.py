"""The admin API's JSON shapes, built from a registry: CodeGate's field names, Muxgate's values.

Pure functions of a registry snapshot, so a handler reads `gateway.registry` once and answers from that one
config even if a reconcile swaps it meanwhile. No shape ever carries a provider key.
"""

from __future__ import annotations

from typing import Any

from proxy.registry import CompiledRule, ProviderRuntime, Registry, WorkspaceRuntime
from reconciler.models import Persona

JsonDict = dict[str, Any]


def rule_json(rule: CompiledRule) -> JsonDict:
    return {
        "provider_name": rule.provider.name,
        "provider_type": rule.provider.type.value,
        "model": rule.model,
        "matcher_type": rule.matcher_type.value,
        "matcher": rule.pattern,
    }


def workspace_json(workspace: WorkspaceRuntime) -> JsonDict:
    return {
        "name": workspace.name,
        "config": {
            "custom_instructions": workspace.instructions,
            "muxing_rules": [rule_json(r) for r in workspace.rules],
        },
    }


def workspace_list(registry: Registry, active: str, *, archived: bool, provider: str | None = None) -> JsonDict:
    """`{"workspaces": [{"name", "is_active"}]}`: the archived ones or the others, optionally only those with a rule
    routing to `provider`."""
    return {
        "workspaces": [
            {"name": ws.name, "is_active": ws.name == active}
            for ws in sorted(registry.workspaces.values(), key=lambda w: w.name)
            if ws.archived == archived and (provider is None or any(r.provider.name == provider for r in ws.rules))
        ]
    }


def provider_json(provider: ProviderRuntime, registry: Registry) -> JsonDict:
    declared = registry.state.providers.get(provider.name)
    return {
        "id": provider.name,
        "name": provider.name,
        "description": declared.spec.description if declared is not None else "",
        "provider_type": provider.type.value,
        "endpoint": provider.base_url,
        "auth_type": provider.auth,
    }


def provider_models(provider: ProviderRuntime, registry: Registry) -> list[JsonDict]:
    """The provider's declared models; for a provider that lists none (any name goes), the models that rules of
    served workspaces route to on it."""
    names: tuple[str, ...] = provider.models
    if not names:
        routed = (
            r.model
            for ws in registry.workspaces.values()
            if not ws.archived
            for r in ws.rules
            if r.provider.name == provider.name
        )
        names = tuple(sorted(set(routed)))
    return [{"name": m, "provider_type": provider.type.value, "provider_name": provider.name} for m in names]


def persona_json(persona: Persona) -> JsonDict:
    name = persona.metadata.name
    return {"id": name, "name": name, "description": persona.spec.description}
