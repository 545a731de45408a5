"""What the gateway adds: direct to the fake provider vs a bare passthrough vs Muxgate, side by side in one run.

Starts, as separate processes on loopback: the fake provider; a bare passthrough on the same stack
(benchmarks/bare_passthrough.py) for each upstream client, and one on the httpx API over aiohttp (httpx-aiohttp)
for comparison; `muxgate serve` for each upstream client, on a config with one catch-all rule to the fake
provider, and on the default client once more with recording off (the request path alone; what recording adds is
benchmarks/analytics.py's to measure). Then sends OpenAI chat requests (JSON and streaming) at 1 and 16
concurrent connections, the targets taking turns round after round, and reports RPS and latency, median (min–max)
over --rounds rounds (at one connection with a quarter of --requests). Every round starts every target but the
fake provider afresh: two processes running the same code differ by a few percent in RPS for as long as they
run, so one process per target would carry its draw into every round. A Muxgate round ends when what it
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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

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
# Muxgate on that client, as configured by default and with recording off.
MUXGATE = "muxgate (aiohttp)"
MUXGATE_OFF = "muxgate (aiohttp), recording off"

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


# Requests each freshly started target serves before its rounds are measured (connections, caches, allocator).
WARMUP = 1_000
# One connection is about latency: a quarter of the requests gives a stable median.
CONCURRENCIES = (1, 16)


class Target(NamedTuple):
    """How to start a target: its command, the line it prints once it serves, and its environment."""

    command: list[str]
    marker: str
    env: dict[str, str] | None = None


def target_commands(fake: str, config: Path, data: Path) -> dict[str, Target]:
    """Every target but the fake provider (`direct`). Muxgate runs twice on the default client: as it is
    configured by default (recording on) and with recording off, which shows the request path alone."""
    python = sys.executable

    def bare(transport: str) -> Target:
        return Target(
            [python, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", transport], "http://"
        )

    def muxgate(transport: str, recording: bool = True) -> Target:
        data_dir = data / (transport if recording else f"{transport}-off")
        command = [str(BIN / "muxgate"), "serve", str(config), "--port", "0", "--data-dir", str(data_dir)]
        env = None if recording else {**os.environ, "MUXGATE_ANALYTICS": "false"}
        return Target([*command, "--transport", transport, "--log-level", "warning"], "Muxgate serving", env)

    return {
        BARE: bare("aiohttp"),
        "bare passthrough (httpx API over aiohttp)": bare("httpx-aiohttp"),
        "bare passthrough (httpx)": bare("httpx"),
        MUXGATE: muxgate("aiohttp"),
        MUXGATE_OFF: muxgate("aiohttp", recording=False),
        "muxgate (httpx)": muxgate("httpx"),
    }


@contextmanager
def serving(commands: dict[str, Target]) -> Iterator[dict[str, str]]:
    """The targets of `commands` started, by name: their URLs; all stopped at the end."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(process(*target)) for name, target in commands.items()}


def measure(
    fake: str, commands: dict[str, Target], requests: int, rounds: int, recording: set[str]
) -> list[dict[str, Any]]:
    """Every body and concurrency, each target in turn, round after round, each round starting with another
    target, so that a machine that speeds up or slows down during the run does so for all of them alike. Each
    round runs on freshly started targets (the fake provider, `direct`, serves throughout). Targets in `recording`
    are Muxgate gateways: their rounds include writing what they recorded (`recorded`)."""
    cases = [(stream, concurrency) for stream in (False, True) for concurrency in CONCURRENCIES]
    loads: dict[tuple[bool, int], dict[str, list[LoadResult]]] = {case: {} for case in cases}
    for round_ in range(rounds):
        with serving(commands) as urls:
            targets = {"direct": fake, **urls}
            names = list(targets)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            warm = json.dumps({**BODY, "stream": False}).encode()
            for name in names:
                asyncio.run(run_load(targets[name] + "/v1/chat/completions", warm, concurrency=16, requests=WARMUP))
            for stream, concurrency in cases:
                body = json.dumps({**BODY, "stream": stream}).encode()
                count = max(100, requests // 4) if concurrency == 1 else requests
                for name in names:
                    url = targets[name]
                    load = asyncio.run(
                        run_load(url + "/v1/chat/completions", body, concurrency=concurrency, requests=count)
                    )
                    loads[(stream, concurrency)].setdefault(name, []).append(
                        recorded(url, load) if name in recording else load
                    )
    runs = []
    for (stream, concurrency), by_name in loads.items():
        for name, results in by_name.items():
            result: dict[str, Any] = {
                "rps": summary([r.rps for r in results]),
                # Round by round, for ratios between targets measured in the same round.
                "rps_rounds": [r.rps for r in results],
                "p50_ms": summary([r.p50 * 1000 for r in results]),
                "p99_ms": summary([r.percentile(0.99) * 1000 for r in results]),
                "errors": sum(r.errors for r in results),
            }
            runs.append({"target": name, "stream": stream, "concurrency": concurrency, **result})
            print(
                f"{name:40} stream={stream!s:5} c={concurrency:<3} "
                f"rps={result['rps']['median']:8.0f} p50={result['p50_ms']['median']:6.2f} ms "
                f"p99={result['p99_ms']['median']:6.2f} ms errors={result['errors']}",
                flush=True,
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        process([sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://") as fake,
    ):
        config = Path(tmp) / "config"
        config.mkdir()
        (config / "muxgate.yaml").write_text(CONFIG.format(url=fake))
        commands = target_commands(fake, config, Path(tmp))
        recording = {MUXGATE, "muxgate (httpx)"}
        runs = measure(fake, commands, args.requests, args.rounds, recording)
    report = {
        "machine": machine(),
        "rounds": args.rounds,
        "requests": args.requests,
        "warmup": WARMUP,
        "yardstick": BARE,
        "runs": runs,
    }
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
