"""Placeholders: what a secret becomes before the request leaves (`REDACTED<1a2b3c4d>`), and the forms of it that
the restorer accepts back in the answer.

The id is an HMAC of the secret under a key drawn when the process starts, cut to 8 hex digits: the same secret
gets the same placeholder in every request the process serves, so a conversation re-sent turn after turn keeps
its prefix (the provider's prompt cache keeps working) while the id says nothing about the value. An id that
collides with another secret of the request, or with a placeholder the client sent itself, is drawn again.

Forms read back (a model may re-case or re-space what it copies): `REDACTED` in any case, up to two spaces or
tabs around the brackets and the id, the id in any case, and the brackets as `<` `>`, `&lt;` `&gt;` (HTML) or
`\\u003c` `\\u003e` (JSON escapes in tool-call arguments).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import Final

from .rules import Rule, Span

_PROCESS_KEY: Final = os.urandom(32)

FORMS: Final = re.compile(
    r"redacted[ \t]{0,2}(?:<|&lt;|\\u003c)[ \t]{0,2}(?P<id>[0-9a-f]{8})[ \t]{0,2}(?:>|&gt;|\\u003e)", re.IGNORECASE
)
# The longest text a form can take: REDACTED + 2 + \u003c + 2 + 8 + 2 + \u003e.
MAX_FORM_LENGTH: Final = 8 + 2 + 6 + 2 + 8 + 2 + 6
_HEX: Final = frozenset("0123456789abcdefABCDEF")


def placeholder(secret_id: str) -> str:
    return f"REDACTED<{secret_id}>"


class Issuer:
    """Hands out placeholder ids for the secrets of one request."""

    def __init__(self, taken: set[str] | None = None, key: bytes = _PROCESS_KEY) -> None:
        self._key = key
        self._taken = {t.lower() for t in taken or ()}
        self.values: dict[str, str] = {}  # id → secret
        self._ids: dict[str, str] = {}  # secret → id

    def id_for(self, secret: str) -> str:
        known = self._ids.get(secret)
        if known is not None:
            return known
        data = secret.encode("utf-8", "surrogatepass")
        counter = 0
        while True:
            digest = hmac.new(self._key, data + counter.to_bytes(4, "big"), hashlib.sha256).hexdigest()[:8]
            if digest not in self._taken and digest not in self.values:
                break
            counter += 1
        self.values[digest] = secret
        self._ids[secret] = digest
        return digest


def could_become_placeholder(text: str) -> bool:
    """True when `text` is the beginning of a placeholder form that more text could complete (and not already a
    whole one): the restorer of a stream holds such a tail back until the next chunk."""
    n = len(text)
    i = 0
    for char in "redacted":
        if i == n:
            return True
        if text[i].lower() != char:
            return False
        i += 1
    i = _spaces(text, i)
    i, partial = _bracket(text, i, "<", "&lt;", "\\u003c")
    if i < 0 or partial:
        return partial
    i = _spaces(text, i)
    for _ in range(8):
        if i == n:
            return True
        if text[i] not in _HEX:
            return False
        i += 1
    i = _spaces(text, i)
    return _bracket(text, i, ">", "&gt;", "\\u003e")[1]


def _spaces(text: str, i: int) -> int:
    for _ in range(2):
        if i < len(text) and text[i] in " \t":
            i += 1
    return i


def _bracket(text: str, i: int, *forms: str) -> tuple[int, bool]:
    """(index after the bracket, False) when one of `forms` is there; (i, True) when the text ends before or
    inside one; (-1, False) when none fits."""
    rest = text[i : i + 6].lower()
    for form in forms:
        if rest.startswith(form):
            return i + len(form), False
        if form.startswith(rest):
            return i, True
    return -1, False


def _placeholder(text: str, at: int) -> Span | None:
    end = at
    for _ in range(2):
        if end > 0 and text[end - 1] in " \t":
            end -= 1
    start = end - 8
    if start < 0 or text[start:end].lower() != "redacted":
        return None
    found = FORMS.match(text, start)
    return found.span() if found else None


# Placeholders the client sent itself are found by the scanner's pass, anchored on their rare opening bracket.
PLACEHOLDER_RULE: Final = Rule(
    "placeholder",
    "placeholder",
    ("<", "&", "\\u003"),
    _placeholder,
    r"(?:(?<=<)[ \t]{0,2}[0-9A-Fa-f]{8}|(?<=&)[lL][tT];|(?<=\\u003)[cC])",
)
