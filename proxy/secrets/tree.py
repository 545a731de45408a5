"""Rewriting every string of a JSON-like body: the one walk that redaction and restoration share.

A container is copied only when something in it changed, so an untouched body comes back as the same object and a
large prompt with one secret costs one copy of the path to it, not of the whole body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WALKED = (
    str,
    dict,
    list,
)  # the types walked into; a tuple: isinstance() checks it faster than the union `str | dict | list`


def _never(node: dict[str, Any], key: str) -> bool:
    return False


def rewrite_strings(
    node: Any,
    visit: Callable[[str, str | None], str],
    skip: Callable[[dict[str, Any], str], bool] = _never,
) -> Any:
    """`node` with `visit(text, key)` applied to every string value (`key`: the mapping key holding it, None in a
    list or at the top); dict keys are not visited, nor values under keys that `skip(mapping, key)` names."""
    return _rewrite(node, None, visit, skip)


def _rewrite(
    node: Any,
    key: str | None,
    visit: Callable[[str, str | None], str],
    skip: Callable[[dict[str, Any], str], bool],
) -> Any:
    if isinstance(node, str):
        return visit(node, key)
    if isinstance(node, dict):
        changed: dict[str, Any] | None = None
        for name, value in node.items():
            if isinstance(value, WALKED) and not skip(node, name):
                new = _rewrite(value, name, visit, skip)
                if new is not value:
                    if changed is None:
                        changed = dict(node)
                    changed[name] = new
        return node if changed is None else changed
    if isinstance(node, list):
        items: list[Any] | None = None
        for i, value in enumerate(node):
            if isinstance(value, WALKED):
                new = _rewrite(value, None, visit, skip)
                if new is not value:
                    if items is None:
                        items = list(node)
                    items[i] = new
        return node if items is None else items
    return node
