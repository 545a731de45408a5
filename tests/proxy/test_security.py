"""The gateway's protections: the admin token (generated once, mode 0600, reused; 401/403), reads on loopback and
beyond, the Host check against DNS rebinding on every route over real HTTP, CORS only for configured origins, and
`muxgate serve` refusing a data directory it cannot write."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from proxy.app import create_app
from proxy.registry import build_registry
from proxy.security import HostCheck, exposure_warning, is_loopback, load_admin_auth
from proxy.session import DataDirError
from proxy.settings import Settings
from reconciler.state import DesiredState

BASE = "http://127.0.0.1:8989"
CONFIG = {
    "workspaces": {"default": {"muxRules": [{"match": {"type": "catch_all"}, "provider": "ollama", "model": "m"}]}}
}


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[Callable[..., TestClient[Litestar]]]:
    """`app_client(**settings)`: a client of an app over an empty config, with a data dir of its own."""
    with ExitStack() as stack:
        counter = iter(range(1000))

        def open_client(**settings: Any) -> TestClient[Litestar]:
            settings = {"data_dir": tmp_path / f"data{next(counter)}", **settings}
            app = create_app(Settings(**settings), build_registry(DesiredState.empty()))
            return stack.enter_context(TestClient(app, base_url=BASE))

        yield open_client


def token_of(client: TestClient[Litestar]) -> str:
    token: bytes = client.app.state.admin_auth.token
    return token.decode()


# --- admin token ------------------------------------------------------------------------------------------------


def test_the_token_is_generated_once_with_mode_0600_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    old_umask = os.umask(0)  # the file must be private whatever the umask says
    try:
        with caplog.at_level(logging.INFO, logger="muxgate.security"):
            first = load_admin_auth(settings)
    finally:
        os.umask(old_umask)
    path = tmp_path / "data" / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == first.token.decode()
    assert len(first.token) >= 40
    assert str(path.resolve()) in caplog.text
    assert first.token.decode() not in caplog.text
    assert first.token.decode() not in repr(first)

    second = load_admin_auth(settings)
    assert second.token == first.token
    assert second.source == str(path)


def test_the_token_setting_wins_and_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXGATE_ADMIN_TOKEN", "a-token-from-the-environment")
    auth = load_admin_auth(Settings(data_dir=tmp_path / "data"))
    assert (auth.token, auth.source) == (b"a-token-from-the-environment", "MUXGATE_ADMIN_TOKEN")
    assert not (tmp_path / "data").exists()


def test_an_empty_token_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("\n")
    with pytest.raises(DataDirError, match=f"the admin token file {tmp_path / 'admin-token'} is empty; delete it"):
        load_admin_auth(Settings(data_dir=tmp_path))


def test_a_token_file_others_can_read_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "admin-token"
    path.write_text("a-token-someone-wrote\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="muxgate.security"):
        auth = load_admin_auth(Settings(data_dir=tmp_path))
    assert auth.token == b"a-token-someone-wrote"
    assert f"restrict it with: chmod 600 {path}" in caplog.text


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("", 401), ("Basic dXNlcjpwYXNz", 401), ("Bearer", 401), ("Bearer wrong", 403), ("right", 204)],
)
def test_activation_token_checks(
    app_client: Callable[..., TestClient[Litestar]], authorization: str | None, status: int
) -> None:
    client = app_client(default_workspace="elsewhere")
    if authorization == "right":
        authorization = f"bearer  {token_of(client)} "  # the scheme in any case, spaces around the token
    headers = {} if authorization is None else {"authorization": authorization}
    response = client.post("/api/v1/workspaces/active", json={"name": "default"}, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="muxgate"'
    if status != 204:
        assert list(response.json()) == ["detail"]


def test_reads_are_open_on_loopback_and_need_the_token_beyond(app_client: Callable[..., TestClient[Litestar]]) -> None:
    loopback = app_client()
    assert loopback.get("/api/v1/workspaces").status_code == 200

    exposed = app_client(host="0.0.0.0")  # only a setting: nothing is bound here
    for path in ("/api/v1/workspaces", "/api/v1/workspaces/active", "/api/v1/provider-endpoints", "/api/v1/personas"):
        assert exposed.get(path).status_code == 401, path
        assert list(exposed.get(path).json()) == ["detail"], path
        token = {"authorization": f"Bearer {token_of(exposed)}"}
        assert exposed.get(path, headers=token).status_code == 200, path
    assert exposed.get("/health").status_code == 200
    # The reconcile status is a read too, with the admin API's error shape.
    refused = exposed.get("/api/v1/reconcile/status")
    assert (refused.status_code, list(refused.json())) == (401, ["detail"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("gateway.example", False),
    ],
)
def test_loopback_addresses_and_the_warning_for_others(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = exposure_warning(host)
    assert (warning is None) is loopback
    if warning is not None:
        assert warning.startswith(f"listening on {host}, which other machines can reach")


# --- Host check -------------------------------------------------------------------------------------------------

REFUSED_ROUTES: list[tuple[str, str, Callable[[Any], str]]] = [
    ("POST", "/v1/chat/completions", lambda body: body["error"]["message"]),
    ("POST", "/w/default/v1/chat/completions", lambda body: body["error"]["message"]),
    ("POST", "/v1/messages", lambda body: body["error"]["message"]),
    ("POST", "/api/chat", lambda body: body["error"]),
    ("GET", "/v1/models", lambda body: body["error"]["message"]),
    ("GET", "/api/v1/workspaces", lambda body: body["detail"]),
    ("POST", "/api/v1/workspaces/active", lambda body: body["detail"]),
    ("GET", "/health", lambda body: body["detail"]),
    ("GET", "/not-a-route", lambda body: body["detail"]),
    ("OPTIONS", "/api/v1/workspaces", lambda body: body["detail"]),
]


@pytest.mark.parametrize(("method", "path", "message_of"), REFUSED_ROUTES)
def test_a_rebinding_host_is_refused_on_every_route(
    gateway: Callable[..., str], http: httpx.Client, method: str, path: str, message_of: Callable[[Any], str]
) -> None:
    url = gateway(CONFIG)
    response = http.request(method, url + path, json=CONFIG, headers={"host": "evil.example"})
    assert response.status_code == 421
    message = message_of(response.json())
    assert message.startswith('This gateway does not answer to the host name "evil.example".')
    assert "allowed_hosts setting (MUXGATE_ALLOWED_HOSTS" in message


def test_the_refusal_speaks_the_format_of_the_client_api(gateway: Callable[..., str], http: httpx.Client) -> None:
    url = gateway(CONFIG)
    evil = {"host": "evil.example"}
    anthropic = http.post(url + "/v1/messages", json={}, headers=evil).json()
    assert (anthropic["type"], anthropic["error"]["type"]) == ("error", "permission_error")
    openai = http.post(url + "/v1/chat/completions", json={}, headers=evil).json()
    assert openai["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}", "localhost.:{port}", None],
)
def test_loopback_names_on_the_bound_port_are_served(
    gateway: Callable[..., str], http: httpx.Client, host: str | None
) -> None:
    url = gateway(CONFIG)
    port = urlsplit(url).port
    headers = {} if host is None else {"host": host.format(port=port)}
    assert http.get(url + "/health", headers=headers).status_code == 200
    assert http.get(url + "/api/v1/workspaces", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "localhost.evil.example:{port}", "127.0.0.1.nip.io:{port}", "evil.example"]
)
def test_other_names_are_refused(gateway: Callable[..., str], http: httpx.Client, host: str) -> None:
    url = gateway(CONFIG)
    headers = {"host": host.format(port=urlsplit(url).port)}
    assert http.get(url + "/health", headers=headers).status_code == 421


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("muxgate.internal", 200),
        ("muxgate.internal:{port}", 200),
        ("muxgate.internal:443", 200),
        ("Gateway.Example:8443", 200),
        ("gateway.example:9999", 421),
        ("gateway.example", 421),
        ("evil.example", 421),
    ],
)
def test_allowed_hosts_are_served(gateway: Callable[..., str], http: httpx.Client, host: str, status: int) -> None:
    url = gateway(CONFIG, allowed_hosts=("muxgate.internal", "gateway.example:8443"))
    headers = {"host": host.format(port=urlsplit(url).port)}
    assert http.post(url + "/v1/chat/completions", json={}, headers=headers).status_code in (
        {400} if status == 200 else {421}
    )
    assert http.get(url + "/health", headers=headers).status_code == status


def test_a_star_turns_the_host_check_off(gateway: Callable[..., str], http: httpx.Client) -> None:
    url = gateway(CONFIG, allowed_hosts=("*",))
    assert http.get(url + "/health", headers={"host": "evil.example"}).status_code == 200


def check(host: bytes | None, server: Any, allowed: tuple[str, ...] = ()) -> bool:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    return HostCheck(app, allowed).allows(host, server)


def test_host_check_cases() -> None:
    lan = ("192.168.1.5", 8989)
    assert check(b"192.168.1.5:8989", lan)  # the address the connection arrived at
    assert not check(b"192.168.1.6:8989", lan)
    assert check(b"[::1]:8989", ("::1", 8989))
    assert check(b"[fe80::1]:8989", ("fe80::1", 8989))
    assert check(b"localhost", ("127.0.0.1", 80))  # port 80 goes without saying
    assert not check(b"localhost", ("127.0.0.1", 8989))
    assert check(b"localhost", None)  # a Unix socket
    assert check(b"localhost:8989", ["127.0.0.1", 8989])  # some servers hand a list
    assert check(None, ("127.0.0.1", 8989))  # HTTP/1.0 without Host: not a browser
    assert check(b"gw.example", lan, ("https://GW.example/",))  # an entry written as a URL
    assert not check(b"", lan)


# --- CORS -------------------------------------------------------------------------------------------------------

DASHBOARD = "https://dashboard.example"


def test_no_cors_by_default(app_client: Callable[..., TestClient[Litestar]]) -> None:
    client = app_client()
    simple = client.get("/api/v1/workspaces", headers={"origin": DASHBOARD})
    assert simple.status_code == 200
    assert not [h for h in simple.headers if h.startswith("access-control-")]
    preflight = client.options(
        "/api/v1/workspaces/active",
        headers={"origin": DASHBOARD, "access-control-request-method": "POST"},
    )
    assert not [h for h in preflight.headers if h.startswith("access-control-")]


def test_cors_for_exactly_the_configured_origins(app_client: Callable[..., TestClient[Litestar]]) -> None:
    client = app_client(cors_origins=(DASHBOARD,))
    simple = client.get("/api/v1/workspaces", headers={"origin": DASHBOARD})
    assert simple.headers["access-control-allow-origin"] == DASHBOARD
    other = client.get("/api/v1/workspaces", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    preflight = client.options(
        "/api/v1/workspaces/active",
        headers={
            "origin": DASHBOARD,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    refused = client.options(
        "/api/v1/workspaces/active",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


def test_cors_origins_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUXGATE_CORS_ORIGINS", f"{DASHBOARD}, http://localhost:3000")
    monkeypatch.setenv("MUXGATE_ALLOWED_HOSTS", "muxgate.internal,gw.example:8443")
    settings = Settings()
    assert settings.cors_origins == (DASHBOARD, "http://localhost:3000")
    assert settings.allowed_hosts == ("muxgate.internal", "gw.example:8443")


# --- muxgate serve and its data directory -----------------------------------------------------------------------


def test_serve_exits_1_naming_a_data_directory_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    data_dir = blocker / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUXGATE_")}
    muxgate = str(Path(sys.executable).parent / "muxgate")
    done = subprocess.run(
        [muxgate, "serve", str(tmp_path / "config"), "--port", "0", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"muxgate: cannot create the data directory {data_dir} (Not a directory); "
        "choose another one with --data-dir or MUXGATE_DATA_DIR."
    )
