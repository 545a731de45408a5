"""Literal credentials in config data: secrets are referenced ({fromEnv}, {fromFile}), never committed.

Used by validate on every string of every document, including documents that are otherwise invalid, so a pasted
key is reported even when the file has other errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from reconciler.diagnostics import YamlPath

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(rx))
    for what, rx in (
        ("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("an OpenAI API key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("a Stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("a private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("a URL with a password", r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@"),
    )
)

# Keys whose string value is a secret whatever it looks like (once it is long enough to be one).
_SENSITIVE_KEY = re.compile(r"(?i)^(api[-_]?key|token|secret|password|passwd|access[-_]?key|private[-_]?key)$")
_MIN_SENSITIVE_LENGTH = 16


def looks_like_credential(text: str) -> str | None:
    """What kind of credential `text` contains, or None."""
    for what, regex in _PATTERNS:
        if regex.search(text):
            return what
    return None


def find_literal_credentials(data: Any, path: YamlPath = ()) -> Iterator[tuple[YamlPath, str]]:
    """(path, what) for every string in `data` that holds a literal credential."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if (
                isinstance(value, str)
                and _SENSITIVE_KEY.match(str(key))
                and len(value) >= _MIN_SENSITIVE_LENGTH
                and " " not in value
            ):
                yield child, looks_like_credential(value) or f"a literal {key}"
            else:
                yield from find_literal_credentials(value, child)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from find_literal_credentials(item, (*path, i))
    elif isinstance(data, str):
        what = looks_like_credential(data)
        if what:
            yield path, what
