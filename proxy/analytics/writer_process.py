"""The writer in a process of its own: the gateway's event loop never shares its interpreter lock with DuckDB.

    gateway process                                          writer process (python -m proxy.analytics.writer_process)
    put(item) ─▶ deque ─▶ event loop: a timer every 50 ms ── pipe: pickled batches ──────▶ Writer (writer.py):
                          sender thread: flush/query/read/close, ─ and what the pipe ──▶   request_rows, DuckDB
                          and what the pipe could not take at once
    flush/query/read ◀── reader thread ◀── pipe: each request's answer and the writer's counters ◀──┘

Why a process: a writer thread in the gateway's process turned items into rows, encoded batches and ran DuckDB
calls that hold the GIL for parts of their work, so the event loop stood still meanwhile, and its CPU time per
request rose by tens of microseconds besides (benchmarks/analytics.py measures both ways side by side). Here the
event loop only appends a tuple of plain values and bytes to a deque, and every 50 ms pickles what accumulated
(a C call) and writes it to the pipe without waiting (the pipe is non-blocking, and enlarged to 1 MiB where
Linux allows). A sender thread that woke every 50 ms to do the same cost the gateway more: each wake took the GIL
from the busy event loop (3 us of the gateway's CPU per request at 5,000 requests/s, benchmarks/compare_revisions.py;
with nothing queued, a gateway recording was measurably slower than one that was not). The sender thread
now sleeps until it is needed: for the requests of other threads (flush, queries, close), for events queued
outside an event loop, and to finish a batch the pipe did not take at once, so the event loop never blocks on a
writer process that reads slowly.

The writer process opens the database (migrations, lock-down) before it says it is ready, so `WriterProcess`
raises AnalyticsError with the same sentence a database that cannot be used gave before. It ignores SIGINT and
SIGTERM: the gateway decides when it ends (`close()` writes what is queued first), and when the gateway is gone
without a word (its end of the pipe closes) it writes what it received and exits. If the writer process dies, the
gateway keeps serving: events are counted as dropped, a warning is logged, `last_error` says what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fcntl
import functools
import gc
import itertools
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

import duckdb

from .events import Row
from .store import AnalyticsError
from .writer import DEFAULT_CAPACITY, DEFAULT_INTERVAL, Item, QueryResult, Writer, _Warnings

log = logging.getLogger("muxgate.analytics")

# A batch leaves for the writer process after this many seconds or this many events, whichever comes first.
SEND_EVERY: Final = 0.05
SEND_BATCH: Final = 1_000
# The pipe's buffer, asked for where Linux allows it: several batches (a third of a second at 5,000 requests/s)
# fit without waiting for the reader.
PIPE_BUFFER: Final = 1 << 20
# What runs as the writer process (tests name another module to see a start that hangs).
_CHILD_MODULE = "proxy.analytics.writer_process"
# How long the writer process may take to open (and migrate) the database before the gateway gives up.
START_TIMEOUT: Final = 120.0
# Objects allocated and not yet freed before the writer process's cyclic collector runs (see serve).
WRITER_GC_THRESHOLD: Final = 100_000
# How long a gateway's own read may wait for the writer process's answer.
QUERY_WAIT: Final = 300.0
_HEADER = struct.Struct("<Q")
# What pickling raises for an object it cannot carry.
_UNPICKLABLE = (pickle.PicklingError, TypeError, AttributeError)


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write_frame(stream: IO[bytes], message: Any) -> None:
    stream.write(_frame(message))
    stream.flush()


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """All of `data` to the non-blocking `fd`, waiting for room when the pipe is full (not on the event loop)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except _UNPICKLABLE:
        return False
    return True


def _read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # the other end is this program's own process


class _Pending:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class WriterProcess:
    """The gateway's side: the same methods as `Writer`, served by a writer process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        capacity: int = DEFAULT_CAPACITY,
        interval: float = DEFAULT_INTERVAL,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self._capacity = capacity
        self._queue: collections.deque[Item] = collections.deque()
        self._outbox: collections.deque[tuple[Any, ...]] = collections.deque()
        self._wake = threading.Event()
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._closing = False
        self._closed = False
        self._gone: str | None = None
        self._dropped_full = 0
        self._warnings = _Warnings()
        # The writer process's counters, as of its latest answer.
        self._counters: dict[str, Any] = {"written": 0, "dropped": 0, "queued": 0, "cpu_seconds": 0.0}
        self._last_error: str | None = None

        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        command = [
            sys.executable,
            # Without -P, `-m` puts the current directory first on the path: a `proxy` package there (any checkout
            # or project the gateway is started from) would be imported instead of this one, and run.
            "-P",
            "-m",
            _CHILD_MODULE,
            str(Path(data_dir).resolve()),
            "--read-fd",
            str(to_child_r),
            "--write-fd",
            str(from_child_w),
            "--interval",
            repr(max(interval - SEND_EVERY, SEND_EVERY)),
            "--capacity",
            str(capacity),
            "--log-level",
            logging.getLevelName(logging.getLogger("muxgate").getEffectiveLevel()).lower(),
        ]
        try:
            self._proc = subprocess.Popen(
                command,
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                env=_child_environment(),
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._out = os.fdopen(to_child_w, "wb")
        self._in = os.fdopen(from_child_r, "rb")
        # Bounded: a writer process that neither says it is ready nor exits must not hold the gateway's start.
        ready, _, _ = select.select([self._in], [], [], start_timeout)
        first = _read_frame(self._in) if ready else None
        if not (isinstance(first, tuple) and first[0] == "ready"):
            if not ready:
                self._proc.kill()
            self._proc.wait()
            self._out.close()
            self._in.close()
            reason = first[1] if isinstance(first, tuple) and first[0] == "failed" else None
            if reason is None and not ready:
                reason = f"The analytics writer process did not start within {start_timeout:g} s."
            raise AnalyticsError(
                reason or f"The analytics writer process could not start (exit status {self._proc.returncode})."
            )
        # The event loop writes batches without waiting: what the pipe cannot take at once is left to the sender.
        self._out_fd = self._out.fileno()
        os.set_blocking(self._out_fd, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only, and capped by /proc/sys/fs/pipe-max-size
            fcntl.fcntl(self._out_fd, fcntl.F_SETPIPE_SZ, PIPE_BUFFER)
        # Held by whoever writes to the pipe (the event loop or the sender), so that frames never interleave.
        self._pipe_lock = threading.Lock()
        # What the pipe did not take of the last frame the event loop wrote: the sender writes it first.
        self._backlog = b""
        self._send_scheduled = False
        self._sender = threading.Thread(target=self._send_loop, name="muxgate-analytics-sender", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="muxgate-analytics-reader", daemon=True)
        self._sender.start()
        self._reader.start()

    # --- the event loop's side ---

    def put(self, event: Item) -> bool:
        """Queue an event; False (and counted as dropped) when the queue is full or the writer is gone."""
        queue = self._queue
        if self._closing or self._gone is not None or len(queue) >= self._capacity:
            self._dropped_full += 1
            if self._gone is not None:
                reason = f"gone ({self._gone})"
            else:
                reason = "closed" if self._closing else f"full ({self._capacity:,} events)"
            self._warnings.warn("full", 1, f"Analytics queue {reason}: events are being dropped")
            return False
        queue.append(event)
        if not self._send_scheduled:
            self._schedule_send()
        elif len(queue) >= SEND_BATCH:
            self._send_now()
        return True

    def _schedule_send(self) -> None:
        """The next batch leaves in SEND_EVERY seconds: from the event loop's timer, or from the sender thread
        when the event was put outside an event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._wake.set()
            return
        self._send_scheduled = True
        loop.call_later(SEND_EVERY, self._send_due)

    def _send_due(self) -> None:
        self._send_scheduled = False
        self._send_now()

    def _send_now(self) -> None:
        """On the event loop: what is queued goes to the pipe as far as it takes it without waiting; the rest is
        the sender thread's to write. Busy sender: it sends the queue itself once it is done, or the next timer."""
        if not self._pipe_lock.acquire(blocking=False):
            if not self._send_scheduled:
                self._schedule_send()
            return
        events: list[Item] = []
        try:
            if self._backlog or self._gone is not None or self._closed:
                return
            queue = self._queue
            events = [queue.popleft() for _ in range(len(queue))]
            frame = self._events_frame(events)
            if frame is None:
                return
            try:
                written = os.write(self._out_fd, frame)
            except BlockingIOError:
                written = 0
            if written < len(frame):
                self._backlog = frame[written:]
                self._wake.set()
        except (OSError, ValueError) as exc:
            self._lost(f"the pipe to it broke: {exc}", len(events))
        finally:
            self._pipe_lock.release()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def dropped(self) -> int:
        return self._dropped_full + int(self._counters["dropped"])

    @property
    def queued(self) -> int:
        return len(self._queue) + int(self._counters["queued"])

    @property
    def written(self) -> int:
        return int(self._counters["written"])

    @property
    def cpu_seconds(self) -> float:
        """CPU time the writer process spent writing (of its writer thread)."""
        return float(self._counters["cpu_seconds"])

    @property
    def last_error(self) -> str | None:
        return self._last_error or self._counters.get("last_error")

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far is written (or dropped); False on timeout."""
        if self._closed or self._gone is not None:
            return True
        try:
            return bool(self._call(("flush", timeout), timeout + 1.0))
        except TimeoutError:
            return False

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, end the writer process. Later events are dropped."""
        if self._closed:
            return
        self._closing = True
        if self._gone is None:
            try:
                self._call(("close", timeout), timeout + 5.0)
            except (TimeoutError, RuntimeError) as exc:
                log.warning(
                    "The analytics writer did not finish cleanly (%s); %d events may be lost.", exc, self.queued
                )
        self._closed = True
        self._wake.set()
        self._sender.join(timeout)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout)
        self._in.close()

    # --- queries (any thread but the event loop) ---

    def query(
        self,
        sql: str,
        *,
        max_rows: int,
        timeout: float,
        check: Callable[[duckdb.DuckDBPyConnection, str], None],
    ) -> QueryResult:
        """`Writer.query` in the writer process (`check` must be a module-level function)."""
        result: QueryResult = self._call(("query", sql, max_rows, timeout, check), timeout + 10.0)
        return result

    def read(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._call(("read", sql, params), QUERY_WAIT)
        return rows

    # --- the channel ---

    def _call(self, request: tuple[Any, ...], wait: float) -> Any:
        if self._gone is not None:
            raise RuntimeError(f"The analytics writer process is gone ({self._gone}).")
        pending = _Pending()
        ident = next(self._ids)
        with self._pending_lock:
            self._pending[ident] = pending
        # Through the sender, after the events queued before it, so a flush covers them.
        self._outbox.append((request[0], ident, *request[1:]))
        self._wake.set()
        if not pending.done.wait(wait):
            with self._pending_lock:
                self._pending.pop(ident, None)
            raise TimeoutError(f"The analytics writer process did not answer within {wait:g} s.")
        if pending.error is not None:
            raise pending.error
        return pending.value

    def _send_loop(self) -> None:
        queue, outbox, fd = self._queue, self._outbox, self._out_fd
        while True:
            self._wake.wait()  # it sleeps until there is work: a wake takes the GIL from the event loop
            self._wake.clear()
            stop = self._closed
            events: list[Item] = []
            with self._pipe_lock:
                try:
                    if self._backlog:
                        _write_all(fd, self._backlog)
                        self._backlog = b""
                    # Requests are taken before events: a flush then never overtakes an event queued before it.
                    requests = [outbox.popleft() for _ in range(len(outbox))]
                    events = [queue.popleft() for _ in range(len(queue))]
                    frame = self._events_frame(events)
                    if frame is not None:
                        _write_all(fd, frame)
                    for request in requests:
                        self._send_request(request)
                except (OSError, ValueError) as exc:
                    self._lost(f"the pipe to it broke: {exc}", len(events))
                    return
            if stop:
                self._out.close()
                return

    def _events_frame(self, events: list[Item]) -> bytes | None:
        """The frame of a batch; events that cannot cross the pipe are dropped from it alone. None when empty."""
        if not events:
            return None
        try:
            return _frame(("events", events))
        except _UNPICKLABLE:
            kept = [event for event in events if _picklable(event)]
            self._dropped_full += len(events) - len(kept)
            log.exception(
                "%d analytics events could not be sent to the writer process; they are dropped.",
                len(events) - len(kept),
            )
            return _frame(("events", kept)) if kept else None

    def _send_request(self, request: tuple[Any, ...]) -> None:
        try:
            frame = _frame(request)
        except _UNPICKLABLE as exc:
            with self._pending_lock:
                pending = self._pending.pop(request[1], None)
            if pending is not None:
                pending.error = RuntimeError(f"The request could not be sent to the analytics writer process: {exc}")
                pending.done.set()
            return
        _write_all(self._out_fd, frame)

    def _read_loop(self) -> None:
        while True:
            try:
                message = _read_frame(self._in)
            except (OSError, ValueError, pickle.UnpicklingError) as exc:
                message = None
                log.debug("reading from the analytics writer failed: %s", exc)
            if message is None:
                if not self._closed and not self._closing:
                    # Its end of the pipe closes as it exits: wait for its exit status.
                    try:
                        status: int | None = self._proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        status = None
                    self._lost(f"it exited with status {status}" if status is not None else "it closed its pipe", 0)
                self._fail_pending(RuntimeError("The analytics writer process ended."))
                return
            kind, ident, value, counters = message
            self._counters = counters
            with self._pending_lock:
                pending = self._pending.pop(ident, None)
            if pending is None:
                continue
            if kind == "ok":
                pending.value = value
            else:
                pending.error = value if isinstance(value, BaseException) else RuntimeError(str(value))
            pending.done.set()

    def _lost(self, why: str, events: int) -> None:
        if self._gone is not None:  # the reader and the sender can both find out; the first one says so
            self._dropped_full += events
            return
        self._gone = why
        self._last_error = f"The analytics writer process is gone: {why}."
        self._dropped_full += events + len(self._queue)
        self._queue.clear()
        log.warning(
            "%s Requests are still served; analytics are not recorded until the gateway restarts.", self._last_error
        )
        self._fail_pending(RuntimeError(self._last_error))

    def _fail_pending(self, error: BaseException) -> None:
        with self._pending_lock:
            pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            item.error = error
            item.done.set()


# Either writer serves the request path, the SQL endpoint and the gateway's own queries the same way.
EventWriter = Writer | WriterProcess


def _child_environment() -> dict[str, str]:
    """The gateway's environment, with the directory this package is imported from first on the path, so the
    writer process runs the same code whether Muxgate is installed or run from a checkout."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


# --- the writer process ---


def _counters(writer: Writer) -> dict[str, Any]:
    return {
        "written": writer.written,
        "dropped": writer.dropped,
        "queued": writer.queued,
        "cpu_seconds": writer.cpu_seconds,
        "last_error": writer.last_error,
    }


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(str(exc))
    return exc


class _RequestRows:
    """`record.request_rows`, imported on first use: the request path's modules (pydantic among them) load while
    the gateway finishes starting, not before the writer process says it is ready."""

    def __init__(self) -> None:
        self._rows: Callable[[Any], list[tuple[str, Row]]] | None = None

    def __call__(self, item: Any) -> list[tuple[str, Row]]:
        rows = self._rows
        if rows is None:
            from .record import request_rows

            rows = self._rows = request_rows
        return rows(item)


def serve(data_dir: Path, read_fd: int, write_fd: int, interval: float, capacity: int = DEFAULT_CAPACITY) -> int:
    """The writer process: open the database, then apply what arrives until `close` or the end of the pipe."""
    from .store import open_database, spool_dir

    inbox = os.fdopen(read_fd, "rb")
    outbox = os.fdopen(write_fd, "wb")
    out_lock = threading.Lock()
    try:
        con = open_database(data_dir)
    except AnalyticsError as exc:
        _write_frame(outbox, ("failed", str(exc)))
        return 1
    # Bounded here too: a writer that falls behind drops (and counts) events rather than growing without end.
    writer = Writer(con, expand=_RequestRows(), interval=interval, capacity=capacity, spool=spool_dir(data_dir))
    # Up to a second of events waits in the queue, and a batch's rows live until it is written: with Python's
    # default threshold the collector walked them again every few hundred objects, to free nothing (they hold
    # no cycles). What was set up is frozen out of its sight, and it runs when this many objects pile up.
    gc.collect()
    gc.freeze()
    gc.set_threshold(WRITER_GC_THRESHOLD, *gc.get_threshold()[1:])

    def answer(kind: str, ident: int, value: Any) -> None:
        # If the gateway is gone, what it asked no longer matters.
        with out_lock, contextlib.suppress(OSError, ValueError):
            _write_frame(outbox, (kind, ident, value, _counters(writer)))

    def run(ident: int, work: Callable[[], Any]) -> None:
        try:
            value = work()
        except Exception as exc:
            answer("error", ident, _portable(exc))
        else:
            answer("ok", ident, value)

    def in_thread(ident: int, work: Callable[[], Any]) -> None:
        threading.Thread(target=run, args=(ident, work), daemon=True).start()

    _write_frame(outbox, ("ready", None))
    while True:
        message = _read_frame(inbox)
        if message is None:
            # The gateway ended without closing: keep what it sent.
            writer.close()
            return 0
        kind = message[0]
        if kind == "events":
            for event in message[1]:
                writer.put(event)
            continue
        ident = message[1]
        if kind == "flush":
            in_thread(ident, functools.partial(writer.flush, message[2]))
        elif kind == "query":
            _, _, sql, max_rows, timeout, check = message
            in_thread(ident, functools.partial(writer.query, sql, max_rows=max_rows, timeout=timeout, check=check))
        elif kind == "read":
            in_thread(ident, functools.partial(writer.read, message[2], message[3]))
        elif kind == "close":
            writer.close(message[2])
            answer("ok", ident, None)
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy.analytics.writer_process")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL)
    parser.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    # The gateway says when to stop; a Ctrl-C sent to its process group must not cut the last batch short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("muxgate").setLevel(args.log_level.upper())
    return serve(args.data_dir, args.read_fd, args.write_fd, args.interval, args.capacity)


if __name__ == "__main__":
    sys.exit(main())
