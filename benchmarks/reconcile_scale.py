"""How long load + validate + plan takes on large config repos, cold and after a one-file change.

Generates repos of N workspace files (about 30 lines each, plus the providers they route to) in a temp dir and
times, in one process:
  cold     a fresh ParseCache: read, parse, validate and plan every file;
  warm     the same tree again with the cache (nothing changed);
  one-file one workspace file edited (a rule's model changed), then the whole pipeline again with the cache.
Each figure is the median (min–max) over --rounds rounds.

    python benchmarks/reconcile_scale.py [--sizes 1000 10000] [--rounds 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.check import check_dir
from reconciler.loader import ParseCache
from reconciler.plan import diff
from reconciler.state import DesiredState

PROVIDERS = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models:
    - {name: gpt-4o, price: {inputPerMTok: 2.5, outputPerMTok: 10}}
    - {name: gpt-4o-mini, price: {inputPerMTok: 0.15, outputPerMTok: 0.6}}
---
apiVersion: muxgate/v1
kind: Provider
metadata: {name: local}
spec:
  type: ollama
  models: [{name: "qwen2.5-coder:1.5b"}, {name: "qwen2.5-coder:7b"}]
"""

WORKSPACE = """\
# yaml-language-server: $schema=../schemas/workspace.schema.json
apiVersion: muxgate/v1
kind: Workspace
metadata:
  name: team-{i}
  labels:
    team: team-{i}
    cost-center: cc-{cc}
spec:
  customInstructions: |
    You help team {i}. Prefer the standard library.
    Explain trade-offs briefly and cite the files you change.
  muxRules:
    - match:
        type: chat_filename
        pattern: "*.py"
      provider: openai
      model: {model}
    - match:
        type: fim_filename
        pattern: "src/**/*.ts"
      provider: local
      model: "qwen2.5-coder:1.5b"
    - match:
        type: filename_match
        pattern: "*.md"
      provider: openai
      model: gpt-4o-mini
    - match:
        type: catch_all
      provider: local
      model: "qwen2.5-coder:7b"
"""


def write_repo(root: Path, n: int) -> None:
    (root / "providers.yaml").write_text(PROVIDERS)
    ws = root / "workspaces"
    ws.mkdir()
    for i in range(n):
        (ws / f"team-{i}.yaml").write_text(WORKSPACE.format(i=i, cc=i % 17, model="gpt-4o"))


def pipeline(root: Path, cache: ParseCache, current: DesiredState | None) -> DesiredState:
    checked = check_dir(root, cache)
    if checked.state is None:
        raise SystemExit(f"generated repo is invalid: {checked.diagnostics[:3]}")
    diff(checked.state, current)
    return checked.state


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(n: int, rounds: int) -> dict[str, Any]:
    cold: list[float] = []
    warm: list[float] = []
    one: list[float] = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repo(root, n)
            cache = ParseCache()
            state: DesiredState | None = None

            def run_cold() -> None:
                nonlocal state
                state = pipeline(root, cache, None)  # noqa: B023

            cold.append(timed(run_cold))
            warm.append(timed(lambda: pipeline(root, cache, state)))  # noqa: B023 - called before the loop moves on
            edited = root / "workspaces" / f"team-{r % n}.yaml"
            edited.write_text(WORKSPACE.format(i=r % n, cc=(r % n) % 17, model="gpt-4o-mini"))
            misses = cache.misses
            one.append(timed(lambda: pipeline(root, cache, state)))  # noqa: B023
            if cache.misses - misses != 1:
                raise SystemExit(f"expected one file parsed after a one-file change, got {cache.misses - misses}")
    return {"files": n, "cold_s": _summary(cold), "warm_s": _summary(warm), "one_file_s": _summary(one)}


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def machine() -> dict[str, Any]:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def fmt(s: dict[str, float]) -> str:
    def ms(v: float) -> str:
        return f"{v * 1000:,.0f} ms" if v >= 0.1 else f"{v * 1000:.1f} ms"

    return f"{ms(s['median'])} ({ms(s['min'])}–{ms(s['max'])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    runs = [measure(n, args.rounds) for n in args.sizes]
    results = {"machine": machine(), "runs": runs}
    print(f"machine: {results['machine']}")
    print("| files | cold | unchanged (cached) | after a one-file change |")
    print("|---:|---:|---:|---:|")
    for run in runs:
        print(f"| {run['files']:,} | {fmt(run['cold_s'])} | {fmt(run['warm_s'])} | {fmt(run['one_file_s'])} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
