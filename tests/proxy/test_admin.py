"""The admin API's reads and CodeGate's mutations, against a real app: shapes, status codes, `{"detail"}` errors,
and the 409 that names the file and line to edit in git."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from proxy.app import create_app
from proxy.registry import Registry, WorkspaceRuntime, build_registry
from proxy.settings import Settings
from proxy.testing.fake_provider import FakeProvider
from reconciler.check import check_dir

BASE = "http://127.0.0.1:8989"
API = "/api/v1"
OPENAI_KEY_VARIABLE = "TEST_OPENAI_API_KEY"

CONFIG: dict[str, Any] = {
    "providers": {
        "openai": {
            "type": "openai",
            "endpoint": "https://api.openai.com/v1",
            "description": "OpenAI for the backend team",
            "auth": {"type": "api_key", "apiKey": {"fromEnv": OPENAI_KEY_VARIABLE}},
            "models": [{"name": "gpt-4o-mini"}, {"name": "gpt-4o"}],
        }
    },
    "personas": {"reviewer": {"description": "Reviews code for security issues"}},
    "workspaces": {
        "default": {"muxRules": [{"match": {"type": "catch_all"}, "provider": "ollama", "model": "qwen2.5-coder:7b"}]},
        "backend": {
            "customInstructions": "Prefer the standard library.",
            "muxRules": [
                {"match": {"type": "chat_filename", "pattern": "*.py"}, "provider": "openai", "model": "gpt-4o-mini"},
                {"match": {"type": "catch_all"}, "provider": "anthropic", "model": "claude-x"},
            ],
        },
        "legacy": {
            "archived": True,
            "muxRules": [{"match": {"type": "catch_all"}, "provider": "ollama", "model": "llama3"}],
        },
    },
}


class Admin:
    """An app built by create_app over a config directory, called in-process through Litestar's TestClient."""

    def __init__(self, app: Litestar, config_dir: Path, client: TestClient[Litestar]) -> None:
        self.app = app
        self.config_dir = config_dir
        self.client = client
        self.token: str = app.state.admin_auth.token.decode()

    @property
    def registry(self) -> Registry:
        registry: Registry = self.app.state.gateway.registry
        return registry

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(API + path, **kwargs)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = "right") -> httpx.Response:
        headers = {} if token is None else {"authorization": f"Bearer {self.token if token == 'right' else token}"}
        return self.client.request(method, API + path, json=body, headers=headers)


@pytest.fixture
def build_admin() -> Iterator[Callable[..., Admin]]:
    """`build_admin(directory, data_dir, **settings)`: create_app over a config directory, its lifespan running."""
    with ExitStack() as stack:

        def build(directory: Path, data_dir: Path, **settings: Any) -> Admin:
            checked = check_dir(directory)
            assert checked.state is not None, checked.diagnostics
            settings = {"config_dir": directory, "data_dir": data_dir, **settings}
            app = create_app(Settings(**settings), build_registry(checked.state))
            return Admin(app, directory, stack.enter_context(TestClient(app, base_url=BASE)))

        yield build


@pytest.fixture
def admin(
    config_dir: Callable[[Any], Path],
    provider_keys: dict[str, str],
    tmp_path: Path,
    build_admin: Callable[..., Admin],
) -> Callable[..., Admin]:
    """`admin(config, **settings)`: an app over `config` (see tests/proxy/conftest.py) with its own data dir."""
    counter = iter(range(1000))

    def open_admin(config: Any = CONFIG, **settings: Any) -> Admin:
        return build_admin(config_dir(config), tmp_path / f"data{next(counter)}", **settings)

    return open_admin


def document_line(path: Path, name: str) -> int:
    """The first line of the document declaring `name` in a file written by the config_dir fixture."""
    line = 1
    for document in path.read_text().split("\n---\n"):
        if f'"name": "{name}"' in document:
            return line
        line += document.count("\n") + 2
    raise AssertionError(f"{name} is not declared in {path}")


# --- workspaces -------------------------------------------------------------------------------------------------


def test_workspaces_lists_the_served_ones_and_marks_the_active_one(admin: Callable[..., Admin]) -> None:
    response = admin().get("/workspaces")
    assert response.status_code == 200
    assert response.json() == {
        "workspaces": [{"name": "backend", "is_active": False}, {"name": "default", "is_active": True}]
    }


@pytest.mark.parametrize(
    ("provider", "names"),
    [("openai", ["backend"]), ("anthropic", ["backend"]), ("ollama", ["default"]), ("nowhere", [])],
)
def test_workspaces_filtered_by_provider(admin: Callable[..., Admin], provider: str, names: list[str]) -> None:
    response = admin().get("/workspaces", params={"provider_name": provider})
    assert response.status_code == 200
    assert [w["name"] for w in response.json()["workspaces"]] == names


def test_archive_lists_archived_workspaces(admin: Callable[..., Admin]) -> None:
    response = admin().get("/workspaces/archive")
    assert response.status_code == 200
    assert response.json() == {"workspaces": [{"name": "legacy", "is_active": False}]}


def test_active_workspace_shape(admin: Callable[..., Admin]) -> None:
    response = admin().get("/workspaces/active")
    assert response.status_code == 200
    [active] = response.json()["workspaces"]
    assert (active["name"], active["is_active"]) == ("default", True)
    assert isinstance(active["last_updated"], str)
    assert active["last_updated"].endswith("+00:00")


def test_workspace_by_name(admin: Callable[..., Admin]) -> None:
    response = admin().get("/workspaces/backend")
    assert response.status_code == 200
    assert response.json() == {
        "name": "backend",
        "config": {
            "custom_instructions": "Prefer the standard library.",
            "muxing_rules": [
                {
                    "provider_name": "openai",
                    "provider_type": "openai",
                    "model": "gpt-4o-mini",
                    "matcher_type": "chat_filename",
                    "matcher": "*.py",
                },
                {
                    "provider_name": "anthropic",
                    "provider_type": "anthropic",
                    "model": "claude-x",
                    "matcher_type": "catch_all",
                    "matcher": None,
                },
            ],
        },
    }


def test_muxes_and_custom_instructions(admin: Callable[..., Admin]) -> None:
    served = admin()
    muxes = served.get("/workspaces/backend/muxes")
    assert muxes.status_code == 200
    assert [(r["provider_name"], r["model"], r["matcher_type"]) for r in muxes.json()] == [
        ("openai", "gpt-4o-mini", "chat_filename"),
        ("anthropic", "claude-x", "catch_all"),
    ]
    instructions = served.get("/workspaces/backend/custom-instructions")
    assert (instructions.status_code, instructions.json()) == (200, {"prompt": "Prefer the standard library."})
    assert served.get("/workspaces/default/custom-instructions").json() == {"prompt": ""}


@pytest.mark.parametrize("suffix", ["", "/muxes", "/custom-instructions"])
def test_an_unknown_workspace_is_a_404(admin: Callable[..., Admin], suffix: str) -> None:
    response = admin().get(f"/workspaces/nowhere{suffix}")
    assert (response.status_code, response.json()) == (404, {"detail": "Workspace does not exist"})


@pytest.mark.parametrize("suffix", ["", "/muxes", "/custom-instructions"])
def test_an_archived_workspace_is_a_404_saying_how_to_recover_it(admin: Callable[..., Admin], suffix: str) -> None:
    served = admin()
    response = served.get(f"/workspaces/legacy{suffix}")
    assert response.status_code == 404
    line = document_line(served.config_dir / "workspaces.yaml", "legacy")
    assert response.json() == {
        "detail": f"Workspace legacy is archived; set archived: false in workspaces.yaml line {line} to use it again."
    }


def test_reads_follow_the_registry_a_reconcile_swaps_in(
    admin: Callable[..., Admin], config_dir: Callable[[Any], Path]
) -> None:
    served = admin()
    assert [w["name"] for w in served.get("/workspaces").json()["workspaces"]] == ["backend", "default"]
    changed = {**CONFIG, "workspaces": {**CONFIG["workspaces"], "frontend": {}}}
    state = check_dir(config_dir(changed)).state
    assert state is not None
    served.app.state.gateway.registry = build_registry(state)
    assert [w["name"] for w in served.get("/workspaces").json()["workspaces"]] == ["backend", "default", "frontend"]


# --- provider endpoints and personas ----------------------------------------------------------------------------


def provider_endpoints(fake_url: str) -> list[dict[str, Any]]:
    return [
        {
            "id": "anthropic",
            "name": "anthropic",
            "description": "",
            "provider_type": "anthropic",
            "endpoint": f"{fake_url}/v1",
            "auth_type": "api_key",
        },
        {
            "id": "ollama",
            "name": "ollama",
            "description": "",
            "provider_type": "ollama",
            "endpoint": fake_url,
            "auth_type": "none",
        },
        {
            "id": "openai",
            "name": "openai",
            "description": "OpenAI for the backend team",
            "provider_type": "openai",
            "endpoint": "https://api.openai.com/v1",
            "auth_type": "api_key",
        },
    ]


def test_provider_endpoints_never_show_a_key(
    admin: Callable[..., Admin], fake: FakeProvider, provider_keys: dict[str, str]
) -> None:
    response = admin().get("/provider-endpoints")
    assert response.status_code == 200
    assert response.json() == provider_endpoints(fake.url)
    for key in provider_keys.values():
        assert key not in response.text


def test_provider_endpoint_by_name_and_by_filter(admin: Callable[..., Admin], fake: FakeProvider) -> None:
    served = admin()
    [_, ollama, _] = provider_endpoints(fake.url)
    one = served.get("/provider-endpoints/ollama")
    assert (one.status_code, one.json()) == (200, ollama)
    filtered = served.get("/provider-endpoints", params={"name": "ollama"})
    assert (filtered.status_code, filtered.json()) == (200, [ollama])
    missing = served.get("/provider-endpoints", params={"name": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "Provider endpoint not found"})
    missing = served.get("/provider-endpoints/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Provider endpoint not found"})


def test_models_of_a_provider(admin: Callable[..., Admin]) -> None:
    served = admin()
    declared = served.get("/provider-endpoints/openai/models")
    assert declared.status_code == 200
    assert declared.json() == [
        {"name": "gpt-4o-mini", "provider_type": "openai", "provider_name": "openai"},
        {"name": "gpt-4o", "provider_type": "openai", "provider_name": "openai"},
    ]
    # Ollama lists no models: the ones rules of served workspaces route to (not the archived legacy's llama3).
    routed = served.get("/provider-endpoints/ollama/models")
    assert routed.json() == [{"name": "qwen2.5-coder:7b", "provider_type": "ollama", "provider_name": "ollama"}]
    missing = served.get("/provider-endpoints/nope/models")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Provider not found"})


def test_models_of_all_providers(admin: Callable[..., Admin]) -> None:
    response = admin().get("/provider-endpoints/models")
    assert response.status_code == 200
    assert [(m["provider_name"], m["name"]) for m in response.json()] == [
        ("anthropic", "claude-x"),
        ("ollama", "qwen2.5-coder:7b"),
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o"),
    ]


def test_personas(admin: Callable[..., Admin]) -> None:
    served = admin()
    reviewer = {"id": "reviewer", "name": "reviewer", "description": "Reviews code for security issues"}
    listed = served.get("/personas")
    assert (listed.status_code, listed.json()) == (200, [reviewer])
    one = served.get("/personas/reviewer")
    assert (one.status_code, one.json()) == (200, reviewer)
    missing = served.get("/personas/nobody")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Persona does not exist"})


# --- CodeGate's mutations: 409, change it in git ----------------------------------------------------------------

TEAM_FILE = """\
# Owned by the backend team.
# yaml-language-server: $schema=../schemas/workspace.json
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  customInstructions: Prefer the standard library.
"""

MUTATIONS: list[tuple[str, str, Any, str]] = [
    ("PUT", "/workspaces/backend", {"name": "backend"}, "workspace backend"),
    ("DELETE", "/workspaces/backend", None, "workspace backend"),
    ("PUT", "/workspaces/backend/custom-instructions", {"prompt": "x"}, "workspace backend"),
    ("DELETE", "/workspaces/backend/custom-instructions", None, "workspace backend"),
    ("PUT", "/workspaces/backend/muxes", [], "workspace backend"),
    ("POST", "/workspaces", {"name": "backend"}, "workspace backend"),
    ("POST", "/workspaces/archive/backend/recover", None, "workspace backend"),
    ("DELETE", "/workspaces/archive/backend", None, "workspace backend"),
    ("POST", "/provider-endpoints", {"name": "openai", "provider_type": "openai"}, "provider openai"),
    ("PUT", "/provider-endpoints/openai", {"name": "openai"}, "provider openai"),
    ("PUT", "/provider-endpoints/openai/auth-material", {"auth_type": "none"}, "provider openai"),
    ("DELETE", "/provider-endpoints/openai", None, "provider openai"),
    ("POST", "/personas", {"name": "reviewer", "description": "x"}, "persona reviewer"),
    ("PUT", "/personas/reviewer", {"new_name": "r", "new_description": "x"}, "persona reviewer"),
    ("DELETE", "/personas/reviewer", None, "persona reviewer"),
]


@pytest.fixture
def team_admin(
    admin: Callable[..., Admin], config_dir: Callable[[Any], Path], tmp_path: Path, build_admin: Callable[..., Admin]
) -> Admin:
    """The base config, with workspace backend declared on line 3 of teams/backend.yaml instead."""
    workspaces = {k: v for k, v in CONFIG["workspaces"].items() if k != "backend"}
    directory = config_dir({**CONFIG, "workspaces": workspaces})
    (directory / "teams").mkdir()
    (directory / "teams" / "backend.yaml").write_text(TEAM_FILE)
    return build_admin(directory, tmp_path / "team-data")


@pytest.mark.parametrize(("method", "path", "body", "resource"), MUTATIONS)
def test_a_mutation_is_a_409_naming_the_file_and_line(
    team_admin: Admin, method: str, path: str, body: Any, resource: str
) -> None:
    response = team_admin.call(method, path, body)
    assert response.status_code == 409
    origin = {
        "workspace backend": "teams/backend.yaml line 3",
        "provider openai": "providers.yaml line 1",
        "persona reviewer": "personas.yaml line 1",
    }[resource]
    assert response.json() == {"detail": f"{resource} is managed in git: edit {origin}"}


@pytest.mark.parametrize(("method", "path", "body", "resource"), MUTATIONS)
def test_a_mutation_checks_the_token_before_anything_else(
    team_admin: Admin, method: str, path: str, body: Any, resource: str
) -> None:
    missing = team_admin.call(method, path, body, token=None)
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("This endpoint needs the admin token")
    assert set(missing.json()) == {"detail"}
    wrong = team_admin.call(method, path, body, token="not-the-token")
    assert wrong.status_code == 403
    assert wrong.json()["detail"].startswith("The admin token is wrong")


def test_the_implicit_default_workspace_is_declared_in_a_file(admin: Callable[..., Admin]) -> None:
    served = admin({"workspaces": {"backend": {}}})
    response = served.call("PUT", "/workspaces/default/custom-instructions", {"prompt": "x"})
    assert (response.status_code, response.json()) == (
        409,
        {"detail": f"workspace default is managed in git: declare it in a file of {served.config_dir}"},
    )


def test_creating_something_new_says_where_to_declare_it(admin: Callable[..., Admin]) -> None:
    served = admin()
    directory = served.config_dir
    cases = [
        ("POST", "/workspaces", {"name": "frontend"}, f"declare workspace frontend in a file of {directory}"),
        ("POST", "/workspaces", {}, f"declare one in a file of {directory}"),
        ("POST", "/workspaces", "not an object", f"declare one in a file of {directory}"),
        ("POST", "/provider-endpoints", {"name": "vllm"}, f"declare provider vllm in a file of {directory}"),
        ("PUT", "/personas/nobody", {}, f"declare persona nobody in a file of {directory}"),
    ]
    for method, path, body, fix in cases:
        response = served.call(method, path, body)
        assert response.status_code == 409
        kind = path.split("/")[1].removesuffix("-endpoints").removesuffix("s")
        assert response.json() == {"detail": f"{kind}s are managed in git: {fix}"}, (method, path, body)


def with_undeclared_archived(registry: Registry, name: str) -> Registry:
    """A registry as the live reconciler leaves it when a workspace's file was deleted: archived, not declared."""
    gone = WorkspaceRuntime(name=name, archived=True, instructions="", rules=(), needs_filenames=False)
    return replace(registry, workspaces=MappingProxyType({**registry.workspaces, name: gone}))


def test_a_workspace_archived_because_its_file_is_gone(admin: Callable[..., Admin]) -> None:
    served = admin()
    served.app.state.gateway.registry = with_undeclared_archived(served.registry, "gone")
    assert served.get("/workspaces/archive").json()["workspaces"] == [
        {"name": "gone", "is_active": False},
        {"name": "legacy", "is_active": False},
    ]
    prefix = "workspace gone is managed in git: it is archived because no file declares it; "
    recover = served.call("POST", "/workspaces/archive/gone/recover")
    assert recover.json() == {"detail": f"{prefix}declare it again in a file of {served.config_dir} to recover it"}
    delete = served.call("DELETE", "/workspaces/archive/gone")
    assert delete.json() == {
        "detail": f"{prefix}set MUXGATE_PRUNE_ARCHIVED=true on the gateway to remove archived workspaces"
    }
    read = served.get("/workspaces/gone")
    assert read.status_code == 404
    assert (
        read.json()["detail"]
        == f"Workspace gone is archived; declare it again in a file of {served.config_dir} to use it again."
    )


def test_unknown_admin_routes_and_methods_are_refused(admin: Callable[..., Admin]) -> None:
    served = admin()
    assert served.get("/nothing-here").status_code == 404
    assert served.call("PATCH", "/workspaces/backend", {}).status_code == 405
