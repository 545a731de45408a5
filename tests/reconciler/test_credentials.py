"""Literal credentials: every kind the scanner knows is caught, and ordinary config text is not.

Samples are assembled from pieces at run time so that this file holds nothing a secret scanner would flag.
"""

from __future__ import annotations

import pytest

from reconciler.credentials import find_literal_credentials, looks_like_credential

ALNUM = "Q7wE2rT9yU4iO1pA6sD3fG8hJ5kL0zX4cV7bN2mQ9"  # 41 mixed characters, digits included
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"


def sample(*parts: str) -> str:
    return "".join(parts)


POSITIVES = [
    pytest.param(sample("sk-", "ant-", "api03-", ALNUM, "-", ALNUM), "an Anthropic API key", id="anthropic"),
    pytest.param(sample("sk-", ALNUM), "an OpenAI API key", id="openai-legacy"),
    pytest.param(sample("sk-", "proj-", ALNUM, "_", ALNUM[:12]), "an OpenAI API key", id="openai-project"),
    pytest.param(sample("sk-", "svcacct-", ALNUM), "an OpenAI API key", id="openai-service-account"),
    pytest.param(sample("gh", "p_", ALNUM[:36]), "a GitHub token", id="github-classic"),
    pytest.param(sample("gh", "s_", ALNUM[:36]), "a GitHub token", id="github-actions"),
    pytest.param(sample("github", "_pat_", ALNUM, "_", ALNUM[:20]), "a GitHub token", id="github-fine-grained"),
    pytest.param(sample("AK", "IA", "Z7Q2W4E6R8T1Y3U5"), "an AWS access key id", id="aws-long-term"),
    pytest.param(sample("AS", "IA", "Z7Q2W4E6R8T1Y3U5"), "an AWS access key id", id="aws-temporary"),
    pytest.param(sample("xo", "xb-", "1234567890-", ALNUM[:24]), "a Slack token", id="slack-bot"),
    pytest.param(sample("AI", "za", ALNUM[:35]), "a Google API key", id="google"),
    pytest.param(sample("sk", "_live_", ALNUM[:24]), "a Stripe key", id="stripe-live"),
    pytest.param(sample("rk", "_test_", ALNUM[:24]), "a Stripe key", id="stripe-restricted"),
    pytest.param(sample("hf", "_", ALNUM[:34]), "a Hugging Face token", id="hugging-face"),
    pytest.param(
        sample("-----BEGIN ", "RSA PRIVATE", " KEY-----\nMIIEow", ALNUM), "a private key", id="private-key-rsa"
    ),
    pytest.param(sample("-----BEGIN ", "PRIVATE", " KEY-----"), "a private key", id="private-key-pkcs8"),
    pytest.param(
        sample("ey", "JhbGciOiJIUzI1NiJ9", ".", "ey", "JzdWIiOiIxMjM0In0", ".", ALNUM[:22]),
        "a JSON Web Token",
        id="jwt",
    ),
    pytest.param(
        sample("https://", "admin:", "hunter2", "@vllm.internal/v1"), "a URL with a password", id="url-password"
    ),
    pytest.param(sample("redis://", ":", "s3cret", "@cache:6379"), "a URL with a password", id="url-password-no-user"),
    pytest.param(
        sample("Call it with ", "sk-", ALNUM, " and nothing else."), "an OpenAI API key", id="key-inside-prose"
    ),
]


@pytest.mark.parametrize(("text", "what"), POSITIVES)
def test_each_kind_of_credential_is_recognised(text: str, what: str) -> None:
    assert looks_like_credential(text) == what


NEGATIVES = [
    pytest.param("Prefer the standard library. Explain trade-offs briefly.", id="instructions"),
    pytest.param("OPENAI_API_KEY", id="env-var-name"),
    pytest.param("ANTHROPIC_API_KEY_FOR_THE_PLATFORM_TEAM", id="long-env-var-name"),
    pytest.param("https://api.openai.com/v1", id="url"),
    pytest.param("http://user@proxy.internal:8080/v1", id="url-with-user-only"),
    pytest.param("http://[::1]:8000/v1", id="url-ipv6-port"),
    pytest.param("https://example.com/path?q=a:b@c", id="url-colon-and-at-in-query"),
    pytest.param("/run/secrets/openai", id="secret-file-path"),
    pytest.param("Use sk-learn-compatible-pipelines-and-estimators everywhere.", id="hyphenated-prose"),
    pytest.param("risk-assessment-for-the-payments-team", id="word-containing-sk"),
    pytest.param("qwen2.5-coder:7b", id="model-name"),
    pytest.param("Qwen/Qwen2.5-Coder-32B-Instruct", id="model-path"),
    pytest.param("claude-sonnet-4-5", id="claude-model"),
    pytest.param("task-" + LETTERS, id="task-prefix"),
    pytest.param("a BEGIN PUBLIC KEY block", id="public-key-words"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_not_a_credential(text: str) -> None:
    assert looks_like_credential(text) is None


def test_references_to_secrets_are_fine() -> None:
    data = {
        "spec": {
            "endpoint": "https://api.openai.com/v1",
            "auth": {"type": "api_key", "apiKey": {"fromEnv": "OPENAI_API_KEY"}},
        },
        "other": {"apiKey": {"fromFile": "/run/secrets/a-rather-long-file-name"}},
    }

    assert list(find_literal_credentials(data)) == []


def test_found_credentials_carry_their_path() -> None:
    key = sample("sk-", ALNUM)
    data = {
        "metadata": {"labels": {"note": f"key is {key}"}},
        "spec": {"muxRules": [{"model": "gpt-4o"}, {"model": key}]},
    }

    assert list(find_literal_credentials(data)) == [
        (("metadata", "labels", "note"), "an OpenAI API key"),
        (("spec", "muxRules", 1, "model"), "an OpenAI API key"),
    ]


@pytest.mark.parametrize("key", ["apiKey", "api_key", "token", "secret", "password", "accessKey", "private-key"])
def test_a_long_value_under_a_secret_name_is_a_credential_whatever_it_looks_like(key: str) -> None:
    value = sample("opaque", "value", "0123456789")

    assert list(find_literal_credentials({"x": {key: value}})) == [(("x", key), f"a literal {key}")]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("short", id="too-short-to-be-a-secret"),
        pytest.param("see the team wiki for it", id="a-sentence"),
        pytest.param("OPENAI_API_KEY_PRODUCTION", id="an-environment-variable-name"),
    ],
)
def test_values_under_a_secret_name_that_are_not_secrets(value: str) -> None:
    assert list(find_literal_credentials({"token": value})) == []


def test_a_recognised_key_under_a_secret_name_says_what_it_is() -> None:
    key = sample("gh", "p_", ALNUM[:36])

    assert list(find_literal_credentials({"token": key})) == [(("token",), "a GitHub token")]


def test_non_string_values_are_skipped() -> None:
    assert list(find_literal_credentials({"a": 1, "b": [True, None, 2.5], "c": {"d": []}})) == []
