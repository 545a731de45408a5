"""Workspace lifecycle across applies: the running state is the desired state plus what the inventory remembers.

Sits between validate and apply in the live loop. A workspace removed from the config directory is not dropped
from the gateway: it stays in the running registry as an archived copy of its last declared spec (requests to it
get 404 "is archived"), until it is declared again (recovered) or pruning is on. `default` always exists and is
never archived. The inventory is what makes this survive restarts; `proxy.statefile` persists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from reconciler.models import DEFAULT_WORKSPACE, Workspace
from reconciler.state import DesiredState

Inventory = Mapping[str, Workspace]


def running_state(desired: DesiredState, inventory: Inventory, *, prune: bool) -> DesiredState:
    """`desired` plus an archived copy of every inventory workspace it no longer declares (none when pruning)."""
    if prune:
        return desired
    gone = [
        archived_copy(workspace, desired)
        for name, workspace in sorted(inventory.items())
        if name not in desired.workspaces and name != DEFAULT_WORKSPACE
    ]
    if not gone:
        return desired
    declared = [(r, desired.origin(r.kind, r.metadata.name)) for r in desired.resources()]
    return DesiredState.build([*declared, *((w, None) for w in gone)])


def archived_copy(workspace: Workspace, desired: DesiredState) -> Workspace:
    """The workspace as the running registry keeps it once undeclared: archived, and without rules that name a
    provider that is gone too (an archived workspace routes nothing, and the registry must still compile)."""
    rules = [rule for rule in workspace.spec.mux_rules if rule.provider in desired.providers]
    spec = workspace.spec.model_copy(update={"archived": True, "mux_rules": rules})
    return workspace.model_copy(update={"spec": spec})


def next_inventory(desired: DesiredState, previous: Inventory, *, prune: bool) -> Inventory:
    """Every declared workspace as declared now, plus (unless pruning) the ones remembered from before."""
    kept = {} if prune else {name: ws for name, ws in previous.items() if name not in desired.workspaces}
    return MappingProxyType({**kept, **desired.workspaces})
