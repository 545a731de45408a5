"""Bad input stays correct and linear: megabytes of prompt, binary-looking and non-UTF-8 text, hostile repetitions
of prefixes, and a catastrophic pattern that reached the gateway without validation. How fast the scan is gets
measured by benchmarks/secret_scan.py, not asserted here."""

from __future__ import annotations

import random
import time

import pytest

from proxy.secrets import builtin_scanner, compile_guard, redact, restore_text
from reconciler.models import SecretPattern, SecretsSpec

from .corpus import real_code
from .samples import samples

AWS = next(s.secret for s in samples() if s.rule == "aws-access-key-id")


def fastest_scan(text: str, rounds: int = 3) -> float:
    """The fastest of a few scans: one slow round on a busy machine doesn't pass for a change in complexity."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        builtin_scanner().scan(text)
        best = min(best, time.perf_counter() - started)
    return best


def test_a_five_megabyte_prompt_finds_the_one_key_pasted_at_its_end() -> None:
    code = real_code(2_500_000) * 2
    text = code + f"\nkey = {AWS}\n"
    found = builtin_scanner().scan(text)
    assert [text[f.start : f.end] for f in found] == [AWS]
    assert found[0].start > len(code)


@pytest.mark.parametrize(
    "unit",
    [
        "ghp_",
        "-----BEGIN RSA PRIVATE KEY-----",
        "password=",
        'password = "',
        "://a:",
        "REDACTED<",
        "<1a2b3c4d",
        "eyJ",
        "sk-",
        "Q~",
        "AKIA",
        "&lt;",
        "=" * 7,
    ],
)
def test_hostile_repetitions_stay_linear(unit: str) -> None:
    # A complexity check, not a speed limit: ten times the input costs about ten times the time when the scan is
    # linear, and about a hundred times when a rule backtracks quadratically.
    small = fastest_scan(unit * (100_000 // len(unit)))
    large = fastest_scan(unit * (1_000_000 // len(unit)))
    assert large < 25 * max(small, 1e-3)


def test_binary_looking_and_non_utf8_text() -> None:
    rng = random.Random(1)
    noise = "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(300_000))
    latin1 = bytes(rng.randrange(256) for _ in range(300_000)).decode("latin-1")
    surrogates = "\ud800\udfff" * 1000 + AWS + "\udc80"
    for text in (noise, latin1):
        assert builtin_scanner().scan(f"{text}\nkey = {AWS}\n")[-1].rule == "aws-access-key-id"
    result = redact({"prompt": surrogates}, builtin_scanner(), workspace="w")
    assert AWS not in result.body["prompt"]
    assert restore_text(result.body["prompt"], result.values) == surrogates


def test_a_catastrophic_pattern_that_skipped_validation_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    spec = SecretsSpec(
        patterns=[SecretPattern(name="bad", regex="(a+)+$"), SecretPattern(name="ok", regex="acme_[0-9]{6}")]
    )
    guard = compile_guard(spec, [], {})
    assert guard.scanner is not None
    assert [p.name for p in guard.scanner.patterns] == ["ok"]
    assert "secret pattern bad is left out" in caplog.text
    assert guard.scanner.scan("a" * 50_000 + "!acme_123456")[0].rule == "pattern:ok"
