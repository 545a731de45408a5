"""Live reload: how soon an edit serves requests, and whether any request fails while configs are swapped.

Starts the fake provider and `muxgate serve DIR` as separate processes on loopback, DIR being a git repository with
a provider, the `default` workspace and --workspaces more workspace files. Then:

  edit-to-live   --edits times: rewrite default.yaml so its rule routes to a new model, and send requests (5 ms
                 apart) until one is answered by that model; the time from the write to that answer.
  under load     --clients concurrent clients send chat requests without pause while default.yaml is rewritten
                 --reloads times, each time waiting until the status endpoint shows the new state; every answer
                 other than a 200 from the expected models counts as failed.

    python benchmarks/reload.py [--edits 50] [--reloads 50] [--clients 8] [--workspaces 20] [--json out.json]
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
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_overhead import process
from reconcile_scale import machine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROBE_PAUSE = 0.005
BODY = {"model": "any", "messages": [{"role": "user", "content": "Which model answers?"}]}

PROVIDER = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {{name: fake}}
spec:
  type: openai
  endpoint: {url}/v1
"""
WORKSPACE = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {{name: {name}}}
spec:
  customInstructions: Be brief.
  muxRules:
    - match: {{type: chat_filename, pattern: "*.py"}}
      provider: fake
      model: python-model
    - match: {{type: catch_all}}
      provider: fake
      model: {model}
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path, fake_url: str, workspaces: int) -> None:
    root.mkdir()
    (root / "providers.yaml").write_text(PROVIDER.format(url=fake_url))
    (root / "default.yaml").write_text(WORKSPACE.format(name="default", model="model-0"))
    teams = root / "teams"
    teams.mkdir()
    for i in range(workspaces):
        (teams / f"team-{i}.yaml").write_text(WORKSPACE.format(name=f"team-{i}", model="team-model"))
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "--all")
    git(root, "-c", "user.name=bench", "-c", "user.email=bench@muxgate.invalid", "commit", "--quiet", "-m", "start")


def set_model(root: Path, model: str) -> None:
    (root / "default.yaml").write_text(WORKSPACE.format(name="default", model=model))


def edit_to_live(url: str, root: Path, edits: int) -> list[float]:
    """Seconds from each write until a request is answered by the new model."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        # Unmeasured: the first edit may come before the watch is in place, and waits for its catch-up reconcile.
        for i in range(edits + 1):
            model = f"edit-{i}"
            started = time.perf_counter()
            set_model(root, model)
            while True:
                answer = client.post("/v1/chat/completions", json=BODY)
                answer.raise_for_status()
                if answer.json()["model"] == model:
                    if i > 0:
                        latencies.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"Edit {i} was not live after 10 s; is the watcher running?")
                # A short pause between probes: back-to-back requests would load the gateway (and the two cores
                # it shares with the provider) more than the reload itself; it costs at most this much precision.
                time.sleep(PROBE_PAUSE)
    return latencies


async def under_load(url: str, root: Path, reloads: int, clients: int) -> dict[str, Any]:
    models = {f"load-{i}" for i in range(reloads + 1)}
    counts = {"requests": 0, "failed": 0}
    failures: list[str] = []
    stop = asyncio.Event()

    async def status(client: httpx.AsyncClient) -> dict[str, Any]:
        body: dict[str, Any] = (await client.get("/api/v1/reconcile/status")).json()
        return body

    async def wait_applied(client: httpx.AsyncClient, previous: str) -> None:
        deadline = time.perf_counter() + 10
        while (await status(client))["stateHash"] == previous:
            if time.perf_counter() > deadline:
                raise RuntimeError("A reload was not applied within 10 s.")
            await asyncio.sleep(0.005)

    async def worker(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            counts["requests"] += 1
            try:
                answer = await client.post("/v1/chat/completions", json=BODY)
            except httpx.HTTPError as exc:
                counts["failed"] += 1
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if answer.status_code != 200 or answer.json().get("model") not in models:
                counts["failed"] += 1
                failures.append(f"{answer.status_code}: {answer.text[:200]}")

    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        previous = (await status(client))["stateHash"]
        set_model(root, "load-0")
        await wait_applied(client, previous)
        workers = [asyncio.create_task(worker(client)) for _ in range(clients)]
        started = time.perf_counter()
        for i in range(1, reloads + 1):
            previous = (await status(client))["stateHash"]
            set_model(root, f"load-{i}")
            await wait_applied(client, previous)
        seconds = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*workers)
    return {**counts, "seconds": seconds, "reloads": reloads, "clients": clients, "first_failures": failures[:5]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--reloads", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workspaces", type=int, default=20, help="workspace files besides default.yaml")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUXGATE_")}
    env["MUXGATE_LOG_LEVEL"] = "warning"
    with (
        tempfile.TemporaryDirectory() as tmp,
        process([sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://") as fake,
    ):
        root = Path(tmp) / "config"
        make_repo(root, fake, args.workspaces)
        serve = [str(BIN / "muxgate"), "serve", str(root), "--port", "0", "--data-dir", str(Path(tmp) / "data")]
        with process(serve, "Muxgate serving", env) as url:
            latencies = edit_to_live(url, root, args.edits)
            load = asyncio.run(under_load(url, root, args.reloads, args.clients))
    ms = [v * 1000 for v in latencies]
    result = {
        "machine": machine(),
        "workspaces": args.workspaces + 1,
        "edit_to_live_ms": {
            "edits": len(ms),
            "p50": statistics.median(ms),
            "p95": percentile(ms, 0.95),
            "max": max(ms),
            "min": min(ms),
            "all": [round(v, 1) for v in ms],
        },
        "under_load": load,
    }
    m = result["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['platform']}")
    print(f"Config: a git repository with {args.workspaces + 1} workspaces; debounce 300 ms, step 50 ms.\n")
    e = result["edit_to_live_ms"]
    print("| measure | result | target |")
    print("|---|---|---|")
    print(f"| edit-to-live p50 ({e['edits']} edits) | {e['p50']:.0f} ms | ≤ 300 ms |")
    print(f"| edit-to-live p95 | {e['p95']:.0f} ms | |")
    print(f"| edit-to-live max (min) | {e['max']:.0f} ms ({e['min']:.0f} ms) | |")
    print(
        f"| requests while reloading {load['reloads']} times, {load['clients']} clients "
        f"({load['seconds']:.1f} s) | {load['requests']:,} | |"
    )
    print(f"| failed requests | {load['failed']} | 0 |")
    if load["first_failures"]:
        print("\nFirst failures:", *load["first_failures"], sep="\n  ")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
