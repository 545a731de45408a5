"""Saying what a reconcile did: the status it leaves behind, the sentences in it, and the log lines.

The live loop (`proxy.live.loop`) decides and calls one method here per outcome; the `StatusBoard` builds the
`ReconcileStatus`, replaces the current one, wakes whoever waits for a change (tests, benchmarks, in other
threads), and logs a failure once: the same broken tree seen again (a touch, a catch-up) is not news.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from proxy.live.status import Counts, Reason, ReconcileStatus, describe
from proxy.registry import Registry
from proxy.statefile import iso_utc
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.plan import Plan

log = logging.getLogger("muxgate.live")


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def errors_of(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity is Severity.ERROR]


def located(d: Diagnostic) -> str:
    """`backend.yaml:14:19: unknown provider in mux rule. No provider named "opnai" is declared.`"""
    where = f"{d.location}: " if d.location else ""
    detail = f" {d.message}" if d.message else ""
    return f"{where}{d.summary}.{detail}".rstrip()


def change_counts(plan: Plan) -> str:
    """`1 added, 1 changed, 0 archived`, plus recovered and deleted when there are any."""
    parts = [f"{plan.to_add} added", f"{plan.to_change} changed", f"{plan.to_archive} archived"]
    if plan.to_recover:
        parts.append(f"{plan.to_recover} recovered")
    if plan.to_delete:
        parts.append(f"{plan.to_delete} deleted")
    return ", ".join(parts)


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


def _error_lines(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(f"\n  {located(d)}" for d in errors_of(diagnostics))


class StatusBoard:
    """The current `ReconcileStatus` of one config directory; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._status = ReconcileStatus(False, Reason.PROGRESSING, f"{directory} has not been read yet.")
        self._changed = threading.Condition()
        self._last_failure: tuple[Any, ...] | None = None

    @property
    def status(self) -> ReconcileStatus:
        return self._status

    def _set(self, status: ReconcileStatus) -> None:
        with self._changed:
            self._status = status
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[ReconcileStatus], bool], timeout: float) -> ReconcileStatus:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self._status), timeout):
                raise TimeoutError(
                    f"The reconcile status did not reach the expected state in {timeout} s: {self._status}"
                )
            return self._status

    # --- outcomes -------------------------------------------------------------------------------------------

    def progressing(self, attempted: str | None, *, subject: str | None = None) -> None:
        """An attempt began: its revision is recorded first; `ready` stays as it was. `subject` names a tree that
        is not the directory's (a push)."""
        subject = describe(attempted, None) if attempted else subject or str(self.directory)
        self._set(
            dataclasses.replace(
                self._status,
                reason=Reason.PROGRESSING,
                message=f"Reconciling {subject}.",
                last_attempted_revision=attempted,
            )
        )

    def applied(self, plan: Plan, registry: Registry) -> None:
        if plan.has_changes:
            log.info("applied %s: %s", describe(registry.revision, registry.state_hash), change_counts(plan))

    def succeeded(
        self, registry: Registry, attempted: str | None, diagnostics: Sequence[Diagnostic], applied_at: datetime | None
    ) -> None:
        self._last_failure = None
        self._set(
            ReconcileStatus(
                True,
                Reason.SUCCEEDED,
                f"Applied {describe(registry.revision, registry.state_hash)}.",
                revision=registry.revision,
                last_attempted_revision=attempted,
                applied_at=applied_at,
                state_hash=registry.state_hash,
                counts=Counts.of(registry),
                diagnostics=tuple(diagnostics),
            )
        )

    def invalid(
        self,
        attempted: str | None,
        diagnostics: Sequence[Diagnostic],
        serving: Registry | None,
        applied_at: datetime | None,
        *,
        subject: str | None = None,
    ) -> None:
        subject = subject or str(self.directory)
        errors = errors_of(diagnostics)
        subject = f"{subject} at {describe(attempted, None)}" if attempted is not None else subject
        problem = f"{subject} is invalid ({count(len(errors), 'error')}) and was not applied"
        first = f" First error: {errors[0].location or errors[0].file or '-'}: {errors[0].summary}." if errors else ""
        self.failed(Reason.VALIDATION_FAILED, attempted, diagnostics, problem, serving, applied_at, detail=first)

    def missing(self, attempted: str | None, serving: Registry | None, applied_at: datetime | None) -> None:
        problem = f"{self.directory} does not exist or is not a directory (restore it to resume)"
        self.failed(Reason.SOURCE_UNAVAILABLE, attempted, (), problem, serving, applied_at)

    def failed(
        self,
        reason: Reason,
        attempted: str | None,
        diagnostics: Sequence[Diagnostic],
        problem: str,
        serving: Registry | None,
        applied_at: datetime | None,
        *,
        detail: str = "",
    ) -> None:
        """An attempt that applied nothing; `serving` is the registry that keeps serving."""
        kept = (
            f"; serving the last good {describe(serving.revision, serving.state_hash)}" if serving is not None else ""
        )
        message = _sentence(problem) + kept + "."
        # A missing directory is the same failure whatever was diagnosed about it.
        fingerprint = (reason, attempted, () if reason is Reason.SOURCE_UNAVAILABLE else tuple(diagnostics))
        if fingerprint != self._last_failure:
            self._last_failure = fingerprint
            log.warning("%s%s", message, _error_lines(diagnostics))
        self._set(
            ReconcileStatus(
                False,
                reason,
                message + detail,
                revision=serving.revision if serving is not None else self._status.revision,
                last_attempted_revision=attempted,
                applied_at=applied_at,
                state_hash=serving.state_hash if serving is not None else None,
                counts=Counts.of(serving) if serving is not None else Counts(),
                diagnostics=tuple(diagnostics),
            )
        )

    def nothing_to_serve(
        self, reason: Reason, attempted: str | None, diagnostics: Sequence[Diagnostic], problem: str
    ) -> str:
        """At start-up, a broken directory and no last good state: the sentence `muxgate serve` exits with."""
        self._set(
            ReconcileStatus(
                False,
                reason,
                f"{_sentence(problem)}; nothing is served.",
                last_attempted_revision=attempted,
                diagnostics=tuple(diagnostics),
            )
        )
        return f"muxgate: {problem}; nothing was served."

    def serving_last_good(
        self,
        reason: Reason,
        attempted: str | None,
        diagnostics: Sequence[Diagnostic],
        problem: str,
        registry: Registry,
        applied_at: datetime,
    ) -> str:
        """At start-up, a broken directory served by its last good state: the sentence `muxgate serve` prints."""
        label = describe(registry.revision, registry.state_hash)
        sentence = f"{problem}; serving the last good {label}, applied at {iso_utc(applied_at)}"
        self._last_failure = (reason, attempted, () if reason is Reason.SOURCE_UNAVAILABLE else tuple(diagnostics))
        log.warning("%s.%s", _sentence(sentence), _error_lines(diagnostics))
        self._set(
            ReconcileStatus(
                False,
                reason,
                _sentence(sentence) + ".",
                revision=registry.revision,
                last_attempted_revision=attempted,
                applied_at=applied_at,
                state_hash=registry.state_hash,
                counts=Counts.of(registry),
                diagnostics=tuple(diagnostics),
            )
        )
        return f"muxgate: {sentence}."
