"""The writer thread: batches written in one transaction, flush and close write everything queued, a full queue
drops and warns without blocking, a failing disk drops and warns while the caller goes on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from proxy.analytics import writer as writer_module
from proxy.analytics.events import AlertEvent, RevisionEvent
from proxy.analytics.store import database_path, open_database, spool_dir
from proxy.analytics.writer import Writer, insert_sql


def alert(n: int) -> AlertEvent:
    return AlertEvent(workspace="w", trigger_type="codegate-secrets", category="critical", detail=f"alert {n}")


def count(tmp_path: Path, table: str = "alerts") -> int:
    con = duckdb.connect(str(database_path(tmp_path)), read_only=True)
    try:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    # A long interval: only flush(), a full batch or close() write, so tests decide when.
    w = Writer(open_database(tmp_path), interval=60, batch=100, spool=spool_dir(tmp_path))
    yield w
    w.close()


def test_close_writes_everything_queued(tmp_path: Path, writer: Writer) -> None:
    for n in range(250):
        assert writer.put(alert(n))
    writer.close()
    assert count(tmp_path) == 250
    assert (writer.written, writer.dropped, writer.queued) == (250, 0, 0)


def test_flush_waits_until_what_was_queued_is_written(writer: Writer) -> None:
    writer.put(alert(1))
    writer.put(RevisionEvent("abc", "hash", "apply", added=2))
    assert writer.flush(5)
    assert writer.read("SELECT count(*) FROM alerts") == [(1,)]
    assert writer.read("SELECT revision, added FROM config_revisions") == [("abc", 2)]


def test_events_arrive_within_the_flush_interval_without_asking(tmp_path: Path) -> None:
    w = Writer(open_database(tmp_path), interval=0.05)
    try:
        w.put(alert(1))
        done = threading.Event()
        # The writer's own timer, not flush(), writes it: wait on its counter.
        for _ in range(200):
            if w.written:
                done.set()
                break
            threading.Event().wait(0.01)
        assert done.is_set()
    finally:
        w.close()


def test_a_full_queue_drops_counts_and_warns_without_blocking(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = Writer(open_database(tmp_path), capacity=10, interval=60, batch=1000)
    try:
        with caplog.at_level(logging.WARNING, logger="muxgate.analytics"):
            accepted = [w.put(alert(n)) for n in range(25)]
        assert accepted == [True] * 10 + [False] * 15
        assert w.dropped == 15
        # One warning, not fifteen.
        warnings = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
        assert warnings == ["Analytics queue full (10 events): events are being dropped (1 event dropped)"]
    finally:
        w.close()
    assert count(tmp_path) == 10


def test_a_failing_write_drops_the_batch_warns_and_the_writer_goes_on(
    writer: Writer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = writer_module.insert_rows

    def disk_full(*args: Any) -> None:
        raise duckdb.IOException('Could not write file "muxgate.duckdb.wal": No space left on device')

    monkeypatch.setattr(writer_module, "insert_rows", disk_full)
    with caplog.at_level(logging.WARNING, logger="muxgate.analytics"):
        for n in range(3):
            assert writer.put(alert(n))
        assert writer.flush(5)
    assert writer.dropped == 3
    assert "No space left on device" in (writer.last_error or "")
    assert any("requests are still served" in r.getMessage() for r in caplog.records)

    monkeypatch.setattr(writer_module, "insert_rows", real)
    writer.put(alert(4))
    assert writer.flush(5)
    assert writer.read("SELECT detail FROM alerts") == [("alert 4",)]


def test_an_event_that_cannot_become_rows_is_dropped_alone(writer: Writer, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def rows(self) -> list[tuple[str, tuple[Any, ...]]]:
            raise ValueError("broken")

    with caplog.at_level(logging.ERROR, logger="muxgate.analytics"):
        writer.put(Broken())
        writer.put(alert(1))
        assert writer.flush(5)
    assert writer.dropped == 1
    assert writer.read("SELECT count(*) FROM alerts") == [(1,)]


def test_events_after_close_are_dropped(writer: Writer) -> None:
    writer.close()
    assert not writer.put(alert(1))
    assert writer.dropped == 1
    assert writer.flush(1)


def test_insert_statements_unnest_one_list_per_column() -> None:
    sql = insert_sql("config_revisions")
    assert sql.startswith("INSERT INTO config_revisions (ts, revision, state_hash, source,")
    assert "make_timestamp(unnest($1::BIGINT[]))" in sql
    assert "unnest($2::VARCHAR[])" in sql


def test_any_text_is_stored_as_given_and_a_lone_surrogate_costs_nothing_else(writer: Writer) -> None:
    texts = ['quotes " and \\ backslashes', "new\nline\ttab\x00nul", "ünïcødé 😀 中文", "", "lone \ud800 surrogate"]
    for text in texts:
        writer.put(AlertEvent(workspace="w", trigger_type="t", category="info", detail=text))
    assert writer.flush(5)
    stored = [r[0] for r in writer.read("SELECT detail FROM alerts ORDER BY rowid")]
    assert stored == [*texts[:-1], "lone \ufffd surrogate"]
    assert writer.dropped == 0


def test_every_insert_statement_stores_the_same_rows(tmp_path: Path) -> None:
    rows = [
        (1_700_000_000_000_000, "abc", "h" * 64, "apply", 1, 2, 3, 4, 5),
        (1_700_000_000_000_001, None, 'it\'s "quoted"\n\\ ünï 😀', "startup", 0, 0, 0, 0, 0),
    ]
    con = open_database(tmp_path)
    try:
        writer_module.insert_rows(con, "config_revisions", rows)
        writer_module.insert_rows(con, "config_revisions", rows, spool_dir(tmp_path))
        writer_module.insert_rows_unnest(con, "config_revisions", rows)
        stored = con.execute("SELECT epoch_us(ts), * EXCLUDE (ts) FROM config_revisions ORDER BY rowid").fetchall()
    finally:
        con.close()
    assert stored == rows * 3


def test_the_locked_down_connection_reads_files_only_in_its_batch_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"a": 1}')
    inside = spool_dir(tmp_path) / "probe.json"
    con = open_database(tmp_path)
    inside.write_text('{"a": 2}')
    try:
        assert con.execute("SELECT a FROM read_json($1)", [str(inside)]).fetchall() == [(2,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT a FROM read_json($1)", [str(outside)])
    finally:
        con.close()


def test_a_batch_file_that_cannot_be_written_drops_the_batch_and_the_writer_goes_on(
    writer: Writer, tmp_path: Path
) -> None:
    spool = spool_dir(tmp_path)
    blocker = spool / "alerts.json"
    blocker.mkdir()  # writing the batch file fails like a full or read-only disk would
    writer.put(alert(1))
    assert writer.flush(5)
    assert writer.dropped == 1
    assert "alerts.json" in (writer.last_error or "")
    blocker.rmdir()
    writer.put(alert(2))
    assert writer.flush(5)
    assert writer.read("SELECT detail FROM alerts") == [("alert 2",)]


def test_put_never_waits_for_the_database(writer: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer_module.insert_rows
    release = threading.Event()
    entered = threading.Event()

    def slow_disk(*args: Any) -> None:
        entered.set()
        release.wait(10)
        real(*args)

    monkeypatch.setattr(writer_module, "insert_rows", slow_disk)
    writer.put(alert(0))
    writer.flush(0)  # wakes the writer, which now hangs in the database
    assert entered.wait(5)
    started = time.perf_counter()
    assert all(writer.put(alert(n)) for n in range(1, 1001))
    assert time.perf_counter() - started < 0.5  # a thousand puts while the writer is stuck
    assert not writer.flush(0.05)
    release.set()
    assert writer.flush(5)
    assert writer.read("SELECT count(*) FROM alerts") == [(1001,)]
