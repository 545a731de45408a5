"""Opening the analytics database, `DATA_DIR/muxgate.duckdb`, for the writer or for a reader.

Where it sits: at start-up `open_database` makes the data directory, opens (or creates) the file, applies the
migrations and then locks the connection down, so the SQL endpoint's queries, which run on cursors of this
connection, can read neither files nor the network nor change a setting. `open_read_only` is how `muxgate sql`
reads the file while no gateway holds it. Every refusal is an `AnalyticsError` whose message names the path and
the way out; a broken file is never deleted or replaced.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import duckdb

from .schema import SchemaTooNew, migrate

DATABASE_FILE = "muxgate.duckdb"
SPOOL_DIR = "analytics-batches"

# How much write-ahead log accumulates before DuckDB checkpoints it into the database file (see _LOCKDOWN).
CHECKPOINT_THRESHOLD = "64MB"
# Applied after the migrations. Turning external access off cannot be undone and locking the configuration
# stops any later SET, so a query on a cursor of the writer's connection can read only the database itself.
_LOCKDOWN = (
    # One thread: the writer's small batches gain nothing from DuckDB's worker threads but pay for waking them
    # (recording cost 13.9 % of the gateway's RPS with two threads, 3.9 % with one, JSON at 16 connections), and
    # a heavy query leaves the other cores to the gateway. usage_daily over 10 M rows takes 389 ms on one thread.
    "SET threads = 1",
    # A checkpoint rewrites the row group that is filling up: with DuckDB's default of 16 MB of log between
    # checkpoints a row group of 122,880 rows was compressed several times over. Over 330,000 requests in
    # batches of 3,000: commits 9.9-11.0 -> 4.5-5.1 us of CPU a request, the longest checkpoint 881-1,028 ->
    # 291-314 ms over two runs (benchmarks/analytics.py --only checkpoints). The price: up to 64 MB of log to
    # replay after a crash.
    f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
READ_ONLY_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "enable_external_access": False,
    "lock_configuration": True,
}


class AnalyticsError(RuntimeError):
    """The analytics database cannot be used; the message says why and what to do."""


class DatabaseBusy(AnalyticsError):  # noqa: N818 - a public name
    """Another process (normally the running gateway) holds the database file."""


def database_path(data_dir: Path) -> Path:
    return Path(data_dir) / DATABASE_FILE


def spool_dir(data_dir: Path) -> Path:
    """Where the writer puts each batch for DuckDB to read: the one directory the locked-down connection may
    read files from. It holds the last batch of each table, which is in the database too."""
    return Path(data_dir).resolve() / SPOOL_DIR


def prepare_data_dir(data_dir: Path) -> Path:
    """Create the data directory if needed and prove it is writable; returns the database path."""
    directory = Path(data_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # A probe file: permission bits alone do not tell (read-only mounts, other owners' directories).
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AnalyticsError(
            f"The data directory {directory} is not writable ({reason}). Choose another with --data-dir "
            "(MUXGATE_DATA_DIR) or make it writable."
        ) from None
    return database_path(directory)


def _describe_open_error(path: Path, exc: duckdb.Error) -> AnalyticsError:
    text = str(exc)
    if "Conflicting lock" in text or "Could not set lock" in text:
        return DatabaseBusy(
            f"{path} is in use by another process ({_lock_holder(text)}). Stop it, or give this gateway another "
            "--data-dir."
        )
    if "version number" in text or "newer version" in text.lower():
        return AnalyticsError(
            f"{path} was written by a newer version of DuckDB than this Muxgate uses ({text}). Upgrade Muxgate, or "
            f"move the file aside (mv {path} {path}.newer) to start a new one."
        )
    return AnalyticsError(
        f"{path} is not a readable DuckDB database ({text}). It was left as it is: move it aside "
        f"(mv {path} {path}.broken) and start again to begin a new one, or restore it from a backup."
    )


def _lock_holder(text: str) -> str:
    marker = "(PID "
    if marker in text:
        return "PID " + text.split(marker, 1)[1].split(")", 1)[0]
    return "it holds the lock"


def open_database(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """The writer's connection: migrated to this version's schema, then locked down."""
    path = prepare_data_dir(data_dir)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise _describe_open_error(path, exc) from None
    try:
        migrate(con)
    except SchemaTooNew as exc:
        con.close()
        raise AnalyticsError(
            f"{path} cannot be used: {exc}. Upgrade Muxgate, or move the file aside (mv {path} {path}.newer) to "
            "start a new one."
        ) from None
    except duckdb.Error as exc:
        con.close()
        raise AnalyticsError(
            f"{path} could not be upgraded to this version's schema ({exc}). The file was left as it is; move it "
            f"aside (mv {path} {path}.broken) to start a new one."
        ) from None
    spool = spool_dir(data_dir)
    try:
        spool.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        con.close()
        raise AnalyticsError(f"{spool} cannot be created ({exc.strerror or exc}); check the data directory.") from None
    _lock_down(con, spool)
    return con


def _lock_down(con: duckdb.DuckDBPyConnection, spool: Path) -> None:
    try:
        # Before external access is turned off: afterwards only this directory can be read from.
        con.execute(f"SET allowed_directories = [{_sql_string(str(spool) + '/')}]")
        for statement in _LOCKDOWN:
            con.execute(statement)
    except duckdb.InvalidInputException:
        # DuckDB shares one database instance per file within a process: a second gateway in the same process
        # (tests do that) finds it locked down by the first. Check that it is, rather than trust the error.
        row = con.execute("SELECT current_setting('enable_external_access')").fetchone()
        if row is None or row[0] is not False:
            raise


def open_read_only(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for `muxgate sql` while no gateway holds the file; DatabaseBusy when one does."""
    path = database_path(data_dir)
    if not path.exists():
        raise AnalyticsError(
            f"There is no analytics database at {path}: `muxgate serve --data-dir {Path(data_dir)}` creates it on "
            "its first start."
        )
    try:
        return duckdb.connect(str(path), read_only=True, config=READ_ONLY_CONFIG)
    except duckdb.Error as exc:
        raise _describe_open_error(path, exc) from None


def check_writable(data_dir: Path) -> None:
    """Start-up check for `muxgate serve`: the database can be opened and migrated (then it is closed again)."""
    con = open_database(data_dir)
    with contextlib.suppress(duckdb.Error):
        con.close()


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
