"""Filename globs of mux rules, compiled once when a registry is built and matched on every routed request.

Semantics (shell-style, case-sensitive, as `fnmatch`):
- An empty or absent pattern matches every request, even one that names no file.
- A pattern without '/' is matched against each file's basename: `*.py`, `test_*.go`, `*.ts*`.
- A pattern with '/' is matched against the path. A relative pattern also matches the end of a longer path at a
  directory boundary, so `src/*.py` matches `src/app.py` and `/home/me/repo/src/app.py`; a pattern starting with
  '/' is anchored at the start of the path.
- `*` and `?` also match '/', so `src/*.py` matches `src/api/app.py` too. `**/` matches zero or more
  directories (`src/**/*.py` matches `src/app.py`); any other `**` is the same as `*`.
- A backslash in a filename is read as a directory separator (Windows clients).
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Sequence
from typing import Final

_MAX_DOUBLE_STARS: Final = 6  # each `**/` doubles the alternatives compiled


class Glob:
    """A compiled pattern; call it with the request's filenames to know whether a rule applies."""

    __slots__ = ("_on_path", "_regex", "pattern")

    def __init__(self, pattern: str | None) -> None:
        error = validate_glob(pattern)
        if error is not None:
            raise ValueError(error)
        self.pattern = pattern or ""
        self._on_path = "/" in self.pattern
        self._regex = _compile(self.pattern) if self.pattern else None

    @property
    def matches_everything(self) -> bool:
        return self._regex is None

    def matches(self, filename: str) -> bool:
        """Whether one filename matches."""
        if self._regex is None:
            return True
        path = filename.replace("\\", "/")
        subject = path if self._on_path else path.rpartition("/")[2]
        return self._regex.match(subject) is not None

    def __call__(self, filenames: Sequence[str]) -> bool:
        """Whether the rule applies to a request naming `filenames` (always, for an empty pattern)."""
        return self._regex is None or any(self.matches(name) for name in filenames)

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"


def compile_glob(pattern: str | None) -> Glob:
    """Compile `pattern`; raises ValueError with the `validate_glob` sentence when it cannot match as meant."""
    return Glob(pattern)


def validate_glob(pattern: str | None) -> str | None:
    """A sentence saying why `pattern` is unusable, naming the fix; None when it is fine."""
    if not pattern:
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in pattern):
        return f"The glob {pattern!r} contains a control character; filenames never do, so remove it."
    unclosed = _unclosed_bracket(pattern)
    if unclosed is not None:
        return (
            f"The glob {pattern!r} opens a character class with '[' at position {unclosed + 1} but never closes "
            "it; add the closing ']', or write '[[]' to match a literal '['."
        )
    if pattern.endswith("/"):
        return (
            f"The glob {pattern!r} ends with '/', so it can never match a file; "
            f"write {pattern + '*'!r} to match the files below that directory."
        )
    if pattern.count("**/") > _MAX_DOUBLE_STARS:
        return (
            f"The glob {pattern!r} uses '**/' more than {_MAX_DOUBLE_STARS} times; since '*' already crosses "
            "'/', one '**/' (or '*') is enough."
        )
    try:
        _compile(pattern)
    except re.error as error:
        return f"The glob {pattern!r} does not compile ({error}); check its brackets and ranges."
    return None


def _unclosed_bracket(pattern: str) -> int | None:
    """Index of a '[' that fnmatch would take literally for want of a ']' (it follows fnmatch's rules)."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1  # a ']' right after '[' or '[!' is a member, not the end
            close = pattern.find("]", j)
            if close < 0:
                return i
            i = close
        i += 1
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    # `**/` means "zero or more directories": expand each occurrence to "" or "*/" and join the translations.
    pieces = pattern.split("**/")
    variants = dict.fromkeys(
        pieces[0] + "".join(sep + piece for sep, piece in zip(seps, pieces[1:], strict=True))
        for seps in itertools.product(("", "*/"), repeat=len(pieces) - 1)
    )
    alternatives = "|".join(fnmatch.translate(variant) for variant in variants)
    if "/" in pattern and not pattern.startswith("/"):
        return re.compile(rf"(?s:(?:.*/)?)(?:{alternatives})")
    return re.compile(alternatives)
