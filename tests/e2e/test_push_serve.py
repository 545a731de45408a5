"""Push mode between real processes: `muxgate serve` with MUXGATE_WATCH=false, and the `reconcile` console script
applying another directory to it; the pushed config survives a restart."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import FakeProvider
from tests.e2e.test_serve_cli import CONFIG, Server
from tests.support.processes import clean_env

RECONCILE = str(Path(sys.executable).parent / "reconcile")
TOKEN = "e2e-push-token"


def routed_to(model: str) -> dict[str, Any]:
    rule = {"match": {"type": "catch_all"}, "provider": "anthropic", "model": model}
    return {"workspaces": {"default": {**CONFIG["workspaces"]["default"], "muxRules": [rule]}}}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Server]]:
    """`serve(DIR)`: `muxgate serve DIR` taking pushes, with the admin token set and one data dir per test."""
    started: list[Server] = []

    def start(directory: Path) -> Server:
        args = [str(directory), "--port", "0", "--data-dir", str(tmp_path / "data")]
        server = Server(args, clean_env(MUXGATE_WATCH="false", MUXGATE_ADMIN_TOKEN=TOKEN))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        server.close()


def model_of_a_request(url: str, fake: FakeProvider) -> str | None:
    body = {"model": "any", "messages": [{"role": "user", "content": "hello"}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}, timeout=10)
    assert response.status_code == 200, response.text
    return fake.requests[-1].model


def test_a_pushed_directory_is_served_and_survives_a_restart(
    serve: Callable[[Path], Server],
    config_dir: Callable[[Any], Path],
    fake: FakeProvider,
    provider_keys: dict[str, str],
) -> None:
    served, pushed = config_dir(routed_to("claude-served")), config_dir(routed_to("claude-pushed"))
    first = serve(served)
    url = first.url_line()["url"]
    assert model_of_a_request(url, fake) == "claude-served"

    done = subprocess.run(
        [RECONCILE, str(pushed), "--server", url],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(MUXGATE_ADMIN_TOKEN=TOKEN),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1].endswith(": 0 added, 1 changed, 0 archived.")
    assert TOKEN not in done.stdout + done.stderr
    assert model_of_a_request(url, fake) == "claude-pushed"
    first.stop()

    again = serve(served)
    url = again.url_line()["url"]
    assert model_of_a_request(url, fake) == "claude-pushed"
    again.stop()  # and the output read to its end
    assert any(line.startswith("muxgate: serving the last pushed state ") for line in again.stderr)
