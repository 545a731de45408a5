"""The running state: declared workspaces plus archived copies of the ones removed, and the inventory behind it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proxy.live.lifecycle import archived_copy, next_inventory, running_state
from proxy.registry import build_registry
from reconciler.check import check_dir
from reconciler.plan import ActionType, diff
from reconciler.state import DesiredState

PROVIDERS = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec: {type: openai}
---
apiVersion: muxgate/v1
kind: Provider
metadata: {name: local}
spec: {type: ollama}
"""


def workspace(name: str, *rules: tuple[str, str], instructions: str = "") -> str:
    body = "".join(
        f"\n    - match: {{type: catch_all}}\n      provider: {provider}\n      model: {model}"
        for provider, model in rules
    )
    return (
        f"apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {{name: {name}}}\n"
        f"spec:\n  customInstructions: {instructions or 'none'}\n  muxRules:{body or ' []'}\n"
    )


def state_of(tmp_path: Path, files: Mapping[str, str]) -> DesiredState:
    root = tmp_path / f"config{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    checked = check_dir(root)
    assert checked.state is not None, [d.summary for d in checked.diagnostics]
    return checked.state


def essence(state: DesiredState, name: str) -> Any:
    return state.essence()["Workspace"][name]


def test_a_removed_workspace_stays_archived_with_its_last_spec(tmp_path: Path) -> None:
    before = state_of(tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("team", ("openai", "gpt-4o"))})
    after = state_of(tmp_path, {"p.yaml": PROVIDERS})
    inventory = next_inventory(before, {}, prune=False)
    running = running_state(after, inventory, prune=False)
    assert essence(running, "team")["spec"]["archived"] is True
    assert essence(running, "team")["spec"]["muxRules"] == essence(before, "team")["spec"]["muxRules"]
    assert running.origin("Workspace", "team") is None
    assert build_registry(running).workspaces["team"].archived
    # The inventory still remembers it, as last declared.
    assert next_inventory(after, inventory, prune=False)["team"] == before.workspaces["team"]


def test_the_plan_against_the_running_state_archives_then_recovers(tmp_path: Path) -> None:
    declared = state_of(tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("team", ("openai", "gpt-4o"))})
    removed = state_of(tmp_path, {"p.yaml": PROVIDERS})
    inventory = next_inventory(declared, {}, prune=False)
    current = running_state(declared, inventory, prune=False)
    archive = diff(removed, current, source_label="DIR")
    assert archive.get("Workspace", "team") is not None
    assert archive.to_archive == 1
    archived = running_state(removed, inventory, prune=False)
    # Nothing more to do once archived: the same directory plans no change and builds the same state.
    assert not diff(removed, archived).has_changes
    assert running_state(removed, next_inventory(removed, inventory, prune=False), prune=False).hash == archived.hash
    recover = diff(declared, archived)
    action = recover.get("Workspace", "team")
    assert action is not None
    assert action.action is ActionType.RECOVER
    assert running_state(declared, inventory, prune=False).hash == current.hash


def test_pruning_drops_archived_workspaces_and_forgets_them(tmp_path: Path) -> None:
    declared = state_of(tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("team")})
    removed = state_of(tmp_path, {"p.yaml": PROVIDERS})
    inventory = next_inventory(declared, {}, prune=False)
    assert "team" not in running_state(removed, inventory, prune=True).workspaces
    assert "team" not in next_inventory(removed, inventory, prune=True)
    plan = diff(removed, running_state(removed, inventory, prune=False), prune=True)
    assert plan.to_delete == 1


def test_default_is_never_archived(tmp_path: Path) -> None:
    declared = state_of(tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("default", ("openai", "gpt-4o"))})
    removed = state_of(tmp_path, {"p.yaml": PROVIDERS})
    running = running_state(removed, next_inventory(declared, {}, prune=False), prune=False)
    assert essence(running, "default")["spec"] == {"archived": False, "customInstructions": "", "muxRules": []}


def test_an_archived_copy_drops_rules_to_providers_that_are_gone(tmp_path: Path) -> None:
    declared = state_of(
        tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("team", ("local", "qwen"), ("openai", "gpt-4o"))}
    )
    only_openai = state_of(tmp_path, {"p.yaml": PROVIDERS.split("---", maxsplit=1)[0]})
    copy = archived_copy(declared.workspaces["team"], only_openai)
    assert copy.spec.archived
    assert [(r.provider, r.model) for r in copy.spec.mux_rules] == [("openai", "gpt-4o")]
    # The registry still compiles although the workspace named a provider that no longer exists.
    running = running_state(only_openai, next_inventory(declared, {}, prune=False), prune=False)
    assert build_registry(running).workspaces["team"].archived


def test_nothing_removed_means_the_desired_state_itself(tmp_path: Path) -> None:
    declared = state_of(tmp_path, {"p.yaml": PROVIDERS, "w.yaml": workspace("team")})
    assert running_state(declared, next_inventory(declared, {}, prune=False), prune=False) is declared
