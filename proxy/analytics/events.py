"""What the writer stores: the columns of each table, and the events that are not requests (alerts, revisions).

Where it sits: events are made on the event loop (cheap: a few attributes), queued, and turned into rows in the
writer thread. Every event has `rows()`, which gives (table, row) pairs in the column order below. Timestamps
travel as integer microseconds since the Unix epoch (UTC), which DuckDB turns into TIMESTAMP on insert.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

Row = tuple[Any, ...]

# Column name and DuckDB type, in the order rows are built. TIMESTAMP columns are given as microseconds.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "requests": (
        ("ts", "TIMESTAMP"),
        ("request_id", "VARCHAR"),
        ("workspace", "VARCHAR"),
        ("client_api", "VARCHAR"),
        ("provider", "VARCHAR"),
        ("provider_type", "VARCHAR"),
        ("requested_model", "VARCHAR"),
        ("model", "VARCHAR"),
        ("rule_index", "INTEGER"),
        ("request_type", "VARCHAR"),
        ("stream", "BOOLEAN"),
        ("status", "SMALLINT"),
        ("outcome", "VARCHAR"),
        ("stop_reason", "VARCHAR"),
        ("input_tokens", "BIGINT"),
        ("output_tokens", "BIGINT"),
        ("usage_source", "VARCHAR"),
        ("input_cost", "DOUBLE"),
        ("output_cost", "DOUBLE"),
        ("latency_ms", "DOUBLE"),
        ("ttft_ms", "DOUBLE"),
        ("config_revision", "VARCHAR"),
        ("state_hash", "VARCHAR"),
        ("error", "VARCHAR"),
    ),
    "messages": (
        ("ts", "TIMESTAMP"),
        ("request_id", "VARCHAR"),
        ("workspace", "VARCHAR"),
        ("history", "VARCHAR"),
        ("request_type", "VARCHAR"),
        ("provider", "VARCHAR"),
        ("model", "VARCHAR"),
        ("message_count", "INTEGER"),
        ("prompt", "VARCHAR"),
        ("request", "VARCHAR"),
        ("answer", "VARCHAR"),
    ),
    "alerts": (
        ("id", "VARCHAR"),
        ("ts", "TIMESTAMP"),
        ("request_id", "VARCHAR"),
        ("workspace", "VARCHAR"),
        ("trigger_type", "VARCHAR"),
        ("trigger_category", "VARCHAR"),
        ("detail", "VARCHAR"),
        ("code_snippet", "VARCHAR"),
    ),
    "config_revisions": (
        ("ts", "TIMESTAMP"),
        ("revision", "VARCHAR"),
        ("state_hash", "VARCHAR"),
        ("source", "VARCHAR"),
        ("added", "INTEGER"),
        ("changed", "INTEGER"),
        ("archived", "INTEGER"),
        ("recovered", "INTEGER"),
        ("deleted", "INTEGER"),
    ),
}


REQUEST_COLUMN = {name: index for index, (name, _) in enumerate(COLUMNS["requests"])}


def now_us() -> int:
    return time.time_ns() // 1000


class Event(Protocol):
    def rows(self) -> list[tuple[str, Row]]:
        """(table, row) pairs; called once, in the writer thread."""
        ...


@dataclass(frozen=True, slots=True)
class RevisionEvent:
    """A config revision was applied (or loaded at start-up): when, which commit, which state, what changed."""

    revision: str | None
    state_hash: str
    source: str
    added: int = 0
    changed: int = 0
    archived: int = 0
    recovered: int = 0
    deleted: int = 0
    ts_us: int = field(default_factory=now_us)

    def rows(self) -> list[tuple[str, Row]]:
        return [
            (
                "config_revisions",
                (
                    self.ts_us,
                    self.revision,
                    self.state_hash,
                    self.source,
                    self.added,
                    self.changed,
                    self.archived,
                    self.recovered,
                    self.deleted,
                ),
            )
        ]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something noteworthy in a request (a secret, PII, …). `detail` describes it and never holds the secret."""

    workspace: str
    trigger_type: str
    category: str  # info | critical
    detail: str | None = None
    request_id: str | None = None
    code_snippet: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ts_us: int = field(default_factory=now_us)

    def rows(self) -> list[tuple[str, Row]]:
        return [
            (
                "alerts",
                (
                    self.id,
                    self.ts_us,
                    self.request_id,
                    self.workspace,
                    self.trigger_type,
                    self.category,
                    self.detail,
                    self.code_snippet,
                ),
            )
        ]
