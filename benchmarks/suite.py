"""Every benchmark of the project in one run: what `benchmarks/run` calls.

Runs each benchmark script as a child in its own process group with a time limit, each writing its results as
JSON into .bench/results/MODE/, then renders docs/benchmarks.md from them (benchmarks/render.py). A step that
fails or runs out of time is stopped with everything it started (the whole group) and named in the document; the
others still run. Ctrl-C stops the running step the same way.

    python benchmarks/suite.py [--quick] [--only NAME ...] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reconcile_scale import machine
from render import render

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
TOOLS_VENV = BENCH / "litellm-venv"
STACK = (
    "litestar",
    "uvicorn",
    "httptools",
    "uvloop",
    "aiohttp",
    "httpx",
    "httpx-aiohttp",
    "duckdb",
    "ruamel.yaml",
    "pydantic",
    "watchfiles",
)


@dataclass(frozen=True)
class Step:
    name: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout: float  # seconds, full mode; quick mode gets half


STEPS = (
    Step("litellm_compare", (), ("--rounds", "1", "--requests", "300", "--litellm-requests", "100",
                                 "--reload-edits", "1"), 1200),
    # Rounds of a few seconds: a Muxgate round ends when what it recorded is written, which a short round
    # would weigh as if the gateway stood still meanwhile rather than writing alongside serving. Five of them:
    # one round of a target differed from the next by 10 % or more in RPS on this machine, and a median of three
    # moved the ratios by several points from run to run.
    Step("gateway_overhead", ("--rounds", "5", "--requests", "6000"), ("--rounds", "1", "--requests", "300"), 900),
    Step("reload", ("--edits", "30", "--reloads", "30"), ("--edits", "5", "--reloads", "5", "--workspaces", "5"), 300),
    Step("profile_request_path", ("--seconds", "15"), ("--seconds", "4"), 240),
    Step("reconcile_scale", ("--sizes", "1000", "10000", "--rounds", "3"), ("--sizes", "200", "--rounds", "2"), 420),
    # Recording's cost is a few percent of RPS: with 3 rounds the machine's noise was as large as the cost, and
    # rounds of a second overstated it (the writing counted into each round stands alone at its end).
    Step("analytics", ("--rounds", "6", "--requests", "15000", "--rows", "10000000"),
         ("--rounds", "1", "--requests", "300", "--rows", "200000", "--checkpoint-requests", "30000"), 900),
    Step("secret_scan", ("--rounds", "30"), ("--rounds", "5", "--corpus-mb", "1"), 240),
)  # fmt: skip


def packages() -> dict[str, str]:
    versions = {}
    for name in STACK:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def ensure_py_spy(log: Path) -> Path | None:
    """py-spy from the benchmark tools' virtualenv, installed there from PyPI when missing."""
    exe = TOOLS_VENV / "bin" / "py-spy"
    if exe.exists():
        return exe
    with log.open("a") as out:
        if not (TOOLS_VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=False, stdout=out, stderr=out)
        subprocess.run(
            [str(TOOLS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "py-spy"],
            check=False,
            stdout=out,
            stderr=out,
            timeout=600,
        )
    return exe if exe.exists() else None


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a step and every process it started: they share its process group."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            # The leader is gone; children it left behind still get the next signal.
        except subprocess.TimeoutExpired:
            continue


def run_step(step: Step, quick: bool, results: Path, extra: list[str]) -> dict[str, Any]:
    out = results / f"{step.name}.json"
    out.unlink(missing_ok=True)
    log = results / f"{step.name}.log"
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"{step.name}.py"), *(step.quick if quick else step.full)]
    cmd += [*extra, "--json", str(out)]
    timeout = step.timeout / 2 if quick else step.timeout
    print(f"\n== {step.name} (at most {timeout / 60:.0f} min): {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    with log.open("wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # fmt: skip
        assert proc.stdout is not None
        outcome, detail = "ok", ""
        try:
            deadline = started + timeout
            os.set_blocking(proc.stdout.fileno(), False)
            while True:
                chunk = proc.stdout.read()
                if chunk:
                    log_file.write(chunk)
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                elif proc.poll() is not None:
                    break
                if time.perf_counter() > deadline:
                    outcome, detail = "timed out", f"Stopped at its {timeout:.0f} s limit."
                    break
                time.sleep(0.2)
        finally:
            stop_group(proc)
    if outcome == "ok" and (proc.returncode != 0 or not out.exists()):
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        outcome, detail = "failed", f"Exit code {proc.returncode}: {tail[0][:300]} (log: {log.relative_to(ROOT)})"
    seconds = time.perf_counter() - started
    print(f"== {step.name}: {outcome} in {seconds:.0f} s", flush=True)
    return {"name": step.name, "outcome": outcome, "seconds": seconds, "detail": detail}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # Ctrl-C and SIGTERM stop the running step and its processes; SIGINT too when started in the background,
    # where the shell hands it down ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests: a smoke run")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STEPS])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    results = BENCH / "results" / mode
    results.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    suite: dict[str, Any] = {
        "mode": mode,
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "packages": packages(),
        "steps": [],
    }
    interrupted = False
    try:
        for step in STEPS:
            if args.only and step.name not in args.only:
                continue
            extra: list[str] = []
            if step.name == "profile_request_path":
                py_spy = ensure_py_spy(results / "py-spy-install.log")
                extra = ["--py-spy", str(py_spy)] if py_spy else ["--py-spy", "py-spy-could-not-be-installed"]
            suite["steps"].append(run_step(step, args.quick, results, extra))
    except KeyboardInterrupt:
        interrupted = True
        print("\nInterrupted: the running step and what it started were stopped.", flush=True)
    suite["seconds"] = time.perf_counter() - started
    litellm = results / "litellm_compare.json"
    if litellm.exists():
        version = json.loads(litellm.read_text())["litellm"].get("version")
        suite["packages"]["litellm (comparison only)"] = version or "not installed"
    (results / "suite.json").write_text(json.dumps(suite, indent=2) + "\n")
    if interrupted:
        raise SystemExit(130)
    args.out.write_text(render(results))
    print(f"\nWrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"in {suite['seconds'] / 60:.1f} minutes.")  # fmt: skip


if __name__ == "__main__":
    main()
