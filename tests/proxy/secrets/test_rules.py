"""Detection: every built-in rule finds its synthetic sample, look-alikes are left alone, and real code gives
(almost) no findings."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.secrets import BUILTIN_RULES, Scanner, builtin_scanner
from proxy.secrets import scanner as scanner_module
from proxy.secrets.checks import base62_checksum, entropy, jwt_header
from proxy.secrets.scanner import SHORTEST_SECRET

from .corpus import real_code
from .samples import Sample, more_assignments, samples

SAMPLES = samples()


def test_every_rule_has_a_sample() -> None:
    assert {r.id for r in BUILTIN_RULES} == {s.rule for s in SAMPLES}
    assert len({r.label for r in BUILTIN_RULES}) >= 40


@pytest.mark.parametrize("sample", SAMPLES + more_assignments(), ids=lambda s: f"{s.rule}:{s.text[:24]}")
def test_rule_finds_exactly_the_secret(sample: Sample) -> None:
    text = sample.text
    found = [(f.rule, text[f.start : f.end]) for f in builtin_scanner().scan(text)]
    assert (sample.rule, sample.secret) in found, found


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.rule)
def test_secret_glued_to_a_word_is_not_a_token(sample: Sample) -> None:
    if sample.rule in {"private-key", "database-url-password", "url-password", "aws-secret-access-key"}:
        return  # found by context, not by a word boundary
    if sample.rule in {"assigned-secret", "bearer-token", "azure-storage-key", "slack-webhook"}:
        return
    glued = "x" + sample.secret + "x"
    assert not [f for f in builtin_scanner().scan(glued) if f.rule == sample.rule]


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example key
        "sk-learn-compatible-pipelines-for-everything",
        "sk-your-api-key-here-0123456789abcdefghij",
        'password = "changeme"',
        'password = "password123"',
        "password = os.environ['DB_PASSWORD']",
        "password = get_password_from_vault(name)",
        "token = tokens[0]",
        "max_tokens = 4096000000000",
        "self.token_type = 'bearer_access_token_value'",
        'password_file = "/run/secrets/db-password-Xy9"',
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        "postgresql://user:password@localhost/db",
        "redis://:${REDIS_PASSWORD}@cache:6379",
        "https://docs.example.com/a:b@c",
        '"secretsmanager:GetSecretValue"',
        "eyJhbGciOiJIUzI1NiJ9 is just a header",
        "REDACTED<1a2b3c4d>",
        'api_key = "REDACTED<1a2b3c4d>"',
    ],
)
def test_look_alikes_are_not_secrets(text: str) -> None:
    assert [f for f in builtin_scanner().scan(text) if f.rule != "placeholder"] == []


def test_github_token_with_a_wrong_checksum_is_not_one() -> None:
    sample = next(s for s in SAMPLES if s.rule == "github-pat")
    body = sample.secret[4:]
    assert base62_checksum(body)
    broken = sample.secret[:-1] + ("A" if sample.secret[-1] != "A" else "B")
    assert not base62_checksum(broken[4:])
    assert not builtin_scanner().scan(f"token {broken}")


def test_checks() -> None:
    assert entropy("aaaa") == 0
    assert entropy("abcd") == 2
    assert not jwt_header("eyJub3QganNvbg.x.y")


def test_no_rule_finds_fewer_characters_than_the_scanner_skips() -> None:
    # Texts shorter than SHORTEST_SECRET are not scanned by the built-in rules: every finding is at least that long.
    shortest = min(f.end - f.start for s in SAMPLES + more_assignments() for f in builtin_scanner().scan(s.text))
    assert shortest >= SHORTEST_SECRET
    assert builtin_scanner().scan("//:k9Q@h") == []


def test_a_declared_pattern_finds_short_texts_too() -> None:
    import re

    from proxy.secrets import DeclaredPattern

    scanner = Scanner(patterns=[DeclaredPattern("pin", re.compile("[0-9]{4}"))])
    assert [(f.rule, f.start, f.end) for f in scanner.scan("4711")] == [("pattern:pin", 0, 4)]


def test_declared_patterns_and_values_are_found() -> None:
    import re

    from proxy.secrets import DeclaredPattern, DeclaredValue

    scanner = Scanner(
        patterns=[DeclaredPattern("acme", re.compile("acme_[a-z0-9]{12}"))],
        values=[DeclaredValue("hunter2-but-longer", "environment variable DB_PASSWORD")],
    )
    text = "use acme_abc123def456 and the password hunter2-but-longer please"
    found = {(f.rule, f.label, text[f.start : f.end]) for f in scanner.scan(text)}
    assert ("pattern:acme", "acme", "acme_abc123def456") in found
    assert ("value:0", "declared secret (environment variable DB_PASSWORD)", "hunter2-but-longer") in found


def test_overlapping_findings_merge_and_keep_the_vendor_name() -> None:
    sample = next(s for s in SAMPLES if s.rule == "stripe-secret-key")
    found = builtin_scanner().scan(f'STRIPE_SECRET_KEY="{sample.secret}"')
    assert [(f.rule, f.end - f.start) for f in found] == [("stripe-secret-key", len(sample.secret))]


# Real code: the standard library and the installed packages. A finding there is (almost always) a false
# positive; the target is at most one per MB.
REAL_CODE_SIZE = 4_000_000


def test_false_positive_rate_on_real_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = real_code(REAL_CODE_SIZE)
    started = time.perf_counter()
    found = builtin_scanner().scan(code)
    elapsed = time.perf_counter() - started
    per_mb = len(found) / (len(code) / 1_000_000)
    with capsys.disabled():
        print(
            f"\nsecrets: {len(found)} findings in {len(code) / 1e6:.1f} MB of real code "
            f"({per_mb:.2f} per MB), {elapsed * 1000 / (len(code) / 100_000):.2f} ms per 100 KB"
        )
    shown = [(f.rule, code[max(0, f.start - 30) : f.end + 10]) for f in found[:5]]
    assert per_mb <= 1.0, shown


def test_real_code_with_a_key_pasted_in_finds_exactly_it() -> None:
    code = real_code(200_000)
    sample = next(s for s in SAMPLES if s.rule == "anthropic-api-key")
    middle = len(code) // 2
    text = code[:middle] + "\nANTHROPIC_API_KEY = '" + sample.secret + "'\n" + code[middle:]
    found = builtin_scanner().scan(text)
    assert [text[f.start : f.end] for f in found] == [sample.secret]


_PIECES = [s.text for s in SAMPLES + more_assignments()] + ["hello ", "-", "_", ":", "//", "=", " ", "\n", "k", "h"]


@given(st.lists(st.sampled_from(_PIECES) | st.text(max_size=12), max_size=8), st.integers(0, 40))
@settings(max_examples=300, deadline=None)
def test_the_gate_for_short_texts_finds_what_the_full_passes_find(parts: list[str], cut: int) -> None:
    text = "".join(parts)[cut:][: scanner_module.GATED_LENGTH]
    scanner = builtin_scanner()
    gated = scanner.scan(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scanner_module, "GATED_LENGTH", -1)
        assert scanner.scan(text) == gated


# Texts as a request holds them: secrets, near misses, pieces that could join into a prefix across two texts,
# NULs (the separator scan_all joins with), and texts long enough to be scanned alone.
_TEXTS = st.lists(
    st.lists(st.sampled_from([*_PIECES, "\0", "sk", "-ant-", "gh", "p_"]) | st.text(max_size=12), max_size=6).map(
        "".join
    )
    | st.sampled_from([s.secret for s in SAMPLES])
    | st.sampled_from([s.text * 12 for s in SAMPLES[:5]]),
    max_size=12,
)


@given(_TEXTS)
@settings(max_examples=300, deadline=None)
def test_scan_all_finds_what_scanning_each_text_finds(texts: list[str]) -> None:
    scanner = builtin_scanner()  # shared by the examples: texts found clean in one are remembered in the next
    expected = [(text, found) for text in texts if (found := scanner.scan(text))]
    assert scanner.scan_all(texts) == expected
    assert scanner.scan_all(texts) == expected  # again, from what it remembers


def _spied(scanner: Scanner) -> list[str]:
    """The texts `scanner.scan` is called with from now on."""
    calls: list[str] = []
    scan = scanner.scan

    def spy(text: str) -> list[scanner_module.Finding]:
        calls.append(text)
        return scan(text)

    scanner.scan = spy  # type: ignore[method-assign]
    return calls


def test_a_text_found_clean_is_not_scanned_again_and_one_with_a_secret_always_is() -> None:
    scanner = Scanner()
    clean = "def handler(request):\n    return request.body\n" * 20  # long: scanned alone
    short = "Explain what this function does, please."  # short: joined with the others
    secret = next(s for s in SAMPLES if s.rule == "github-pat").text
    calls = _spied(scanner)
    first = scanner.scan_all([clean, short, secret])
    assert calls[0] == clean
    assert secret in calls
    calls.clear()
    # A new request decodes new string objects with the same text.
    assert scanner.scan_all(["".join(clean), "".join(short), "".join(secret)]) == first
    assert calls == [secret]


def test_what_is_remembered_is_bounded_and_forgotten_together() -> None:
    scanner = Scanner()
    scanner.clean_cache_chars = 1_000
    first, second = "a" * 600 + " first", "b" * 600 + " second"
    calls = _spied(scanner)
    scanner.scan_all([first, second])  # the second does not fit with the first: both forgotten, it kept alone
    scanner.scan_all([second])
    scanner.scan_all([first])
    assert calls == [first, second, first]


def test_scan_all_with_declared_patterns_scans_each_text() -> None:
    scanner = Scanner(patterns=[scanner_module.DeclaredPattern("ticket", re.compile(r"TCK-\d+"))])
    texts = ["see TCK-1", "no", "TCK-22 and TCK-3"]
    assert [(t, [(f.start, f.end) for f in found]) for t, found in scanner.scan_all(texts)] == [
        ("see TCK-1", [(4, 9)]),
        ("TCK-22 and TCK-3", [(0, 6), (11, 16)]),
    ]


@pytest.mark.parametrize(
    ("pattern", "joinable"),
    [
        (r"sk-(?=[A-Za-z0-9]{8})", True),
        (r"(?<=://)[^@]+@", True),
        (r"^key", False),
        (r"key$", False),
        (r"\bkey", False),
        (r"(?<!x)key", False),
        (r"key(?![A-Z])", False),
        (r"a(?:b|(?:c\Z))", False),
    ],
)
def test_texts_are_joined_only_for_prefilters_a_neighbour_cannot_defeat(pattern: str, joinable: bool) -> None:
    assert scanner_module._finds_the_same_in_context(re.compile(pattern)) is joinable
