"""Secret patterns in the config: SecretPolicy documents and a workspace's spec.secrets, their regex checks
(compile, non-empty, no catastrophic backtracking) reported at file:line, and the hash of states without them."""

from __future__ import annotations

import re
import time

import pytest

from reconciler.loader import load_files
from reconciler.models import SecretsMode
from reconciler.regex_safety import regex_problem
from reconciler.validate import Validation, validate

PROVIDER = "apiVersion: muxgate/v1\nkind: Provider\nmetadata: {name: local}\nspec: {type: ollama}\n"


def check(files: dict[str, str]) -> Validation:
    return validate(load_files([(path, text.encode()) for path, text in files.items()]))


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("(a+)+b", "nests a repeat"),
        (r"x(\w+\s?)*$", "nests a repeat"),
        ("x(a{1,5000})+", "nests a repeat"),
        (r"x\w+\d+", "two unbounded repeats"),
        ("x.*.*y", "two unbounded repeats"),
        (r"x[a-z]+\s*[a-z]+", "two unbounded repeats"),
        (r".*token", "starts with an unbounded repeat"),
        (r"\w+@corp\.com", "starts with an unbounded repeat"),
        ("x(ab|[a-z]c)+y", "same character"),
        ("a*", "empty string"),
        ("(", "does not compile"),
        ("[z-a]", "does not compile"),
    ],
)
def test_unusable_patterns_are_named_with_the_reason(pattern: str, words: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None
    assert words in problem
    assert problem.endswith(".")


@pytest.mark.parametrize(
    "pattern",
    [
        "acme_[A-Za-z0-9]{32}",
        r"ACME-\d{6}-[A-F0-9]{24}",
        r"\bisk-[a-f0-9]{8}-[a-f0-9]{24}\b",
        r"\b\w+@corp\.com",
        "corp_(?:live|test)_[A-Za-z0-9]{20,64}",
        "tok_[a-z]+_[0-9]+",
        r"x(\.[a-z]+)+",
        "x(ab+)+",
        "[A-Z0-9]{20}",
    ],
)
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize("pattern", ["acme_[A-Za-z0-9]{32}", r"\bisk-[a-f0-9]{8}-[a-f0-9]{24}\b", "tok_[a-z]+_[0-9]+"])
def test_accepted_patterns_stay_fast_on_hostile_text(pattern: str) -> None:
    hostile = ("acme_" + "a" * 31 + "!") * 2000 + "isk-" + "a" * 50_000 + "tok_" + "a" * 50_000
    started = time.perf_counter()
    re.findall(pattern, hostile)
    assert time.perf_counter() - started < 0.5


def test_rejected_pattern_would_have_been_catastrophic() -> None:
    # The reason for the check, measured: (a+)+b on 24 a's takes ~2^24 steps.
    pattern = "(a+)+b"
    assert regex_problem(pattern) is not None
    started = time.perf_counter()
    re.match(pattern, "a" * 18)
    slow = time.perf_counter() - started
    started = time.perf_counter()
    re.match("a+b", "a" * 18)
    assert slow > 20 * (time.perf_counter() - started)


def test_bad_patterns_are_diagnostics_at_their_line() -> None:
    policy = (
        "apiVersion: muxgate/v1\nkind: SecretPolicy\nmetadata: {name: company}\nspec:\n  patterns:\n"
        "    - name: fine\n      regex: 'acme_[a-z0-9]{32}'\n"
        "    - name: explosive\n      regex: '(a+)+$'\n"
    )
    workspace = (
        "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: backend}\nspec:\n  secrets:\n    mode: alert\n"
        "    patterns:\n      - name: broken\n        regex: 'tok_(['\n"
    )
    result = check({"providers.yaml": PROVIDER, "secrets.yaml": policy, "backend.yaml": workspace})
    assert result.state is None
    found = {(d.file, d.line, d.code, d.path) for d in result.diagnostics}
    assert ("secrets.yaml", 9, "unsafe-pattern", ("spec", "patterns", 1, "regex")) in found
    assert ("backend.yaml", 9, "unsafe-pattern", ("spec", "secrets", "patterns", 0, "regex")) in found
    assert all('"explosive"' in d.message or '"broken"' in d.message for d in result.diagnostics)


def test_valid_secrets_config_reaches_the_state() -> None:
    policy = (
        "apiVersion: muxgate/v1\nkind: SecretPolicy\nmetadata: {name: company}\n"
        "spec:\n  patterns: [{name: acme, regex: 'acme_[a-z0-9]{32}'}]\n  values: [{fromEnv: DB_PASSWORD}]\n"
    )
    workspace = "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: backend}\nspec: {secrets: {mode: off}}\n"
    result = check({"p.yaml": PROVIDER, "s.yaml": policy, "w.yaml": workspace})
    assert result.state is not None, result.diagnostics
    assert result.state.secret_policies["company"].spec.values[0].from_env == "DB_PASSWORD"
    assert result.state.workspaces["backend"].spec.secrets.mode is SecretsMode.OFF


def test_states_without_secrets_config_keep_their_hash() -> None:
    bare = "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: backend}\nspec: {}\n"
    spelled = "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: backend}\nspec: {secrets: {mode: redact}}\n"
    a, b = check({"p.yaml": PROVIDER, "w.yaml": bare}).state, check({"p.yaml": PROVIDER, "w.yaml": spelled}).state
    assert a is not None
    assert b is not None
    assert a.hash == b.hash
