"""Redaction: every string of a request body that leaves for the provider is scanned; each secret is replaced by
its placeholder (mode `redact`) or only reported (mode `alert`).

    upstream body ─ scan every string (messages, system blocks, tool calls and results, prompts, suffixes…)
                  ─ ids for the secrets (never one a client-sent placeholder already uses)
                  ─ a copy of the body with placeholders, the id → secret table, one alert per secret

Binary payloads (base64 images, audio, documents) are not scanned: they are not text a secret is pasted into,
and scanning megabytes of base64 would only find noise. The body passed in is never modified: containers on the
way to a changed string are copied, the rest is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .alerts import MASK, SecretAlert, masked_context, now
from .placeholders import FORMS, Issuer, placeholder
from .scanner import PLACEHOLDER, Finding, Scanner
from .tree import rewrite_strings


@dataclass
class Redaction:
    """What protecting one request did: the body to send, the secrets it replaced and the alerts to record."""

    body: dict[str, Any]
    values: dict[str, str] = field(default_factory=dict)  # placeholder id → secret (empty unless redacted)
    alerts: list[SecretAlert] = field(default_factory=list)

    @property
    def restores(self) -> bool:
        """The answer must go through the restorer: placeholders were sent."""
        return bool(self.values)


def redact(body: dict[str, Any], scanner: Scanner, *, workspace: str, replace: bool = True) -> Redaction:
    """Scan `body`; with `replace`, return a copy in which each secret is its placeholder."""
    findings: dict[str, list[Finding]] = {}  # only texts that hold a secret
    taken: set[str] = set()

    texts: list[str] = []
    _collect(body, texts)
    for text, found in scanner.scan_all(texts):
        if text in findings:
            continue
        secrets = [f for f in found if f.rule != PLACEHOLDER]
        if len(secrets) < len(found):
            for f in found:
                if f.rule == PLACEHOLDER and (form := FORMS.match(text, f.start)) is not None:
                    taken.add(form.group("id").lower())
        if secrets:
            findings[text] = secrets
    if not findings:
        return Redaction(body)
    issuer = Issuer(taken)
    alerts: list[SecretAlert] = []
    alerted: set[tuple[str, str]] = set()
    when = now()
    for text, found in findings.items():
        ids = [issuer.id_for(text[f.start : f.end]) for f in found]
        masks = [placeholder(i) if replace else MASK for i in ids]
        for finding, secret_id in zip(found, ids, strict=True):
            if (finding.rule, secret_id) in alerted:
                continue  # the same secret again (conversation history): one alert per request
            alerted.add((finding.rule, secret_id))
            alerts.append(
                SecretAlert(
                    workspace=workspace,
                    rule=finding.rule,
                    trigger_string=finding.label,
                    code_snippet=masked_context(text, finding, found, masks),
                    redacted=replace,
                    placeholder=placeholder(secret_id) if replace else None,
                    timestamp=when,
                )
            )
    if not replace:
        return Redaction(body, alerts=alerts)

    def substitute(text: str) -> str:
        found = findings.get(text)
        if not found:
            return text
        out: list[str] = []
        at = 0
        for f in found:
            out.append(text[at : f.start])
            out.append(placeholder(issuer.id_for(text[f.start : f.end])))
            at = f.end
        out.append(text[at:])
        return "".join(out)

    redacted = _walk(body, substitute)
    return Redaction(redacted, dict(issuer.values), alerts)


def _binary(node: dict[str, Any], key: str) -> bool:
    """Keys whose value is an encoded file: Ollama's `images`, Anthropic's base64 `source.data`, OpenAI's
    `input_audio.data`."""
    if key == "images":
        return True
    return key == "data" and (node.get("type") == "base64" or "format" in node)


def _data_url(text: str) -> bool:
    return text.startswith("data:") and ";base64," in text[:100]


def _walk(node: Any, visit: Callable[[str], str]) -> Any:
    """`node` with `visit` applied to every string in it, except data URLs and encoded files."""

    def text(value: str, key: str | None) -> str:
        return value if _data_url(value) else visit(value)

    return rewrite_strings(node, text, _binary)


def _collect(node: Any, out: list[str]) -> None:
    """The strings `_walk` would visit, in order, without building anything: most bodies hold no secret, and
    finding that out is all the work they need. It runs for every request, so `_binary` and `_data_url` are
    written out here and strings are taken without a call each."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "images" or (key == "data" and (node.get("type") == "base64" or "format" in node)):
                continue
            if isinstance(value, str):
                if not (value.startswith("data:") and ";base64," in value[:100]):
                    out.append(value)
            elif isinstance(value, _CONTAINERS):
                _collect(value, out)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, str):
                if not (value.startswith("data:") and ";base64," in value[:100]):
                    out.append(value)
            elif isinstance(value, _CONTAINERS):
                _collect(value, out)
    elif isinstance(node, str) and not _data_url(node):
        out.append(node)


_CONTAINERS = (dict, list)


def conceal(text: str, values: Mapping[str, str]) -> str:
    """`text` with every secret of `values` (placeholder id → secret) replaced by its placeholder again: for what
    is kept after the answer was restored, such as the conversation history."""
    for secret_id, secret in sorted(values.items(), key=lambda item: -len(item[1])):
        if secret in text:
            text = text.replace(secret, placeholder(secret_id))
    return text
