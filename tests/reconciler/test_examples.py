"""The example config repository loads cleanly, fits the models, and routes only to what it declares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import pytest

from reconciler.loader import LoadResult, load_dir
from reconciler.models import KINDS, ApiKeyAuth, MatcherType, Provider, Resource, Workspace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workspaces"
MODELINE_RE = re.compile(r"^# yaml-language-server: \$schema=\S+\.schema\.json$")
R = TypeVar("R", Provider, Workspace)


@pytest.fixture(scope="module")
def loaded() -> LoadResult:
    return load_dir(EXAMPLES)


@pytest.fixture(scope="module")
def resources(loaded: LoadResult) -> list[Resource]:
    return [KINDS[doc.data["kind"]].model_validate(doc.data) for doc in loaded.documents]


def _of_kind(resources: list[Resource], kind: type[R]) -> dict[str, R]:
    return {r.metadata.name: r for r in resources if isinstance(r, kind)}


def test_examples_load_without_diagnostics(loaded: LoadResult) -> None:
    assert not loaded.diagnostics, "\n".join(f"{d.location}: {d.summary}: {d.message}" for d in loaded.diagnostics)
    assert len(loaded.files) >= 8


def test_every_document_validates_with_the_model_of_its_kind(loaded: LoadResult) -> None:
    for doc in loaded.documents:
        kind = doc.data.get("kind")
        assert kind in KINDS, f"{doc.file} document {doc.index + 1}: unknown kind {kind!r}"
        KINDS[kind].model_validate(doc.data)


def test_examples_cover_every_kind_and_the_workspaces_the_readme_lists(resources: list[Resource]) -> None:
    assert {r.kind for r in resources} == set(KINDS)
    workspaces = _of_kind(resources, Workspace)
    assert {"default", "backend", "frontend", "docs"} <= set(workspaces)
    assert any(w.spec.archived for w in workspaces.values())


def test_names_are_unique_per_kind(resources: list[Resource]) -> None:
    seen = [(r.kind, r.metadata.name) for r in resources]
    assert len(seen) == len(set(seen))


def test_rules_route_to_declared_providers_and_listed_models(resources: list[Resource]) -> None:
    providers = _of_kind(resources, Provider)
    for workspace in _of_kind(resources, Workspace).values():
        for i, rule in enumerate(workspace.spec.mux_rules):
            where = f"workspace {workspace.metadata.name} rule {i}"
            assert rule.provider in providers, f"{where}: provider {rule.provider!r} is not declared"
            listed = [m.name for m in providers[rule.provider].spec.models]
            assert rule.model in listed, f"{where}: {rule.model!r} is not among {listed}"


def test_workspaces_with_rules_end_with_a_catch_all(resources: list[Resource]) -> None:
    for workspace in _of_kind(resources, Workspace).values():
        rules = workspace.spec.mux_rules
        if rules:
            assert rules[-1].match.type is MatcherType.CATCH_ALL, workspace.metadata.name


def test_paid_providers_list_prices(resources: list[Resource]) -> None:
    for provider in _of_kind(resources, Provider).values():
        if provider.spec.type.value in ("openai", "anthropic"):
            assert all(m.price is not None for m in provider.spec.models), provider.metadata.name


def test_readme_names_every_secret_the_providers_reference(resources: list[Resource]) -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for provider in _of_kind(resources, Provider).values():
        auth = provider.spec.auth
        if isinstance(auth, ApiKeyAuth):
            ref = auth.api_key.from_env or auth.api_key.from_file
            assert ref is not None
            assert ref in readme, f"README.md does not say that {provider.metadata.name} needs {ref}"


@pytest.mark.parametrize("path", sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.y*ml")))
def test_file_starts_with_the_schema_modeline(path: str) -> None:
    first_line = (EXAMPLES / path).read_text(encoding="utf-8").splitlines()[0]
    assert MODELINE_RE.match(first_line), f"{path} does not start with a yaml-language-server modeline"
