"""The active workspace: activation through the admin API, its effect on requests that name no workspace, and the
session file that carries it across a restart of the gateway on the same data directory."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from proxy.app import create_app
from proxy.registry import build_registry
from proxy.settings import Settings
from proxy.testing.fake_provider import FakeProvider
from reconciler.check import check_dir

BASE = "http://127.0.0.1:8989"
ACTIVE = "/api/v1/workspaces/active"
CHAT = {"model": "any", "messages": [{"role": "user", "content": "hello"}]}


def catch_all(model: str, **spec: Any) -> dict[str, Any]:
    return {**spec, "muxRules": [{"match": {"type": "catch_all"}, "provider": "ollama", "model": model}]}


CONFIG: dict[str, Any] = {
    "workspaces": {
        "default": catch_all("default-model"),
        "backend": catch_all("backend-model"),
        "legacy": catch_all("legacy-model", archived=True),
    }
}


class Served:
    """One start of the gateway: an app on a config directory and a data directory, and a client for it."""

    def __init__(self, app: Litestar, client: TestClient[Litestar]) -> None:
        self.app = app
        self.client = client
        self.token: str = app.state.admin_auth.token.decode()

    def activate(self, body: Any, token: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token or self.token}"}
        return self.client.post(ACTIVE, json=body, headers=headers)

    def active(self) -> dict[str, Any]:
        response = self.client.get(ACTIVE)
        assert response.status_code == 200
        [workspace] = response.json()["workspaces"]
        assert workspace["is_active"] is True
        return dict(workspace)

    def routed_workspace(self, path: str = "/v1/chat/completions", **headers: str) -> str:
        """The workspace a chat request is routed through (the gateway says so in a response header)."""
        response = self.client.post(path, json=CHAT, headers=headers)
        assert response.status_code == 200, response.text
        return response.headers["x-muxgate-workspace"]


@pytest.fixture
def start(config_dir: Callable[[Any], Path], fake: FakeProvider, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """`start(config=CONFIG, data_dir=..., **settings)`: the gateway started on a data directory (the same one by
    default, so a second call is a restart: the gateway running on it is stopped first, as only one process may
    hold its analytics database)."""
    running: dict[Path, ExitStack] = {}

    def start_gateway(config: Any = CONFIG, data_dir: Path | None = None, **settings: Any) -> Served:
        data = data_dir or tmp_path / "data"
        if data in running:
            running.pop(data).close()
        checked = check_dir(config_dir(config))
        assert checked.state is not None, checked.diagnostics
        app = create_app(Settings(data_dir=data, **settings), build_registry(checked.state))
        stack = running[data] = ExitStack()
        return Served(app, stack.enter_context(TestClient(app, base_url=BASE)))

    yield start_gateway
    for stack in running.values():
        stack.close()


def test_activation_routes_requests_that_name_no_workspace(start: Callable[..., Served]) -> None:
    served = start()
    before = served.active()
    assert before["name"] == "default"
    assert served.routed_workspace() == "default"

    response = served.activate({"name": "backend"})
    assert (response.status_code, response.content) == (204, b"")

    after = served.active()
    assert after["name"] == "backend"
    assert datetime.fromisoformat(after["last_updated"]) >= datetime.fromisoformat(before["last_updated"])
    listed = served.client.get("/api/v1/workspaces").json()["workspaces"]
    assert listed == [{"name": "backend", "is_active": True}, {"name": "default", "is_active": False}]
    assert served.routed_workspace() == "backend"
    # A request that names its workspace is not affected by the session.
    assert served.routed_workspace(**{"x-muxgate-workspace": "default"}) == "default"
    assert served.routed_workspace("/w/default/v1/chat/completions") == "default"


def test_activation_survives_a_restart(start: Callable[..., Served], tmp_path: Path) -> None:
    first = start()
    assert first.activate({"name": "backend"}).status_code == 204
    saved = json.loads((tmp_path / "data" / "session.json").read_text())
    assert saved["active_workspace"] == "backend"

    second = start()
    assert second.active() == {"name": "backend", "is_active": True, "last_updated": saved["updated_at"]}
    assert second.routed_workspace() == "backend"
    # Written by rename: nothing half-written or temporary is left beside it.
    leftovers = [p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(("session", ".session"))]
    assert leftovers == ["session.json"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"default": catch_all("default-model")}, "backend no longer exists"),
        ({"default": catch_all("default-model"), "backend": catch_all("b", archived=True)}, "backend is archived"),
    ],
)
def test_a_saved_workspace_that_is_gone_falls_back_to_default(
    start: Callable[..., Served], caplog: pytest.LogCaptureFixture, change: dict[str, Any], why: str
) -> None:
    assert start().activate({"name": "backend"}).status_code == 204
    with caplog.at_level(logging.WARNING, logger="muxgate.session"):
        restarted = start({"workspaces": change})
    assert restarted.active()["name"] == "default"
    assert f"the saved active workspace {why}; default is active instead" in caplog.text


def test_an_unreadable_session_file_falls_back_to_default(
    start: Callable[..., Served], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "session.json").write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="muxgate.session"):
        served = start()
    assert served.active()["name"] == "default"
    assert "is not a session file" in caplog.text


def test_the_default_workspace_setting_applies_until_something_is_activated(start: Callable[..., Served]) -> None:
    served = start(default_workspace="backend")
    assert served.active()["name"] == "backend"
    assert served.activate({"name": "default"}).status_code == 204
    assert start(default_workspace="backend").active()["name"] == "default"


def test_activation_errors(start: Callable[..., Served]) -> None:
    served = start()
    missing = served.activate({"name": "nowhere"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Workspace does not exist"})
    already = served.activate({"name": "default"})
    assert (already.status_code, already.json()) == (409, {"detail": "Workspace already active"})
    archived = served.activate({"name": "legacy"})
    assert archived.status_code == 409
    detail = archived.json()["detail"]
    assert detail.startswith("Workspace legacy is archived; set archived: false in workspaces.yaml line ")
    assert detail.endswith(" to use it again.")
    for body in ({}, {"name": 3}, {"name": ""}, ["backend"], "backend"):
        bad = served.activate(body)
        assert bad.status_code == 400, body
        assert bad.json() == {
            "detail": 'The body must be a JSON object naming the workspace, like {"name": "backend"}.'
        }
    assert served.active()["name"] == "default"


def test_activation_needs_the_admin_token(start: Callable[..., Served]) -> None:
    served = start()
    missing = served.client.post(ACTIVE, json={"name": "backend"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = served.activate({"name": "backend"}, token="guess")
    assert wrong.status_code == 403
    # The token is checked before the body: an unauthenticated caller learns nothing about workspaces.
    assert served.client.post(ACTIVE, json={"name": "nowhere"}).status_code == 401
    assert served.active()["name"] == "default"


def test_a_session_that_cannot_be_saved_leaves_the_active_workspace_alone(
    start: Callable[..., Served], tmp_path: Path
) -> None:
    served = start()
    (tmp_path / "data" / "session.json").mkdir()  # a directory where the file should go: the rename fails
    response = served.activate({"name": "backend"})
    assert response.status_code == 500
    assert response.json()["detail"].startswith(f"Workspace backend was not activated: cannot write {tmp_path}")
    assert served.active()["name"] == "default"
    assert served.routed_workspace() == "default"
