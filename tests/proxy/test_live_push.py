"""Push mode through a real gateway: `reconcile DIR --server URL` (dry run and apply) and the admin API's
reconcile endpoints, against `muxgate serve`'s wiring with watching off, served by uvicorn in a thread, and the fake
provider recording which model each request was routed to.

    reconcile CLI ── GET state / POST apply ──▶ gateway (LiveReconciler.apply_push) ──▶ FakeProvider
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.live import Applied, Reason
from proxy.live.push import MAX_FILES, PushError, parse_push
from proxy.registry import build_registry
from proxy.settings import Settings
from proxy.statefile import load as load_state
from proxy.testing.fake_provider import FakeProvider
from reconciler.cli import main
from reconciler.state import DesiredState
from tests.proxy.test_live_gateway import Files, LiveServer, routed_model
from tests.support.configs import UNKNOWN_PROVIDER, provider_yaml, workspace_yaml
from tests.support.gitrepo import make_git_repo, short_revision, write_files

TOKEN = "push-mode-token-for-tests"
APPLY = "/api/v1/reconcile/apply"
STATE = "/api/v1/reconcile/state"
STATUS = "/api/v1/reconcile/status"


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUXGATE_ADMIN_TOKEN", raising=False)


@pytest.fixture
def tree(tmp_path: Path, fake: FakeProvider) -> Callable[[str, Files], Path]:
    """`tree(name, files)`: a config directory under tmp_path with the fake provider and the given files."""

    def make(name: str, files: Files) -> Path:
        root = tmp_path / name
        write_files(root, {"providers.yaml": provider_yaml(fake.url), **files})
        return root

    return make


@pytest.fixture
def served(tree: Callable[[str, Files], Path]) -> Path:
    """The directory the gateway starts on: `default` routes to fake-model, `team` to team-model."""
    return tree(
        "served",
        {"default.yaml": workspace_yaml("default", "fake-model"), "team.yaml": workspace_yaml("team", "team-model")},
    )


@pytest.fixture
def local(tree: Callable[[str, Files], Path]) -> Path:
    """The directory a user pushes: `default` to a larger model, `team` unchanged, a new workspace `docs`."""
    return tree(
        "local",
        {
            "default.yaml": workspace_yaml("default", "fake-model-large"),
            "team.yaml": workspace_yaml("team", "team-model"),
            "docs.yaml": workspace_yaml("docs", "docs-model"),
        },
    )


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """`start(DIR, **settings)`: `muxgate serve DIR` with MUXGATE_WATCH=false and the admin token set."""
    servers: list[LiveServer] = []

    def run(directory: Path, **settings: Any) -> LiveServer:
        options = {
            "config_dir": directory,
            "data_dir": tmp_path / "data",
            "port": 0,
            "watch": False,
            "admin_token": TOKEN,
            "analytics": False,
            **settings,
        }
        server = LiveServer(Settings(**options), build_registry)
        server.start()
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


def admin(token: str = TOKEN) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def files_of(directory: Path) -> list[dict[str, str]]:
    return [
        {"path": p.relative_to(directory).as_posix(), "content": p.read_text()}
        for p in sorted(directory.rglob("*.yaml"))
    ]


def git_commit(directory: Path) -> str:
    """Make `directory` a git repository with one commit; its short revision."""
    return short_revision(make_git_repo(directory))


# --- dry run ------------------------------------------------------------------------------------------------


def test_a_dry_run_against_the_server_shows_the_live_diff_and_changes_nothing(
    served: Path,
    local: Path,
    start: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served)
    # Reads are open on a loopback bind: no token needed to plan.
    assert main([str(local), "--dry-run", "--server", server.url]) == 0
    out = capsys.readouterr().out
    assert '~ workspace "default" will be updated in place' in out
    assert '"fake-model" -> "fake-model-large"' in out
    assert '+ workspace "docs" will be created' in out
    assert 'workspace "team"' not in out
    assert "Plan: 1 to add, 1 to change, 0 to archive." in out

    assert main([str(local), "--dry-run", "--server", server.url, "--detailed-exitcode"]) == 2
    assert main([str(served), "--dry-run", "--server", server.url, "--detailed-exitcode"]) == 0
    out = capsys.readouterr().out
    assert f"No changes. Your configuration matches the running gateway at {server.url}." in out

    assert main([str(local), "--dry-run", "--server", server.url, "--output", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["current_hash"] == server.gateway.registry.state_hash
    assert plan["counts"] == {"add": 1, "change": 1, "archive": 0, "recover": 0, "delete": 0}

    assert server.live.reconciles == 0
    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model"


def test_the_state_endpoint_gives_the_running_state(
    served: Path, start: Callable[..., LiveServer], http: httpx.Client
) -> None:
    server = start(served)
    body = http.get(server.url + STATE).json()
    registry = server.gateway.registry
    assert (body["revision"], body["stateHash"]) == (registry.revision, registry.state_hash)
    assert DesiredState.from_json(body["state"]).hash == registry.state_hash


# --- apply --------------------------------------------------------------------------------------------------


def test_an_apply_changes_routing_and_is_saved_reported_and_announced(
    served: Path,
    local: Path,
    token_file: Path,
    start: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served)
    announced: list[Applied] = []
    server.live.add_listener(announced.append)
    assert main([str(local), "--server", server.url, "--token-file", str(token_file)]) == 0
    out, err = capsys.readouterr()
    short = server.gateway.registry.state_hash[:12]
    assert "Plan: 1 to add, 1 to change, 0 to archive." in out
    assert out.rstrip().endswith(f"Applied state {short} (not in git): 1 added, 1 changed, 0 archived.")
    assert TOKEN not in out + err

    assert server.chat(http).status_code == 200
    assert routed_model(fake) == "fake-model-large"
    assert server.chat(http, "docs").status_code == 200
    assert routed_model(fake) == "docs-model"
    status = http.get(server.url + STATUS).json()
    assert (status["ready"], status["reason"], status["counts"]["workspaces"]) == (True, "Succeeded", 3)
    assert [(a.plan.to_add, a.plan.to_change) for a in announced] == [(1, 1)]
    saved = load_state(server.live.data_dir)
    assert saved is not None
    assert saved.pushed
    assert saved.desired.hash == server.gateway.registry.state.hash

    # The same files again: the gateway plans nothing and builds nothing.
    applies = server.live.applies
    assert main([str(local), "--server", server.url, "--token-file", str(token_file)]) == 0
    assert capsys.readouterr().out == f"No changes. Your configuration matches the running gateway at {server.url}.\n"
    assert (server.live.applies, len(announced)) == (applies, 1)


def test_an_apply_names_the_git_revision_of_dir(
    served: Path,
    local: Path,
    start: Callable[..., LiveServer],
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    revision = git_commit(local)
    server = start(served)
    monkeypatch.setenv("MUXGATE_ADMIN_TOKEN", TOKEN)
    assert main([str(local), "--server", server.url, "--output", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["valid"] is True  # stdout stays one JSON document; the outcome goes to stderr
    assert f"Applied revision {revision}: 1 added, 1 changed, 0 archived." in err
    assert http.get(server.url + STATUS).json()["revision"] == revision


def test_a_removed_workspace_is_archived_and_deleted_with_prune(
    served: Path,
    tree: Callable[[str, Files], Path],
    token_file: Path,
    start: Callable[..., LiveServer],
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served)
    without_team = tree("without-team", {"default.yaml": workspace_yaml("default", "fake-model")})
    assert main([str(without_team), "--server", server.url, "--token-file", str(token_file)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("0 added, 0 changed, 1 archived.")
    assert http.get(server.url + "/api/v1/workspaces/archive").json() == {
        "workspaces": [{"name": "team", "is_active": False}]
    }
    assert main([str(without_team), "--server", server.url, "--token-file", str(token_file), "--prune"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("0 added, 0 changed, 0 archived, 1 deleted.")
    assert "team" not in server.gateway.registry.workspaces


def test_a_restarted_gateway_that_takes_pushes_serves_the_last_push(
    served: Path,
    local: Path,
    start: Callable[..., LiveServer],
    fake: FakeProvider,
    http: httpx.Client,
) -> None:
    first = start(served)
    answer = http.post(first.url + APPLY, json={"files": files_of(local), "revision": "3f2c1e9a0b1c"}, headers=admin())
    assert answer.status_code == 200, answer.text
    first.stop()

    again = start(served)
    assert again.gateway.registry.revision == "3f2c1e9a0b1c"
    assert again.live.status.reason is Reason.SUCCEEDED
    again.chat(http)
    assert routed_model(fake) == "fake-model-large"
    again.stop()

    # A gateway that follows DIR serves DIR, whatever was pushed before.
    watching = start(served, watch=True)
    watching.chat(http)
    assert routed_model(fake) == "fake-model"


# --- refusals -----------------------------------------------------------------------------------------------


def test_an_invalid_tree_posted_to_the_endpoint_is_refused_and_nothing_is_applied(
    served: Path, local: Path, start: Callable[..., LiveServer], fake: FakeProvider, http: httpx.Client
) -> None:
    server = start(served)
    before = server.gateway.registry
    files = [f for f in files_of(local) if f["path"] != "default.yaml"]
    files.append({"path": "teams/broken.yaml", "content": UNKNOWN_PROVIDER})
    answer = http.post(server.url + APPLY, json={"files": files, "revision": "9d1e0b7c2a44"}, headers=admin())
    assert answer.status_code == 422
    body = answer.json()
    assert "is invalid (1 error) and was not applied" in body["detail"]
    [diagnostic] = body["diagnostics"]
    assert (diagnostic["file"], diagnostic["line"], diagnostic["column"]) == ("teams/broken.yaml", 7, 17)
    assert diagnostic["summary"] == "unknown provider in mux rule"
    assert server.gateway.registry is before
    assert server.live.last_applied is None or server.live.last_applied.revision != "9d1e0b7c2a44"
    status = http.get(server.url + STATUS).json()
    assert (status["ready"], status["reason"], status["lastAttemptedRevision"]) == (
        False,
        "ValidationFailed",
        "9d1e0b7c2a44",
    )
    server.chat(http)
    assert routed_model(fake) == "fake-model"


def test_the_client_sends_nothing_when_dir_is_invalid(
    tree: Callable[[str, Files], Path],
    token_file: Path,
    start: Callable[..., LiveServer],
    served: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served)
    broken = tree("broken", {"default.yaml": UNKNOWN_PROVIDER})
    assert main([str(broken), "--server", server.url, "--token-file", str(token_file)]) == 1
    assert "Error: unknown provider in mux rule" in capsys.readouterr().out
    assert server.live.reconciles == 0


def test_a_push_needs_the_admin_token(
    served: Path,
    local: Path,
    tmp_path: Path,
    start: Callable[..., LiveServer],
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served)
    body = {"files": files_of(local)}
    assert http.post(server.url + APPLY, json=body).status_code == 401
    wrong = http.post(server.url + APPLY, json=body, headers=admin("not-the-token"))
    assert wrong.status_code == 403
    assert wrong.json() == {"detail": wrong.json()["detail"]}  # the admin API's error shape

    assert main([str(local), "--server", server.url]) == 1
    assert capsys.readouterr() == (
        "",
        "reconcile: Applying needs the gateway's admin token; pass --token-file with the admin-token file of its "
        "data directory, or set MUXGATE_ADMIN_TOKEN.\n",
    )
    other = tmp_path / "other-token"
    other.write_text("not-the-token")
    assert main([str(local), "--server", server.url, "--token-file", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"reconcile: The gateway at {server.url} refused the admin token;")
    assert "not-the-token" not in err
    assert "Traceback" not in err
    assert server.live.reconciles == 0


def test_a_gateway_that_watches_its_directory_refuses_pushes(
    served: Path,
    local: Path,
    token_file: Path,
    start: Callable[..., LiveServer],
    http: httpx.Client,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start(served, watch=True)
    sentence = f"This gateway follows {served}; commit to it, or start it with MUXGATE_WATCH=false to accept pushes."
    answer = http.post(server.url + APPLY, json={"files": files_of(local)}, headers=admin())
    assert (answer.status_code, answer.json()) == (409, {"detail": sentence})
    assert main([str(local), "--server", server.url, "--token-file", str(token_file)]) == 1
    assert capsys.readouterr().err == f"reconcile: {sentence}\n"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../outside.yaml", "leaves the config directory"),
        ("teams/../../outside.yaml", "leaves the config directory"),
        ("/etc/muxgate/outside.yaml", "is absolute"),
        ("teams\\outside.yaml", "backslash"),
        ("teams/\n.yaml", "control character"),
        (".git/config.yaml", "hidden file or folder"),
        ("teams//a.yaml", "empty or . segment"),
        ("./a.yaml", "empty or . segment"),
        ("notes.txt", "is not a YAML file"),
        ("", "must have 1 to 1024 characters"),
    ],
)
def test_a_path_outside_the_tree_or_not_yaml_is_refused(
    path: str, words: str, served: Path, start: Callable[..., LiveServer], http: httpx.Client
) -> None:
    server = start(served)
    files = [{"path": path, "content": workspace_yaml("default", "fake-model-large")}]
    answer = http.post(server.url + APPLY, json={"files": files}, headers=admin())
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail.startswith("files[0]: the path ")
    assert words in detail
    assert server.live.reconciles == 0


def test_a_body_over_the_limit_is_refused(served: Path, start: Callable[..., LiveServer], http: httpx.Client) -> None:
    server = start(served, max_body_bytes=4096)
    files = [{"path": "big.yaml", "content": "# " + "x" * 5000 + "\n"}]
    answer = http.post(server.url + APPLY, json={"files": files}, headers=admin())
    assert answer.status_code == 413
    assert "larger than 4,096 bytes" in answer.json()["detail"]
    assert server.live.reconciles == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "must be JSON"),
        (b'{"files": {}}', "a list of files"),
        (b'{"files": [], "force": true}', "Unknown field 'force'"),
        (b'{"files": [{"path": "a.yaml"}]}', 'exactly "path" and "content"'),
        (b'{"files": [], "revision": "x; rm -rf /"}', "The revision must be null or a git revision"),
        (b'{"files": [], "prune": "yes"}', "prune must be true or false"),
        (
            b'{"files": [{"path": "a.yaml", "content": ""}, {"path": "a.yaml", "content": ""}]}',
            "a.yaml is pushed twice",
        ),
        (b'{"files": [{"path": "a.yaml", "content": "\\ud800"}]}', "not Unicode text"),
    ],
)
def test_a_malformed_body_is_named(body: bytes, words: str) -> None:
    with pytest.raises(PushError, match=words.replace("(", r"\(")):
        parse_push(body)


def test_the_file_count_is_bounded() -> None:
    files = [{"path": f"w{i}.yaml", "content": ""} for i in range(3)]
    with pytest.raises(PushError, match="3 files were pushed; a push may hold at most 2"):
        parse_push(json.dumps({"files": files}).encode(), max_files=2)


def test_an_unreachable_gateway_is_one_sentence(local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    assert main([str(local), "--dry-run", "--server", f"http://127.0.0.1:{port}"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"reconcile: No gateway answers at http://127.0.0.1:{port} (ConnectError")
    assert len(captured.err.strip().splitlines()) == 1


def test_the_docs_state_the_limits_and_the_refusal() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    live = " ".join((docs / "live-reconcile.md").read_text(encoding="utf-8").split())
    api = (docs / "admin-api.md").read_text(encoding="utf-8")
    assert f"at most {MAX_FILES:,} files" in live
    assert f"more than {MAX_FILES:,} files" in api
    for text in (live, api):
        assert "; commit to it, or start it with MUXGATE_WATCH=false to accept pushes." in text
