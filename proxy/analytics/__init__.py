"""Analytics: token usage, cost, history, alerts and config revisions, recorded in DuckDB (DATA_DIR/muxgate.duckdb).

    request path ─ RequestRecord (send tap) ─┐
    reconcile apply ─ record_revision ───────┼─▶ Writer: bounded queue → one thread → batched INSERTs
    alerts ─ record_alert ───────────────────┘
    admin API ─ POST /api/v1/sql, /workspaces/{name}/token-usage … ─▶ cursors of the writer's connection
    `muxgate sql` ─ the SQL endpoint of the running gateway, or the file opened read-only when none runs

See docs/analytics.md for the tables, the views and how to query them.
"""

from .record import REQUEST_ID_HEADER, RequestRecord
from .service import Analytics, begin_request
from .sql_safety import ForbiddenStatement, SqlError, check_query
from .store import AnalyticsError, DatabaseBusy, open_database, open_read_only

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
