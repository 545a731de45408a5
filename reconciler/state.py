"""DesiredState: the validated config tree as one immutable, normalised value with a stable content hash.

Validate produces it; plan diffs two of them; the proxy compiles one into its registry. The hash covers what the
config means, not where it is written: the same resources spread over other files (or with defaults spelled out)
hash the same, while reordering mux rules changes it because order is priority.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from reconciler.models import (
    API_VERSION,
    DEFAULT_WORKSPACE,
    Metadata,
    Persona,
    Provider,
    Resource,
    SecretPolicy,
    Workspace,
    WorkspaceSpec,
)

KIND_ORDER = ("Provider", "Persona", "SecretPolicy", "Workspace")
# Kinds added after the first release count in the hash only when declared, so existing states keep theirs.
_LATER_KINDS = frozenset({"SecretPolicy"})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource was declared (file relative to the config directory, 1-based line)."""

    file: str
    line: int


T = TypeVar("T")


def _frozen(items: Iterable[tuple[str, T]]) -> Mapping[str, T]:
    return MappingProxyType(dict(sorted(items)))


@dataclass(frozen=True)
class DesiredState:
    providers: Mapping[str, Provider]
    personas: Mapping[str, Persona]
    workspaces: Mapping[str, Workspace]
    secret_policies: Mapping[str, SecretPolicy] = field(default_factory=lambda: MappingProxyType({}))
    origins: Mapping[tuple[str, str], Origin] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    hash: str = ""
    # Canonical JSON of each resource's essence, by (kind, name): equal strings mean nothing to plan.
    digests: Mapping[tuple[str, str], str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    _essence: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, resources: Iterable[tuple[Resource, Origin | None]]) -> DesiredState:
        """Normalise validated resources into a state. Names must already be unique per kind."""
        providers: dict[str, Provider] = {}
        personas: dict[str, Persona] = {}
        secret_policies: dict[str, SecretPolicy] = {}
        workspaces: dict[str, Workspace] = {}
        origins: dict[tuple[str, str], Origin] = {}
        for resource, origin in resources:
            name = resource.metadata.name
            if isinstance(resource, Provider):
                providers[name] = resource
            elif isinstance(resource, Persona):
                personas[name] = resource
            elif isinstance(resource, SecretPolicy):
                secret_policies[name] = resource
            else:
                workspaces[name] = resource
            if origin is not None:
                origins[(resource.kind, name)] = origin
        # The default workspace always exists; undeclared, it is empty.
        workspaces.setdefault(DEFAULT_WORKSPACE, implicit_default_workspace())
        state = cls(
            providers=_frozen(providers.items()),
            personas=_frozen(personas.items()),
            secret_policies=_frozen(secret_policies.items()),
            workspaces=_frozen(workspaces.items()),
            origins=MappingProxyType(origins),
        )
        essence, digests = state._essence_and_digests()
        object.__setattr__(state, "_essence", essence)
        object.__setattr__(state, "digests", MappingProxyType(digests))
        object.__setattr__(state, "hash", _hash_of_digests(digests))
        return state

    @classmethod
    def empty(cls) -> DesiredState:
        return cls.build([])

    def resources(self) -> Iterable[Resource]:
        yield from self.providers.values()
        yield from self.personas.values()
        yield from self.secret_policies.values()
        yield from self.workspaces.values()

    def essence(self) -> dict[str, Any]:
        """What the state means, as canonical JSON-able data: the input of the hash and of the diff.

        Computed once when the state is built; treat it as read-only.
        """
        return self._essence or self._compute_essence()

    def _compute_essence(self) -> dict[str, Any]:
        return self._essence_and_digests()[0]

    def _essence_and_digests(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        """Each resource's essence and canonical JSON. A resource object seen by the previous build (validate hands
        back the same object for a document that did not change) is not dumped and encoded again."""
        previous: dict[int, tuple[Any, dict[str, Any], str]] = _MEMO.entries
        memo: dict[int, tuple[Any, dict[str, Any], str]] = {}
        essence: dict[str, Any] = {}
        digests: dict[tuple[str, str], str] = {}
        groups: tuple[tuple[str, Mapping[str, Resource], Callable[[Any], dict[str, Any]]], ...] = (
            ("Provider", self.providers, provider_essence),
            ("Persona", self.personas, _dump),
            ("SecretPolicy", self.secret_policies, _dump),
            ("Workspace", self.workspaces, workspace_essence),
        )
        for kind, items, essence_of in groups:
            section: dict[str, Any] = {}
            for name, resource in items.items():
                hit = previous.get(id(resource))
                if hit is None or hit[0] is not resource:
                    value = essence_of(resource)
                    hit = (resource, value, _canonical(value))
                memo[id(resource)] = hit
                section[name] = hit[1]
                digests[(kind, name)] = hit[2]
            essence[kind] = section
        _MEMO.entries = memo  # only what this build used: the memo never grows past one state
        return essence, digests

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def origin(self, kind: str, name: str) -> Origin | None:
        return self.origins.get((kind, name))

    def to_json(self) -> dict[str, Any]:
        """A self-contained document from which `from_json` rebuilds an equal state (used to persist it)."""
        return {
            "hash": self.hash,
            "resources": [r.model_dump(mode="json", by_alias=True) for r in self.resources()],
            "origins": [
                {"kind": kind, "name": name, "file": o.file, "line": o.line}
                for (kind, name), o in sorted(self.origins.items())
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredState:
        from reconciler.models import KINDS

        origins = {(o["kind"], o["name"]): Origin(o["file"], o["line"]) for o in data.get("origins", [])}
        resources: list[tuple[Resource, Origin | None]] = []
        for raw in data["resources"]:
            resource = KINDS[raw["kind"]].model_validate(raw)
            resources.append((resource, origins.get((resource.kind, resource.metadata.name))))
        return cls.build(resources)


# id(resource) → (resource, essence, canonical JSON) from the last build; the resource itself is kept so that an id
# reused by a new object is never taken for the old one. Essences are shared between states: read-only.
class _Memo:
    entries: dict[int, tuple[Any, dict[str, Any], str]] = {}  # noqa: RUF012 - replaced whole, never mutated


_MEMO = _Memo()


def implicit_default_workspace() -> Workspace:
    return Workspace(
        api_version=API_VERSION,
        kind="Workspace",
        metadata=Metadata(name=DEFAULT_WORKSPACE),
        spec=WorkspaceSpec(),
    )


def _dump(resource: Resource) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True, exclude={"api_version", "kind"})


def provider_essence(provider: Provider) -> dict[str, Any]:
    data = _dump(provider)
    # An endpoint left to its default means the same as the default written out.
    data["spec"]["endpoint"] = provider.spec.base_url
    return data


def workspace_essence(workspace: Workspace) -> dict[str, Any]:
    data = _dump(workspace)
    # An empty pattern and no pattern both match every request of the matcher's kind.
    for rule in data["spec"]["muxRules"]:
        if rule["match"].get("pattern") == "":
            rule["match"]["pattern"] = None
    return data


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(essence: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(essence).encode()).hexdigest()


def _hash_of_digests(digests: Mapping[tuple[str, str], str]) -> str:
    """`content_hash(essence)`, assembled from the per-resource canonical strings instead of encoding it again."""
    kinds: dict[str, list[str]] = {kind: [] for kind in sorted(KIND_ORDER)}
    for (kind, name), text in sorted(digests.items()):
        kinds[kind].append(f"{json.dumps(name, ensure_ascii=False)}:{text}")
    for kind in _LATER_KINDS:
        if not kinds[kind]:
            del kinds[kind]
    body = ",".join(f"{json.dumps(kind)}:{{{','.join(items)}}}" for kind, items in kinds.items())
    return hashlib.sha256(("{" + body + "}").encode()).hexdigest()
