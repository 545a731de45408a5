"""Glob patterns of mux rules: the matching semantics, shared by validation and the proxy's router.

A pattern without '/' is matched against a file's basename (``*.py`` matches ``src/app.py``). A pattern with '/' is
matched against the path at a directory boundary, so ``src/*.py`` matches ``src/app.py`` and
``/home/me/project/src/app.py``; a leading '/' anchors it to the start of the path. ``*`` and ``?`` never cross a
'/', ``**`` does (``src/**/*.ts`` matches ``src/a.ts`` and ``src/ui/b/c.ts``), ``[abc]`` and ``[!abc]`` are
character classes. Matching is case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

MAX_PATTERN_LENGTH = 256


@lru_cache(maxsize=4096)
def glob_error(pattern: str) -> str | None:
    """A sentence saying why `pattern` is not a usable glob, or None when it is."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"The glob is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are allowed."
    if any(c in pattern for c in "\n\r\0"):
        return "The glob contains a line break or NUL character."
    try:
        re.compile(_translate(pattern))
    except ValueError as exc:  # re.error is a ValueError
        return str(exc)[:1].upper() + str(exc)[1:] if not isinstance(exc, re.error) else (
            f"The glob has an invalid character class ({exc.msg})."
        )
    return None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    out.append("(?:.*/)?")  # `**/` is zero or more directories
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) or pattern.startswith("[]", i) else i + 1)
            if end < 0:
                raise ValueError(f"The '[' at position {i + 1} is never closed with ']'.")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{'^/' if negate else ''}{body}]" if negate else f"[{body}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str | None) -> Callable[[Sequence[str]], bool]:
    """A predicate over the filenames of a request. An empty pattern matches every request, filenames or not."""
    if not pattern:
        return lambda _names: True
    body = _translate(pattern)
    if "/" not in pattern:
        regex = re.compile(body)

        def match_basename(names: Sequence[str]) -> bool:
            return any(regex.fullmatch(n.replace("\\", "/").rsplit("/", 1)[-1]) for n in names)

        return match_basename
    anchored = pattern.startswith("/")
    regex = re.compile(body if anchored else f"(?:.*/)?{body}")

    def match_path(names: Sequence[str]) -> bool:
        return any(regex.fullmatch(_normalise(n)) for n in names)

    return match_path


def _normalise(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path
