"""`muxgate serve` as a real process: its start-up line, requests routed to a fake provider, a graceful stop on
SIGTERM, refusal of an invalid config directory, and where its settings come from."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import Behaviour, FakeProvider
from tests.support.processes import MUXGATE, Process, clean_env

# What the other serve tests import from here.
__all__ = ["CONFIG", "Server", "clean_env", "run_muxgate"]

URL_LINE = re.compile(
    r"^Muxgate serving (?P<dir>.+) \(revision (?P<revision>.+), "
    r"(?P<workspaces>\d+) workspaces(?: and (?P<archived>\d+) archived)?, "
    r"(?P<providers>\d+) providers\) on (?P<url>http://127\.0\.0\.1:(?P<port>\d+))$"
)
CONFIG = {
    "workspaces": {
        "default": {
            "customInstructions": "Be brief.",
            "muxRules": [{"match": {"type": "catch_all"}, "provider": "anthropic", "model": "claude-served"}],
        }
    }
}
INVALID_WORKSPACE = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  muxRules:
    - match: {type: catch_all}
      provider: opnai
      model: gpt-4o
"""


class Server(Process):
    """A `muxgate serve` process."""

    def __init__(self, args: list[str], env: Mapping[str, str], *, new_session: bool = False) -> None:
        super().__init__([MUXGATE, "serve", *args], env, new_session=new_session)

    def url_line(self, timeout: float = 30) -> re.Match[str]:
        """The start-up line naming the URL; fails with the process's output if it never comes."""
        return self.wait_for_line(URL_LINE, timeout)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """`serve(*args, **env)` starts `muxgate serve ARGS` with MUXGATE_* variables from `env` only."""
    started: list[Server] = []

    def start(*args: str, **env: str) -> Server:
        server = Server(list(args), clean_env(**env))
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def run_muxgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MUXGATE, *args], capture_output=True, text=True, timeout=30, env=clean_env(**env), check=False
    )


def test_serve_prints_its_url_answers_and_stops_on_sigterm(
    serve: Callable[..., Server],
    config_dir: Callable[[Any], Path],
    fake: FakeProvider,
    provider_keys: dict[str, str],
    tmp_path: Path,
) -> None:
    directory = config_dir(CONFIG)
    server = serve(str(directory), "--port", "0", "--data-dir", str(tmp_path / "data"))
    line = server.url_line()
    assert line["dir"] == str(directory)
    assert line["revision"] == "not in git"
    assert (line["workspaces"], line["providers"]) == ("1", "3")
    assert line["port"] != "0"
    url = line["url"]
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/health").json() == {"status": "healthy"}
        response = client.post(
            "/v1/chat/completions",
            json={"model": "any", "messages": [{"role": "user", "content": "hello gateway"}]},
            headers={"authorization": "Bearer client-key"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "echo: hello gateway"
        [received] = fake.requests
        assert (received.path, received.model) == ("/v1/messages", "claude-served")
        assert received.json["system"] == "Be brief."
        assert received.api_key == provider_keys["anthropic"]

        # Requests on a kept-alive connection are not held back by delayed ACKs (40 ms each when the listening
        # socket does not say it is TCP, so asyncio leaves Nagle's algorithm on).
        started = time.monotonic()
        for _ in range(30):
            assert client.get("/health").status_code == 200
        assert time.monotonic() - started < 0.9

    # uvicorn shuts down gracefully, then ends the process with the signal it received.
    assert server.stop() == -signal.SIGTERM
    assert "Traceback" not in server.output()


def test_the_start_up_line_counts_archived_workspaces_apart(
    serve: Callable[..., Server], config_dir: Callable[[Any], Path], provider_keys: dict[str, str], tmp_path: Path
) -> None:
    directory = config_dir({"workspaces": {**CONFIG["workspaces"], "paused": {"archived": True}}})
    server = serve(str(directory), "--port", "0", "--data-dir", str(tmp_path / "data"))
    line = server.url_line()
    assert (line["workspaces"], line["archived"]) == ("1", "1")
    server.stop()


def test_sigterm_lets_a_stream_in_flight_finish(
    serve: Callable[..., Server],
    config_dir: Callable[[Any], Path],
    fake: FakeProvider,
    provider_keys: dict[str, str],
    tmp_path: Path,
) -> None:
    server = serve(str(config_dir(CONFIG)), "--port", "0", "--data-dir", str(tmp_path / "data"))
    url = server.url_line()["url"]
    fake.behaviour = Behaviour(chunks=6, chunk_delay=0.1)
    body = {"model": "any", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True}
    with (
        httpx.Client(base_url=url, timeout=10) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        server.process.send_signal(signal.SIGTERM)
        rest = list(lines)
    assert [line for line in rest if line][-1] == "data: [DONE]"
    assert fake.requests[0].chunks_written == 6
    assert server.stop() == -signal.SIGTERM


def test_an_invalid_directory_exits_1_with_file_and_line(tmp_path: Path) -> None:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "workspaces.yaml").write_text(INVALID_WORKSPACE)
    done = run_muxgate("serve", str(directory), "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    assert "Error: unknown provider in mux rule" in done.stdout
    assert "on workspaces.yaml line 7, column 17, in spec.muxRules[0].provider:" in done.stdout
    assert 'No provider named "opnai" is declared.' in done.stdout
    assert done.stderr.strip().endswith(f"muxgate: {directory} is invalid (1 error); nothing was served.")
    assert "Traceback" not in done.stdout + done.stderr


def test_a_missing_directory_exits_1_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = run_muxgate("serve", str(missing), "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    assert f"{missing} does not exist." in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_the_port_flag_wins_over_muxgate_port(
    serve: Callable[..., Server], config_dir: Callable[[Any], Path], provider_keys: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = str(taken.getsockname()[1])
        server = serve(
            str(config_dir(CONFIG)), "--port", "0", MUXGATE_PORT=taken_port, MUXGATE_DATA_DIR=str(tmp_path / "d")
        )
        line = server.url_line()
    assert line["port"] != taken_port
    assert httpx.get(line["url"] + "/health", timeout=10).status_code == 200
    assert server.stop() == -signal.SIGTERM


def test_environment_variables_are_used_when_no_flag_is_given(
    serve: Callable[..., Server], config_dir: Callable[[Any], Path], provider_keys: dict[str, str], tmp_path: Path
) -> None:
    directory = config_dir(CONFIG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = str(probe.getsockname()[1])
    server = serve(MUXGATE_CONFIG_DIR=str(directory), MUXGATE_PORT=free_port, MUXGATE_DATA_DIR=str(tmp_path / "d"))
    line = server.url_line()
    assert (line["dir"], line["port"]) == (str(directory), free_port)
    assert server.stop() == -signal.SIGTERM


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "-1"], {}, "muxgate: invalid setting port (--port): Input should be greater than or equal to 0."),
        ([], {"MUXGATE_PORT": "eighty"}, "muxgate: invalid setting port (MUXGATE_PORT): Input should be a valid"),
        ([], {"MUXGATE_TRANSPORT": "curl"}, "muxgate: invalid setting transport (MUXGATE_TRANSPORT): Input should be"),
    ],
)
def test_an_invalid_setting_exits_1_naming_its_source(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = run_muxgate("serve", str(tmp_path), *args, **env)
    assert done.returncode == 1
    assert done.stderr.startswith(message)
    assert "Traceback" not in done.stdout + done.stderr


def test_a_valid_flag_overrides_an_invalid_environment_value(
    serve: Callable[..., Server], config_dir: Callable[[Any], Path], provider_keys: dict[str, str], tmp_path: Path
) -> None:
    server = serve(str(config_dir(CONFIG)), "--port", "0", MUXGATE_PORT="eighty", MUXGATE_DATA_DIR=str(tmp_path))
    assert server.url_line()["port"] != "0"
    assert server.stop() == -signal.SIGTERM
