"""The writer: a bounded in-memory queue drained into DuckDB by one thread, in batches.

It runs in the writer process (`writer_process.py`, the default), fed by what the gateway sends through the
pipe, or in the gateway's own process (`MUXGATE_ANALYTICS_WRITER=thread`), fed by the event loop.

    caller ── put(event) ──▶ deque (bounded; full → counted as dropped, warned) ──▶ writer thread
                                                   every second, or sooner when a batch is full:
                                                   rows() of each event → one INSERT per table (the
                                                   batch as JSON columns), all in one transaction

`put` never blocks and never touches DuckDB, so its caller (the event loop, in the gateway's process) cannot
wait on the database. A batch that fails to write (the disk is full, the file became unwritable) is counted as
dropped and warned about, and the gateway goes on serving. `flush()` waits until everything queued before it
is written; `close()` writes what is queued and closes the connection. Queries for the SQL endpoint run on
cursors of the same connection, in the caller's thread, so the writer keeps writing while they read.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from .events import COLUMNS, Event, Row

log = logging.getLogger("muxgate.analytics")

DEFAULT_CAPACITY = 100_000
DEFAULT_INTERVAL = 1.0
DEFAULT_BATCH = 5_000
# One warning per kind of trouble per this many seconds, with the count since the last one.
WARN_EVERY = 30.0


def insert_sql(table: str) -> str:
    """`INSERT … SELECT unnest($1), unnest($2), …`: one Python list per column."""
    columns = COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(
        f"make_timestamp(unnest(${i}::BIGINT[]))" if kind == "TIMESTAMP" else f"unnest(${i}::{kind}[])"
        for i, (_, kind) in enumerate(columns, start=1)
    )
    return f"INSERT INTO {table} ({names}) SELECT {values}"


def json_insert_sql(table: str) -> str:
    """The same rows as one JSON text, `{"column": [values…], …}`, which DuckDB parses itself (`from_json`)."""
    columns = COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    shape = ", ".join(f'"{name}": "{"BIGINT" if kind == "TIMESTAMP" else kind}[]"' for name, kind in columns)
    values = ", ".join(
        f"make_timestamp(unnest(c.{name}))" if kind == "TIMESTAMP" else f"unnest(c.{name})" for name, kind in columns
    )
    return f"INSERT INTO {table} ({names}) SELECT {values} FROM (SELECT from_json($1::VARCHAR, '{{{shape}}}') AS c)"


def json_file_insert_sql(table: str) -> str:
    """The same JSON text of columns, read from a file (`$1`) by DuckDB's JSON reader: about twice as fast as
    `from_json` on a parameter (benchmarks/analytics.py)."""
    columns = COLUMNS[table]
    names = ", ".join(name for name, _ in columns)
    spec = ", ".join(f"'{name}': '{'BIGINT' if kind == 'TIMESTAMP' else kind}[]'" for name, kind in columns)
    values = ", ".join(
        f'make_timestamp(unnest("{name}"))' if kind == "TIMESTAMP" else f'unnest("{name}")' for name, kind in columns
    )
    # One JSON object on one line; a batch of long conversations can pass DuckDB's default 16 MB object limit.
    options = f"format = 'newline_delimited', columns = {{{spec}}}, maximum_object_size = {2**31 - 1}"
    return f"INSERT INTO {table} ({names}) SELECT {values} FROM read_json($1, {options})"


_INSERT = {table: insert_sql(table) for table in COLUMNS}
_FILE_INSERT = {table: json_file_insert_sql(table) for table in COLUMNS}
_JSON_INSERT = {table: json_insert_sql(table) for table in COLUMNS}
_NAMES = {table: [name for name, _ in columns] for table, columns in COLUMNS.items()}
_encode = msgspec.json.Encoder().encode


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row], spool: Path | None = None) -> None:
    """Insert `rows` (tuples in COLUMNS order) with one statement.

    The rows travel as one JSON text of columns: encoding it is fast (msgspec), and DuckDB converts it while
    the GIL is released, so the event loop is held up less than by converting Python lists
    (benchmarks/analytics.py). With `spool` (a directory the connection may read, see store.open_database) the
    text goes through a file there, which DuckDB's JSON reader parses about twice as fast as `from_json` parses
    a parameter. A lone surrogate, which a client can send as a JSON escape and neither UTF-8 nor DuckDB can
    store, becomes U+FFFD rather than costing the batch.
    """
    columns = [list(column) for column in zip(*rows, strict=True)]
    try:
        payload = _encode(dict(zip(_NAMES[table], columns, strict=True)))
    except UnicodeEncodeError:
        columns = [[_clean(value) for value in column] for column in columns]
        payload = _encode(dict(zip(_NAMES[table], columns, strict=True)))
    if spool is None:
        con.execute(_JSON_INSERT[table], [payload.decode()])
        return
    path = spool / f"{table}.json"
    path.write_bytes(payload)
    con.execute(_FILE_INSERT[table], [str(path)])


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def insert_rows_unnest(con: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
    con.execute(_INSERT[table], [list(column) for column in zip(*rows, strict=True)])


# A queued event: an object with rows(), or a tuple the writer's `expand` turns into rows.
Item = Event | tuple[Any, ...]


def event_rows(event: Item) -> list[tuple[str, Row]]:
    if isinstance(event, tuple):
        raise TypeError("A tuple was queued, but this writer was given no expand function for tuples.")
    return event.rows()


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


class QueryTimeout(RuntimeError):  # noqa: N818 - a public name
    pass


class _Marker:
    """Queued by `flush()`; set once everything queued before it is written."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Warnings:
    """Rate-limited warnings, so a full disk under load logs a line every half minute, not one per request."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._pending: collections.Counter[str] = collections.Counter()

    def warn(self, kind: str, count: int, message: str) -> None:
        self._pending[kind] += count
        now = time.monotonic()
        if now - self._last.get(kind, -WARN_EVERY) >= WARN_EVERY:
            self._last[kind] = now
            total = self._pending.pop(kind)
            log.warning("%s (%d event%s dropped)", message, total, "" if total == 1 else "s")


class Writer:
    """Owns the writer connection and the thread that drains the queue into it."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        expand: Callable[[Any], list[tuple[str, Row]]] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        interval: float = DEFAULT_INTERVAL,
        batch: int = DEFAULT_BATCH,
        spool: Path | None = None,
    ) -> None:
        self._con = con
        # Where each batch's JSON is written for DuckDB to read (store.spool_dir); None: passed as a parameter.
        self._spool = spool
        # Turns a queued tuple (the plain-values form of a request) into rows; other events have rows().
        self._expand = expand
        self._con_lock = threading.Lock()
        self._queue: collections.deque[Item | _Marker] = collections.deque()
        self._capacity = capacity
        self._interval = interval
        self._batch = batch
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self.written = 0
        # CPU time of the writer thread: what recording costs the gateway process beyond the request path.
        self.cpu_seconds = 0.0
        # Counted apart because two threads count: the event loop (queue full) and the writer (write failed).
        self._dropped_full = 0
        self._dropped_failed = 0
        self.last_error: str | None = None
        self._warnings = _Warnings()
        self._thread = threading.Thread(target=self._run, name="muxgate-analytics-writer", daemon=True)
        self._thread.start()

    # --- the event loop's side ---

    def put(self, event: Item) -> bool:
        """Queue an event; False (and counted as dropped) when the queue is full or the writer is closed."""
        queue = self._queue
        if self._closing or len(queue) >= self._capacity:
            self._dropped_full += 1
            reason = "closed" if self._closing else f"full ({self._capacity:,} events)"
            self._warnings.warn("full", 1, f"Analytics queue {reason}: events are being dropped")
            return False
        queue.append(event)
        if len(queue) >= self._batch:
            self._wake.set()
        return True

    @property
    def dropped(self) -> int:
        return self._dropped_full + self._dropped_failed

    @property
    def queued(self) -> int:
        return len(self._queue)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far is written (or dropped); False on timeout."""
        if self._closed:
            return True
        marker = _Marker()
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, stop the thread, close the connection. Later events are dropped."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("The analytics writer did not finish within %.0f s; %d events are lost.", timeout, self.queued)
        with self._con_lock:
            try:
                self._con.close()
            except duckdb.Error as exc:
                log.warning("Closing the analytics database failed: %s", exc)
        self._closed = True

    # --- queries (any thread but the event loop) ---

    def query(
        self,
        sql: str,
        *,
        max_rows: int,
        timeout: float,
        check: Callable[[duckdb.DuckDBPyConnection, str], None],
    ) -> QueryResult:
        """Run a user's `sql` on a cursor of the writer's connection, after `check(cursor, sql)` accepted it: at
        most `max_rows` rows, interrupted after `timeout` seconds, inside a transaction that is rolled back."""
        with self._con_lock:
            if self._closed:
                raise RuntimeError("The analytics database is closed.")
            cursor = self._con.cursor()
        timer = threading.Timer(timeout, cursor.interrupt)
        try:
            check(cursor, sql)
            # Whatever a query could change, it changes nothing that lasts.
            cursor.execute("BEGIN TRANSACTION")
            timer.start()
            cursor.execute(sql)
            description = cursor.description or []
            rows = cursor.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise QueryTimeout(f"The query ran longer than {timeout:g} s and was stopped.") from None
        finally:
            timer.cancel()
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK")
            cursor.close()
        return QueryResult(
            columns=[d[0] for d in description],
            types=[str(d[1]) for d in description],
            rows=rows[:max_rows],
            truncated=len(rows) > max_rows,
        )

    def read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """A fixed query of the gateway's own endpoints, on a cursor of the writer's connection."""
        with self._con_lock:
            if self._closed:
                raise RuntimeError("The analytics database is closed.")
            cursor = self._con.cursor()
        try:
            return cursor.execute(sql, params or []).fetchall()
        finally:
            cursor.close()

    # --- the writer thread ---

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            closing = self._closing
            self._drain()
            if closing:
                # Events that were put while the last batch was written.
                self._drain()
                return

    def _drain(self) -> None:
        """Write what is queued now, in batches. What arrives meanwhile waits for the next round unless a full
        batch is waiting: a writer that chased every new event would write tiny batches, and the fixed cost of
        each transaction would then dominate."""
        queue = self._queue
        pending = len(queue)
        while pending > 0 or len(queue) >= self._batch:
            pending = max(pending, min(len(queue), self._batch))
            events: list[Item] = []
            markers: list[_Marker] = []
            while pending > 0 and len(events) < self._batch:
                item = queue.popleft()
                pending -= 1
                if isinstance(item, _Marker):
                    markers.append(item)
                else:
                    events.append(item)
            if events:
                started = time.thread_time()
                self._write(events)
                self.cpu_seconds += time.thread_time() - started
            for marker in markers:
                marker.done.set()

    def _write(self, events: list[Item]) -> None:
        tables: dict[str, list[Row]] = {}
        expand = self._expand
        for event in events:
            try:
                made = expand(event) if isinstance(event, tuple) and expand is not None else event_rows(event)
                for table, row in made:
                    tables.setdefault(table, []).append(row)
            except Exception:
                log.exception("An analytics event could not be turned into rows; it is dropped.")
                self._dropped_failed += 1
        rows = sum(len(r) for r in tables.values())
        if not rows:
            return
        with self._con_lock:
            con = self._con
            try:
                con.execute("BEGIN TRANSACTION")
                for table, table_rows in tables.items():
                    insert_rows(con, table, table_rows, self._spool)
                con.execute("COMMIT")
            except (duckdb.Error, OSError) as exc:
                self._rollback(con)
                self._dropped_failed += len(events)
                self.last_error = str(exc)
                self._warnings.warn(
                    "write",
                    len(events),
                    f"Analytics could not be written ({exc}); requests are still served. Free disk space or "
                    "check the data directory",
                )
                return
        self.written += len(events)

    @staticmethod
    def _rollback(con: duckdb.DuckDBPyConnection) -> None:
        # No transaction may be left to roll back (the commit itself failed): nothing to undo then.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
