"""Analytics of `muxgate serve` as a real process: nothing lost when it is stopped with SIGTERM under load,
`muxgate sql` while it serves and after it stopped, forbidden SQL refused by the CLI, a disk that fills up, and
database files it must refuse."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import select
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from proxy.analytics.store import database_path, open_database
from proxy.testing.fake_provider import FakeProvider
from tests.e2e.test_serve_cli import Server, clean_env, run_muxgate

CONFIG = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {{name: local}}
spec:
  type: openai
  endpoint: {url}/v1
  auth: {{type: none}}
  models: [{{name: small, price: {{inputPerMTok: 1.0, outputPerMTok: 2.0}}}}]
---
apiVersion: muxgate/v1
kind: Workspace
metadata: {{name: default}}
spec:
  muxRules:
    - match: {{type: catch_all}}
      provider: local
      model: small
"""


@pytest.fixture
def config(tmp_path: Path, fake: FakeProvider) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "muxgate.yaml").write_text(CONFIG.format(url=fake.url))
    return directory


@pytest.fixture
def start(tmp_path: Path, config: Path) -> Iterator[Callable[..., Server]]:
    """`start(**env)` runs `muxgate serve CONFIG --port 0 --data-dir DATA` and waits for its URL line."""
    started: list[Server] = []

    def run(new_session: bool = False, **env: str) -> Server:
        args = [str(config), "--port", "0", "--data-dir", str(tmp_path / "data"), "--log-level", "warning"]
        server = Server(args, clean_env(**env), new_session=new_session)
        started.append(server)
        return server

    yield run
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(15)
        for stream in (server.process.stdout, server.process.stderr):
            if stream is not None:
                stream.close()


def body(n: int, size: int = 0) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": f"request {n} " + "x" * size}]}


async def load(url: str, stop_after: int, on_count: Callable[[], None]) -> tuple[set[str], int]:
    """Send requests on 16 connections until the server stops answering; the ids of the answered ones."""
    answered: set[str] = set()
    failures = 0
    counter = iter(range(1_000_000))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while True:
            try:
                response = await client.post(f"{url}/v1/chat/completions", json=body(next(counter)))
            except httpx.HTTPError:
                failures += 1
                return
            if response.status_code != 200:
                failures += 1
                return
            answered.add(response.headers["x-muxgate-request-id"])
            if len(answered) == stop_after:
                on_count()

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    return answered, failures


def rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(database_path(data)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_nothing_answered_is_lost_when_sigterm_stops_it_under_load(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    server = start()
    url = server.url_line().group("url")
    answered, _ = asyncio.run(load(url, 400, lambda: server.process.send_signal(signal.SIGTERM)))
    assert server.stop() == -signal.SIGTERM, server.output()
    assert len(answered) >= 400

    recorded = {r[0] for r in rows(tmp_path / "data", "SELECT request_id FROM requests WHERE status = 200")}
    assert answered <= recorded, f"{len(answered - recorded)} answered requests have no row"
    # What was answered was also counted: tokens and cost on every row.
    incomplete = rows(
        tmp_path / "data", "SELECT count(*) FROM requests WHERE input_tokens IS NULL OR input_cost IS NULL"
    )
    assert incomplete == [(0,)]
    assert rows(tmp_path / "data", "SELECT count(*) FROM messages")[0][0] == len(recorded)
    assert "dropped" not in server.output()


def test_ctrl_c_in_a_terminal_stops_it_without_losing_what_was_answered(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    # A terminal's Ctrl-C reaches every process of the foreground group: the writer process too, which must leave
    # its ending to the gateway, so the events of requests still in flight are written.
    server = start(new_session=True)
    url = server.url_line().group("url")
    answered, _ = asyncio.run(load(url, 200, lambda: os.killpg(server.process.pid, signal.SIGINT)))
    assert server.process.wait(30) == 128 + signal.SIGINT, server.output()
    server.stop()
    recorded = {r[0] for r in rows(tmp_path / "data", "SELECT request_id FROM requests WHERE status = 200")}
    assert len(answered) >= 200
    assert answered <= recorded, f"{len(answered - recorded)} answered requests have no row"
    assert "Traceback" not in server.output()


def test_a_killed_gateway_leaves_no_writer_holding_the_database(start: Callable[..., Server], tmp_path: Path) -> None:
    server = start()
    url = server.url_line().group("url")
    ids = [httpx.post(f"{url}/v1/chat/completions", json=body(n)).headers["x-muxgate-request-id"] for n in range(3)]
    assert httpx.get(f"{url}/api/v1/analytics").json()["written"] >= 3
    later = [httpx.post(f"{url}/v1/chat/completions", json=body(n)).status_code for n in range(3)]
    assert later == [200] * 3
    # Listed under the thread that started it.
    tasks = Path(f"/proc/{server.process.pid}/task")
    children = [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]
    [writer] = [pid for pid in children if b"writer_process" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    pidfd = os.pidfd_open(int(writer))
    try:
        server.process.kill()
        # Its pipe from the gateway ends: it writes what it received and exits.
        ready, _, _ = select.select([pidfd], [], [], 30)
        assert ready, "the writer process outlived the gateway"
    finally:
        os.close(pidfd)
    server.stop()
    # The lock is free again, and what was written stays.
    recorded = {r[0] for r in rows(tmp_path / "data", "SELECT request_id FROM requests")}
    assert set(ids) <= recorded


def test_muxgate_sql_while_serving_and_after_it_stopped(start: Callable[..., Server], tmp_path: Path) -> None:
    server = start()
    match = server.url_line()
    url, port = match.group("url"), match.group("port")
    ids = [httpx.post(f"{url}/v1/chat/completions", json=body(n)).headers["x-muxgate-request-id"] for n in range(3)]
    data = str(tmp_path / "data")
    query = "SELECT request_id, input_tokens, output_tokens, input_cost FROM requests ORDER BY ts"

    # The gateway holds the file: through its SQL endpoint, at the address it wrote into its data directory (it
    # listens on a port no setting names), with the admin token it wrote there too…
    assert (tmp_path / "data" / "gateway-url").read_text() == f"{url}\n"
    live = run_muxgate("sql", query, "--data-dir", data, "--format", "json")
    assert live.returncode == 0, live.stderr
    records = json.loads(live.stdout)
    assert [r["request_id"] for r in records] == ids
    assert all(r["input_tokens"] > 0 and r["input_cost"] > 0 for r in records)
    # …or, without that file, at the address MUXGATE_PORT names.
    (tmp_path / "data" / "gateway-url").rename(tmp_path / "gateway-url.aside")
    by_port = run_muxgate("sql", query, "--data-dir", data, "--format", "json", MUXGATE_PORT=port)
    assert (by_port.returncode, json.loads(by_port.stdout or "[]")) == (0, records), by_port.stderr
    (tmp_path / "gateway-url.aside").rename(tmp_path / "data" / "gateway-url")
    # …or at the one --server names.
    as_csv = run_muxgate(
        "sql", "SELECT count(*) AS n FROM requests", "--server", url, "--format", "csv", "--data-dir", data
    )
    assert (as_csv.returncode, as_csv.stdout) == (0, "n\n3\n"), as_csv.stderr

    forbidden = run_muxgate("sql", "DELETE FROM requests", "--server", url, "--data-dir", data)
    assert forbidden.returncode == 1
    assert "DELETE statement, which is refused" in forbidden.stderr
    broken = run_muxgate("sql", "SELEKT 1", "--server", url, "--data-dir", data)
    assert broken.returncode == 1
    assert "does not parse" in broken.stderr
    no_token = run_muxgate("sql", "SELECT 1", "--server", url, "--data-dir", str(tmp_path / "elsewhere"))
    assert no_token.returncode == 1
    assert "No admin token" in no_token.stderr

    assert server.stop() == -signal.SIGTERM
    assert not (tmp_path / "data" / "gateway-url").exists()
    # Stopped: the file is read directly, read-only.
    after = run_muxgate("sql", "SELECT count(*) AS requests FROM requests", "--data-dir", data)
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines() == ["requests", "--------", "       3", "(1 row)"]
    file_read = run_muxgate("sql", f"SELECT * FROM read_csv('{tmp_path}/x.csv')", "--data-dir", data)
    assert file_read.returncode == 1
    assert "disabled by configuration" in file_read.stderr
    written = run_muxgate("sql", "DROP TABLE requests", "--data-dir", data)
    assert written.returncode == 1
    assert rows(tmp_path / "data", "SELECT count(*) FROM requests") == [(3,)]


def test_a_disk_that_fills_up_drops_events_warns_and_keeps_serving(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    open_database(data).close()
    limit = database_path(data).stat().st_size + 256 * 1024
    with small_disk(limit):
        server = start()
    url = server.url_line().group("url")
    statuses = [httpx.post(f"{url}/v1/chat/completions", json=body(n, 100_000)).status_code for n in range(12)]
    assert statuses == [200] * 12
    status = httpx.get(f"{url}/api/v1/analytics").json()
    assert status["dropped"] > 0
    assert "File too large" in status["last_error"]
    # Still serving, and the rows that fit are readable.
    assert httpx.post(f"{url}/v1/chat/completions", json=body(13)).status_code == 200
    server.stop()
    assert "requests are still served" in server.output()


@contextlib.contextmanager
def small_disk(limit: int) -> Iterator[None]:
    """Processes started inside get files of at most `limit` bytes: writing past it fails with EFBIG, as a full
    disk fails with ENOSPC (SIGXFSZ, which would kill them instead, is ignored; both are inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_database_from_a_newer_version_stops_serve_before_it_listens(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    open_database(data).close()
    con = duckdb.connect(str(database_path(data)))
    con.execute("INSERT INTO migrations (position, name) VALUES (99, '0099_later')")
    con.close()
    server = start()
    assert server.process.wait(30) == 1
    server.stop()
    assert "written by a newer version of Muxgate" in server.output()
    assert "0099_later" in server.output()


def test_a_corrupted_database_stops_serve_and_is_kept(start: Callable[..., Server], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database_path(data).write_bytes(b"\x00garbage" * 100)
    server = start()
    assert server.process.wait(30) == 1
    server.stop()
    output = server.output()
    assert "is not a readable DuckDB database" in output
    assert f"mv {database_path(data)} {database_path(data)}.broken" in output
    assert database_path(data).read_bytes() == b"\x00garbage" * 100
