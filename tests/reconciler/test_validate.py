"""Validation of whole trees: a valid tree becomes a DesiredState whose hash follows meaning, not layout."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.check import check_dir
from reconciler.diagnostics import Severity
from reconciler.loader import ParseCache, load_files
from reconciler.models import DEFAULT_WORKSPACE
from reconciler.state import DesiredState, Origin
from reconciler.validate import Validation, did_you_mean, validate

Files = Mapping[str, str | bytes | None]

OPENAI = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models:
    - {name: gpt-4o-mini, price: {inputPerMTok: 0.15, outputPerMTok: 0.6}}
    - {name: gpt-4o}
"""
OLLAMA = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: local}
spec:
  type: ollama
"""
REVIEWER = """\
apiVersion: muxgate/v1
kind: Persona
metadata: {name: reviewer}
spec: {description: Reviews code for security issues}
"""
BACKEND = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend, labels: {team: payments}}
spec:
  customInstructions: Prefer the standard library.
  muxRules:
    - match: {type: chat_filename, pattern: "*.py"}
      provider: openai
      model: gpt-4o-mini
    - match: {type: catch_all}
      provider: local
      model: qwen2.5-coder:7b
"""


def check(files: Mapping[str, str], cache: ParseCache | None = None) -> Validation:
    return validate(load_files([(path, text.encode()) for path, text in files.items()], cache), cache)


def state_of(files: Mapping[str, str]) -> DesiredState:
    result = check(files)
    assert result.diagnostics == ()
    assert result.state is not None
    return result.state


def test_valid_tree_gives_a_state() -> None:
    result = check({"providers.yaml": OPENAI + "---\n" + OLLAMA, "personas.yaml": REVIEWER, "ws/backend.yaml": BACKEND})

    assert result.ok
    assert result.diagnostics == ()
    state = result.state
    assert state is not None
    assert list(state.providers) == ["local", "openai"]
    assert list(state.personas) == ["reviewer"]
    assert list(state.workspaces) == ["backend", DEFAULT_WORKSPACE]
    backend = state.workspaces["backend"]
    assert [r.model for r in backend.spec.mux_rules] == ["gpt-4o-mini", "qwen2.5-coder:7b"]
    assert backend.metadata.labels == {"team": "payments"}
    assert state.origin("Provider", "local") == Origin("providers.yaml", 11)
    assert state.origin("Workspace", "backend") == Origin("ws/backend.yaml", 1)
    assert len(state.hash) == 64


def test_same_resources_split_across_other_files_hash_the_same() -> None:
    together = state_of({"all.yaml": "---\n".join([BACKEND, REVIEWER, OLLAMA, OPENAI])})
    apart = state_of({"p/openai.yaml": OPENAI, "p/local.yml": OLLAMA, "x/reviewer.yaml": REVIEWER, "w.yaml": BACKEND})

    assert together.hash == apart.hash
    assert together == apart
    assert together.origin("Provider", "openai") != apart.origin("Provider", "openai")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(OLLAMA, OLLAMA + "  endpoint: http://localhost:11434\n", id="endpoint-left-out-vs-default"),
        pytest.param(OLLAMA, OLLAMA + "  endpoint: http://localhost:11434/\n", id="endpoint-trailing-slash"),
        pytest.param(OLLAMA, OLLAMA + "  auth: {type: none}\n", id="auth-none"),
        pytest.param(OLLAMA, OLLAMA + "  models: []\n  description: ''\n", id="empty-lists-and-text"),
        pytest.param(OLLAMA, OLLAMA + "  timeouts: {connect: 5, read: 600}\n", id="default-timeouts-as-integers"),
        pytest.param(OLLAMA, OLLAMA.replace("{name: local}", "{name: local, labels: {}}"), id="empty-labels"),
        pytest.param(
            BACKEND,
            BACKEND.replace(
                "customInstructions: Prefer the standard library.",
                "customInstructions: Prefer the standard library.\n  archived: false",
            ),
            id="archived-false",
        ),
        pytest.param(
            BACKEND, BACKEND.replace("{type: catch_all}", "{type: catch_all, pattern: ''}"), id="empty-pattern"
        ),
        pytest.param(
            BACKEND,
            BACKEND.replace(
                "metadata: {name: backend, labels: {team: payments}}",
                "metadata:\n  labels:\n    team: payments\n  name: backend",
            ),
            id="key-order-and-flow-style",
        ),
    ],
)
def test_defaults_spelled_out_hash_the_same(left: str, right: str) -> None:
    base = {"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": BACKEND}
    changed = {**base, "local.yaml" if left is OLLAMA else "backend.yaml": right}

    assert state_of(base).hash == state_of(changed).hash


def test_reordering_mux_rules_changes_the_hash() -> None:
    fim_first = BACKEND.replace(
        "  muxRules:\n",
        "  muxRules:\n    - match: {type: fim_filename}\n      provider: local\n      model: qwen2.5-coder:1.5b\n",
    )
    fim_second = BACKEND.replace(
        "    - match: {type: catch_all}",
        "    - match: {type: fim_filename}\n      provider: local\n      model: qwen2.5-coder:1.5b\n"
        "    - match: {type: catch_all}",
    )
    base = {"openai.yaml": OPENAI, "local.yaml": OLLAMA}

    first = state_of({**base, "backend.yaml": fim_first})
    second = state_of({**base, "backend.yaml": fim_second})

    assert first.hash != second.hash


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(("gpt-4o-mini\n", "gpt-4o\n"), id="rule-model"),
        pytest.param(("Prefer the standard library.", "Prefer the standard library!"), id="instructions"),
        pytest.param(("team: payments", "team: billing"), id="label"),
        pytest.param(('"*.py"', '"*.pyi"'), id="pattern"),
    ],
)
def test_any_change_of_meaning_changes_the_hash(edit: tuple[str, str]) -> None:
    base = {"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": BACKEND}

    changed = {**base, "backend.yaml": BACKEND.replace(*edit, 1)}

    assert state_of(base).hash != state_of(changed).hash


def test_default_workspace_exists_when_not_declared() -> None:
    state = state_of({"local.yaml": OLLAMA})

    default = state.workspaces[DEFAULT_WORKSPACE]
    assert default.spec.mux_rules == []
    assert not default.spec.archived
    assert state.origin("Workspace", DEFAULT_WORKSPACE) is None


def test_declared_default_workspace_replaces_the_implicit_one() -> None:
    declared = BACKEND.replace("name: backend", "name: default")

    state = state_of({"openai.yaml": OPENAI, "local.yaml": OLLAMA, "default.yaml": declared})

    assert len(state.workspaces[DEFAULT_WORKSPACE].spec.mux_rules) == 2
    assert state.origin("Workspace", DEFAULT_WORKSPACE) == Origin("default.yaml", 1)


def test_empty_tree_is_valid_and_holds_only_the_default_workspace() -> None:
    state = state_of({})

    assert list(state.workspaces) == [DEFAULT_WORKSPACE]
    assert state == DesiredState.empty()


def test_warnings_do_not_stop_the_state() -> None:
    no_catch_all = BACKEND.replace("type: catch_all", "type: fim_filename")

    result = check({"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": no_catch_all})

    assert result.state is not None
    assert [(d.severity, d.code) for d in result.diagnostics] == [(Severity.WARNING, "no-catch-all")]


def test_a_rule_naming_an_invalid_provider_is_not_reported_twice() -> None:
    broken_provider = OPENAI.replace("type: openai", "type: openia")

    result = check({"openai.yaml": broken_provider, "local.yaml": OLLAMA, "backend.yaml": BACKEND})

    assert [(d.file, d.code) for d in result.diagnostics] == [("openai.yaml", "invalid-value")]


def test_any_error_means_no_state_but_every_file_is_still_checked() -> None:
    result = check(
        {
            "openai.yaml": OPENAI.replace("name: openai", "name: OpenAI"),
            "backend.yaml": BACKEND.replace("team: payments", "team: [payments]"),
            "local.yaml": OLLAMA,
        }
    )

    assert result.state is None
    assert not result.ok
    # The rule naming "openai" is not reported: the provider is declared, only under an invalid name.
    assert [(d.file, d.code) for d in result.diagnostics] == [
        ("backend.yaml", "wrong-type"),
        ("openai.yaml", "invalid-name"),
    ]


def test_validation_with_the_parse_cache_matches_validation_without() -> None:
    cache = ParseCache()
    files = {"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": BACKEND.replace("name: backend", "name: B")}

    first = check(files, cache)
    second = check(files, cache)
    fixed = check({**files, "backend.yaml": BACKEND}, cache)

    assert first.diagnostics == second.diagnostics == check(files).diagnostics
    assert [d.code for d in first.diagnostics] == ["invalid-name"]
    assert fixed.diagnostics == ()
    assert fixed.state == state_of({**files, "backend.yaml": BACKEND})


def test_cached_documents_still_take_part_in_checks_across_files() -> None:
    cache = ParseCache()
    check({"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": BACKEND}, cache)

    # backend.yaml is unchanged (cached) but now names a provider that is gone.
    result = check({"openai.yaml": OPENAI, "backend.yaml": BACKEND}, cache)

    assert [(d.file, d.code) for d in result.diagnostics] == [("backend.yaml", "unknown-provider")]


def test_example_repository_is_valid() -> None:
    examples = Path(__file__).parents[2] / "examples" / "workspaces"

    checked = check_dir(examples)

    assert [d for d in checked.diagnostics if d.severity is Severity.ERROR] == []
    assert checked.state is not None


def test_check_dir_reads_the_tree_on_disk(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({"openai.yaml": OPENAI, "local.yaml": OLLAMA, "team/backend.yaml": BACKEND})

    checked = check_dir(root)

    assert checked.state == state_of({"openai.yaml": OPENAI, "local.yaml": OLLAMA, "backend.yaml": BACKEND})
    assert checked.sources["team/backend.yaml"][2] == "metadata: {name: backend, labels: {team: payments}}"


@pytest.mark.parametrize(
    ("word", "options", "guess"),
    [
        ("opnai", ["openai", "local"], "openai"),
        ("Workspce", ["Provider", "Workspace", "Persona"], "Workspace"),
        ("OPENAI", ["openai"], "openai"),
        ("zzz", ["openai", "local"], None),
        ("x", [], None),
    ],
)
def test_did_you_mean(word: str, options: list[str], guess: str | None) -> None:
    assert did_you_mean(word, options) == guess
