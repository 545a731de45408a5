"""Secret protection: credentials pasted into a prompt never reach the provider, the developer still sees them in
the answer, and each one is recorded as a critical alert.

Where it sits in the request path (proxy.gateway):

    client body ─ SecretGuard.protect ─ Redaction ─ translate ─ provider   (secrets → REDACTED<id>)
    client ◀─ restore_body / RestoringEncoder ─ translate ◀─ provider       (REDACTED<id> → secrets)
                           └─ report_alerts ─ analytics `alerts` table and the log

    rules.py, context_rules.py   what a secret looks like (vendor formats, keys, URLs, assignments)
    anchors.py, scanner.py       finding them in one fast pass
    placeholders.py              REDACTED<id>: ids, the forms read back
    redactor.py, restorer.py     replacing them on the way out, putting them back on the way in
    alerts.py                    alert records; policy.py: the compiled per-workspace guard

See docs/secrets.md.
"""

from .alerts import SecretAlert, report_alerts
from .policy import SecretGuard, builtin_scanner, compile_guard, default_guard
from .redactor import Redaction, conceal, redact
from .restorer import RestoringEncoder, StreamRestorer, restore_body, restore_text, restoring
from .scanner import BUILTIN_RULES, DeclaredPattern, DeclaredValue, Finding, Scanner

__all__ = [
    "BUILTIN_RULES",
    "DeclaredPattern",
    "DeclaredValue",
    "Finding",
    "Redaction",
    "RestoringEncoder",
    "Scanner",
    "SecretAlert",
    "SecretGuard",
    "StreamRestorer",
    "builtin_scanner",
    "compile_guard",
    "conceal",
    "default_guard",
    "redact",
    "report_alerts",
    "restore_body",
    "restore_text",
    "restoring",
]
