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
    except re.error as exc:  # not a ValueError: a range that runs backwards, such as [z-a]
        # re's own position counts characters of the translated regex, not of the glob.
        return f"The glob has an invalid character class ({exc.msg.split(' at position')[0]})."
    except ValueError as exc:
        return str(exc)
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
            # A ']' right after '[' or '[!' is a member of the class, not its end (as in fnmatch).
            j = i + 2 if pattern.startswith("[!", i) else i + 1
            if pattern.startswith("]", j):
                j += 1
            end = pattern.find("]", j)
            if end < 0:
                raise ValueError(f"The '[' at position {i + 1} is never closed with ']'.")
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            out.append(f"[{'^/' if negate else ''}{_class_body(body)}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_body(body: str) -> str:
    """The members of a character class as regex text: ranges kept, everything else literal.

    Escaping every other character keeps `[[]`, `[a&&b]` or `[^]` from meaning something else to `re` (and from
    its warnings about nested sets).
    """
    parts: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            parts.append(f"{re.escape(body[k])}-{re.escape(body[k + 2])}")
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    return "".join(parts)


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
