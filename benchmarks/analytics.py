"""Analytics benchmarks: how fast the writer stores events, what recording costs the gateway, and how fast the
usage views answer over many rows.

1. Writer: events per second into the `requests` table (24 columns) by insert method, on a real file: one
   INSERT per row (`executemany`), `INSERT … VALUES (…), (…)`, `INSERT … SELECT unnest($n)` with one list per
   column, one JSON text of columns parsed by DuckDB's `from_json`, the same text in a file read by
   `read_json` (what the writer uses), and an Arrow table
   (only when pyarrow is installed; Muxgate does not need it). CPU µs per event is the writer's cost to the
   gateway process; the JSON way also holds the GIL least (DuckDB parses with it released).
2. Gateway: `muxgate serve` with analytics off, on (written by the writer process, the default) and on with the
   writer as a thread of the gateway (MUXGATE_ANALYTICS, MUXGATE_ANALYTICS_WRITER), OpenAI chat JSON and SSE at 16
   concurrent connections against the fake provider, rounds alternating; RPS median and the cost in %, CPU per
   request of the gateway with its writer process, of its event loop's thread and of the writer process. A round
   with recording on ends when its rows are written (time and CPU counted).
3. Views: `usage_daily` (and one workspace's last 30 days) over --rows generated request rows.
4. Checkpoints: the writer's commits over --checkpoint-requests requests (a request row and a history row each, in
   batches of 3,000) with DuckDB's default 16 MB of WAL between checkpoints and with Muxgate's.

    python benchmarks/analytics.py [--rounds 6] [--requests 3000] [--rows 10000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway_overhead import BIN, CONFIG, process, recorded
from loadgen import run_load
from reconcile_scale import machine

from proxy.analytics.events import COLUMNS
from proxy.analytics.schema import migrate
from proxy.analytics.store import CHECKPOINT_THRESHOLD, open_database, spool_dir
from proxy.analytics.writer import insert_rows, insert_rows_unnest

BODY = {"model": "any", "messages": [{"role": "user", "content": "Say hello to the benchmark, please."}]}


# --- 1. writer --------------------------------------------------------------------------------------------------


def request_row(n: int) -> tuple[Any, ...]:
    return (
        1_760_000_000_000_000 + n * 1000,
        uuid.uuid4().hex,
        f"workspace-{n % 8}",
        "openai_chat",
        "openai",
        "openai",
        "gpt-4o",
        "gpt-4o-mini",
        n % 3,
        "chat",
        n % 2 == 0,
        200,
        "ok",
        "stop",
        400 + n % 97,
        120 + n % 31,
        "provider",
        (400 + n % 97) * 0.15 / 1e6,
        (120 + n % 31) * 0.6 / 1e6,
        12.5,
        3.25,
        "4f2a9c1b7e3d",
        "9" * 64,
        None,
    )


def _executemany(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
    marks = ", ".join(["make_timestamp(?)"] + ["?"] * (len(COLUMNS["requests"]) - 1))
    con.executemany(f"INSERT INTO requests VALUES ({marks})", rows)


def _values(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
    marks = "(" + ", ".join(["make_timestamp(?)"] + ["?"] * (len(COLUMNS["requests"]) - 1)) + ")"
    con.execute("INSERT INTO requests VALUES " + ", ".join([marks] * len(rows)), [v for r in rows for v in r])


def _unnest(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
    insert_rows_unnest(con, "requests", rows)


def _json(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
    insert_rows(con, "requests", rows)


def _json_file(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
    insert_rows(con, "requests", rows, spool)


Method = Callable[[duckdb.DuckDBPyConnection, list[tuple[Any, ...]], Path], None]


def _arrow() -> Method | None:
    try:
        import pyarrow as pa  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    names = [name for name, _ in COLUMNS["requests"]]

    def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], spool: Path) -> None:
        table = pa.table(
            {name: pa.array(list(column)) for name, column in zip(names, zip(*rows, strict=True), strict=True)}
        )
        con.register("batch", table)
        con.execute("INSERT INTO requests SELECT make_timestamp(ts), * EXCLUDE (ts) FROM batch")
        con.unregister("batch")

    return insert


def bench_writer(tmp: Path) -> list[dict[str, Any]]:
    methods: dict[str, tuple[Method | None, int]] = {
        "executemany (one INSERT per row)": (_executemany, 2_000),
        "INSERT … VALUES (…), (…)": (_values, 20_000),
        "INSERT … SELECT unnest($n), one list per column": (_unnest, 100_000),
        "one JSON text of columns, from_json on a parameter": (_json, 100_000),
        "the same JSON text in a file, read_json (the writer's)": (_json_file, 100_000),
        "Arrow table (pyarrow)": (_arrow(), 100_000),
    }
    results: list[dict[str, Any]] = []
    for name, (method, total) in methods.items():
        if method is None:
            results.append({"method": name, "skipped": "pyarrow is not installed"})
            print(f"{name:56} skipped: pyarrow is not installed", flush=True)
            continue
        for batch in (100, 1_000, 5_000):
            count = total
            rows = [request_row(n) for n in range(count)]
            directory = Path(tempfile.mkdtemp(dir=tmp))
            con = open_database(directory)
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, count, batch):
                con.execute("BEGIN TRANSACTION")
                method(con, rows[start : start + batch], spool_dir(directory))
                con.execute("COMMIT")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            con.close()
            result = {
                "method": name,
                "batch": batch,
                "events_per_s": count / wall,
                "cpu_us_per_event": cpu / count * 1e6,
            }
            results.append(result)
            print(
                f"{name:56} batch={batch:<6} {result['events_per_s']:>10,.0f} events/s  "
                f"{result['cpu_us_per_event']:6.1f} µs CPU/event",
                flush=True,
            )
    return results


# --- checkpoints -------------------------------------------------------------------------------------------------


def message_row(n: int, request_id: str) -> tuple[Any, ...]:
    prompt = f"Explain the function number {n} of the module, please."
    return (
        1_760_000_000_000_000 + n * 1000,
        request_id,
        f"workspace-{n % 8}",
        "full",
        "chat",
        "openai",
        "gpt-4o-mini",
        2,
        prompt,
        json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]),
        f"Function {n} returns the sum of its arguments.",
    )


def bench_checkpoints(tmp: Path, requests: int, batch: int = 3_000) -> list[dict[str, Any]]:
    """The writer's commits over many requests (a request row and a history row each, batches as under load),
    with DuckDB's default WAL size between checkpoints and with Muxgate's: a checkpoint rewrites the row group
    that is filling up, so checkpointing less often rewrites it fewer times."""
    results = []
    for threshold in ("16MB", CHECKPOINT_THRESHOLD):
        directory = Path(tempfile.mkdtemp(dir=tmp))
        con = duckdb.connect(str(directory / "muxgate.duckdb"))
        migrate(con)
        con.execute("SET threads = 1")
        con.execute(f"SET checkpoint_threshold = '{threshold}'")
        spool = directory / "spool"
        spool.mkdir()
        insert = commit = 0.0
        checkpoints: list[float] = []
        for start in range(0, requests, batch):
            rows = [request_row(n) for n in range(start, min(start + batch, requests))]
            messages = [message_row(start + i, row[1]) for i, row in enumerate(rows)]
            began = time.process_time()
            con.execute("BEGIN TRANSACTION")
            insert_rows(con, "requests", rows, spool)
            insert_rows(con, "messages", messages, spool)
            middle = time.process_time()
            con.execute("COMMIT")
            ended = time.process_time()
            insert += middle - began
            commit += ended - middle
            if ended - middle > 0.02:  # a commit that checkpointed
                checkpoints.append(ended - middle)
        con.close()
        result = {
            "threshold": threshold,
            "requests": requests,
            "insert_cpu_us_per_request": insert / requests * 1e6,
            "commit_cpu_us_per_request": commit / requests * 1e6,
            "checkpoints": len(checkpoints),
            "checkpoint_ms_max": max(checkpoints, default=0.0) * 1000,
        }
        results.append(result)
        print(
            f"checkpoint_threshold {threshold:5} over {requests:,} requests: insert "
            f"{result['insert_cpu_us_per_request']:.2f} µs, commit {result['commit_cpu_us_per_request']:.2f} µs "
            f"CPU/request; {len(checkpoints)} checkpoints, the longest {result['checkpoint_ms_max']:.0f} ms",
            flush=True,
        )
    return results


# --- 2. gateway ---------------------------------------------------------------------------------------------------


@contextmanager
def serving(config: Path, data_dir: Path, analytics: bool, writer: str = "process") -> Iterator[tuple[str, int]]:
    """`muxgate serve` with analytics on or off, written by a writer process or thread: (URL, pid)."""
    env = {
        **os.environ,
        "MUXGATE_ANALYTICS": "true" if analytics else "false",
        "MUXGATE_ANALYTICS_WRITER": writer,
    }
    cmd = [str(BIN / "muxgate"), "serve", str(config), "--port", "0", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Muxgate serving" in line:
                yield line.strip().split()[-1], proc.pid
                break
        else:
            raise RuntimeError("muxgate serve exited before printing its URL")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ticks(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    return _ticks(Path(f"/proc/{pid}/stat"))


def children(pid: int) -> list[int]:
    """The processes `pid` started (the analytics writer process), whichever of its threads started them."""
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def tree_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time so far of a process and of its children: (the process, the children)."""
    return cpu_seconds(pid), sum(cpu_seconds(child) for child in children(pid))


def loop_cpu_seconds(pid: int) -> float:
    """The same for the process's main thread alone, which runs the event loop (Linux)."""
    return _ticks(Path(f"/proc/{pid}/task/{pid}/stat"))


def tail_ms(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {f"p{q * 100:g}": ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.5, 0.99, 0.999)}


# Each variant of the gateway benchmark: analytics on or off, and the writer's kind.
GATEWAY_VARIANTS: dict[str, tuple[bool, str]] = {
    "on": (True, "process"),
    "thread": (True, "thread"),
    "off": (False, "process"),
}
# Requests a fresh gateway answers before its round is measured (at most a round's).
WARMUP = 1_000


def bench_gateway(
    tmp: Path, rounds: int, requests: int, history: str, streams: tuple[bool, ...]
) -> list[dict[str, Any]]:
    """RPS with recording off, on (the writer process, the default) and on with the writer as a thread of the
    gateway, rounds alternating; and the CPU time per request of the gateway and of its writer process, which
    other processes on the machine disturb less than RPS.

    Every round starts a fresh gateway for each variant (on the variant's data directory, so the database grows
    from round to round as it would): two processes running the same code differ by a few percent in RPS for
    as long as they run, so one process per variant would carry its draw into every round."""
    with process([sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://") as fake:
        config = tmp / "config"
        config.mkdir()
        # The benchmark config of gateway_overhead.py, with the workspace's history setting.
        text = CONFIG.format(url=fake).replace("  customInstructions:", f"  history: {history}\n  customInstructions:")
        (config / "muxgate.yaml").write_text(text)
        names_in_order = list(GATEWAY_VARIANTS)
        results = []
        for stream in streams:
            body = json.dumps({**BODY, "stream": stream}).encode()
            rps: dict[str, list[float]] = {name: [] for name in names_in_order}
            cpu: dict[str, list[float]] = {name: [] for name in names_in_order}
            loop: dict[str, list[float]] = {name: [] for name in names_in_order}
            writer_cpu: dict[str, list[float]] = {name: [] for name in names_in_order}
            latencies: dict[str, list[float]] = {name: [] for name in names_in_order}
            writer_seconds = 0.0
            written = dropped = 0
            for round_ in range(rounds):
                # Each round starts with another variant: whatever the previous round leaves behind (the load
                # generator's garbage, a warm or cold cache) does not fall on the same variant every time.
                names = names_in_order[round_ % len(names_in_order) :] + names_in_order[: round_ % len(names_in_order)]
                for name in names:
                    analytics, kind = GATEWAY_VARIANTS[name]
                    with serving(config, tmp / name, analytics, kind) as (url, pid):
                        asyncio.run(
                            run_load(url + "/v1/chat/completions", body, concurrency=16, requests=min(WARMUP, requests))
                        )
                        status_before = httpx.get(url + "/api/v1/analytics").json() if analytics else None
                        (before, kids_before), loop_before = tree_cpu_seconds(pid), loop_cpu_seconds(pid)
                        load = asyncio.run(
                            run_load(url + "/v1/chat/completions", body, concurrency=16, requests=requests, warmup=0)
                        )
                        if analytics:
                            # The round's rows are written, and their cost (CPU and time) counted, inside it.
                            load = recorded(url, load)
                        after, kids_after = tree_cpu_seconds(pid)
                        cpu[name].append((after - before + kids_after - kids_before) / requests * 1e6)
                        writer_cpu[name].append((kids_after - kids_before) / requests * 1e6)
                        loop[name].append((loop_cpu_seconds(pid) - loop_before) / requests * 1e6)
                        assert load.errors == 0, f"recording {name}: {load.errors} errors"
                        rps[name].append(load.rps)
                        latencies[name].extend(load.latencies)
                        if name == "on" and status_before is not None:
                            status = httpx.get(url + "/api/v1/analytics").json()
                            writer_seconds += status["writer_cpu_seconds"] - status_before["writer_cpu_seconds"]
                            written += status["written"] - status_before["written"]
                            dropped += status["dropped"]
            med = {key: {n: statistics.median(v[n]) for n in names_in_order} for key, v in (("rps", rps), ("cpu", cpu))}
            on_loop, off_loop = statistics.median(loop["on"]), statistics.median(loop["off"])
            result: dict[str, Any] = {
                "stream": stream,
                "history": history,
                "rps_on": med["rps"]["on"],
                "rps_thread": med["rps"]["thread"],
                "rps_off": med["rps"]["off"],
                "rps_cost_percent": (1 - med["rps"]["on"] / med["rps"]["off"]) * 100,
                "rps_cost_percent_thread": (1 - med["rps"]["thread"] / med["rps"]["off"]) * 100,
                # The gateway's process and its writer process together.
                "cpu_us_per_request_on": med["cpu"]["on"],
                "cpu_us_per_request_thread": med["cpu"]["thread"],
                "cpu_us_per_request_off": med["cpu"]["off"],
                "cpu_cost_percent": (med["cpu"]["on"] / med["cpu"]["off"] - 1) * 100,
                # The event loop's thread; the writer process (all of it) and, in it, the writer's thread.
                "loop_cpu_us_per_request_on": on_loop,
                "loop_cpu_us_per_request_thread": statistics.median(loop["thread"]),
                "loop_cpu_us_per_request_off": off_loop,
                "writer_process_cpu_us_per_request": statistics.median(writer_cpu["on"]),
                "writer_cpu_us_per_request": writer_seconds / max(written, 1) * 1e6,
                # Tail latency over every round's requests: a writer sharing the gateway's interpreter holds
                # up the event loop while it holds the GIL.
                "latency_ms": {name: tail_ms(values) for name, values in latencies.items()},
                "dropped": dropped,
                "rounds": {"rps": rps, "cpu_us": cpu, "loop_cpu_us": loop, "writer_process_cpu_us": writer_cpu},
            }
            results.append(result)
            kind = "SSE " if stream else "JSON"
            print(
                f"{kind} c=16 history={history:8} RPS on {result['rps_on']:6,.0f} "
                f"({-result['rps_cost_percent']:+.1f} %) thread {result['rps_thread']:6,.0f} "
                f"({-result['rps_cost_percent_thread']:+.1f} %) off {result['rps_off']:6,.0f}  CPU/request on "
                f"{result['cpu_us_per_request_on']:4.0f} (loop {on_loop:4.0f}, writer process "
                f"{result['writer_process_cpu_us_per_request']:3.0f}) thread "
                f"{result['cpu_us_per_request_thread']:4.0f} off {result['cpu_us_per_request_off']:4.0f} µs, "
                f"{dropped} dropped",
                flush=True,
            )
            print(
                "     latency p50/p99/p99.9 ms: "
                + "  ".join(
                    f"{name} {t['p50']:.2f}/{t['p99']:.2f}/{t['p99.9']:.2f}" for name, t in result["latency_ms"].items()
                ),
                flush=True,
            )
    return results


# --- 3. views -----------------------------------------------------------------------------------------------------

_GENERATE = """
INSERT INTO requests (ts, request_id, workspace, client_api, provider, provider_type, requested_model, model,
                      rule_index, request_type, stream, status, outcome, input_tokens, output_tokens, usage_source,
                      input_cost, output_cost, latency_ms, config_revision, state_hash)
SELECT TIMESTAMP '2026-01-01' + to_microseconds((i * 7919 % (90 * 86400)) * 1000000),
       md5(i::VARCHAR), 'workspace-' || (i % 20), 'openai_chat', 'provider-' || (i % 4), 'openai', 'client',
       'model-' || (i % 12), (i % 3)::INTEGER, CASE WHEN i % 5 = 0 THEN 'fim' ELSE 'chat' END, i % 2 = 0,
       200, 'ok', 200 + i % 900, 50 + i % 400, 'provider',
       (200 + i % 900) * 2.5 / 1e6, (50 + i % 400) * 10.0 / 1e6, 100 + i % 300, 'rev' || (i % 50), 'h' || (i % 50)
FROM range({start}, {stop}) t(i)
"""


def bench_views(tmp: Path, rows: int) -> dict[str, Any]:
    con = open_database(tmp / "views")
    started = time.perf_counter()
    step = 2_000_000
    for start in range(0, rows, step):
        con.execute(_GENERATE.format(start=start, stop=min(rows, start + step)))
    generated = time.perf_counter() - started
    con.execute("CHECKPOINT")
    queries = {
        "usage_daily (all rows)": "SELECT * FROM usage_daily",
        "usage_daily, one workspace, 30 days": (
            "SELECT day, sum(input_tokens), sum(output_tokens), sum(cost) FROM usage_daily "
            "WHERE workspace = 'workspace-7' AND day >= DATE '2026-03-01' GROUP BY day"
        ),
        "usage_by_rule": "SELECT * FROM usage_by_rule",
        "token-usage endpoint query": (
            "SELECT model, sum(input_tokens), sum(output_tokens), sum(input_cost), sum(output_cost) FROM requests "
            "WHERE workspace = 'workspace-7' GROUP BY ROLLUP (model)"
        ),
    }
    timings: dict[str, float] = {}
    for name, sql in queries.items():
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            samples.append(time.perf_counter() - t0)
        timings[name] = statistics.median(samples)
        print(f"{name:40} over {rows:,} rows: {timings[name] * 1000:8.1f} ms (median of 5)", flush=True)
    con.close()
    return {"rows": rows, "generate_s": generated, "query_s": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--only", choices=("writer", "checkpoints", "gateway", "views"))
    parser.add_argument(
        "--checkpoint-requests", type=int, default=330_000, help="requests written for the checkpoint comparison"
    )
    parser.add_argument("--history", choices=("full", "metadata", "off"), default="full", help="workspace history")
    parser.add_argument("--stream", choices=("both", "json", "sse"), default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only in (None, "writer"):
            report["writer"] = bench_writer(tmp)
        if args.only in (None, "checkpoints"):
            report["checkpoints"] = bench_checkpoints(tmp, args.checkpoint_requests)
        if args.only in (None, "gateway"):
            streams = {"both": (False, True), "json": (False,), "sse": (True,)}[args.stream]
            report["gateway"] = bench_gateway(tmp, args.rounds, args.requests, args.history, streams)
        if args.only in (None, "views"):
            report["views"] = bench_views(tmp, args.rows)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
