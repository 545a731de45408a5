"""Two versions of Muxgate side by side: `muxgate serve` from a git revision and from the working tree (or a second
revision), with the bare passthrough as the yardstick, under the same load in one run.

    python benchmarks/compare_revisions.py BASE [OTHER] [--rounds 10] [--requests 4000] [--stream]
                                           [--analytics off|on|both] [--json out.json]

Each revision is checked out into a temporary git worktree and its gateway runs from there (the project's
virtualenv supplies the packages; the writer process follows the gateway's tree). The targets take turns round
after round, each round starting with another target, so a machine that speeds up or slows down does so for all
of them; a gateway that records ends its round when what it recorded is written. Reported per target: requests
per second (median, min–max), the ratio to the bare passthrough and to the first gateway, and CPU per request
of the gateway's event-loop thread, of its whole process and of its writer process. On a small machine RPS moves
by several percent from run to run; CPU per request shows a change of a few microseconds that RPS cannot.
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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics import loop_cpu_seconds, tree_cpu_seconds
from gateway_overhead import BODY, CONFIG, ROOT, recorded, started
from loadgen import run_load
from reconcile_scale import machine


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """`revision` checked out into a temporary git worktree, removed at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), revision], cwd=ROOT, check=True, capture_output=True
        )
        try:
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def gateway_command(config: Path, data_dir: Path) -> list[str]:
    # Run as a module from the tree's folder: the tree's `proxy` comes first on the path (sys.path[0]).
    return [sys.executable, "-m", "proxy.cli", "serve", str(config), "--port", "0", "--data-dir", str(data_dir)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="a git revision (commit, branch, tag)")
    parser.add_argument("other", nargs="?", help="a second revision; the working tree when left out")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=4000, help="requests per round, at 16 connections")
    parser.add_argument("--stream", action="store_true", help="streamed answers (SSE) instead of JSON")
    parser.add_argument("--analytics", choices=("off", "on", "both"), default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.analytics]
    body = json.dumps({**BODY, "stream": args.stream}).encode()

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        trees = {args.base: stack.enter_context(worktree(args.base))}
        if args.other:
            trees[args.other] = stack.enter_context(worktree(args.other))
        else:
            trees["working tree"] = ROOT
        fake, _ = stack.enter_context(
            started([sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://")
        )
        config = tmp / "config"
        config.mkdir()
        (config / "muxgate.yaml").write_text(CONFIG.format(url=fake))
        bare_cmd = [sys.executable, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", "aiohttp"]
        targets: dict[str, tuple[str, int, bool]] = {
            "bare passthrough": (*stack.enter_context(started(bare_cmd, "http://")), False)
        }
        for name, tree in trees.items():
            for analytics in modes:
                label = f"{name}, recording {'on' if analytics else 'off'}"
                env = {**os.environ, "MUXGATE_ANALYTICS": "true" if analytics else "false"}
                data_dir = tmp / f"data{len(targets)}"
                url, pid = stack.enter_context(
                    started(
                        [*gateway_command(config, data_dir), "--log-level", "warning"], "Muxgate serving", env, tree
                    )
                )
                targets[label] = (url, pid, analytics)
        results = measure(targets, body, args.rounds, args.requests)
    report = {"machine": machine(), "stream": args.stream, "rounds": args.rounds, "requests": args.requests}
    report["targets"] = results
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def measure(
    targets: dict[str, tuple[str, int, bool]], body: bytes, rounds: int, requests: int
) -> dict[str, dict[str, Any]]:
    names = list(targets)
    for url, _, _ in targets.values():  # warm up every target once
        asyncio.run(run_load(url + "/v1/chat/completions", body, concurrency=16, requests=500))
    samples: dict[str, dict[str, list[float]]] = {
        n: {"rps": [], "loop": [], "process": [], "writer": []} for n in names
    }
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            url, pid, records = targets[name]
            loop0, (process0, writer0) = loop_cpu_seconds(pid), tree_cpu_seconds(pid)
            load = asyncio.run(run_load(url + "/v1/chat/completions", body, concurrency=16, requests=requests))
            if records:
                load = recorded(url, load)
            loop1, (process1, writer1) = loop_cpu_seconds(pid), tree_cpu_seconds(pid)
            us = 1e6 / load.requests
            sample = samples[name]
            sample["rps"].append(load.rps)
            sample["loop"].append((loop1 - loop0) * us)
            sample["process"].append((process1 - process0) * us)
            sample["writer"].append((writer1 - writer0) * us)
    return {
        name: {key: {"median": statistics.median(v), "min": min(v), "max": max(v)} for key, v in sample.items()}
        for name, sample in samples.items()
    }


def print_table(results: dict[str, dict[str, Any]]) -> None:
    names = list(results)
    bare = results[names[0]]["rps"]["median"]
    first = results[names[1]]["rps"]["median"] if len(names) > 1 else bare
    head = f"{'target':40} {'RPS':>8} {'(min–max)':>15} {'vs bare':>8} {'vs first':>9}"
    print(head + "   CPU µs/request: loop  process  writer")
    for name, figures in results.items():
        rps = figures["rps"]
        print(
            f"{name:40} {rps['median']:8,.0f} {rps['min']:7,.0f}–{rps['max']:<7,.0f} {rps['median'] / bare:8.1%} "
            f"{rps['median'] / first:9.1%}   {figures['loop']['median']:19.0f} {figures['process']['median']:8.0f} "
            f"{figures['writer']['median']:7.0f}"
        )


if __name__ == "__main__":
    main()
