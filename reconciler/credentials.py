"""Literal credentials in config data: secrets are referenced ({fromEnv}, {fromFile}), never committed.

Used by validate on every string of every document, including documents that are otherwise invalid, so a pasted
key is reported even when the file has other errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from reconciler.diagnostics import YamlPath

# (what, regex, whether the secret part must hold a digit). OpenAI-style keys are base62 noise; requiring a digit
# keeps hyphenated prose such as "sk-learn-compatible-pipelines" from being taken for one.
_PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = tuple(
    (what, re.compile(rx), digit)
    for what, rx, digit in (
        ("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", True),
        ("an OpenAI API key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}", True),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})", False),
        ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", False),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", False),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}", False),
        ("a Stripe key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", False),
        ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}", False),
        ("a private key", r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----", False),
        ("a JSON Web Token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", False),
        # The user name may be empty (redis://:secret@host); the password may not.
        ("a URL with a password", r"\b[a-z][a-z0-9+.-]*://[^\s/:@]*:[^\s/@]+@", False),
    )
)

# Keys whose string value is a secret whatever it looks like (once it is long enough to be one).
_SENSITIVE_KEY = re.compile(r"(?i)^(api[-_]?key|token|secret|password|passwd|access[-_]?key|private[-_]?key)$")
_MIN_SENSITIVE_LENGTH = 16
# `apiKey: OPENAI_API_KEY` names a variable instead of referencing it: a mistake of form, not a leaked secret.
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def looks_like_credential(text: str) -> str | None:
    """What kind of credential `text` contains, or None."""
    for what, regex, needs_digit in _PATTERNS:
        for found in regex.finditer(text):
            if not needs_digit or any(c.isdigit() for c in found.group()):
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
                and not _ENV_NAME.match(value)
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
