"""Muxgate next to the LiteLLM proxy, side by side in one run, against the same fake provider.

Starts, as separate processes on loopback: the fake provider; a bare passthrough on Muxgate's stack
(benchmarks/bare_passthrough.py, aiohttp client); `muxgate serve` with one catch-all rule; and the LiteLLM proxy
(one worker, a config.yaml whose only model is the fake provider's OpenAI API), taken from its own virtualenv,
which is created with `litellm[proxy]` from PyPI when missing. LiteLLM is never a dependency of Muxgate.

  traffic   OpenAI chat requests, JSON and streaming, at 1, 10 and 16 concurrent connections, to each target;
            the added latency is a target's p50 at 1 connection minus the direct p50.
  reload    LiteLLM's way to take a config edit: `--reload` when its CLI offers one, else a restart; the time from
            the edit to the first answer from the new model, and the failed requests of paced clients meanwhile.

Each load run has a fixed request count and a timeout. When LiteLLM cannot be installed or started, the JSON says
why and the Muxgate figures are still measured.

    python benchmarks/litellm_compare.py [--rounds 3] [--requests 2000] [--litellm-requests 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
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

from gateway_overhead import BIN, CONFIG, ROOT, process, recorded, summary
from loadgen import LoadResult, run_load
from reconcile_scale import machine
from reload import make_repo, set_model

MASTER_KEY = "sk-muxgate-bench"
MODEL = "fake-model"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello to the benchmark, please."}]}
LITELLM_MODEL = """\
  - model_name: {name}
    litellm_params:
      model: openai/{name}
      api_base: {fake}/v1
      api_key: sk-dummy
"""
LITELLM_CONFIG = """\
model_list:
{models}general_settings:
  master_key: {key}
litellm_settings:
  telemetry: false
"""
CONCURRENCY = (1, 10, 16)
LOAD_TIMEOUT = 300.0
LOGS = ROOT / ".bench" / "logs"


def litellm_env() -> dict[str, str]:
    # The local cost map keeps LiteLLM from fetching prices from the network at start.
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": MASTER_KEY}


def ensure_litellm(venv: Path, install_timeout: float) -> tuple[Path | None, str]:
    """The `litellm` executable of `venv` and its version, installing it there when missing; (None, why) if not."""
    exe = venv / "bin" / "litellm"
    python = venv / "bin" / "python"
    if not exe.exists():
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
                check=True,
                capture_output=True,
                text=True,
                timeout=install_timeout,
            )
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or "").strip().splitlines()[-3:]
            return None, f"pip could not install litellm[proxy] into {venv}: {' '.join(tail)}"
        except subprocess.TimeoutExpired:
            return None, f"installing litellm[proxy] into {venv} took longer than {install_timeout:.0f} s"
    if not exe.exists():
        return None, f"{exe} is missing after installing litellm[proxy]"
    version = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    return exe, version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def litellm_help(exe: Path) -> str:
    done = subprocess.run(
        [str(exe), "--help"], check=False, capture_output=True, text=True, timeout=120, env=litellm_env()
    )
    return done.stdout + done.stderr


class LiteLLM:
    """One LiteLLM proxy process on a free port, with its log in a file; start() waits until it answers."""

    def __init__(self, exe: Path, config: Path, log: Path, extra: list[str] | None = None) -> None:
        self.exe, self.config, self.log = exe, config, log
        self.extra = extra or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        log.parent.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 180) -> float:
        """Start the proxy; seconds until it answered a chat request."""
        cmd = [str(self.exe), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--num_workers", "1", *self.extra]
        started = time.perf_counter()
        with self.log.open("ab") as log:
            # Its --reload watches the working directory: the config's, not the repository's thousands of files.
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=litellm_env(), cwd=self.config.parent
            )
        self.wait_answering(started, timeout)
        return time.perf_counter() - started

    def wait_answering(self, started: float, timeout: float, model: str = MODEL) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers=auth()) as client:
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"LiteLLM exited with code {self.proc.returncode}; see {self.log}")
                try:
                    answer = client.post("/v1/chat/completions", json={**BODY, "model": model})
                    if answer.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"LiteLLM did not answer within {timeout:.0f} s; see {self.log}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {MASTER_KEY}"}


def write_litellm_config(path: Path, fake: str, probe: str | None = None) -> None:
    """LiteLLM answers with the requested model name whatever the upstream says, so an edit is seen live when a
    model name it adds (`probe`) is served; the benchmark model stays so the load is not disturbed by the edit."""
    models = "".join(LITELLM_MODEL.format(name=name, fake=fake) for name in (MODEL, probe) if name)
    path.write_text(LITELLM_CONFIG.format(models=models, key=MASTER_KEY))


def measure(
    base: str, stream: bool, concurrency: int, requests: int, rounds: int, litellm: bool, records: bool = False
) -> dict[str, Any]:
    """Rounds against `base`; with `records` (a Muxgate gateway) each round includes writing what it recorded."""
    body = json.dumps({**BODY, "stream": stream}).encode()
    headers = auth() if litellm else None
    results: list[LoadResult] = []
    for _ in range(rounds):
        load = run_load(
            base + "/v1/chat/completions", body, concurrency=concurrency, requests=requests, headers=headers, warmup=20
        )
        result = asyncio.run(asyncio.wait_for(load, LOAD_TIMEOUT))
        results.append(recorded(base, result) if records else result)
    return {
        "requests": requests,
        "rps": summary([r.rps for r in results]),
        "p50_ms": summary([r.p50 * 1000 for r in results]),
        "p99_ms": summary([r.percentile(0.99) * 1000 for r in results]),
        "errors": sum(r.errors for r in results),
    }


async def paced_clients(
    url: str, clients: int, pause: float, stop: asyncio.Event, headers: dict[str, str] | None
) -> dict[str, int]:
    """Clients that each send a request, wait for its answer and pause, until `stop`; failures counted."""
    counts = {"requests": 0, "failed": 0}

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            counts["requests"] += 1
            try:
                answer = await client.post("/v1/chat/completions", json=BODY)
                if answer.status_code != 200:
                    counts["failed"] += 1
            except httpx.HTTPError:
                counts["failed"] += 1
            await asyncio.sleep(pause)

    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    return counts


def litellm_reload(
    exe: Path, tmp: Path, fake: str, edits: int, clients: int, pause: float, help_text: str
) -> dict[str, Any]:
    """Edit-to-live and failed requests for LiteLLM: with --reload if it has one, else by restarting."""
    has_reload = "--reload" in help_text
    (tmp / "litellm-reload").mkdir()
    config = tmp / "litellm-reload" / "config.yaml"
    write_litellm_config(config, fake)
    proxy = LiteLLM(exe, config, LOGS / "litellm-reload.log", ["--reload"] if has_reload else [])
    times: list[float] = []
    counts = {"requests": 0, "failed": 0}
    try:
        proxy.start()

        async def one_edit(i: int) -> float:
            stop = asyncio.Event()
            load = asyncio.create_task(paced_clients(proxy.url, clients, pause, stop, auth()))
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            write_litellm_config(config, fake, f"probe-{i}")
            if not has_reload:
                # The same port again, so the clients find the new process.
                await asyncio.to_thread(proxy.stop)
                await asyncio.to_thread(proxy.start)
            await asyncio.to_thread(proxy.wait_answering, started, 120, f"probe-{i}")
            elapsed = time.perf_counter() - started
            await asyncio.sleep(0.5)
            stop.set()
            got = await load
            counts["requests"] += got["requests"]
            counts["failed"] += got["failed"]
            return elapsed

        for i in range(1, edits + 1):
            times.append(asyncio.run(asyncio.wait_for(one_edit(i), 300)))
    finally:
        proxy.stop()
    return {
        "method": "--reload" if has_reload else "restart (the installed CLI has no --reload)",
        "has_reload_option": has_reload,
        "edits": edits,
        "edit_to_live_s": summary(times),
        "clients": clients,
        "pause_s": pause,
        **counts,
    }


def muxgate_paced_reload(tmp: Path, fake: str, edits: int, clients: int, pause: float) -> dict[str, Any]:
    """The same paced clients against `muxgate serve` while its watched config is edited, for a like comparison."""
    root = tmp / "mux-reload"
    make_repo(root, fake, workspaces=0)
    serve = [str(BIN / "muxgate"), "serve", str(root), "--port", "0", "--data-dir", str(tmp / "mux-reload-data")]
    times: list[float] = []
    counts = {"requests": 0, "failed": 0}
    with process([*serve, "--log-level", "warning"], "Muxgate serving") as url:

        async def one_edit(i: int) -> float:
            stop = asyncio.Event()
            load = asyncio.create_task(paced_clients(url, clients, pause, stop, None))
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            set_model(root, f"model-{i}")
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                while True:
                    answer = await client.post("/v1/chat/completions", json=BODY)
                    if answer.status_code == 200 and answer.json().get("model") == f"model-{i}":
                        break
                    if time.perf_counter() - started > 30:
                        raise RuntimeError(f"Edit {i} was not live after 30 s; is the watcher running?")
                    await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            await asyncio.sleep(0.5)
            stop.set()
            got = await load
            counts["requests"] += got["requests"]
            counts["failed"] += got["failed"]
            return elapsed

        # Unmeasured first edit: the watch may not be in place yet.
        asyncio.run(asyncio.wait_for(one_edit(0), 60))
        counts = {"requests": 0, "failed": 0}
        for i in range(1, edits + 1):
            times.append(asyncio.run(asyncio.wait_for(one_edit(i), 60)))
    return {"edits": edits, "edit_to_live_s": summary(times), "clients": clients, "pause_s": pause, **counts}


@contextmanager
def litellm_serving(exe: Path, tmp: Path, fake: str) -> Iterator[tuple[str, float]]:
    (tmp / "litellm").mkdir()
    config = tmp / "litellm" / "config.yaml"
    write_litellm_config(config, fake)
    proxy = LiteLLM(exe, config, LOGS / "litellm.log")
    try:
        yield proxy.url, proxy.start()
    finally:
        proxy.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round to direct, bare, Muxgate")
    parser.add_argument("--litellm-requests", type=int, default=500, help="requests per round to LiteLLM")
    parser.add_argument("--reload-edits", type=int, default=3)
    parser.add_argument("--reload-clients", type=int, default=4)
    parser.add_argument("--reload-pause", type=float, default=0.05, help="seconds each paced client waits")
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench" / "litellm-venv")
    parser.add_argument("--install-timeout", type=float, default=900)
    parser.add_argument("--only", choices=("traffic", "reload"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "rounds": args.rounds}
    exe, version = ensure_litellm(args.venv, args.install_timeout)
    report["litellm"] = {"available": exe is not None, "version": version if exe else None}
    if exe is None:
        report["litellm"]["why_not"] = version
        print(f"LiteLLM is not measured: {version}", flush=True)
    with (
        tempfile.TemporaryDirectory() as name,
        process([sys.executable, "-m", "proxy.testing.fake_provider", "--port", "0"], "http://") as fake,
    ):
        tmp = Path(name)
        config = tmp / "config"
        config.mkdir()
        (config / "muxgate.yaml").write_text(CONFIG.format(url=fake))
        serve = [str(BIN / "muxgate"), "serve", str(config), "--port", "0", "--data-dir", str(tmp / "data")]
        bare_cmd = [sys.executable, "benchmarks/bare_passthrough.py", "--upstream", fake, "--transport", "aiohttp"]
        runs: list[dict[str, Any]] = []
        if args.only in (None, "traffic"):
            with (
                process(bare_cmd, "http://") as bare,
                process([*serve, "--transport", "aiohttp", "--log-level", "warning"], "Muxgate serving") as mux,
            ):
                targets = {"direct": fake, "bare passthrough": bare, "muxgate": mux}
                for target, base in targets.items():
                    runs += traffic(target, base, args.requests, args.rounds, litellm=False)
            if exe is not None:
                try:
                    with litellm_serving(exe, tmp, fake) as (url, start_s):
                        report["litellm"]["start_s"] = start_s
                        runs += traffic("litellm", url, args.litellm_requests, args.rounds, litellm=True)
                except (RuntimeError, TimeoutError) as exc:
                    report["litellm"]["why_not"] = f"LiteLLM did not serve: {exc}"
                    print(report["litellm"]["why_not"], flush=True)
        report["runs"] = runs
        if args.only in (None, "reload"):
            pace = (args.reload_edits, args.reload_clients, args.reload_pause)
            report["muxgate_reload"] = muxgate_paced_reload(tmp, fake, *pace)
            print(f"muxgate reload: {report['muxgate_reload']}", flush=True)
            if exe is not None and "why_not" not in report["litellm"]:
                try:
                    report["litellm_reload"] = litellm_reload(exe, tmp, fake, *pace, litellm_help(exe))
                    print(f"litellm reload: {report['litellm_reload']}", flush=True)
                except (RuntimeError, TimeoutError) as exc:
                    report["litellm_reload"] = {"why_not": f"LiteLLM's reload could not be measured: {exc}"}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


def traffic(name: str, base: str, requests: int, rounds: int, *, litellm: bool) -> list[dict[str, Any]]:
    runs = []
    for stream in (False, True):
        for concurrency in CONCURRENCY:
            # One connection is about latency: fewer requests give a stable median and keep the run short.
            count = max(50, requests // 4) if concurrency == 1 else requests
            result = measure(base, stream, concurrency, count, rounds, litellm, records=name == "muxgate")
            runs.append({"target": name, "stream": stream, "concurrency": concurrency, **result})
            print(
                f"{name:20} stream={stream!s:5} c={concurrency:<3} rps={result['rps']['median']:8.0f} "
                f"p50={result['p50_ms']['median']:7.2f} ms errors={result['errors']}",
                flush=True,
            )
    return runs


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
