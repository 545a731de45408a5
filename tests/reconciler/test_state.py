"""DesiredState: normalised, immutable, hashed by meaning, and persisted as JSON without loss."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from reconciler.loader import load_files
from reconciler.models import DEFAULT_WORKSPACE, Persona, Provider, Workspace
from reconciler.state import DesiredState, Origin
from reconciler.validate import validate

TREE = {
    "providers.yaml": """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai, labels: {billing: platform}}
spec:
  type: openai
  description: OpenAI, billed to the platform team.
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models:
    - {name: gpt-4o-mini, price: {inputPerMTok: 0.15, outputPerMTok: 0.6}}
  timeouts: {connect: 2.5, read: 120}
---
apiVersion: muxgate/v1
kind: Provider
metadata: {name: vllm}
spec:
  type: vllm
  endpoint: http://vllm.internal:8000/v1
  auth: {type: api_key, apiKey: {fromFile: /run/secrets/vllm}}
---
apiVersion: muxgate/v1
kind: Provider
metadata: {name: passthrough}
spec:
  type: anthropic
  auth: {type: passthrough}
""",
    "personas.yaml": "apiVersion: muxgate/v1\nkind: Persona\nmetadata: {name: reviewer}\nspec: {description: Reads}\n",
    "ws/backend.yaml": """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  customInstructions: |
    Prefer the standard library.
    Explain trade-offs — briefly.
  muxRules:
    - match: {type: fim_filename, pattern: "src/**/*.py"}
      provider: vllm
      model: qwen
    - match: {type: catch_all}
      provider: openai
      model: gpt-4o-mini
""",
    "ws/old.yaml": "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: old}\nspec: {archived: true}\n",
}


def build(files: Mapping[str, str]) -> DesiredState:
    result = validate(load_files([(p, t.encode()) for p, t in files.items()]))
    assert result.diagnostics == ()
    assert result.state is not None
    return result.state


def test_json_round_trip_gives_an_equal_state() -> None:
    state = build(TREE)

    again = DesiredState.from_json(json.loads(json.dumps(state.to_json())))

    assert again == state
    assert again.hash == state.hash
    assert again.essence() == state.essence()
    assert dict(again.origins) == dict(state.origins)
    assert again.origin("Workspace", "backend") == Origin("ws/backend.yaml", 1)


def test_json_form_is_plain_json_with_references_not_secrets() -> None:
    data = build(TREE).to_json()

    text = json.dumps(data, allow_nan=False)
    assert '"fromEnv": "OPENAI_API_KEY"' in text
    assert data["hash"] == build(TREE).hash
    assert {r["kind"] for r in data["resources"]} == {"Provider", "Persona", "Workspace"}
    assert all(r["apiVersion"] == "muxgate/v1" for r in data["resources"])


def test_round_trip_of_the_empty_state() -> None:
    empty = DesiredState.empty()

    assert DesiredState.from_json(empty.to_json()) == empty
    assert list(empty.workspaces) == [DEFAULT_WORKSPACE]


def test_state_is_sorted_and_read_only() -> None:
    state = build(TREE)

    assert list(state.providers) == ["openai", "passthrough", "vllm"]
    assert list(state.workspaces) == ["backend", DEFAULT_WORKSPACE, "old"]
    assert [r.kind for r in state.resources()] == ["Provider"] * 3 + ["Persona"] + ["Workspace"] * 3
    with pytest.raises(TypeError):
        state.providers["x"] = state.providers["openai"]  # type: ignore[index]


def test_essence_spells_out_the_default_endpoint() -> None:
    state = build(TREE)

    essence = state.essence()

    assert essence["Provider"]["openai"]["spec"]["endpoint"] == "https://api.openai.com/v1"
    assert essence["Provider"]["vllm"]["spec"]["endpoint"] == "http://vllm.internal:8000/v1"
    assert "kind" not in essence["Workspace"]["backend"]


def test_hash_ignores_origins_and_input_order() -> None:
    state = build(TREE)
    resources = list(state.resources())

    reordered = DesiredState.build((r, None) for r in reversed(resources))

    assert reordered.hash == state.hash
    assert reordered == state
    assert reordered.origins == {}


def test_short_hash() -> None:
    state = build(TREE)

    assert state.short_hash == state.hash[:12]


def test_build_adds_the_default_workspace_only_when_missing() -> None:
    declared = Workspace.model_validate(
        {
            "apiVersion": "muxgate/v1",
            "kind": "Workspace",
            "metadata": {"name": "default"},
            "spec": {"customInstructions": "x"},
        }
    )
    persona = Persona.model_validate(
        {"apiVersion": "muxgate/v1", "kind": "Persona", "metadata": {"name": "p"}, "spec": {"description": "d"}}
    )

    state = DesiredState.build([(declared, Origin("d.yaml", 3)), (persona, None)])

    assert state.workspaces[DEFAULT_WORKSPACE].spec.custom_instructions == "x"
    assert state.origin("Workspace", DEFAULT_WORKSPACE) == Origin("d.yaml", 3)
    assert state.origin("Persona", "p") is None


def test_models_are_frozen() -> None:
    provider = build(TREE).providers["openai"]

    with pytest.raises(ValueError, match="frozen"):
        provider.spec.description = "changed"  # type: ignore[misc]
    assert isinstance(provider, Provider)


def test_an_unchanged_resource_is_not_encoded_again_and_a_changed_one_is() -> None:
    first = build(TREE)
    resources = [(r, None) for r in first.resources()]
    again = DesiredState.build(resources)
    # The same resource objects (as validate hands back for unchanged files): the same essence objects.
    assert again.essence()["Provider"]["openai"] is first.essence()["Provider"]["openai"]
    assert again.hash == first.hash
    # Equal but new objects (a file parsed again) are encoded anew, and mean the same.
    rebuilt = build(TREE)
    assert rebuilt.essence()["Provider"]["openai"] is not first.essence()["Provider"]["openai"]
    assert rebuilt.essence() == first.essence()
    assert rebuilt.hash == first.hash
