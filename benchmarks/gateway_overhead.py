"""What the gateway adds: direct to the fake provider vs a bare passthrough vs Muxgate, side by side in one run.

Starts, as separate processes on loopback: the fake provider; a bare passthrough on the same stack
(benchmarks/bare_passthrough.py) for each upstream client, and one on the httpx API over aiohttp (httpx-aiohttp)
for comparison; `muxgate serve` for each upstream client, on a config
with one catch-all rule to the fake provider. Then sends OpenAI chat requests (JSON and streaming) at 1 and 16
concurrent connections, the targets taking turns round after round, and reports RPS and latency, median (min–max)
over --rounds rounds (at one connection with a quarter of --requests). A Muxgate round ends when what it
recorded is written (`recorded`).

    python benchmarks/gateway_overhead.py [--rounds 3] [--requests 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import LoadResult, run_load
from reconcile_scale import machine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CONFIG = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {{name: fake}}
spec:
  type: openai
  endpoint: {url}/v1
  models: [{{name: fake-model}}]
---
apiVersion: muxgate/v1
kind: Workspace
metadata: {{name: default}}
spec:
  customInstructions: Be brief.
  muxRules:
    - match: {{type: catch_all}}
      provider: fake
      model: fake-model
"""

# The yardstick: a passthrough on the client the gateway uses by default.
BARE = "bare passthrough (aiohttp)"

BODY = {"model": "any", "messages": [{"role": "user", "content": "Say hello to the benchmark, please."}]}


@contextmanager
def process(cmd: list[str], marker: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `cmd`, wait for the stdout line containing `marker`, yield its last word (a URL), stop it at the end."""
    with started(cmd, marker, env) as (url, _):
        yield url


@contextmanager
def started(
    cmd: list[str], marker: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> Iterator[tuple[str, int]]:
    """`process`, run in `cwd`, yielding (URL, pid)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if marker in line:
                yield line.strip().split()[-1], proc.pid
                break
        else:
            raise RuntimeError(f"{cmd[0]} exited before printing its URL")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def recorded(base: str, load: LoadResult) -> LoadResult:
    """`load` with the time a Muxgate gateway then takes to write what it recorded counted in (its status endpoint
    writes what is queued first). The writer works in the background, a batch a second: without this a round
    of a second or two would leave part of what recording costs outside the measurement."""
    client = _status_client()
    started = time.perf_counter()
    client.get(base + "/api/v1/analytics").raise_for_status()
    return dataclasses.replace(load, seconds=load.seconds + time.perf_counter() - started)


@functools.cache
def _status_client() -> httpx.Client:
    # One client for the run: making one per call (httpx.get) costs ~25 ms, ten times an empty flush.
    return httpx.Client(timeout=60)


def measure(
    targets: dict[str, str], stream: bool, concurrency: int, requests: int, rounds: int, recording: set[str]
) -> dict[str, dict[str, Any]]:
    """Every target in turn, round after round, each round starting with another target, so that a machine
    that speeds up or slows down during the run does so for all of them alike. Targets in `recording` are Muxgate
    gateways: their rounds include writing what they recorded (`recorded`)."""
    body = json.dumps({**BODY, "stream": stream}).encode()
    names = list(targets)
    results: dict[str, list[LoadResult]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            load = asyncio.run(
                run_load(targets[name] + "/v1/chat/completions", body, concurrency=concurrency, requests=requests)
            )
            results[name].append(recorded(targets[name], load) if name in recording else load)
    return {
        name: {
            "rps": summary([r.rps for r in loads]),
            "p50_ms": summary([r.p50 * 1000 for r in loads]),
            "p99_ms": summary([r.percentile(0.99) * 1000 for r in loads]),
            "errors": sum(r.errors for r in loads),
        }
        for name, loads in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env_python = sys.executable
    with (
        tempfile.TemporaryDirectory() as tmp,
        process([env_python, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://") as fake,
    ):
        config = Path(tmp) / "config"
        config.mkdir()
        (config / "muxgate.yaml").write_text(CONFIG.format(url=fake))
        targets: dict[str, str] = {"direct": fake}
        with (
            process(
                [env_python, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", "aiohttp"], "http://"
            ) as bare_aiohttp,
            process(
                [env_python, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", "httpx-aiohttp"],
                "http://",
            ) as bare_httpx_aiohttp,
            process(
                [env_python, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", "httpx"], "http://"
            ) as bare_httpx,
            process(
                [
                    str(BIN / "muxgate"),
                    "serve",
                    str(config),
                    "--port",
                    "0",
                    "--data-dir",
                    f"{tmp}/a",
                    "--transport",
                    "aiohttp",
                    "--log-level",
                    "warning",
                ],
                "Muxgate serving",
            ) as mux_aiohttp,
            process(
                [
                    str(BIN / "muxgate"),
                    "serve",
                    str(config),
                    "--port",
                    "0",
                    "--data-dir",
                    f"{tmp}/b",
                    "--transport",
                    "httpx",
                    "--log-level",
                    "warning",
                ],
                "Muxgate serving",
            ) as mux_httpx,
        ):
            targets |= {
                BARE: bare_aiohttp,
                "bare passthrough (httpx API over aiohttp)": bare_httpx_aiohttp,
                "bare passthrough (httpx)": bare_httpx,
                "muxgate (aiohttp)": mux_aiohttp,
                "muxgate (httpx)": mux_httpx,
            }
            runs: list[dict[str, Any]] = []
            recording = {"muxgate (aiohttp)", "muxgate (httpx)"}
            for stream in (False, True):
                for concurrency in (1, 16):
                    # One connection is about latency: a quarter of the requests gives a stable median.
                    count = max(100, args.requests // 4) if concurrency == 1 else args.requests
                    measured = measure(targets, stream, concurrency, count, args.rounds, recording)
                    for name, result in measured.items():
                        runs.append({"target": name, "stream": stream, "concurrency": concurrency, **result})
                        print(
                            f"{name:40} stream={stream!s:5} c={concurrency:<3} "
                            f"rps={result['rps']['median']:8.0f} p50={result['p50_ms']['median']:6.2f} ms "
                            f"p99={result['p99_ms']['median']:6.2f} ms errors={result['errors']}",
                            flush=True,
                        )
    report = {"machine": machine(), "rounds": args.rounds, "requests": args.requests, "yardstick": BARE, "runs": runs}
    print_table(runs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def print_table(runs: list[dict[str, Any]]) -> None:
    direct = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == "direct"}
    bare = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == BARE}
    print("\n| target | stream | c | RPS median (min–max) | p50 ms | added p50 vs direct | RPS vs bare (aiohttp) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in runs:
        key = (r["stream"], r["concurrency"])
        rps = r["rps"]
        added = r["p50_ms"]["median"] - direct[key]["p50_ms"]["median"]
        ratio = rps["median"] / bare[key]["rps"]["median"]
        print(
            f"| {r['target']} | {'SSE' if r['stream'] else 'JSON'} | {r['concurrency']} | "
            f"{rps['median']:,.0f} ({rps['min']:,.0f}–{rps['max']:,.0f}) | {r['p50_ms']['median']:.2f} | "
            f"{added:+.2f} ms | {ratio:.0%} |"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
