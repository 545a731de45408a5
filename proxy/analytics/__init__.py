"""Analytics: token usage, cost, history, alerts and config revisions, recorded in DuckDB (DATA_DIR/muxgate.duckdb).

    request path ─ RequestRecord (send tap) ─┐
    reconcile apply ─ record_revision ───────┼─▶ WriterProcess ─ pipe ─▶ writer process: Writer, batched INSERTs
    alerts ─ record_alert ───────────────────┘
    admin API ─ POST /api/v1/sql, /workspaces/{name}/token-usage … ─▶ cursors of the writer's connection
    `muxgate sql` ─ the SQL endpoint of the running gateway, or the file opened read-only when none runs

See docs/analytics.md for the tables, the views and how to query them.

The names below are imported when first used, so the writer process, which needs only a few of the modules,
starts without loading the web framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .record import REQUEST_ID_HEADER, RequestRecord
    from .service import Analytics, begin_request
    from .sql_safety import ForbiddenStatement, SqlError, check_query
    from .store import AnalyticsError, DatabaseBusy, open_database, open_read_only

_MODULE = {
    "REQUEST_ID_HEADER": ".record",
    "RequestRecord": ".record",
    "Analytics": ".service",
    "begin_request": ".service",
    "ForbiddenStatement": ".sql_safety",
    "SqlError": ".sql_safety",
    "check_query": ".sql_safety",
    "AnalyticsError": ".store",
    "DatabaseBusy": ".store",
    "open_database": ".store",
    "open_read_only": ".store",
}

__all__ = [
    "REQUEST_ID_HEADER",
    "Analytics",
    "AnalyticsError",
    "DatabaseBusy",
    "ForbiddenStatement",
    "RequestRecord",
    "SqlError",
    "begin_request",
    "check_query",
    "open_database",
    "open_read_only",
]


def __getattr__(name: str) -> Any:
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
