"""Bad input stays fast and correct: megabytes of prompt, binary-looking and non-UTF-8 text, hostile repetitions
of prefixes, and a catastrophic pattern that reached the gateway without validation."""

from __future__ import annotations

import random
import time

import pytest

from proxy.secrets import builtin_scanner, compile_guard, redact, restore_text
from reconciler.models import SecretPattern, SecretsSpec

from .corpus import real_code
from .samples import samples

AWS = next(s.secret for s in samples() if s.rule == "aws-access-key-id")


def timed(text: str) -> tuple[float, int]:
    started = time.perf_counter()
    found = builtin_scanner().scan(text)
    return time.perf_counter() - started, len(found)


def test_a_five_megabyte_prompt_is_scanned_in_well_under_a_second() -> None:
    text = real_code(2_500_000) * 2 + f"\nkey = {AWS}\n"
    elapsed, found = timed(text)
    assert found == 1
    assert elapsed < 1.5


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
    small, _ = timed(unit * (100_000 // len(unit)))
    large, _ = timed(unit * (1_000_000 // len(unit)))
    assert large < 2.0
    assert large < 25 * max(small, 1e-3)


def test_binary_looking_and_non_utf8_text() -> None:
    rng = random.Random(1)
    noise = "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(300_000))
    latin1 = bytes(rng.randrange(256) for _ in range(300_000)).decode("latin-1")
    surrogates = "\ud800\udfff" * 1000 + AWS + "\udc80"
    for text in (noise, latin1):
        elapsed, _ = timed(text)
        assert elapsed < 1.0
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
    started = time.perf_counter()
    guard.scanner.scan("a" * 50_000 + "!")
    assert time.perf_counter() - started < 0.5
