"""Plan: the typed difference between the desired state and the current one.

Third stage of the flow (load → validate → plan → apply). `diff` is pure: it compares the essence of two
`DesiredState`s (normalised data, so a second run plans nothing) and returns a `Plan` with one action per
resource. `reconciler.render` turns a Plan into text, JSON or GitHub annotations.

Workspace lifecycle, as the plan sees it:

    declared, not in current ────────────────────────► create
    active in current, no longer declared ───────────► archive (kept, recoverable; pruning never skips this)
    active in current, declared with archived: true ─► archive
    archived in current, declared active ────────────► recover (with any field changes)
    archived in current, no longer declared ─────────► no-op, or delete when pruning
    `default` ───────────────────────────────────────► never archived, never deleted

Providers and personas have no archive: one no longer declared is deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from reconciler.diagnostics import PathPart, YamlPath, format_path
from reconciler.models import DEFAULT_WORKSPACE
from reconciler.state import KIND_ORDER, DesiredState


class PlanError(RuntimeError):
    """The states handed to `diff` break an invariant that validation guarantees."""


class Absent(enum.Enum):
    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


# A value that does not exist, as opposed to an explicit null: the old side of an added list item or key,
# the new side of a removed one.
ABSENT: Final = Absent.ABSENT


class ActionType(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    RECOVER = "recover"
    DELETE = "delete"
    NO_OP = "no-op"


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs; `path` starts at the resource, e.g. ("spec", "muxRules", 0, "model")."""

    path: YamlPath
    old: Any
    new: Any

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)

    @property
    def is_addition(self) -> bool:
        return self.old is ABSENT

    @property
    def is_removal(self) -> bool:
        return self.new is ABSENT


@dataclass(frozen=True, slots=True)
class ResourceAction:
    """What happens to one resource. `changes` lists the differing fields; for a create, every field set."""

    kind: str
    name: str
    action: ActionType
    changes: tuple[Change, ...] = ()
    reason: str = ""
    # Top-level fields of the resource (spec keys, plus metadata.labels) that no change touches.
    unchanged_fields: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[ResourceAction, ...]
    desired_hash: str
    current_hash: str | None
    source_label: str
    current_label: str
    prune: bool = False

    def count(self, action: ActionType) -> int:
        return sum(1 for a in self.actions if a.action is action)

    @property
    def to_add(self) -> int:
        return self.count(ActionType.CREATE)

    @property
    def to_change(self) -> int:
        return self.count(ActionType.UPDATE)

    @property
    def to_archive(self) -> int:
        return self.count(ActionType.ARCHIVE)

    @property
    def to_recover(self) -> int:
        return self.count(ActionType.RECOVER)

    @property
    def to_delete(self) -> int:
        return self.count(ActionType.DELETE)

    @property
    def has_changes(self) -> bool:
        return any(a.action is not ActionType.NO_OP for a in self.actions)

    @property
    def pending(self) -> tuple[ResourceAction, ...]:
        """The actions that change something, in plan order."""
        return tuple(a for a in self.actions if a.action is not ActionType.NO_OP)

    def get(self, kind: str, name: str) -> ResourceAction | None:
        for action in self.actions:
            if action.kind == kind and action.name == name:
                return action
        return None


def diff(
    desired: DesiredState,
    current: DesiredState | None,
    *,
    prune: bool = False,
    source_label: str = "the configuration",
    current_label: str = "the current state",
) -> Plan:
    """Plan the actions that turn `current` into `desired`. `current=None` means nothing exists yet.

    `source_label` names where the desired state was declared (a directory, for reasons such as "no longer
    declared in examples/workspaces"); `current_label` names what it is compared with ("the running gateway",
    "origin/main") for the "No changes" sentence.
    """
    desired_essence = desired.essence()
    current_essence = current.essence() if current is not None else {kind: {} for kind in KIND_ORDER}
    actions: list[ResourceAction] = []
    for kind in KIND_ORDER:
        wanted: Mapping[str, Any] = desired_essence[kind]
        existing: Mapping[str, Any] = current_essence[kind]
        for name in sorted(wanted.keys() | existing.keys()):
            before, after = existing.get(name), wanted.get(name)
            if current is not None and desired.digests.get((kind, name), "") == current.digests.get((kind, name)):
                actions.append(ResourceAction(kind, name, ActionType.NO_OP))
                continue
            if kind == "Workspace":
                actions.append(_workspace_action(name, before, after, prune=prune, source=source_label))
            else:
                actions.append(_global_action(kind, name, before, after, source=source_label))
    return Plan(
        actions=tuple(actions),
        desired_hash=desired.hash,
        current_hash=current.hash if current is not None else None,
        source_label=source_label,
        current_label=current_label,
        prune=prune,
    )


def _global_action(
    kind: str, name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, source: str
) -> ResourceAction:
    if after is None:
        assert before is not None
        return ResourceAction(kind, name, ActionType.DELETE, reason=f"because it is no longer declared in {source}")
    if before is None:
        return _create(kind, name, after)
    return _update(kind, name, ActionType.UPDATE, before, after)


def _workspace_action(
    name: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, prune: bool, source: str
) -> ResourceAction:
    kind = "Workspace"
    if name == DEFAULT_WORKSPACE and after is not None and _archived(after):
        raise PlanError(
            'The "default" workspace is declared with archived: true, but it can never be archived; '
            "validate the configuration before planning, or remove archived: true from it."
        )
    if after is None:
        assert before is not None
        if name == DEFAULT_WORKSPACE:
            # Always exists; undeclared it is merely implicit, so there is nothing to do.
            return ResourceAction(kind, name, ActionType.NO_OP)
        if not _archived(before):
            changes = (Change(("spec", "archived"), False, True),)
            return ResourceAction(
                kind,
                name,
                ActionType.ARCHIVE,
                changes,
                reason=f"because it is no longer declared in {source}",
                unchanged_fields=_top_level_count(before) - 1,
            )
        if prune:
            return ResourceAction(
                kind,
                name,
                ActionType.DELETE,
                reason=f"because it is archived, no longer declared in {source}, and pruning was requested",
            )
        return ResourceAction(
            kind,
            name,
            ActionType.NO_OP,
            reason=f"archived and no longer declared in {source}; kept until pruned",
        )
    if before is None:
        return _create(kind, name, after)
    was_archived, is_archived = _archived(before), _archived(after)
    if not was_archived and is_archived:
        return _update(
            kind,
            name,
            ActionType.ARCHIVE,
            before,
            after,
            reason=f"because it is declared with archived: true in {source}",
        )
    if was_archived and not is_archived:
        return _update(
            kind,
            name,
            ActionType.RECOVER,
            before,
            after,
            reason=f"because it is declared as active in {source}",
        )
    return _update(kind, name, ActionType.UPDATE, before, after)


def _archived(essence: Mapping[str, Any]) -> bool:
    return bool(essence["spec"].get("archived", False))


def _create(kind: str, name: str, after: Mapping[str, Any]) -> ResourceAction:
    changes = tuple(Change(path, ABSENT, value) for path, value in _top_level_fields(after))
    return ResourceAction(kind, name, ActionType.CREATE, changes)


def _update(
    kind: str,
    name: str,
    action: ActionType,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    reason: str = "",
) -> ResourceAction:
    changes: list[Change] = []
    for section in ("spec", "metadata"):
        changes.extend(diff_values(before.get(section, ABSENT), after.get(section, ABSENT), (section,)))
    if action is ActionType.UPDATE and not changes:
        return ResourceAction(kind, name, ActionType.NO_OP)
    touched = {change.path[:2] for change in changes}
    unchanged = sum(1 for path, _ in _top_level_fields(after) if path not in touched)
    return ResourceAction(kind, name, action, tuple(changes), reason=reason, unchanged_fields=unchanged)


def _top_level_fields(essence: Mapping[str, Any]) -> list[tuple[YamlPath, Any]]:
    """The fields a person reads as "the resource": each spec key, then the labels (the name is identity)."""
    fields: list[tuple[YamlPath, Any]] = [(("spec", key), value) for key, value in essence.get("spec", {}).items()]
    labels = essence.get("metadata", {}).get("labels")
    if labels is not None:
        fields.append((("metadata", "labels"), labels))
    return fields


def _top_level_count(essence: Mapping[str, Any]) -> int:
    return len(_top_level_fields(essence))


def diff_values(old: Any, new: Any, path: YamlPath = ()) -> list[Change]:
    """Field-level changes between two JSON-like values: dicts key by key, lists index by index."""
    if _same(old, new):
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[Change] = []
        for key in [*new.keys(), *(k for k in old if k not in new)]:
            changes.extend(diff_values(old.get(key, ABSENT), new.get(key, ABSENT), (*path, key)))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        # Order is priority for mux rules, so position is identity: a reorder is a change at each index.
        changes = []
        for index in range(max(len(old), len(new))):
            old_item = old[index] if index < len(old) else ABSENT
            new_item = new[index] if index < len(new) else ABSENT
            changes.extend(diff_values(old_item, new_item, (*path, index)))
        return changes
    return [Change(path, old, new)]


def _same(a: Any, b: Any) -> bool:
    # Python says True == 1 == 1.0; the content hash (JSON text) does not, and the plan must agree with it.
    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def path_parts(change: Change) -> Sequence[PathPart]:
    """The path as a person reads it in a plan: without the leading "spec" ("muxRules[0].model")."""
    return change.path[1:] if change.path[:1] == ("spec",) else change.path
