"""Checks on the regular expressions users declare (secret patterns): they must compile, must not match the empty
string, and must not be prone to catastrophic backtracking, because the gateway runs them over every prompt.

Used by `reconciler.validate`, and again by the gateway before it compiles a pattern. The checks read the parse
tree of Python's own regex parser and refuse the shapes that make a backtracking engine slow on long input:

- a repeat inside a repeat that can take the same characters: `(a+)+`, `(\\w+\\s?)*`;
- a repeated alternation whose branches can start alike: `(a|a)*`, `(\\w|\\d)+`;
- two unbounded repeats in a row over overlapping characters: `\\w+\\d+`, `.*.*`;
- an unbounded repeat at the start of the pattern: `.*secret`, `\\w+@corp` (start with a literal or `\\b`).

A repeat bounded at 1,000 or less counts as bounded.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Final

# The parser of the `re` module; private, but stable across 3.11–3.13 and the only parse tree the engine uses.
sre_parse: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

_UNBOUNDED: Final = 1000
_ALL: Final = frozenset(range(129))  # ASCII, and 128 for any other character
_DIGITS: Final = frozenset(range(48, 58))
_WORD: Final = frozenset([*range(48, 58), *range(65, 91), *range(97, 123), 95, 128])
_SPACE: Final = frozenset([9, 10, 11, 12, 13, 32, 128])
_CATEGORIES: Final = {
    C.CATEGORY_DIGIT: _DIGITS,
    C.CATEGORY_NOT_DIGIT: _ALL - _DIGITS,
    C.CATEGORY_WORD: _WORD,
    C.CATEGORY_NOT_WORD: (_ALL - _WORD) | {128},
    C.CATEGORY_SPACE: _SPACE,
    C.CATEGORY_NOT_SPACE: (_ALL - _SPACE) | {128},
}
_REPEATS: Final = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)


class _UnsafePatternError(Exception):
    pass


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used as a secret pattern, as a sentence; None when it is fine."""
    try:
        compiled = re.compile(pattern)
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"The pattern does not compile: {exc}."
    if compiled.fullmatch(""):
        return "The pattern matches the empty string, so it would match everywhere."
    try:
        _sequence(list(tree), top=True)
    except _UnsafePatternError as exc:
        return str(exc)
    return None


def _chars(item: tuple[Any, Any]) -> frozenset[int]:
    """The characters an item can consume (an over-approximation)."""
    op, av = item
    if op is C.LITERAL:
        return frozenset({av if av < 128 else 128})
    if op is C.NOT_LITERAL:
        return _ALL - {av}
    if op is C.ANY:
        return _ALL
    if op is C.IN:
        found: set[int] = set()
        negate = False
        for kind, value in av:
            if kind is C.NEGATE:
                negate = True
            elif kind is C.LITERAL:
                found.add(value if value < 128 else 128)
            elif kind is C.RANGE:
                low, high = value
                found.update(range(min(low, 128), min(high, 128) + 1))
            elif kind is C.CATEGORY:
                found.update(_CATEGORIES.get(value, _ALL))
        return (_ALL - found) | {128} if negate else frozenset(found)
    if op in _REPEATS:
        return _union(_chars(i) for i in av[2])
    if op is C.SUBPATTERN:
        return _union(_chars(i) for i in av[3])
    if op is C.ATOMIC_GROUP:
        return _union(_chars(i) for i in av)
    if op is C.BRANCH:
        return _union(_chars(i) for branch in av[1] for i in branch)
    if op is C.GROUPREF:
        return _ALL
    return frozenset()


def _union(sets: Any) -> frozenset[int]:
    out: set[int] = set()
    for one in sets:
        out |= one
    return frozenset(out)


def _first(items: list[tuple[Any, Any]]) -> frozenset[int]:
    """The characters a sequence can start with (through items that may match nothing)."""
    out: set[int] = set()
    for item in items:
        op, av = item
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue
        if op in _REPEATS:
            out |= _first(list(av[2]))
            if av[0] == 0:
                continue
            return frozenset(out)
        if op is C.SUBPATTERN:
            out |= _first(list(av[3]))
        elif op is C.BRANCH:
            for branch in av[1]:
                out |= _first(list(branch))
        else:
            out |= _chars(item)
        return frozenset(out)
    return frozenset(out)


def _unbounded(av: Any) -> bool:
    return bool(av[1] is C.MAXREPEAT or av[1] > _UNBOUNDED)


def _sequence(items: list[tuple[Any, Any]], *, top: bool = False) -> None:
    previous: frozenset[int] | None = None  # characters of the last unbounded repeat, while only optional items follow
    leading = top
    for item in items:
        op, av = item
        if op in _REPEATS:
            body = list(av[2])
            if _unbounded(av) or av[1] > 1:
                _no_nested_repeat(body, av)
                _no_overlapping_branches(body, av)
            _sequence(body)
            if _unbounded(av):
                chars = _chars(item)
                if leading and op is not C.POSSESSIVE_REPEAT:
                    raise _UnsafePatternError(
                        "The pattern starts with an unbounded repeat, which makes searching a long text take "
                        "quadratic time; start it with a literal or \\b, or bound the repeat (for example {1,64})."
                    )
                if previous is not None and previous & chars:
                    raise _UnsafePatternError(
                        "The pattern has two unbounded repeats in a row over the same characters (like \\w+\\d+), "
                        "which can take polynomial time; bound one of them or separate them with a literal."
                    )
                # An optional repeat lets the next one meet this one: `[a-z]+\\s*[a-z]+` splits a run of letters.
                previous = (previous or frozenset()) | chars if av[0] == 0 else chars
            elif av[0] > 0:
                previous = None
            leading = False
            continue
        if op is C.SUBPATTERN:
            _sequence(list(av[3]), top=leading)
        elif op is C.ATOMIC_GROUP:
            _sequence(list(av))
        elif op is C.BRANCH:
            for branch in av[1]:
                _sequence(list(branch), top=leading)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            _sequence(list(av[1]))
            continue
        if op is C.AT:
            leading = False
            continue
        previous = None
        leading = False


def _no_nested_repeat(body: list[tuple[Any, Any]], outer: Any) -> None:
    start = _first(body)
    for inner in _repeats_in(body):
        if (_unbounded(inner[1]) or _unbounded(outer)) and _chars(inner) & (start | _chars(inner)) & start:
            raise _UnsafePatternError(
                "The pattern nests a repeat inside a repeat over the same characters (like (a+)+), which can take "
                "exponential time; write it with a single repeat, for example a+ instead of (a+)+."
            )


def _repeats_in(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    for op, av in items:
        if op in _REPEATS:
            if av[1] > 1:
                found.append((op, av))
            found.extend(_repeats_in(list(av[2])))
        elif op is C.SUBPATTERN:
            found.extend(_repeats_in(list(av[3])))
        elif op is C.BRANCH:
            for branch in av[1]:
                found.extend(_repeats_in(list(branch)))
        elif op is C.ATOMIC_GROUP:
            found.extend(_repeats_in(list(av)))
    return found


def _no_overlapping_branches(body: list[tuple[Any, Any]], outer: Any) -> None:
    if not _unbounded(outer):
        return
    for op, av in body:
        branches = None
        if op is C.BRANCH:
            branches = av[1]
        elif op is C.SUBPATTERN and len(av[3]) == 1 and av[3][0][0] is C.BRANCH:
            branches = av[3][0][1][1]
        if branches is None:
            continue
        firsts = [_first(list(b)) for b in branches]
        for i, one in enumerate(firsts):
            for other in firsts[i + 1 :]:
                if one & other:
                    raise _UnsafePatternError(
                        "The pattern repeats a choice whose branches can start with the same character (like "
                        "(a|ab)* or (\\w|\\d)+), which can take exponential time; make the branches start differently."
                    )
