"""What the gateway adds: direct to the fake provider vs a bare passthrough vs Muxgate, side by side in one run.

Starts, as separate processes on loopback: the fake provider; a bare passthrough on the same stack
(benchmarks/bare_passthrough.py) for each upstream client, and one on the httpx API over aiohttp (httpx-aiohttp)
for comparison; `muxgate serve` for each upstream client, on a config
with one catch-all rule to the fake provider. Then, one target at a time, sends OpenAI chat requests (JSON and
streaming) at 1 and 16 concurrent connections and reports RPS and latency, median (min–max) over --rounds rounds.

    python benchmarks/gateway_overhead.py [--rounds 3] [--requests 2000] [--json out.json]
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if marker in line:
                yield line.strip().split()[-1]
                break
        else:
            raise RuntimeError(f"{cmd[0]} exited before printing its URL")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(url: str, stream: bool, concurrency: int, requests: int, rounds: int) -> dict[str, Any]:
    body = json.dumps({**BODY, "stream": stream}).encode()
    results: list[LoadResult] = [
        asyncio.run(run_load(url, body, concurrency=concurrency, requests=requests)) for _ in range(rounds)
    ]
    return {
        "rps": summary([r.rps for r in results]),
        "p50_ms": summary([r.p50 * 1000 for r in results]),
        "p99_ms": summary([r.percentile(0.99) * 1000 for r in results]),
        "errors": sum(r.errors for r in results),
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
            for stream in (False, True):
                for concurrency in (1, 16):
                    for name, base in targets.items():
                        result = measure(base + "/v1/chat/completions", stream, concurrency, args.requests, args.rounds)
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
