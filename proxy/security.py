"""What stands between the network and the gateway: the Host check, CORS and the admin token.

    request ─▶ HostCheck (every route: a set lookup on the Host header) ─▶ CORS (only when origins are set)
            ─▶ router ─▶ admin routes: guards `require_admin` (mutations, activation) / `require_reader` (GETs)

The Host check refuses DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches the gateway with its own
name in the Host header, so only loopback names, the address the connection arrived at and the names in
`allowed_hosts` are served. The admin token comes from `MUXGATE_ADMIN_TOKEN`, or is generated once into
DATA_DIR/admin-token (mode 0600); it is never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from proxy.asgi import send_json
from proxy.session import DataDirError
from proxy.settings import Settings
from proxy.translate import error_body
from reconciler.models import ApiFormat

log = logging.getLogger("muxgate.security")

TOKEN_FILE = "admin-token"
TOKEN_VARIABLE = "MUXGATE_ADMIN_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# The gateway names the headers it sets on answers; a browser page may read them only if they are exposed.
_EXPOSED_HEADERS = ["x-muxgate-workspace", "x-muxgate-provider", "x-muxgate-model"]
_WHERE_THE_TOKEN_IS = f"the token is in the file {TOKEN_FILE} of the gateway's data directory, or {TOKEN_VARIABLE}"


# --- binding ----------------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """What `muxgate serve` warns about when it listens beyond this machine; None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"listening on {host}, which other machines can reach: the admin API's reads need the admin token too, and "
        "clients must use a loopback name, the address they connect to, or a name in MUXGATE_ALLOWED_HOSTS"
    )


# --- admin token ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminAuth:
    """The admin token and when it is required. `source` names where the token came from, never its value."""

    token: bytes = field(repr=False)
    source: str
    reads_need_token: bool

    def check(self, scope: Scope) -> None:
        """Raise 401 when the request carries no bearer token, 403 when it carries another one."""
        value = _header(scope, b"authorization")
        if value is None:
            raise NotAuthorizedException(
                detail=f"This endpoint needs the admin token (Authorization: Bearer <token>); {_WHERE_THE_TOKEN_IS}.",
                headers={"WWW-Authenticate": 'Bearer realm="muxgate"'},
            )
        scheme, _, given = value.strip().partition(b" ")
        given = given.strip()
        if scheme.lower() != b"bearer" or not given:
            raise NotAuthorizedException(
                detail="The Authorization header must be Bearer <token>, with the admin token.",
                headers={"WWW-Authenticate": 'Bearer realm="muxgate"'},
            )
        if not hmac.compare_digest(given, self.token):
            raise PermissionDeniedException(detail=f"The admin token is wrong; {_WHERE_THE_TOKEN_IS}.")


def load_admin_auth(settings: Settings) -> AdminAuth:
    """The token from the settings, else the one in DATA_DIR/admin-token, created on first use."""
    reads_need_token = not is_loopback(settings.host)
    configured = settings.admin_token.get_secret_value().strip() if settings.admin_token else ""
    if configured:
        log.info("admin token: from %s", TOKEN_VARIABLE)
        return AdminAuth(configured.encode(), TOKEN_VARIABLE, reads_need_token)
    path = settings.data_dir / TOKEN_FILE
    token = _read_or_create_token(path)
    log.info("admin token: in %s (send it as Authorization: Bearer <token>)", path.resolve())
    return AdminAuth(token.encode(), str(path), reads_need_token)


def _read_or_create_token(path: Path) -> str:
    try:
        return _read_token(path)
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: a second gateway starting on the same data dir at the same moment reads the first one's token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    except OSError as exc:
        raise DataDirError(f"cannot create the admin token file {path} ({exc.strerror or exc}).") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask says
        out.write(token + "\n")
    log.info("generated a new admin token in %s", path)
    return token


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DataDirError(f"cannot read the admin token file {path} ({reason}).") from exc
    if not token:
        raise DataDirError(f"the admin token file {path} is empty; delete it to have a new token generated.")
    if mode & 0o077:
        log.warning("%s can be read by other users; restrict it with: chmod 600 %s", path, path)
    return token


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def require_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of activation and every mutating admin endpoint."""
    auth: AdminAuth = connection.app.state.admin_auth
    auth.check(connection.scope)


def require_reader(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the admin API's reads: open on a loopback bind, the admin token otherwise."""
    auth: AdminAuth = connection.app.state.admin_auth
    if auth.reads_need_token:
        auth.check(connection.scope)


# --- Host check -------------------------------------------------------------------------------------------------


def _split_host(text: str) -> tuple[str, str]:
    """("name", "port") of a Host value or an allowed_hosts entry, lower-cased, without a trailing dot."""
    text = text.strip().lower()
    if "://" in text:
        text = urlsplit(text).netloc
    if text.startswith("["):
        end = text.find("]")
        name, rest = (text[: end + 1], text[end + 1 :]) if end > 0 else (text, "")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, colon, port = text.rpartition(":")
        if not colon or not port.isdigit():
            name, port = text, ""
    return name.rstrip("."), port


class HostCheck:
    """Raw ASGI middleware refusing requests whose Host header names neither this gateway nor an allowed name.

    The allowed Host values for a listening address are computed once and kept as bytes, so a request costs one
    scan for the Host header and one set lookup; only a value not in the set (odd case, trailing dot, an allowed
    name on another port) is parsed.
    """

    __slots__ = ("_allowed", "_bare", "_names", "app")

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self._names: frozenset[str] = frozenset(
            name + (f":{port}" if port else "") for name, port in map(_split_host, allowed_hosts) if name
        )
        # Names allowed on any port, for a gateway behind a reverse proxy that keeps the client's Host.
        self._bare = frozenset(n for n in self._names if _split_host(n)[1] == "")
        # By listening address: ASGI servers give (host, port), or None for a Unix socket.
        self._allowed: dict[Any, frozenset[bytes]] = {}

    def _allowed_for(self, server: tuple[str, int] | None) -> frozenset[bytes]:
        names = set(LOOPBACK_NAMES)
        values: set[str] = set()
        if server is None:  # a Unix socket: no port in the Host a client sends
            values.update(names)
        else:
            host, port = server
            names.add(f"[{host}]" if ":" in host else host.lower())
            values.update(f"{n}:{port}" for n in names)
            if port == 80:
                values.update(names)
            values.update(f"{n}:{port}" for n in self._bare)
        values.update(self._names)
        allowed = frozenset(v.encode("latin-1", "replace") for v in values)
        if len(self._allowed) >= 64:  # listening addresses are few; never let the cache grow without bound
            self._allowed.clear()
        self._allowed[server] = allowed
        return allowed

    def allows(self, host: bytes | None, server: Any) -> bool:
        if host is None:  # HTTP/1.0 without Host: not a browser, so not a rebinding attack
            return True
        if server is not None and type(server) is not tuple:
            server = (server[0], server[1])
        allowed = self._allowed.get(server)
        if allowed is None:
            allowed = self._allowed_for(server)
        if host in allowed:
            return True
        name, port = _split_host(host.decode("latin-1"))
        return name in self._bare or (f"{name}:{port}" if port else name).encode("latin-1", "replace") in allowed

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine itself: it hands back the awaitable of the app (or of the refusal), so the check adds no
        # frame that every resumption of the request's task would pass through.
        # Litestar hands lifespan events to its own handler: only HTTP and websocket scopes come here.
        for key, value in scope["headers"]:
            if key == b"host":
                server = scope.get("server")
                # The fast path, inline: a known listening address and a Host value seen in its set.
                allowed = self._allowed.get(server) if type(server) is tuple else None
                if (allowed is None or value not in allowed) and not self.allows(value, server):
                    if scope["type"] == ScopeType.WEBSOCKET:
                        return send({"type": "websocket.close", "code": 1008, "reason": "Host not allowed"})
                    return _refuse(scope, send, value)
                break
        return self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, host: bytes) -> None:
    shown = host.decode("latin-1")[:200]
    message = (
        f'This gateway does not answer to the host name "{shown}". Connect through 127.0.0.1, localhost or [::1], '
        "or add the name to the allowed_hosts setting (MUXGATE_ALLOWED_HOSTS, comma-separated). The check stops "
        "web pages from reaching the gateway through DNS rebinding."
    )
    fmt = _client_format(scope["path"])
    body = {"detail": message} if fmt is None else error_body(fmt, 421, message, "permission_error")
    await send_json(send, 421, body)


def _client_format(path: str) -> ApiFormat | None:
    """The API a client route speaks, so a refused client reads the error in its own format; None for others."""
    if path.startswith("/w/"):
        path = "/" + path[3:].partition("/")[2]
    if path.startswith("/api/v1/") or path == "/api/v1":
        return None
    if path.startswith("/v1/messages"):
        return ApiFormat.ANTHROPIC
    if path.startswith("/v1/"):
        return ApiFormat.OPENAI
    if path.startswith("/api/"):
        return ApiFormat.OLLAMA
    return None


# --- CORS and wiring --------------------------------------------------------------------------------------------


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS for exactly the configured origins; none at all (no CORS headers) by default."""
    if not settings.cors_origins:
        return None
    return CORSConfig(allow_origins=list(settings.cors_origins), expose_headers=_EXPOSED_HEADERS)


def protect(app: Litestar, settings: Settings) -> AdminAuth:
    """Load the admin token into `app.state.admin_auth` and put the Host check in front of every route."""
    auth = load_admin_auth(settings)
    app.state.admin_auth = auth
    if "*" in settings.allowed_hosts:
        log.warning("allowed_hosts is *: the Host check is off, so web pages can reach the gateway by DNS rebinding")
    else:
        # Outside the router, CORS and the exception handler: unknown paths and preflights are checked as well.
        app.asgi_handler = HostCheck(app.asgi_handler, settings.allowed_hosts)
    return auth
