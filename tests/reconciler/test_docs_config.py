"""docs/config.md cannot drift from the models: its field tables list exactly the fields the models have.

The doc is written by hand. Each table whose first column is headed "Field" lists YAML paths
(`spec.models[].price.inputPerMTok`) and belongs to the `## ` section it sits in: "Common fields" holds what
every kind shares (`apiVersion`, `kind`, `metadata…`), and the section named after a kind holds its `spec…`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from reconciler.models import (
    DEFAULT_ENDPOINTS,
    KINDS,
    NAME_PATTERN,
    RESERVED_WORKSPACE_NAMES,
    MatcherType,
    ProviderType,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"
COMMON = "Common fields"
ROW_RE = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def _nested_models(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """The models inside a field's type, each with the path suffix leading into it (`[]` for list items)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        for model, suffix in _nested_models(args[0]):
            yield model, "[]" + suffix
    elif origin is typing.Annotated:
        yield from _nested_models(args[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _nested_models(arg)


def field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field reachable from `model` as a YAML path of aliases; union members add all their fields."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        paths.add(path)
        for nested, suffix in _nested_models(info.annotation):
            paths |= field_paths(nested, f"{path}{suffix}.")
    return paths


def documented_fields() -> dict[str, list[str]]:
    """The first-column paths of every "Field" table in the doc, by the `## ` section that holds the table."""
    tables: dict[str, list[str]] = {}
    section = ""
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "Field":
            in_table = True
            tables.setdefault(section, [])
        elif in_table and (row := ROW_RE.match(line)):
            tables[section].append(row.group(1))
    return tables


def expected_fields() -> dict[str, set[str]]:
    by_kind = {kind: field_paths(model) for kind, model in KINDS.items()}
    shared = {kind: {p for p in paths if not p.startswith("spec")} for kind, paths in by_kind.items()}
    first = next(iter(shared.values()))
    assert all(s == first for s in shared.values()), f"kinds no longer share their top-level fields: {shared}"
    expected = {kind: paths - first for kind, paths in by_kind.items()}
    expected[COMMON] = first
    return expected


def test_paths_are_computed_from_the_models() -> None:
    # Guards the walk itself: a walk that found nothing would make the doc checks pass vacuously.
    provider = field_paths(KINDS["Provider"])
    assert {"metadata.labels", "spec.auth.apiKey.fromFile", "spec.models[].price.outputPerMTok"} <= provider
    assert "spec.muxRules[].match.pattern" in field_paths(KINDS["Workspace"])


def test_field_tables_sit_in_known_sections() -> None:
    unknown = set(documented_fields()) - set(expected_fields())
    assert not unknown, f"docs/config.md has field tables under sections that are not a kind: {sorted(unknown)}"


@pytest.mark.parametrize("section", [COMMON, *sorted(KINDS)])
def test_every_field_is_documented_once_and_nothing_else(section: str) -> None:
    documented = documented_fields().get(section, [])
    expected = expected_fields()[section]
    missing = sorted(expected - set(documented))
    unknown = sorted(set(documented) - expected)
    duplicated = sorted({p for p in documented if documented.count(p) > 1})
    assert not missing, f'docs/config.md, section "{section}": document these fields: {missing}'
    assert not unknown, f'docs/config.md, section "{section}": no model has these fields: {unknown}'
    assert not duplicated, f'docs/config.md, section "{section}": documented twice: {duplicated}'


@pytest.mark.parametrize(
    "term",
    [
        NAME_PATTERN,
        *sorted(RESERVED_WORKSPACE_NAMES),
        *(f"`{t.value}`" for t in ProviderType),
        *(f"`{t.value}`" for t in MatcherType),
        *(f"`{url}`" for url in DEFAULT_ENDPOINTS.values()),
    ],
)
def test_doc_names_every_rule_value_and_default(term: str) -> None:
    assert term in DOC.read_text(encoding="utf-8")
