"""The reconcile status: whether the gateway serves what the config directory declares, and if not, why.

The live loop replaces one immutable `ReconcileStatus` after every attempt; `GET /api/v1/reconcile/status` shows
it. `ready` is true only when the last attempt applied (or found nothing to apply). The reason comes from a fixed
set, so scripts and alerts can match on it:

    Succeeded          the directory's config is what the gateway serves
    ValidationFailed   the directory is invalid; the last good config keeps serving (see diagnostics)
    ApplyFailed        the config is valid but its registry could not be built; the last good one keeps serving
    SourceUnavailable  the directory is missing or not a directory; the last good config keeps serving
    Progressing        nothing has been attempted yet
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import HTTPException

from proxy.admin import detail_response
from proxy.registry import Registry
from proxy.security import require_reader
from proxy.statefile import iso_utc
from reconciler.diagnostics import Diagnostic

STATUS_PATH = "/api/v1/reconcile/status"


class Reason(enum.StrEnum):
    SUCCEEDED = "Succeeded"
    VALIDATION_FAILED = "ValidationFailed"
    APPLY_FAILED = "ApplyFailed"
    SOURCE_UNAVAILABLE = "SourceUnavailable"
    PROGRESSING = "Progressing"


@dataclass(frozen=True, slots=True)
class Counts:
    providers: int = 0
    workspaces: int = 0
    archived_workspaces: int = 0
    personas: int = 0

    @classmethod
    def of(cls, registry: Registry) -> Counts:
        archived = sum(1 for ws in registry.workspaces.values() if ws.archived)
        return cls(
            providers=len(registry.providers),
            workspaces=len(registry.workspaces) - archived,
            archived_workspaces=archived,
            personas=len(registry.state.personas),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "providers": self.providers,
            "workspaces": self.workspaces,
            "archivedWorkspaces": self.archived_workspaces,
            "personas": self.personas,
        }


@dataclass(frozen=True, slots=True)
class ReconcileStatus:
    ready: bool
    reason: Reason
    message: str
    # The revision the gateway serves, and the one the last attempt read (they differ after a failure).
    revision: str | None = None
    last_attempted_revision: str | None = None
    applied_at: datetime | None = None
    state_hash: str | None = None
    counts: Counts = Counts()
    diagnostics: tuple[Diagnostic, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "reason": self.reason.value,
            "message": self.message,
            "revision": self.revision,
            "lastAttemptedRevision": self.last_attempted_revision,
            "appliedAt": iso_utc(self.applied_at) if self.applied_at is not None else None,
            "stateHash": self.state_hash,
            "counts": self.counts.to_json(),
            "diagnostics": diagnostics_json(self.diagnostics),
        }


def diagnostics_json(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "severity": d.severity.value,
            "file": d.file,
            "line": d.line,
            "column": d.column,
            "summary": d.summary,
            "message": d.message or d.summary,
            "hint": d.hint,
            "code": d.code,
        }
        for d in diagnostics
    ]


def describe(revision: str | None, state_hash: str | None) -> str:
    """How messages name a config: "revision 3f2c1e9"; a dirty revision with its state's hash, since the same
    dirty revision names every uncommitted edit; the state's hash alone outside git."""
    short = state_hash[:12] if state_hash else None
    if revision is not None:
        dirty = revision.endswith("-dirty") and short is not None
        return f"revision {revision} (state {short})" if dirty else f"revision {revision}"
    return f"state {short} (not in git)" if short else "an unnamed state"


@get(
    STATUS_PATH,
    name="reconcile-status",
    guards=[require_reader],
    sync_to_thread=False,
    exception_handlers={HTTPException: detail_response},
)
def reconcile_status(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The live reconcile status; 404 on a gateway that was given a registry rather than a directory to watch.
    Guarded like the admin API's other reads (open on a loopback bind, the admin token otherwise)."""
    live = request.app.state.get("live")
    if live is None:
        return Response(
            {"detail": "This gateway serves a fixed config and watches no directory; start it with muxgate serve DIR."},
            status_code=404,
        )
    status: ReconcileStatus = live.status
    return Response(status.to_json())
