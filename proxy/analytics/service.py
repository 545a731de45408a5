"""The analytics of one gateway process: what the request path, the reconcile loop and the admin API call.

Where it sits: `create_app`'s lifespan opens it (`Analytics.open`) and keeps it on the Gateway; the request path
calls `begin` for every client request; the reconcile loop calls `record_revision` after each apply; the routes
of `proxy.analytics.routes` call `sql` and `read`. Closing it writes everything still queued.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar.types import Send

from proxy.request_info import ClientApi

from .events import AlertEvent, RevisionEvent
from .record import RequestRecord, request_rows
from .sql_safety import check_query
from .store import open_database, spool_dir
from .writer import DEFAULT_CAPACITY, DEFAULT_INTERVAL, QueryResult, Writer
from .writer_process import EventWriter, WriterProcess

if TYPE_CHECKING:
    from proxy.registry import Registry

# How long an endpoint waits for queued events to be written before it reads (read-your-writes).
FLUSH_WAIT = 2.0
MAX_ROWS = 10_000
QUERY_TIMEOUT = 30.0


class Analytics:
    def __init__(self, writer: EventWriter, data_dir: Path) -> None:
        self.writer = writer
        self.data_dir = Path(data_dir)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        capacity: int = DEFAULT_CAPACITY,
        interval: float = DEFAULT_INTERVAL,
        process: bool = True,
    ) -> Analytics:
        """Open (create, upgrade) `DATA_DIR/muxgate.duckdb` and start the writer, in a process of its own or as a
        thread of this one; raises AnalyticsError."""
        if process:
            return cls(WriterProcess(data_dir, capacity=capacity, interval=interval), data_dir)
        con = open_database(data_dir)
        writer = Writer(con, expand=request_rows, capacity=capacity, interval=interval, spool=spool_dir(data_dir))
        return cls(writer, data_dir)

    # --- recording ---

    def begin(
        self, api: ClientApi, send: Send, registry: Registry, scope: Any = None, active_workspace: str = "default"
    ) -> RequestRecord:
        return RequestRecord(api, send, registry, self.writer, scope, active_workspace)

    def record_revision(
        self,
        revision: str | None,
        state_hash: str,
        *,
        added: int = 0,
        changed: int = 0,
        archived: int = 0,
        recovered: int = 0,
        deleted: int = 0,
        source: str = "apply",
    ) -> None:
        """A config revision was applied: the git revision of the config directory (None outside git), the
        applied state's hash and the plan's counts. Thread-safe; never blocks."""
        self.writer.put(RevisionEvent(revision, state_hash, source, added, changed, archived, recovered, deleted))

    def record_alert(
        self,
        workspace: str,
        trigger_type: str,
        category: str,
        *,
        detail: str | None = None,
        request_id: str | None = None,
        code_snippet: str | None = None,
    ) -> None:
        """An alert about a request: `category` is info or critical; `detail` never holds the secret itself."""
        self.writer.put(AlertEvent(workspace, trigger_type, category, detail, request_id, code_snippet))

    # --- reading ---

    async def flush(self, timeout: float = FLUSH_WAIT) -> bool:
        return await asyncio.to_thread(self.writer.flush, timeout)

    async def sql(self, sql: str, *, max_rows: int = MAX_ROWS, timeout: float = QUERY_TIMEOUT) -> QueryResult:
        """A user's query: one SELECT (else SqlError), after what is queued is written, in a worker thread."""
        await self.flush()
        return await asyncio.to_thread(self.writer.query, sql, max_rows=max_rows, timeout=timeout, check=check_query)

    async def read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """One of the gateway's own queries, after what is queued is written, in a worker thread."""
        await self.flush()
        return await asyncio.to_thread(self.writer.read, sql, params)

    def stats(self) -> dict[str, Any]:
        writer = self.writer
        # Where the writing happens: the writer process, or a thread of the gateway's own.
        kind, pid = ("process", writer.pid) if isinstance(writer, WriterProcess) else ("thread", os.getpid())
        return {
            "database": str(self.data_dir.resolve() / "muxgate.duckdb"),
            "writer": kind,
            "writer_pid": pid,
            "queued": writer.queued,
            "written": writer.written,
            "dropped": writer.dropped,
            "last_error": writer.last_error,
            "writer_cpu_seconds": round(writer.cpu_seconds, 3),
        }

    def close(self) -> None:
        self.writer.close()


def begin_request(
    analytics: Analytics | None, api: ClientApi, send: Send, registry: Registry, scope: Any, active_workspace: str
) -> RequestRecord:
    """A record for every request; with analytics off it still gives the request its id header. A request that
    names no workspace is counted in `active_workspace` until routing says otherwise."""
    if analytics is None:
        return RequestRecord(api, send, registry, None, scope, active_workspace)
    return analytics.begin(api, send, registry, scope, active_workspace)
