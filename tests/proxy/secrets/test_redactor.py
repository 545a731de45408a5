"""Redaction of request bodies in every client format: every message kind, same secret same placeholder, alerts
without the value, binary payloads left alone, client-sent placeholders never taken for ours."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.secrets import builtin_scanner, compile_guard, conceal, redact, restore_text
from proxy.secrets.placeholders import FORMS
from proxy.secrets.redactor import _collect, _walk
from reconciler.models import SecretRef, SecretsMode, SecretsSpec

from .samples import samples

BY_RULE = {s.rule: s for s in samples()}
GITHUB = BY_RULE["github-pat"].secret
AWS = BY_RULE["aws-access-key-id"].secret
ANTHROPIC = BY_RULE["anthropic-api-key"].secret
PEM = BY_RULE["private-key"].secret


def bodies() -> dict[str, dict[str, Any]]:
    return {
        "openai_chat": {
            "model": "m",
            "messages": [
                {"role": "system", "content": f"deploy with {GITHUB}"},
                {"role": "user", "content": [{"type": "text", "text": f"my key is {AWS}"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": json.dumps({"k": GITHUB})}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": f"output: {ANTHROPIC}"},
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,QUtJQQ"}}],
                },
            ],
        },
        "openai_completions": {"model": "m", "prompt": f"# Path: a.py\nKEY = '{AWS}'\n", "suffix": f"x = '{GITHUB}'"},
        "anthropic": {
            "model": "m",
            "max_tokens": 10,
            "system": [{"type": "text", "text": f"ops key {ANTHROPIC}"}],
            "messages": [
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": PEM}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"k": AWS}}]},
                {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": AWS}}]},
            ],
        },
        "ollama_chat": {"model": "m", "messages": [{"role": "user", "content": GITHUB, "images": [AWS]}]},
        "ollama_generate": {"model": "m", "prompt": f"complete {ANTHROPIC}", "system": f"sys {AWS}"},
    }


# The secrets each body holds in text, and the one it holds only in a base64 payload (left as it is).
EXPECTED = {
    "openai_chat": ({GITHUB, AWS, ANTHROPIC}, None),
    "openai_completions": ({AWS, GITHUB}, None),
    "anthropic": ({ANTHROPIC, PEM, AWS}, AWS),
    "ollama_chat": ({GITHUB}, AWS),
    "ollama_generate": ({ANTHROPIC, AWS}, None),
}


@pytest.mark.parametrize("name", sorted(bodies()))
def test_every_text_of_every_format_is_redacted(name: str) -> None:
    body = bodies()[name]
    original = json.dumps(body)
    result = redact(body, builtin_scanner(), workspace="w")
    sent = json.dumps(result.body)
    assert json.dumps(body) == original, "the client's body is never modified"
    in_text, in_binary = EXPECTED[name]
    assert set(result.values.values()) == in_text
    for secret in in_text - {in_binary}:
        assert json.dumps(secret)[1:-1] not in sent
    if in_binary:
        assert sent.count(in_binary) == 1  # the base64 payload, not scanned
    assert restore_text(sent, result.values, json_text=True) == original


def test_same_secret_same_placeholder_and_one_alert() -> None:
    body = {
        "messages": [{"role": "user", "content": f"{GITHUB} and again {GITHUB}"}, {"role": "user", "content": GITHUB}]
    }
    result = redact(body, builtin_scanner(), workspace="w")
    texts = [m["content"] for m in result.body["messages"]]
    ids = {m.group("id") for t in texts for m in FORMS.finditer(t)}
    assert len(ids) == 1
    assert len(result.alerts) == 1


def test_alerts_name_the_kind_and_never_the_value() -> None:
    body = {"messages": [{"role": "user", "content": f'config:\n  token = "{GITHUB}"  # and {AWS}\nrest'}]}
    result = redact(body, builtin_scanner(), workspace="backend")
    assert [a.rule for a in result.alerts] == ["github-pat", "aws-access-key-id"]
    for alert in result.alerts:
        assert alert.trigger_type == "codegate-secrets"
        assert alert.trigger_category == "critical"
        assert alert.workspace == "backend"
        assert GITHUB not in alert.code_snippet + alert.detail
        assert AWS not in alert.code_snippet + alert.detail
        assert alert.code_snippet.startswith('token = "REDACTED<')
        assert alert.record()["trigger_string"] == alert.trigger_string


def test_client_placeholders_are_never_restored_into_a_secret() -> None:
    clean = redact({"m": GITHUB}, builtin_scanner(), workspace="w")
    issued = next(iter(clean.values))
    # The client itself writes the id the gateway would issue, in another case.
    body = {"m": f"REDACTED<{issued.upper()}> is mine; the key is {GITHUB}"}
    result = redact(body, builtin_scanner(), workspace="w")
    assert issued not in result.values
    echoed = f"REDACTED<{issued.upper()}>"
    assert restore_text(echoed, result.values) == echoed
    assert restore_text(result.body["m"], result.values) == body["m"]


def test_alert_mode_reports_and_sends_the_value() -> None:
    body = {"prompt": f"k {AWS}"}
    result = redact(body, builtin_scanner(), workspace="w", replace=False)
    assert result.body is body
    assert not result.values
    assert [a.redacted for a in result.alerts] == [False]
    assert AWS not in result.alerts[0].code_snippet


def test_guard_modes_and_declared_values(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"DB_PASSWORD": "correct-horse-battery", "SHORT": "abc"}
    spec = SecretsSpec(values=[SecretRef(from_env="DB_PASSWORD"), SecretRef(from_env="SHORT")])
    guard = compile_guard(spec, [], env)
    result = asyncio.run(guard.protect({"prompt": "the db password is correct-horse-battery"}, "w"))
    assert "correct-horse-battery" not in result.body["prompt"]
    assert result.alerts[0].trigger_string == "declared secret (environment variable DB_PASSWORD)"
    off = compile_guard(SecretsSpec(mode=SecretsMode.OFF), [], env)
    assert asyncio.run(off.protect({"prompt": AWS}, "w")).alerts == []


def test_large_bodies_are_scanned_off_the_event_loop() -> None:
    guard = compile_guard(SecretsSpec(), [], {})
    body = {"prompt": "x = 1\n" * 100_000 + AWS}
    result = asyncio.run(guard.protect(body, "w", size=len(body["prompt"])))
    assert AWS not in result.body["prompt"]


def test_conceal_puts_placeholders_back_for_what_is_kept() -> None:
    result = redact({"m": f"{GITHUB} {AWS}"}, builtin_scanner(), workspace="w")
    answer = restore_text(result.body["m"], result.values)
    assert answer == f"{GITHUB} {AWS}"
    assert conceal(answer, result.values) == result.body["m"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["plain", "data:image/png;base64,QUJD", "x" * 12]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["data", "images", "type", "format", "text", "content"]), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
@settings(max_examples=300, deadline=None)
def test_the_scan_reads_the_strings_the_rewrite_would_visit(body: Any) -> None:
    # Scanning collects strings without the rewrite's machinery; both must skip the same binary payloads.
    visited: list[str] = []

    def visit(text: str) -> str:
        visited.append(text)
        return text

    collected: list[str] = []
    _walk(body, visit)
    _collect(body, collected)
    assert collected == visited


def test_protect_inline_scans_a_small_body_and_leaves_a_large_one_to_a_worker_thread() -> None:
    from proxy.secrets.policy import _THREAD_ABOVE, SecretGuard, builtin_scanner
    from reconciler.models import SecretsMode

    sample = BY_RULE["github-pat"]
    secret = sample.secret
    body = {"messages": [{"role": "user", "content": sample.text}]}
    guard = SecretGuard(SecretsMode.REDACT, builtin_scanner())
    small = guard.protect_inline(body, "ws", 100)
    assert small is not None
    assert secret not in str(small.body)
    assert list(small.values.values()) == [secret]
    assert guard.protect_inline(body, "ws", _THREAD_ABOVE + 1) is None
    large = asyncio.run(guard.protect(body, "ws", _THREAD_ABOVE + 1))
    assert secret not in str(large.body)
    assert list(large.values.values()) == [secret]
    off = SecretGuard(SecretsMode.OFF, None).protect_inline(body, "ws", _THREAD_ABOVE + 1)
    assert off is not None
    assert off.body is body
    assert not off.values
