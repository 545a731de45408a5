"""Tests for reconciler.plan: one action per resource, field-level changes, agreement with the hash."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.plan import ABSENT, ActionType, Change, PlanError, diff, diff_values
from reconciler.state import DesiredState
from tests.support.states import persona, provider, rule, state, workspace


def action_of(desired: DesiredState, current: DesiredState | None, name: str, *, prune: bool = False) -> ActionType:
    found = diff(desired, current, prune=prune).get("Workspace", name)
    assert found is not None
    return found.action


def test_against_nothing_everything_is_created() -> None:
    plan = diff(state(provider(), persona("reviewer"), workspace("backend")), None)
    assert [(a.kind, a.name, a.action) for a in plan.actions] == [
        ("Provider", "openai", ActionType.CREATE),
        ("Persona", "reviewer", ActionType.CREATE),
        ("Workspace", "backend", ActionType.CREATE),
        ("Workspace", "default", ActionType.CREATE),
    ]
    assert plan.current_hash is None
    assert plan.to_add == 4
    assert plan.has_changes


def test_create_lists_each_top_level_field_as_added() -> None:
    ws = workspace("backend", instructions="Be brief.", rules=[rule("gpt-4o")], labels={"team": "payments"})
    created = diff(state(ws), None).get("Workspace", "backend")
    assert created is not None
    assert [c.path for c in created.changes] == [
        ("spec", "archived"),
        ("spec", "customInstructions"),
        ("spec", "muxRules"),
        ("metadata", "labels"),
    ]
    assert all(c.old is ABSENT for c in created.changes)
    assert created.changes[1].new == "Be brief."


def test_same_state_plans_nothing() -> None:
    desired = state(provider(models=["gpt-4o"]), persona("reviewer"), workspace("backend", rules=[rule("gpt-4o")]))
    plan = diff(desired, desired)
    assert not plan.has_changes
    assert {a.action for a in plan.actions} == {ActionType.NO_OP}
    assert plan.desired_hash == plan.current_hash


def test_equal_essence_written_differently_plans_nothing() -> None:
    # Other files, other order, and the provider's default endpoint written out: the same meaning.
    desired = state(workspace("backend"), provider(endpoint="https://api.openai.com/v1/"), folder="a")
    current = state(provider(), workspace("backend"), folder="b")
    plan = diff(desired, current)
    assert not plan.has_changes
    assert plan.desired_hash == plan.current_hash


def test_update_reports_leaf_changes_with_paths() -> None:
    current = state(workspace("backend", rules=[rule("gpt-4o", pattern="*.py"), rule("gpt-4o")]))
    desired = state(workspace("backend", rules=[rule("gpt-4o-mini", pattern="*.py"), rule("gpt-4o")]))
    updated = diff(desired, current).get("Workspace", "backend")
    assert updated is not None
    assert updated.action is ActionType.UPDATE
    assert updated.changes == (Change(("spec", "muxRules", 0, "model"), "gpt-4o", "gpt-4o-mini"),)
    # archived, customInstructions and labels are untouched.
    assert updated.unchanged_fields == 3


def test_reordering_rules_is_a_change_at_each_index() -> None:
    first, second = rule("a", pattern="*.py"), rule("b")
    current = state(workspace("backend", rules=[first, second]))
    desired = state(workspace("backend", rules=[second, first]))
    updated = diff(desired, current).get("Workspace", "backend")
    assert updated is not None
    assert updated.action is ActionType.UPDATE
    assert {c.path[:3] for c in updated.changes} == {("spec", "muxRules", 0), ("spec", "muxRules", 1)}
    assert desired.hash != current.hash


def test_added_and_removed_trailing_rules_use_the_absent_marker() -> None:
    short = state(workspace("backend", rules=[rule("a")]))
    long = state(workspace("backend", rules=[rule("a"), rule("b")]))
    added = diff(long, short).get("Workspace", "backend")
    removed = diff(short, long).get("Workspace", "backend")
    assert added is not None
    assert removed is not None
    new_rule = long.essence()["Workspace"]["backend"]["spec"]["muxRules"][1]
    assert added.changes == (Change(("spec", "muxRules", 1), ABSENT, new_rule),)
    assert removed.changes == (Change(("spec", "muxRules", 1), new_rule, ABSENT),)
    assert added.changes[0].is_addition
    assert removed.changes[0].is_removal


def test_absent_is_not_null() -> None:
    # pattern goes from an explicit null to a value: a change of value, not an added key.
    changes = diff_values({"pattern": None}, {"pattern": "*.py"})
    assert changes == [Change(("pattern",), None, "*.py")]
    assert changes[0].old is not ABSENT
    assert ABSENT is not None
    assert diff_values({}, {"pattern": None}) == [Change(("pattern",), ABSENT, None)]


def test_nested_dicts_are_compared_key_by_key() -> None:
    current = state(workspace("backend", labels={"team": "payments", "tier": "1"}))
    desired = state(workspace("backend", labels={"team": "billing", "owner": "ana"}))
    updated = diff(desired, current).get("Workspace", "backend")
    assert updated is not None
    assert set(updated.changes) == {
        Change(("metadata", "labels", "team"), "payments", "billing"),
        Change(("metadata", "labels", "owner"), ABSENT, "ana"),
        Change(("metadata", "labels", "tier"), "1", ABSENT),
    }


def test_values_of_other_types_differ_even_when_python_calls_them_equal() -> None:
    assert diff_values(True, 1) == [Change((), True, 1)]
    assert diff_values(1, 1.0) == [Change((), 1, 1.0)]
    assert diff_values([1.0], [1.0]) == []


def test_workspace_no_longer_declared_is_archived_with_a_reason() -> None:
    plan = diff(state(), state(workspace("legacy")), source_label="examples/workspaces")
    archived = plan.get("Workspace", "legacy")
    assert archived is not None
    assert archived.action is ActionType.ARCHIVE
    assert archived.reason == "because it is no longer declared in examples/workspaces"
    assert archived.changes == (Change(("spec", "archived"), False, True),)
    assert plan.to_archive == 1
    assert plan.to_delete == 0


def test_pruning_never_deletes_an_active_workspace_directly() -> None:
    assert action_of(state(), state(workspace("legacy")), "legacy", prune=True) is ActionType.ARCHIVE


def test_workspace_declared_archived_is_archived() -> None:
    plan = diff(state(workspace("legacy", archived=True)), state(workspace("legacy")), source_label="cfg")
    archived = plan.get("Workspace", "legacy")
    assert archived is not None
    assert archived.action is ActionType.ARCHIVE
    assert archived.reason == "because it is declared with archived: true in cfg"


def test_archived_workspace_declared_active_is_recovered_with_its_changes() -> None:
    current = state(workspace("docs", archived=True, instructions="old"))
    desired = state(workspace("docs", instructions="new"))
    recovered = diff(desired, current).get("Workspace", "docs")
    assert recovered is not None
    assert recovered.action is ActionType.RECOVER
    assert set(recovered.changes) == {
        Change(("spec", "archived"), True, False),
        Change(("spec", "customInstructions"), "old", "new"),
    }
    assert diff(desired, current).to_recover == 1


def test_new_workspace_is_created_not_recovered() -> None:
    assert action_of(state(workspace("new")), state(), "new") is ActionType.CREATE


def test_new_workspace_declared_archived_is_created() -> None:
    assert action_of(state(workspace("old", archived=True)), state(), "old") is ActionType.CREATE


def test_archived_workspace_no_longer_declared_is_kept_until_pruned() -> None:
    current = state(workspace("legacy", archived=True))
    kept = diff(state(), current).get("Workspace", "legacy")
    assert kept is not None
    assert kept.action is ActionType.NO_OP
    assert not diff(state(), current).has_changes
    pruned = diff(state(), current, prune=True, source_label="cfg").get("Workspace", "legacy")
    assert pruned is not None
    assert pruned.action is ActionType.DELETE
    assert "pruning" in pruned.reason


def test_pruning_keeps_a_workspace_declared_archived() -> None:
    both = state(workspace("legacy", archived=True))
    assert action_of(both, both, "legacy", prune=True) is ActionType.NO_OP


def test_archived_workspace_edited_while_archived_is_updated() -> None:
    current = state(workspace("legacy", archived=True, instructions="a"))
    desired = state(workspace("legacy", archived=True, instructions="b"))
    assert action_of(desired, current, "legacy") is ActionType.UPDATE


def test_default_workspace_is_never_archived() -> None:
    # Declared with rules before, not declared now: it goes back to empty, it is not archived.
    current = state(workspace("default", rules=[rule("gpt-4o")]))
    assert action_of(state(), current, "default", prune=True) is ActionType.UPDATE
    # A state built by hand without it still plans nothing for it.
    bare = DesiredState(providers={}, personas={}, workspaces=MappingProxyType({}))
    assert action_of(bare, current, "default", prune=True) is ActionType.NO_OP


def test_default_workspace_declared_archived_is_refused() -> None:
    with pytest.raises(PlanError, match="can never be archived"):
        diff(state(workspace("default", archived=True)), state())


def test_providers_and_personas_no_longer_declared_are_deleted() -> None:
    plan = diff(state(), state(provider(), persona("reviewer")), source_label="cfg")
    assert [(a.kind, a.action) for a in plan.pending] == [
        ("Provider", ActionType.DELETE),
        ("Persona", ActionType.DELETE),
    ]
    assert all(a.reason == "because it is no longer declared in cfg" for a in plan.pending)
    assert plan.to_delete == 2


def test_actions_are_ordered_by_kind_then_name() -> None:
    plan = diff(state(workspace("b"), workspace("a"), persona("z"), provider("y"), provider("x")), None)
    assert [(a.kind, a.name) for a in plan.actions] == [
        ("Provider", "x"),
        ("Provider", "y"),
        ("Persona", "z"),
        ("Workspace", "a"),
        ("Workspace", "b"),
        ("Workspace", "default"),
    ]


def test_counts_and_hashes() -> None:
    current = state(workspace("edit"), workspace("gone"), workspace("back", archived=True), persona("old"))
    desired = state(workspace("edit", instructions="x"), workspace("back"), workspace("new"))
    plan = diff(desired, current)
    assert (plan.to_add, plan.to_change, plan.to_archive, plan.to_recover, plan.to_delete) == (1, 1, 1, 1, 1)
    assert plan.desired_hash == desired.hash
    assert plan.current_hash == current.hash


_names = st.sampled_from(["a", "b", "c"])
_workspaces = st.builds(
    lambda name, text, models, archived: workspace(
        name, instructions=text, rules=[rule(m) for m in models], archived=archived
    ),
    _names,
    st.sampled_from(["", "x", "y"]),
    st.lists(st.sampled_from(["m1", "m2"]), max_size=2),
    st.booleans(),
)
_states = st.lists(_workspaces, max_size=3, unique_by=lambda w: w.metadata.name).map(lambda ws: state(*ws))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(desired=_states, current=_states)
def test_plan_agrees_with_the_content_hash(desired: DesiredState, current: DesiredState) -> None:
    plan = diff(desired, current)
    assert not diff(desired, desired).has_changes
    if desired.hash == current.hash:
        assert not plan.has_changes
    # Archived workspaces that are no longer declared are kept, so only they may differ without a change.
    kept = {a.name for a in plan.actions if a.action is ActionType.NO_OP and a.reason}
    if not plan.has_changes:
        assert set(desired.workspaces) | kept == set(current.workspaces) | kept
        for name in desired.workspaces:
            assert desired.essence()["Workspace"][name] == current.essence()["Workspace"][name]
