"""`muxgate serve DIR` as a real process following its directory: an edit goes live, a broken commit is refused and
reported, and a restart with a broken directory serves the last good config from the data dir (and says so)."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.testing.fake_provider import FakeProvider
from tests.support.configs import UNKNOWN_PROVIDER, provider_yaml, workspace_yaml
from tests.support.gitrepo import commit_files, isolate_git, make_git_repo, short_revision
from tests.support.processes import MUXGATE, Process, clean_env

URL = re.compile(r"^Muxgate serving .* on (?P<url>http://127\.0\.0\.1:\d+)$")


class Served(Process):
    """A `muxgate serve` process."""

    def __init__(self, args: list[str]) -> None:
        super().__init__([MUXGATE, "serve", *args], clean_env())

    def url(self, timeout: float = 30) -> str:
        return self.wait_for_line(URL, timeout)["url"]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    """`serve(DIR)` starts `muxgate serve DIR` on a free port with a data dir in tmp_path."""
    started: list[Served] = []

    def start(directory: Path) -> Served:
        server = Served([str(directory), "--port", "0", "--data-dir", str(tmp_path / "data")])
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def repo(tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The gateway process inherits git's fixed configuration and identity from this one.
    isolate_git(monkeypatch)
    files = {"providers.yaml": provider_yaml(fake.url), "default.yaml": workspace_yaml("default", "fake-model")}
    return make_git_repo(tmp_path / "config", [files])


@pytest.fixture
def commit(repo: Path) -> Callable[[Mapping[str, str]], str]:
    def run(files: Mapping[str, str]) -> str:
        commit_files(repo, files)
        return short_revision(repo)

    return run


def status_until(
    http: httpx.Client, url: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15
) -> dict[str, Any]:
    """Poll the status endpoint until `predicate` holds; fail with the last status after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = http.get(f"{url}/api/v1/reconcile/status").json()
        if predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"The status did not reach the expected state in {timeout} s: {status}")
        time.sleep(0.02)


def chat_model(http: httpx.Client, url: str, fake: FakeProvider) -> str | None:
    body = {"model": "any", "messages": [{"role": "user", "content": "hello"}]}
    response = http.post(f"{url}/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return fake.requests[-1].model


def test_commits_go_live_and_a_broken_one_is_refused_with_its_location(
    repo: Path,
    commit: Callable[[Mapping[str, str]], str],
    serve: Callable[[Path], Served],
    fake: FakeProvider,
    http: httpx.Client,
) -> None:
    server = serve(repo)
    url = server.url()
    assert chat_model(http, url, fake) == "fake-model"

    second = commit({"default.yaml": workspace_yaml("default", "fake-model-large")})
    status_until(http, url, lambda s: s["revision"] == second and s["ready"])
    assert chat_model(http, url, fake) == "fake-model-large"

    broken = commit({"default.yaml": UNKNOWN_PROVIDER})
    status = status_until(http, url, lambda s: s["lastAttemptedRevision"] == broken and s["reason"] != "Progressing")
    assert (status["ready"], status["reason"], status["revision"]) == (False, "ValidationFailed", second)
    assert [(d["file"], d["line"], d["column"]) for d in status["diagnostics"]] == [("default.yaml", 7, 17)]
    assert chat_model(http, url, fake) == "fake-model-large"

    assert server.stop() == -signal.SIGTERM
    assert "default.yaml:7:17: unknown provider in mux rule." in server.output()
    # The edit may be seen just before git records it, as the previous commit plus "-dirty".
    assert re.search(
        r"applied revision [0-9a-f]{12}(-dirty \(state \w+\))?: 0 added, 1 changed, 0 archived", server.output()
    )
    assert "Traceback" not in server.output()


def test_a_restart_with_a_broken_directory_serves_the_last_good_config_and_says_so(
    repo: Path,
    commit: Callable[[Mapping[str, str]], str],
    serve: Callable[[Path], Served],
    fake: FakeProvider,
    http: httpx.Client,
) -> None:
    good = short_revision(repo)
    first = serve(repo)
    first.url()
    assert first.stop() == -signal.SIGTERM

    broken = commit({"default.yaml": UNKNOWN_PROVIDER})
    second = serve(repo)
    url = second.url()
    out = second.output()
    assert "on default.yaml line 7, column 17, in spec.muxRules[0].provider:" in out
    assert f"is invalid (1 error); serving the last good revision {good}, applied at " in "".join(second.stderr)
    status = status_until(http, url, lambda s: s["reason"] != "Progressing")
    assert (status["ready"], status["reason"]) == (False, "ValidationFailed")
    assert (status["revision"], status["lastAttemptedRevision"]) == (good, broken)
    assert f"serving the last good revision {good}" in status["message"]
    assert chat_model(http, url, fake) == "fake-model"

    fixed = commit({"default.yaml": workspace_yaml("default", "fake-model-large")})
    status_until(http, url, lambda s: s["revision"] == fixed and s["ready"])
    assert chat_model(http, url, fake) == "fake-model-large"


def test_a_state_saved_for_another_directory_is_not_served(
    repo: Path, tmp_path: Path, serve: Callable[[Path], Served], http: httpx.Client
) -> None:
    first = serve(repo)
    first.url()
    assert first.stop() == -signal.SIGTERM

    other = tmp_path / "other"
    other.mkdir()
    (other / "default.yaml").write_text(UNKNOWN_PROVIDER)
    second = serve(other)
    assert second.process.wait(30) == 1
    assert f"came from {repo.resolve()}, not {other.resolve()}; it is not used" in second.output()
    assert f"muxgate: {other} is invalid (1 error); nothing was served." in "".join(second.stderr)
