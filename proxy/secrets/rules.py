"""The built-in detection rules: vendors' documented credential formats, private key blocks, URLs with a password,
and `password = "…"`-style assignments of a random-looking value.

Each rule names the literal strings a secret of its kind contains (`prefixes`, mostly where it starts: `AKIA`,
`ghp_`, `sk-ant-`, `-----BEGIN `); `proxy.secrets.scanner` looks for all of them in one pass and calls the rule's
`match` only where one occurs. `match(text, at)` gets the position of the prefix and returns the span of the
secret, or None when the candidate fails the rule's shape or its cheap checks (length, alphabet, entropy,
checksum). A span may start before the prefix (`lead`) and may cover only part of the match (the value of an
assignment, the password of a URL), so what surrounds the secret stays readable for the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from . import checks

Span = tuple[int, int]
Matcher = Callable[[str, int], Span | None]

# Characters that continue a token: a secret must not start or end in the middle of a longer word.
_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    label: str  # what the alert calls the secret: "GitHub personal access token"
    prefixes: tuple[str, ...]
    match: Matcher = field(repr=False, compare=False)
    # A lookahead (regex) the prefilter checks right after a prefix, to skip hopeless candidates in C.
    gate: str = ""


def _word_start(text: str, start: int) -> bool:
    return start == 0 or text[start - 1] not in _TOKEN_CHARS


def token_rule(
    rule_id: str,
    label: str,
    prefixes: tuple[str, ...],
    regex: str,
    check: Callable[[str], bool] | None = None,
    *,
    lead: int = 0,
    marker: str = "",
) -> Rule:
    """A rule for a token with a fixed shape: `regex` is matched `lead` characters before the prefix; its group
    `secret`, when it has one, is the secret (else the whole match), and `check` sees that secret. With a
    `marker`, the regex runs only where that literal occurs within 300 characters (a cheap search instead of the
    regex's backtracking on text made of nothing but prefixes)."""
    compiled = re.compile(regex)
    group = "secret" if "secret" in compiled.groupindex else 0

    def match(text: str, at: int) -> Span | None:
        start = at - lead
        if start < 0 or not _word_start(text, start):
            return None
        if marker and text.find(marker, at, at + 300) < 0:
            return None
        found = compiled.match(text, start)
        if found is None:
            return None
        secret = found.group(group)
        if checks.stand_in(secret) or (check is not None and not check(secret)):
            return None
        return found.span(group)

    return Rule(rule_id, label, prefixes, match)


def _random(minimum: float = 3.0) -> Callable[[str], bool]:
    return lambda secret: checks.random_enough(secret, minimum=minimum)


def _random_mixed(secret: str) -> bool:
    return checks.mixed(secret) and checks.random_enough(secret)


def _github(secret: str) -> bool:
    return checks.base62_checksum(secret[4:])


def _aws_key_id(secret: str) -> bool:
    return len(set(secret[4:])) >= 8


# An alphanumeric token must not run on into more of the same.
_END: Final = r"(?![A-Za-z0-9])"
_END_DASH: Final = r"(?![A-Za-z0-9_\-])"

VENDOR_RULES: Final = (
    token_rule(
        "aws-access-key-id",
        "AWS access key ID",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        rf"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{{16}}{_END}",
        _aws_key_id,
    ),
    token_rule("github-pat", "GitHub personal access token", ("ghp_",), rf"ghp_[A-Za-z0-9]{{36}}{_END}", _github),
    token_rule("github-oauth", "GitHub OAuth token", ("gho_",), rf"gho_[A-Za-z0-9]{{36}}{_END}", _github),
    token_rule(
        "github-app-token",
        "GitHub App token",
        ("ghu_", "ghs_", "ghr_"),
        rf"gh[usr]_[A-Za-z0-9]{{36}}{_END}",
        _github,
    ),
    token_rule(
        "github-fine-grained-pat",
        "GitHub fine-grained personal access token",
        ("github_pat_",),
        rf"github_pat_[A-Za-z0-9]{{22}}_[A-Za-z0-9]{{59}}{_END}",
        checks.mixed,
    ),
    token_rule(
        "gitlab-token",
        "GitLab token",
        tuple(f"gl{kind}-" for kind in ("pat", "dt", "rt", "ptt", "cbt", "ft", "imt", "oas", "soat", "agent")),
        rf"gl(?:pat|dt|rt|ptt|cbt|ft|imt|oas|soat|agent)-[A-Za-z0-9_\-]{{20,300}}(?:\.[A-Za-z0-9_\-]{{2,16}}){{0,3}}"
        rf"{_END_DASH}",
        _random(2.8),
    ),
    token_rule(
        "anthropic-api-key",
        "Anthropic API key",
        ("sk-ant-",),
        rf"sk-ant-(?:api|admin|oat|ort|sid)\d\d-[A-Za-z0-9_\-]{{32,300}}{_END_DASH}",
        checks.mixed,
    ),
    token_rule(
        "openrouter-api-key", "OpenRouter API key", ("sk-or-",), rf"sk-or-v\d-[0-9a-f]{{64}}{_END}", _random(3.0)
    ),
    token_rule(
        "openai-api-key",
        "OpenAI API key",
        ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"),
        rf"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{{40,250}}{_END_DASH}",
        _random_mixed,
    ),
    token_rule(
        "openai-api-key",
        "OpenAI API key",
        ("sk-",),
        rf"sk-[A-Za-z0-9_\-]{{16,250}}T3BlbkFJ[A-Za-z0-9_\-]{{16,250}}{_END_DASH}",
        _random_mixed,
        marker="T3BlbkFJ",
    ),
    token_rule(
        "sk-api-key",
        "API key (sk- format)",
        ("sk-",),
        rf"sk-[A-Za-z0-9]{{32,64}}{_END_DASH}",
        lambda s: checks.mixed(s[3:]) and checks.random_enough(s[3:], minimum=3.2),
    ),
    token_rule(
        "slack-token",
        "Slack token",
        tuple(f"xox{c}-" for c in "abposre"),
        rf"xox[abposre]-[0-9A-Za-z]{{1,40}}-[0-9A-Za-z\-]{{8,250}}{_END}",
        _random(3.0),
    ),
    token_rule(
        "slack-app-token",
        "Slack app-level token",
        ("xapp-",),
        rf"xapp-\d-[A-Z0-9]{{6,16}}-\d{{6,16}}-[a-f0-9]{{32,80}}{_END}",
    ),
    token_rule(
        "slack-webhook",
        "Slack webhook URL",
        ("hooks.slack.com/",),
        r"hooks\.slack\.com/(?P<secret>(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,160})",
    ),
    token_rule(
        "stripe-secret-key",
        "Stripe secret key",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        rf"[sr]k_(?:live|test)_[0-9A-Za-z]{{20,247}}{_END}",
        checks.mixed,
    ),
    token_rule(
        "stripe-webhook-secret",
        "Stripe webhook secret",
        ("whsec_",),
        rf"whsec_[A-Za-z0-9+/=]{{24,100}}{_END}",
        _random(),
    ),
    token_rule("google-api-key", "Google API key", ("AIza",), rf"AIza[0-9A-Za-z_\-]{{35}}{_END_DASH}", checks.mixed),
    token_rule(
        "google-oauth-secret",
        "Google OAuth client secret",
        ("GOCSPX-",),
        rf"GOCSPX-[0-9A-Za-z_\-]{{28}}{_END_DASH}",
        checks.mixed,
    ),
    token_rule(
        "google-oauth-token",
        "Google OAuth access token",
        ("ya29.",),
        rf"ya29\.[0-9A-Za-z_\-]{{30,2000}}{_END_DASH}",
        _random_mixed,
    ),
    token_rule(
        "azure-storage-key",
        "Azure storage or service bus key",
        ("AccountKey=", "SharedAccessKey="),
        r"(?:AccountKey|SharedAccessKey)=(?P<secret>[A-Za-z0-9+/]{40,100}={0,2})",
        _random(4.0),
    ),
    token_rule(
        "azure-client-secret",
        "Azure AD client secret",
        ("Q~",),
        rf"[A-Za-z0-9_~.\-]{{3}}\dQ~[A-Za-z0-9_~.\-]{{31,34}}{_END}",
        _random_mixed,
        lead=4,
    ),
    token_rule(
        "twilio-api-key",
        "Twilio API key",
        ("SK",),
        rf"SK[0-9a-fA-F]{{32}}{_END}",
        lambda s: checks.mixed(s[2:]) and checks.random_enough(s[2:], minimum=3.2),
    ),
    token_rule(
        "sendgrid-api-key",
        "SendGrid API key",
        ("SG.",),
        rf"SG\.[A-Za-z0-9_\-]{{22}}\.[A-Za-z0-9_\-]{{43}}{_END_DASH}",
        checks.mixed,
    ),
    token_rule(
        "npm-token",
        "npm access token",
        ("npm_",),
        rf"npm_[A-Za-z0-9]{{36}}{_END}",
        lambda s: checks.base62_checksum(s[4:]),
    ),
    token_rule("pypi-token", "PyPI API token", ("pypi-AgE",), rf"pypi-AgE[A-Za-z0-9_\-]{{50,400}}{_END_DASH}"),
    token_rule(
        "huggingface-token",
        "Hugging Face access token",
        ("hf_", "api_org_"),
        rf"(?:hf|api_org)_[A-Za-z0-9]{{34,40}}{_END}",
        lambda s: checks.mixed(s) and checks.random_enough(s.rpartition("_")[2], minimum=3.5),
    ),
    token_rule(
        "jwt",
        "JSON Web Token",
        ("eyJ",),
        rf"eyJ[A-Za-z0-9_\-]{{8,4000}}\.eyJ[A-Za-z0-9_\-]{{8,16000}}\.[A-Za-z0-9_\-]{{8,4000}}{_END_DASH}",
        checks.jwt_header,
    ),
    token_rule(
        "digitalocean-token",
        "DigitalOcean token",
        ("dop_v1_", "doo_v1_", "dor_v1_"),
        rf"do[por]_v1_[a-f0-9]{{64}}{_END}",
    ),
    token_rule(
        "shopify-token",
        "Shopify access token",
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        rf"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{{32}}{_END}",
    ),
    token_rule("groq-api-key", "Groq API key", ("gsk_",), rf"gsk_[A-Za-z0-9]{{48,56}}{_END}", _random_mixed),
    token_rule("replicate-token", "Replicate API token", ("r8_",), rf"r8_[A-Za-z0-9]{{37}}{_END}", _random_mixed),
    token_rule("perplexity-api-key", "Perplexity API key", ("pplx-",), rf"pplx-[A-Za-z0-9]{{48}}{_END}", _random_mixed),
    token_rule("xai-api-key", "xAI API key", ("xai-",), rf"xai-[A-Za-z0-9]{{70,90}}{_END}", _random_mixed),
    token_rule("linear-api-key", "Linear API key", ("lin_api_",), rf"lin_api_[A-Za-z0-9]{{40}}{_END}", _random_mixed),
    token_rule(
        "postman-api-key", "Postman API key", ("PMAK-",), rf"PMAK-[a-f0-9]{{24}}-[a-f0-9]{{34}}{_END}", _random()
    ),
    token_rule(
        "vault-token",
        "HashiCorp Vault token",
        ("hvs.", "hvb."),
        rf"hv[sb]\.[A-Za-z0-9_\-]{{24,300}}{_END_DASH}",
        _random_mixed,
    ),
    token_rule(
        "grafana-token",
        "Grafana token",
        ("glc_", "glsa_"),
        rf"(?:glc_[A-Za-z0-9+/]{{32,400}}={{0,2}}|glsa_[A-Za-z0-9]{{32}}_[a-f0-9]{{8}}){_END}",
        _random_mixed,
    ),
    token_rule(
        "sentry-token", "Sentry token", ("sntrys_", "sntryu_"), r"sntry[su]_[A-Za-z0-9+/=_\-]{40,400}", _random()
    ),
    token_rule("newrelic-api-key", "New Relic API key", ("NRAK-",), rf"NRAK-[A-Z0-9]{{27}}{_END}", _random(3.0)),
    token_rule(
        "atlassian-api-token",
        "Atlassian API token",
        ("ATATT3",),
        rf"ATATT3[A-Za-z0-9_\-=]{{100,300}}{_END}",
        _random_mixed,
    ),
    token_rule(
        "square-token",
        "Square access token",
        ("sq0atp-", "sq0csp-"),
        rf"sq0(?:atp|csp)-[0-9A-Za-z_\-]{{22,60}}{_END_DASH}",
    ),
    token_rule(
        "bearer-token",
        "bearer token",
        ("Bearer ",),
        rf"Bearer (?P<secret>[A-Za-z0-9_\-.~+/]{{20,2000}}=*){_END_DASH}",
        _random_mixed,
    ),
)
