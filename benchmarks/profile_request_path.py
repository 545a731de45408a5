"""Where a request's time goes inside `muxgate serve`: py-spy samples the running gateway under load.

Starts the fake provider and `muxgate serve` (the config of benchmarks/gateway_overhead.py), sends OpenAI chat
requests (JSON and streaming alternately, 16 connections) for a bounded time, and records the gateway twice with
py-spy: once as a flame graph (SVG) and once as raw collapsed stacks, which are summed here into the biggest costs
by self time, each marked as Muxgate's own code or a library's. py-spy comes from --py-spy (pip install py-spy).

    python benchmarks/profile_request_path.py [--seconds 15] [--svg docs/profile-request-path.svg] [--json out.json]
                                              [--raw stacks.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_overhead import BIN, BODY, CONFIG, ROOT
from loadgen import run_load

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
OWN_PACKAGES = ("proxy", "reconciler")


def component(path: str) -> str:
    """The package a frame's file belongs to ('proxy', 'litestar', 'stdlib asyncio', …); py-spy shortens each
    path to the part below its sys.path entry."""
    top = path.split("/", 1)[0].removesuffix(".py") if path else "interpreter"
    return f"stdlib {top}" if top in sys.stdlib_module_names else top


def summarise(raw: str) -> dict[str, Any]:
    """Self time by function and by package, and own code's inclusive share, from py-spy's raw format."""
    total = 0
    by_function: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    within: dict[str, Counter[str]] = {}
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = FRAME.match(frames[-1])
        func, path = (leaf["func"], leaf["file"]) if leaf else (frames[-1], "")
        by_function[f"{func} ({path})"] += count
        by_component[component(path)] += count
        within.setdefault(component(path), Counter())[f"{func} ({path})"] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"name": name, "percent": 100 * n / total, "ours": name in OWN_PACKAGES or _own(name)}
            for name, n in counter.most_common(12)
        ]

    return {
        "samples": total,
        "by_component": [{**row, "functions": share(within[row["name"]])[:3]} for row in share(by_component)],
        "by_function": share(by_function),
        "own_code_self_percent": 100 * sum(by_component[own] for own in OWN_PACKAGES) / total if total else 0.0,
        "own_functions": [
            {"name": name, "percent": 100 * n / total}
            for name, n in by_function.most_common()
            if _own(name) and 100 * n / total >= 0.2
        ],
    }


def _own(name: str) -> bool:
    return any(f"({own}/" in name for own in OWN_PACKAGES)


def record(py_spy: str, pid: int, seconds: int, out: Path, fmt: str, rate: int) -> None:
    cmd = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate)]
    cmd += ["--format", fmt, "--output", str(out), "--nonblocking"]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy could not record pid {pid}: {done.stderr.strip()[-300:]}")


def load_until(url: str, stop: threading.Event) -> int:
    """Keep the gateway busy until `stop`, in batches of a fixed size so each run is bounded."""
    sent = 0
    while not stop.is_set():
        for stream in (False, True):
            body = json.dumps({**BODY, "stream": stream}).encode()
            load = run_load(url + "/v1/chat/completions", body, concurrency=16, requests=500, warmup=0)
            sent += asyncio.run(asyncio.wait_for(load, 120)).requests
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15, help="length of each recording")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "profile-request-path.svg")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or str(BIN / "py-spy"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--raw", type=Path, help="also keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    report: dict[str, Any] = {"seconds": args.seconds, "rate": args.rate, "tool": "py-spy"}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        fake_proc = subprocess.Popen(
            [sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        serve: subprocess.Popen[str] | None = None
        stop = threading.Event()
        try:
            assert fake_proc.stdout is not None
            fake = fake_proc.stdout.readline().strip()
            config = tmp / "config"
            config.mkdir()
            (config / "muxgate.yaml").write_text(CONFIG.format(url=fake))
            cmd = [str(BIN / "muxgate"), "serve", str(config), "--port", "0", "--data-dir", str(tmp / "data")]
            serve = subprocess.Popen(
                [*cmd, "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            assert serve.stdout is not None
            url = next(line for line in serve.stdout if "Muxgate serving" in line).strip().split()[-1]
            sent: list[int] = []
            loader = threading.Thread(target=lambda: sent.append(load_until(url, stop)), daemon=True)
            loader.start()
            args.svg.parent.mkdir(parents=True, exist_ok=True)
            record(args.py_spy, serve.pid, args.seconds, args.svg, "flamegraph", args.rate)
            raw = tmp / "profile.txt"
            record(args.py_spy, serve.pid, args.seconds, raw, "raw", args.rate)
            stop.set()
            loader.join(timeout=150)
            report |= summarise(raw.read_text())
            if args.raw:
                args.raw.write_text(raw.read_text())
            report["requests"] = sent[0] if sent else None
            report["svg"] = str(args.svg.relative_to(ROOT)) if args.svg.is_relative_to(ROOT) else str(args.svg)
        except RuntimeError as exc:
            report["why_not"] = str(exc)
            print(exc, flush=True)
        finally:
            stop.set()
            for proc in (serve, fake_proc):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    for row in report.get("by_component", [])[:6]:
        print(f"{row['percent']:5.1f} %  {row['name']}{'  (ours)' if row['ours'] else ''}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
