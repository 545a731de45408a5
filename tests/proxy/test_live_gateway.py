"""Live reconcile through a real gateway: `muxgate serve`'s wiring (bootstrap, create_app with the reconciler, the
watcher in the app's lifespan) served by uvicorn in a thread, a config directory on disk or in a real git
repository, and the fake provider recording which model each request was routed to.

    test ── writes / commits ──▶ DIR ◀── watchfiles ── LiveReconciler ── swaps ──▶ gateway.registry
      └────────────── HTTP ─────────────────────────────▶ gateway (uvicorn thread) ──▶ FakeProvider

Tests wait for the reconciler's status (`live.wait_for`), never for a fixed time.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.analytics.sql_safety import check_query
from proxy.app import create_app
from proxy.gateway import Gateway
from proxy.live import LiveReconciler, Reason, ReconcileStatus
from proxy.live.loop import Applied
from proxy.registry import Registry, build_registry
from proxy.settings import Settings
from proxy.testing.fake_provider import FakeProvider
from reconciler.state import DesiredState
from tests.support.configs import UNKNOWN_PROVIDER, provider_yaml, workspace_yaml
from tests.support.gitrepo import commit_files, git, isolate_git, make_git_repo, short_revision, write_files
from tests.support.servers import ThreadedServer

Files = Mapping[str, str | None]


class LiveServer(ThreadedServer):
    """What `muxgate serve DIR` runs, in this process: bootstrap, create_app(live=...), uvicorn in a thread."""

    def __init__(self, settings: Settings, build: Callable[..., Registry]) -> None:
        self.live = LiveReconciler(settings, build=build, poll_interval=0.1)
        startup = self.live.bootstrap()
        assert startup.registry is not None, startup.notice
        self.app = create_app(settings, startup.registry, live=self.live)
        self.gateway: Gateway = self.app.state.gateway
        super().__init__(self.app)

    def start(self) -> None:
        super().start()
        if self.live.watch_enabled:
            assert self.live.watcher.ready.wait(10), "The watcher did not start."

    def wait(self, predicate: Callable[[ReconcileStatus], bool]) -> ReconcileStatus:
        return self.live.wait_for(predicate, timeout=15)

    def chat(self, http: httpx.Client, workspace: str | None = None) -> httpx.Response:
        headers = {"x-muxgate-workspace": workspace} if workspace else {}
        body = {"model": "any", "messages": [{"role": "user", "content": "hello"}]}
        return http.post(f"{self.url}/v1/chat/completions", json=body, headers=headers)


@pytest.fixture
def serve_live(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """`serve_live(DIR, build=..., **settings)` starts a gateway following DIR, with a data dir in tmp_path."""
    servers: list[LiveServer] = []

    def start(directory: Path, build: Callable[..., Registry] = build_registry, **settings: Any) -> LiveServer:
        options = {"config_dir": directory, "data_dir": tmp_path / "data", "port": 0, **settings}
        server = LiveServer(Settings(**options), build)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def config(tmp_path: Path, fake: FakeProvider) -> Path:
    """A config directory (not in git): the fake provider, `default` routing to fake-model, `team` to team-model."""
    root = tmp_path / "config"
    write_files(
        root,
        {
            "providers.yaml": provider_yaml(fake.url),
            "default.yaml": workspace_yaml("default", "fake-model"),
            "team.yaml": workspace_yaml("team", "team-model"),
        },
    )
    return root


@pytest.fixture
def repo(config: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`config` as a git repository with one commit on main."""
    # The reconciler runs git in this process: it sees the same fixed configuration and identity.
    isolate_git(monkeypatch)
    return make_git_repo(config)


@pytest.fixture
def commit(repo: Path) -> Callable[[Files], str]:
    """Write files into the repository and commit them; the new commit's short revision, as the status names it."""

    def run(files: Files) -> str:
        commit_files(repo, files)
        return short_revision(repo)

    return run


def applied_after(server: LiveServer, count: int) -> Callable[[ReconcileStatus], bool]:
    return lambda _: server.live.applies > count


def routed_model(fake: FakeProvider) -> str | None:
    return fake.requests[-1].model


# --- git ----------------------------------------------------------------------------------------------------


def test_a_commit_is_applied_and_requests_reach_the_new_model(
    repo: Path,
    commit: Callable[[Files], str],
    serve_live: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = short_revision(repo)
    server = serve_live(repo)
    assert server.live.status.revision == first
    caplog.set_level(logging.INFO, logger="muxgate.live")
    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model"

    second = commit({"default.yaml": workspace_yaml("default", "fake-model-large")})
    status = server.wait(lambda s: s.revision == second)
    assert (status.ready, status.reason, status.last_attempted_revision) == (True, Reason.SUCCEEDED, second)
    assert server.gateway.registry.revision == second
    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model-large"
    applied = [m for m in caplog.messages if m.startswith("applied revision ")]
    # The edit may be seen before git records the commit ("-dirty"); the commit then only renames it.
    assert len(applied) == 1
    assert applied[0].endswith(": 0 added, 1 changed, 0 archived")


def test_each_applied_revision_is_recorded_in_the_analytics(
    repo: Path, commit: Callable[[Files], str], serve_live: Callable[..., LiveServer]
) -> None:
    first = short_revision(repo)
    server = serve_live(repo)
    # Listeners run in the order they were added: when this one hears of the apply, analytics already did.
    applied: list[Applied] = []
    heard = threading.Event()

    def hear(event: Applied) -> None:
        applied.append(event)
        heard.set()

    server.live.add_listener(hear)
    commit(
        {
            "default.yaml": workspace_yaml("default", "fake-model-large"),
            "extra.yaml": workspace_yaml("extra", "fake-model"),
        }
    )
    assert heard.wait(15), "nothing was applied"
    analytics = server.gateway.analytics
    assert analytics is not None
    assert analytics.writer.flush()
    result = analytics.writer.query(
        "SELECT revision, source, added, changed, archived FROM config_revisions ORDER BY ts",
        max_rows=10,
        timeout=5,
        check=check_query,
    )
    assert result.rows[0][:2] == (first, "startup")
    # The edit may be applied before git records the commit (a "-dirty" revision); the commit then only renames it.
    assert result.rows[1:] == [(applied[0].revision, "apply", 1, 1, 0)]


def test_a_broken_commit_is_reported_with_file_and_line_and_the_old_config_keeps_serving(
    repo: Path,
    commit: Callable[[Files], str],
    serve_live: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve_live(repo)
    good = server.live.status.revision
    broken = commit({"default.yaml": UNKNOWN_PROVIDER})
    status = server.wait(lambda s: s.last_attempted_revision == broken and s.reason is not Reason.PROGRESSING)
    assert (status.ready, status.reason, status.revision) == (False, Reason.VALIDATION_FAILED, good)
    [diagnostic] = status.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.column) == ("default.yaml", 7, 17)
    assert f"serving the last good revision {good}" in status.message
    assert "default.yaml:7:17: unknown provider in mux rule" in status.message
    assert any("default.yaml:7:17: unknown provider in mux rule." in m for m in caplog.messages)

    body = http.get(f"{server.url}/api/v1/reconcile/status").json()
    assert (body["ready"], body["reason"], body["revision"], body["lastAttemptedRevision"]) == (
        False,
        "ValidationFailed",
        good,
        broken,
    )
    assert body["diagnostics"][0] | {"message": None, "hint": None} == {
        "severity": "error",
        "file": "default.yaml",
        "line": 7,
        "column": 17,
        "summary": "unknown provider in mux rule",
        "code": body["diagnostics"][0]["code"],
        "message": None,
        "hint": None,
    }
    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model"

    fixed = commit({"default.yaml": workspace_yaml("default", "fake-model-large")})
    status = server.wait(lambda s: s.revision == fixed)
    assert (status.ready, status.reason, status.diagnostics) == (True, Reason.SUCCEEDED, ())
    server.chat(http)
    assert routed_model(fake) == "fake-model-large"


def test_a_commit_that_changes_no_file_renames_the_applied_revision(
    repo: Path,
    serve_live: Callable[..., LiveServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve_live(repo)
    write_files(repo, {"default.yaml": workspace_yaml("default", "fake-model-large")})
    dirty = server.wait(lambda s: bool(s.revision and s.revision.endswith("-dirty")))
    caplog.set_level(logging.INFO, logger="muxgate.live")
    git(repo, "commit", "--quiet", "--all", "-m", "record the edit")
    head = short_revision(repo)
    status = server.wait(lambda s: s.revision == head)
    assert status.state_hash == dirty.state_hash
    assert server.gateway.registry.revision == head
    assert not [m for m in caplog.messages if m.startswith("applied ")]


def test_an_applied_edit_is_not_followed_by_more_reconciles(repo: Path, serve_live: Callable[..., LiveServer]) -> None:
    # Naming the revision runs git, and git may touch .git/index.lock: that must not start the next reconcile.
    server = serve_live(repo)
    write_files(repo, {"default.yaml": workspace_yaml("default", "fake-model-large")})
    server.wait(lambda s: s.ready and bool(s.revision and s.revision.endswith("-dirty")))
    settled = server.live.reconciles
    with pytest.raises(TimeoutError):
        server.live.wait_for(lambda _: server.live.reconciles > settled, timeout=1)


def test_a_checkout_of_many_files_is_one_reconcile(
    repo: Path,
    serve_live: Callable[..., LiveServer],
    fake: FakeProvider,
) -> None:
    git(repo, "checkout", "--quiet", "-b", "many")
    write_files(repo, {f"teams/team-{i}.yaml": workspace_yaml(f"team-{i}", "fake-model") for i in range(300)})
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "300 teams")
    many = short_revision(repo)
    git(repo, "checkout", "--quiet", "main")
    server = serve_live(repo)
    before = server.live.reconciles

    git(repo, "checkout", "--quiet", "many")
    status = server.wait(lambda s: s.revision == many)
    assert status.counts.workspaces == 302
    assert server.live.reconciles - before <= 2

    git(repo, "checkout", "--quiet", "main")
    status = server.wait(lambda s: s.counts.archived_workspaces == 300)
    assert status.ready


# --- edits, bursts, saves ---------------------------------------------------------------------------------------


def test_a_burst_of_500_file_events_is_one_reconcile(config: Path, serve_live: Callable[..., LiveServer]) -> None:
    server = serve_live(config)
    before = server.live.reconciles
    write_files(config, {f"team-{i}.yaml": workspace_yaml(f"team-{i}", "fake-model") for i in range(500)})
    status = server.wait(lambda s: s.counts.workspaces == 502)
    assert status.ready
    assert server.live.reconciles - before <= 2


def test_an_atomic_save_is_applied_and_nothing_broken_is_seen(
    config: Path,
    serve_live: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve_live(config)
    before = server.live.status.state_hash
    temporary = config / ".default.yaml.tmp1234"
    temporary.write_text(workspace_yaml("default", "fake-model-large"))
    os.replace(temporary, config / "default.yaml")
    status = server.wait(lambda s: s.state_hash != before)
    assert status.ready
    server.chat(http)
    assert routed_model(fake) == "fake-model-large"
    assert not [r for r in caplog.records if r.name == "muxgate.live" and r.levelno >= logging.WARNING]


def test_a_half_written_file_is_never_applied(
    config: Path, serve_live: Callable[..., LiveServer], fake: FakeProvider, http: httpx.Client
) -> None:
    server = serve_live(config)
    complete = workspace_yaml("default", "fake-model-large")
    half = complete[: complete.index("      model:")]
    (config / "default.yaml").write_text(half)
    status = server.wait(lambda s: s.reason is Reason.VALIDATION_FAILED)
    assert [d.file for d in status.diagnostics] == ["default.yaml"]
    server.chat(http)
    assert routed_model(fake) == "fake-model"

    (config / "default.yaml").write_text(complete)
    server.wait(lambda s: s.ready)
    server.chat(http)
    assert routed_model(fake) == "fake-model-large"


def test_requests_never_fail_while_configs_are_applied(
    config: Path, serve_live: Callable[..., LiveServer], fake: FakeProvider
) -> None:
    server = serve_live(config)
    with httpx.Client(timeout=10) as http:
        assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model"
    failures: list[str] = []
    answered: list[int] = []
    done = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not done.is_set():
                response = server.chat(http)
                if response.status_code != 200:
                    failures.append(response.text)
                answered.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(10):
            applied = server.live.applies
            write_files(config, {"default.yaml": workspace_yaml("default", f"model-{i}")})
            server.wait(applied_after(server, applied))
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert failures == []
    assert answered, "no request was made while the configs were applied"
    with httpx.Client(timeout=10) as http:
        assert server.chat(http).status_code == 200
    assert routed_model(fake) == "model-9"


# --- lifecycle --------------------------------------------------------------------------------------------------


def test_a_removed_workspace_is_archived_and_recovered_when_declared_again(
    config: Path, serve_live: Callable[..., LiveServer], http: httpx.Client
) -> None:
    server = serve_live(config)
    assert server.chat(http, "team").status_code == 200
    write_files(config, {"team.yaml": None})
    status = server.wait(lambda s: s.counts.archived_workspaces == 1)
    assert (status.counts.workspaces, status.ready) == (1, True)
    response = server.chat(http, "team")
    assert response.status_code == 404
    assert "is archived" in response.json()["error"]["message"]

    write_files(config, {"team.yaml": workspace_yaml("team", "team-model")})
    server.wait(lambda s: s.counts.archived_workspaces == 0)
    assert server.chat(http, "team").status_code == 200


def test_archived_workspaces_survive_a_restart(
    config: Path, serve_live: Callable[..., LiveServer], http: httpx.Client
) -> None:
    first = serve_live(config)
    write_files(config, {"team.yaml": None})
    first.wait(lambda s: s.counts.archived_workspaces == 1)
    first.stop()
    second = serve_live(config)
    assert second.live.status.counts.archived_workspaces == 1
    assert "is archived" in second.chat(http, "team").json()["error"]["message"]


def test_pruning_removes_a_workspace_that_is_no_longer_declared(
    config: Path, serve_live: Callable[..., LiveServer], http: httpx.Client
) -> None:
    server = serve_live(config, prune_archived=True)
    write_files(config, {"team.yaml": None})
    status = server.wait(lambda s: s.counts.workspaces == 1)
    assert status.counts.archived_workspaces == 0
    response = server.chat(http, "team")
    assert response.status_code == 404
    assert "does not exist" in response.json()["error"]["message"]


def test_the_active_workspace_archived_falls_back_to_default(
    config: Path,
    serve_live: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve_live(config, default_workspace="team")
    server.chat(http)
    assert routed_model(fake) == "team-model"
    write_files(config, {"team.yaml": None})
    server.wait(lambda s: s.counts.archived_workspaces == 1)
    assert server.gateway.active_workspace == "default"
    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model"
    assert any('active workspace "team" is archived' in m for m in caplog.messages)


# --- failures of the source and of the apply --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["renamed", "deleted"])
def test_a_directory_that_disappears_is_reported_and_followed_again_when_back(
    config: Path, serve_live: Callable[..., LiveServer], fake: FakeProvider, http: httpx.Client, how: str
) -> None:
    server = serve_live(config)
    served = server.live.status.state_hash
    aside = config.with_name("aside")
    if how == "renamed":
        config.rename(aside)
    else:
        shutil.copytree(config, aside)
        shutil.rmtree(config)
    status = server.wait(lambda s: s.reason is Reason.SOURCE_UNAVAILABLE)
    assert (status.ready, status.state_hash) == (False, served)
    assert str(config) in status.message
    assert server.chat(http).status_code == 200

    write_files(aside, {"default.yaml": workspace_yaml("default", "fake-model-large")})
    aside.rename(config)
    status = server.wait(lambda s: s.ready)
    assert status.reason is Reason.SUCCEEDED
    server.chat(http)
    assert routed_model(fake) == "fake-model-large"


def test_a_registry_that_cannot_be_built_is_not_applied(
    config: Path, serve_live: Callable[..., LiveServer], fake: FakeProvider, http: httpx.Client
) -> None:
    def build(state: DesiredState, **options: Any) -> Registry:
        if "boom" in state.workspaces:
            raise RuntimeError("the secret file /run/secrets/boom is unreadable")
        return build_registry(state, **options)

    server = serve_live(config, build=build)
    write_files(config, {"boom.yaml": workspace_yaml("boom", "fake-model-large")})
    status = server.wait(lambda s: s.reason is Reason.APPLY_FAILED)
    assert not status.ready
    assert "the secret file /run/secrets/boom is unreadable" in status.message
    assert "boom" not in server.gateway.registry.workspaces
    assert server.chat(http).status_code == 200

    write_files(config, {"boom.yaml": None})
    assert server.wait(lambda s: s.ready).reason is Reason.SUCCEEDED


# --- status and lifespan ----------------------------------------------------------------------------------------


def test_the_status_endpoint_names_the_applied_state(
    config: Path, serve_live: Callable[..., LiveServer], http: httpx.Client
) -> None:
    server = serve_live(config)
    body = http.get(f"{server.url}/api/v1/reconcile/status").json()
    assert set(body) == {
        "ready",
        "reason",
        "message",
        "revision",
        "lastAttemptedRevision",
        "appliedAt",
        "stateHash",
        "counts",
        "diagnostics",
    }
    assert (body["ready"], body["reason"], body["revision"]) == (True, "Succeeded", None)
    assert body["stateHash"] == server.gateway.registry.state_hash
    assert body["counts"] == {"providers": 1, "workspaces": 2, "archivedWorkspaces": 0, "personas": 0}
    assert body["appliedAt"].endswith("Z")
    assert body["message"] == f"Applied state {body['stateHash'][:12]} (not in git)."


def test_a_gateway_without_a_directory_has_no_reconcile_status(tmp_path: Path, http: httpx.Client) -> None:
    app = create_app(Settings(data_dir=tmp_path), build_registry(DesiredState.empty()))
    assert app.state.get("live") is None
    assert app.route_reverse("reconcile-status") == "/api/v1/reconcile/status"


def test_without_watching_a_change_waits_for_an_explicit_reconcile(
    config: Path, serve_live: Callable[..., LiveServer], fake: FakeProvider, http: httpx.Client
) -> None:
    server = serve_live(config, watch=False)
    write_files(config, {"default.yaml": workspace_yaml("default", "fake-model-large")})
    assert not server.live.watcher.ready.is_set()
    assert server.live.reconciles == 0
    server.chat(http)
    assert routed_model(fake) == "fake-model"
    status = server.live.request_reconcile().result(timeout=10)
    assert (status.ready, server.live.reconciles) == (True, 1)
    server.chat(http)
    assert routed_model(fake) == "fake-model-large"


def test_stopping_the_app_stops_the_watcher_promptly(config: Path, serve_live: Callable[..., LiveServer]) -> None:
    server = serve_live(config)
    assert server.stop() < 2
    before = server.live.reconciles
    write_files(config, {"default.yaml": workspace_yaml("default", "fake-model-large")})
    # Nothing follows the directory any more: a reconcile would have to come from a running watcher.
    with pytest.raises(TimeoutError):
        server.live.wait_for(lambda s: server.live.reconciles > before, timeout=0.5)
