"""The analytics file: created and migrated on first start, upgraded from an older version, refused (and kept) when
it comes from a newer version or is not a database, and a data directory that cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from proxy.analytics.schema import MIGRATIONS, applied_migrations, migrate
from proxy.analytics.store import (
    CHECKPOINT_THRESHOLD,
    AnalyticsError,
    DatabaseBusy,
    database_path,
    open_database,
    open_read_only,
)

TABLES = {"requests", "messages", "alerts", "config_revisions", "migrations"}
VIEWS = {"usage_daily", "usage_by_rule", "alerts_daily"}


def objects(con: duckdb.DuckDBPyConnection, kind: str) -> set[str]:
    return {
        r[0]
        for r in con.execute(f"SELECT table_name FROM information_schema.tables WHERE table_type = '{kind}'").fetchall()
    }


def test_a_new_data_dir_gets_every_table_and_view_and_a_ledger_of_migrations(tmp_path: Path) -> None:
    con = open_database(tmp_path / "new" / "data")
    try:
        assert objects(con, "BASE TABLE") == TABLES
        assert objects(con, "VIEW") == VIEWS
        assert applied_migrations(con) == [m.name for m in MIGRATIONS]
        positions = con.execute("SELECT position FROM migrations ORDER BY position").fetchall()
        assert [p[0] for p in positions] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        con.close()
    assert database_path(tmp_path / "new" / "data").is_file()


def test_opening_again_applies_nothing(tmp_path: Path) -> None:
    open_database(tmp_path).close()
    con = duckdb.connect(str(database_path(tmp_path)))
    try:
        assert migrate(con) == []
    finally:
        con.close()


def test_a_database_of_an_older_version_is_upgraded_on_start(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    con = duckdb.connect(str(path))
    assert migrate(con, MIGRATIONS[:1]) == [MIGRATIONS[0].name]
    con.execute(
        "INSERT INTO requests (ts, request_id, client_api, status, outcome) VALUES (now(), 'old', 'x', 200, 'ok')"
    )
    assert objects(con, "VIEW") == set()
    con.close()

    upgraded = open_database(tmp_path)
    try:
        assert applied_migrations(upgraded) == [m.name for m in MIGRATIONS]
        assert objects(upgraded, "VIEW") == VIEWS
        assert upgraded.execute("SELECT request_id FROM requests").fetchall() == [("old",)]
    finally:
        upgraded.close()


def test_a_database_of_a_newer_version_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    open_database(tmp_path).close()
    path = database_path(tmp_path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO migrations (position, name) VALUES (99, '0099_from_the_future')")
    con.close()
    before = path.read_bytes()

    with pytest.raises(AnalyticsError) as caught:
        open_database(tmp_path)
    message = str(caught.value)
    assert "newer version of Muxgate" in message
    assert "0099_from_the_future" in message
    assert f"mv {path} {path}.newer" in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 500], ids=["empty", "garbage"])
def test_a_corrupted_file_is_refused_kept_and_the_way_out_named(tmp_path: Path, content: bytes) -> None:
    path = database_path(tmp_path)
    path.write_bytes(content)
    with pytest.raises(AnalyticsError) as caught:
        open_database(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert "not a readable DuckDB database" in message
    assert f"mv {path} {path}.broken" in message
    assert path.read_bytes() == content
    with pytest.raises(AnalyticsError, match="not a readable DuckDB database"):
        open_read_only(tmp_path)


def test_a_data_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(AnalyticsError) as caught:
        open_database(blocker / "data")
    assert f"The data directory {blocker / 'data'} is not writable" in str(caught.value)
    assert "--data-dir" in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_data_dir_is_named(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(AnalyticsError, match="is not writable"):
            open_database(tmp_path)
    finally:
        tmp_path.chmod(0o755)


def test_reading_a_file_that_does_not_exist_says_who_creates_it(tmp_path: Path) -> None:
    with pytest.raises(AnalyticsError, match="muxgate serve --data-dir"):
        open_read_only(tmp_path)
    assert not database_path(tmp_path).exists()


def test_reading_a_file_another_process_holds_is_busy(tmp_path: Path) -> None:
    import subprocess
    import sys

    open_database(tmp_path).close()
    hold = f"import duckdb, sys; c = duckdb.connect({str(database_path(tmp_path))!r}); print('held', flush=True)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold + "; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatabaseBusy, match=f"PID {holder.pid}"):
            open_read_only(tmp_path)
    finally:
        holder.communicate("")


def test_the_writer_connection_reads_no_files_and_changes_no_settings(tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    con = open_database(tmp_path / "data")
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{outside}')")
        with pytest.raises(duckdb.InvalidInputException, match="locked"):
            con.execute("SET enable_external_access = true")
        # Its own tables are as writable as before.
        con.execute("INSERT INTO alerts VALUES ('a', now(), NULL, 'w', 't', 'info', NULL, NULL)")
    finally:
        con.close()


def test_the_writer_connection_runs_one_thread_and_checkpoints_less_often_than_by_default(tmp_path: Path) -> None:
    con = open_database(tmp_path)
    reference = duckdb.connect()
    default = reference.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    reference.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    wanted = reference.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    assert wanted != default
    settings = con.execute("SELECT current_setting('checkpoint_threshold'), current_setting('threads')").fetchone()
    assert settings == (wanted[0] if wanted else None, 1)
