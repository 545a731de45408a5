"""The writer process: events and queries cross the pipe in order, a database it cannot use is refused with the
sentence the gateway would have said, and the gateway goes on when the writer process dies."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from proxy.analytics import writer_process
from proxy.analytics.events import AlertEvent, RevisionEvent
from proxy.analytics.sql_safety import ForbiddenStatement, check_query
from proxy.analytics.store import AnalyticsError, database_path, open_database
from proxy.analytics.writer_process import WriterProcess


def alert(n: int) -> AlertEvent:
    return AlertEvent(workspace="w", trigger_type="codegate-secrets", category="critical", detail=f"alert {n}")


@pytest.fixture
def process(tmp_path: Path) -> Iterator[WriterProcess]:
    writer = WriterProcess(tmp_path, interval=60)
    yield writer
    writer.close()


def test_a_flush_covers_every_event_put_before_it(process: WriterProcess) -> None:
    for n in range(2_500):
        assert process.put(alert(n))
    process.put(RevisionEvent("abc", "hash", "apply", added=2))
    assert process.flush(10)
    assert process.read("SELECT count(*) FROM alerts") == [(2_500,)]
    assert process.read("SELECT revision, added FROM config_revisions") == [("abc", 2)]
    assert (process.written, process.dropped, process.queued) == (2_501, 0, 0)


def test_close_writes_what_is_queued_and_ends_the_process(tmp_path: Path) -> None:
    writer = WriterProcess(tmp_path, interval=60)
    for n in range(300):
        writer.put(alert(n))
    writer.close()
    assert writer._proc.returncode == 0
    con = duckdb.connect(str(database_path(tmp_path)), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM alerts").fetchall() == [(300,)]
    finally:
        con.close()
    assert not writer.put(alert(301))


def test_queries_run_there_with_their_checks_and_errors(process: WriterProcess) -> None:
    result = process.query("SELECT 42 AS answer", max_rows=10, timeout=5, check=check_query)
    assert (result.columns, result.rows, result.truncated) == (["answer"], [(42,)], False)
    with pytest.raises(ForbiddenStatement):
        process.query("DELETE FROM requests", max_rows=10, timeout=5, check=check_query)
    with pytest.raises(duckdb.CatalogException):
        process.read("SELECT * FROM no_such_table")


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_database_it_cannot_use_is_refused_with_the_same_sentence(tmp_path: Path, content: bytes) -> None:
    tmp_path.mkdir(exist_ok=True)
    database_path(tmp_path).write_bytes(content or os.urandom(8192))
    with pytest.raises(AnalyticsError) as direct:
        open_database(tmp_path)
    with pytest.raises(AnalyticsError) as through_process:
        WriterProcess(tmp_path)
    assert str(through_process.value) == str(direct.value)


def test_the_gateway_goes_on_when_the_writer_process_dies(
    process: WriterProcess, caplog: pytest.LogCaptureFixture
) -> None:
    process.put(alert(1))
    assert process.flush(5)
    with caplog.at_level(logging.WARNING, logger="muxgate.analytics"):
        os.kill(process._proc.pid, signal.SIGKILL)
        process._reader.join(10)
        assert not process._reader.is_alive()
        assert not process.put(alert(2))
    assert process.last_error == f"The analytics writer process is gone: it exited with status {-signal.SIGKILL}."
    assert process.dropped == 1
    assert any("analytics are not recorded until the gateway restarts" in m for m in caplog.messages)
    # Reading says why it cannot; flushing has nothing left to wait for; closing does not hang.
    with pytest.raises(RuntimeError, match="gone"):
        process.read("SELECT 1")
    assert process.flush(1)


def test_an_event_that_cannot_cross_the_pipe_is_dropped_alone(
    process: WriterProcess, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="muxgate.analytics"):
        process.put(alert(1))
        process.put(AlertEvent(workspace="w", trigger_type="t", category="info", detail=lambda: None))  # type: ignore[arg-type]
        process.put(alert(2))
        assert process.flush(5)
    assert process.read("SELECT detail FROM alerts ORDER BY detail") == [("alert 1",), ("alert 2",)]
    assert process.dropped == 1
    assert any("could not be sent to the writer process" in m for m in caplog.messages)
    # A query whose check cannot cross the pipe fails alone, and the next one is answered.
    with pytest.raises(RuntimeError, match="could not be sent"):
        process.query("SELECT 1", max_rows=1, timeout=5, check=lambda cursor, sql: None)
    assert process.read("SELECT count(*) FROM alerts") == [(2,)]


def test_a_writer_process_that_never_gets_ready_is_given_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_process, "_CHILD_MODULE", "tests.support.silent_child")
    with pytest.raises(AnalyticsError, match=r"did not start within 0\.5 s"):
        WriterProcess(tmp_path, start_timeout=0.5)


def test_the_writer_process_runs_this_code_whatever_directory_the_gateway_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A directory with a package of the same name, as a checkout of another version or an unrelated project has.
    decoy = tmp_path / "elsewhere"
    (decoy / "proxy" / "analytics").mkdir(parents=True)
    (decoy / "proxy" / "__init__.py").write_text("")
    (decoy / "proxy" / "analytics" / "__init__.py").write_text("")
    (decoy / "proxy" / "analytics" / "writer_process.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(decoy)
    writer = WriterProcess(tmp_path / "data", interval=60)
    try:
        writer.put(alert(1))
        assert writer.flush(5)
        assert writer.read("SELECT detail FROM alerts") == [("alert 1",)]
    finally:
        writer.close()


class _CountedWake:
    """Counts the times the sender thread is woken (the writer's own Event does the waking)."""

    def __init__(self, writer: WriterProcess, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        wake = writer._wake
        plain_set = wake.set

        def counted_set() -> None:
            self.count += 1
            plain_set()

        monkeypatch.setattr(wake, "set", counted_set)


def test_on_an_event_loop_batches_leave_from_the_loop_and_the_sender_sleeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_process, "SEND_EVERY", 600.0)  # only a full batch leaves during the test
    writer = WriterProcess(tmp_path, interval=60)
    wakes = _CountedWake(writer, monkeypatch)
    total = 2 * writer_process.SEND_BATCH + 10

    async def serve() -> None:
        for n in range(total):
            assert writer.put(alert(n))
        # Each time the queue reached a batch the event loop wrote it to the pipe, there and then.
        assert len(writer._queue) == 10
        assert wakes.count == 0

    try:
        asyncio.run(serve())
        assert writer.flush(10)
    finally:
        writer.close()
    assert writer.written == total


def test_events_put_outside_an_event_loop_leave_without_waiting_for_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_process, "SEND_EVERY", 600.0)
    writer = WriterProcess(tmp_path, interval=60)
    try:
        for n in range(25):
            assert writer.put(alert(n))
        # The sender was woken and takes the queue; the poll only watches it: there is no event to await.
        deadline = time.monotonic() + 30
        while writer._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not writer._queue
    finally:
        writer.close()
    assert writer.written == 25


def test_a_writer_process_that_stops_reading_never_holds_up_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_process, "SEND_EVERY", 600.0)
    writer = WriterProcess(tmp_path, interval=60)
    wakes = _CountedWake(writer, monkeypatch)
    # A batch larger than the pipe's buffer (1 MiB at most), while the writer process is stopped: the event loop
    # writes what the pipe takes and hands the rest to the sender thread, which waits for the reader.
    big = "x" * 3_000
    total = writer_process.SEND_BATCH + 500

    async def serve() -> float:
        started = time.monotonic()
        for n in range(total):
            assert writer.put(AlertEvent(workspace="w", trigger_type="t", category="info", detail=f"{n} {big}"))
        return time.monotonic() - started

    os.kill(writer.pid, signal.SIGSTOP)
    try:
        elapsed = asyncio.run(serve())
        assert writer._backlog  # the pipe is full: the sender has the rest
        assert wakes.count >= 1
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    try:
        assert writer.flush(60)
    finally:
        writer.close()
    assert writer.written == total
    assert elapsed < 30  # never waited for the stopped reader (which would be forever)
