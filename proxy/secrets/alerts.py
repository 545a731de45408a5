"""Alerts: one record per secret found in a request, in CodeGate's shape (trigger type `codegate-secrets`,
category `critical`), naming the kind of secret and showing the line it was on with every secret masked.

The value never appears in an alert: the line is masked before the record is built. `report_alerts` logs each
record and hands it to the analytics recorder (its `record_alert`, which writes the `alerts` table).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from .scanner import Finding

TRIGGER_TYPE: Final = "codegate-secrets"
CATEGORY: Final = "critical"
MASK: Final = "********"
_CONTEXT: Final = 80  # characters of the line kept on each side of the secret

log = logging.getLogger("muxgate.secrets")


@dataclass(frozen=True, slots=True)
class SecretAlert:
    workspace: str
    rule: str  # rule id: "github-pat", "assigned-secret", "pattern:NAME", "value:N"
    trigger_string: str  # the kind of secret: "GitHub personal access token"
    code_snippet: str  # the line it was on, every secret in it masked
    redacted: bool  # False when the workspace's mode is alert: the provider received the value
    placeholder: str | None  # what the provider received instead, when redacted
    timestamp: datetime
    trigger_type: str = TRIGGER_TYPE
    trigger_category: str = CATEGORY

    @property
    def detail(self) -> str:
        """The kind of secret and what became of it: "GitHub personal access token (github-pat), sent as
        REDACTED<1a2b3c4d>"."""
        fate = f"sent as {self.placeholder}" if self.placeholder else "sent unredacted (mode alert)"
        return f"{self.trigger_string} ({self.rule}), {fate}"

    def record(self) -> dict[str, Any]:
        """CodeGate's alert fields (without `id` and `prompt_id`, which the recorder assigns)."""
        return {
            "code_snippet": self.code_snippet,
            "trigger_string": self.trigger_string,
            "trigger_type": self.trigger_type,
            "trigger_category": self.trigger_category,
            "timestamp": self.timestamp.isoformat(),
        }


class AlertRecorder(Protocol):
    """What records alerts (the analytics service's `record_alert`)."""

    def record_alert(
        self,
        workspace: str,
        trigger_type: str,
        category: str,
        *,
        detail: str | None = None,
        request_id: str | None = None,
        code_snippet: str | None = None,
    ) -> None: ...


def report_alerts(alerts: Sequence[SecretAlert], recorder: AlertRecorder | None, request_id: str | None) -> None:
    """Log each alert and hand it to the recorder (analytics), when there is one."""
    log_alerts(alerts)
    if recorder is None:
        return
    for alert in alerts:
        recorder.record_alert(
            alert.workspace,
            alert.trigger_type,
            alert.trigger_category,
            detail=alert.detail,
            request_id=request_id,
            code_snippet=alert.code_snippet,
        )


def log_alerts(alerts: Sequence[SecretAlert]) -> None:
    for alert in alerts:
        log.warning(
            "workspace %s: %s %s (%s): %s",
            alert.workspace,
            alert.trigger_string,
            "redacted" if alert.redacted else "found and NOT redacted (mode: alert)",
            alert.rule,
            alert.code_snippet,
        )


def masked_context(text: str, finding: Finding, findings: Sequence[Finding], masks: Sequence[str]) -> str:
    """The line of `text` that holds `finding`, cut to some characters around it, each finding on it replaced
    by its mask (`masks[i]` for `findings[i]`)."""
    start = max(text.rfind("\n", 0, finding.start) + 1, finding.start - _CONTEXT)
    end = text.find("\n", finding.end)
    end = min(len(text) if end < 0 else end, finding.end + _CONTEXT)
    out: list[str] = []
    at = start
    for other, mask in zip(findings, masks, strict=True):
        if other.end <= start or other.start >= end:
            continue
        out.append(text[at : max(at, other.start)])
        out.append(mask)
        at = max(at, other.end)
    out.append(text[at:end] if at < end else "")
    snippet = "".join(out).strip()
    return (
        ("…" if start > 0 and text[start - 1] != "\n" else "")
        + snippet
        + ("…" if end < len(text) and text[end] != "\n" else "")
    )


def now() -> datetime:
    return datetime.now(UTC)
