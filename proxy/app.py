"""The Litestar application: client-API routes on raw ASGI handlers, model listings, health, and the lifespan.

`create_app(settings, registry)` builds everything from its arguments and nothing at import time. The upstream
client is opened and closed by the lifespan and kept on the Gateway in `app.state.gateway`, which also holds the
registry that a reconcile swaps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Request, Response, get
from litestar.handlers import asgi
from litestar.types import HTTPScope, Receive, Scope, Send

from proxy.admin import admin_router
from proxy.analytics.lifespan import analytics_lifespan
from proxy.analytics.routes import analytics_router
from proxy.asgi import send_json
from proxy.gateway import CLIENT_FORMAT, ClientError, Gateway
from proxy.live import LiveReconciler, reconcile_router, reconcile_status
from proxy.live.loop import Applied
from proxy.registry import Registry
from proxy.request_info import ClientApi
from proxy.security import cors_config, protect
from proxy.session import SessionStore
from proxy.settings import Settings
from proxy.translate import error_body
from proxy.upstream import make_upstream
from reconciler.models import ApiFormat

log = logging.getLogger("muxgate")

# Client routes. CodeGate's /v1/mux/ paths are aliases; every route is also served under /w/NAME/ (see _prefixed).
_ROUTES: dict[str, ClientApi] = {
    "/v1/chat/completions": ClientApi.OPENAI_CHAT,
    "/v1/completions": ClientApi.OPENAI_COMPLETIONS,
    "/v1/mux/chat/completions": ClientApi.OPENAI_CHAT,
    "/v1/mux/completions": ClientApi.OPENAI_COMPLETIONS,
    "/v1/messages": ClientApi.ANTHROPIC_MESSAGES,
    "/api/chat": ClientApi.OLLAMA_CHAT,
    "/api/generate": ClientApi.OLLAMA_GENERATE,
}
_MODEL_ROUTES = frozenset({"/v1/models", "/v1/mux/models"})
_TAGS_ROUTE = "/api/tags"


def _dispatch(api: ClientApi, path: str, scope: HTTPScope, receive: Receive, send: Send) -> Awaitable[None]:
    # The awaitable of the request, not a coroutine of its own: one frame less on every resumption of the task.
    if scope["method"] != "POST":
        fmt = CLIENT_FORMAT[api]
        return send_json(send, 405, error_body(fmt, 405, f"Use POST for {path}."), [(b"allow", b"POST")])
    gateway: Gateway = scope["app"].state.gateway
    return gateway.handle(api, scope, receive, send)


def _proxy_handler(path: str, api: ClientApi) -> Any:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        await _dispatch(api, path, scope, receive, send)  # type: ignore[arg-type]  # an HTTP scope here

    name = "proxy" + path.replace("/", "-")
    handler.__name__ = name.replace("-", "_")
    return asgi(path=path, is_mount=False, name=name, copy_scope=False)(handler)


@asgi(path="/w", is_mount=True, name="workspace-prefix", copy_scope=False)
async def _prefixed(scope: Scope, receive: Receive, send: Send) -> None:
    """`/w/NAME/<client route>`: the workspace in the path, for clients that can only set a base URL."""
    # Litestar hands a mount the path below its prefix, with a trailing slash added.
    name, _, rest = scope["path"].removeprefix("/w").strip("/").partition("/")
    rest = "/" + rest
    http = cast("HTTPScope", {**scope, "path_params": {"workspace": name}})
    gateway: Gateway = http["app"].state.gateway
    api = _ROUTES.get(rest)
    if api is not None:
        await _dispatch(api, rest, http, receive, send)
    elif http["method"] == "GET" and rest in _MODEL_ROUTES:
        anthropic = _has_header(http, b"anthropic-version")
        await send_json(send, *_listing(gateway, name, ApiFormat.ANTHROPIC if anthropic else ApiFormat.OPENAI))
    elif http["method"] == "GET" and rest == _TAGS_ROUTE:
        await send_json(send, *_listing(gateway, name, ApiFormat.OLLAMA))
    else:
        await send_json(send, 404, {"detail": f"Not found: /w/{name}{rest}"})


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope["headers"])


def _routed_models(gateway: Gateway, workspace: str | None) -> list[tuple[str, str]]:
    """(provider, model) pairs the workspace's rules can route to, in rule order; ClientError 404 when the
    workspace does not exist or is archived."""
    ws = gateway.find_workspace(workspace, gateway.registry)
    return list(dict.fromkeys((r.provider.name, r.model) for r in ws.rules))


def models_body(gateway: Gateway, workspace: str | None, *, anthropic: bool) -> dict[str, Any]:
    """OpenAI's model list, or Anthropic's when the client sends Anthropic's headers."""
    models = _routed_models(gateway, workspace)
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z", "lifecycle": "active"}
            for _, m in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    return {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": 0, "owned_by": p} for p, m in models],
    }


def tags_body(gateway: Gateway, workspace: str | None) -> dict[str, Any]:
    """Ollama's model list."""
    return {
        "models": [
            {
                "name": m,
                "model": m,
                "modified_at": "1970-01-01T00:00:00Z",
                "size": 0,
                "digest": "",
                "details": {"format": "", "family": p},
            }
            for p, m in _routed_models(gateway, workspace)
        ]
    }


def _listing(gateway: Gateway, workspace: str | None, fmt: ApiFormat) -> tuple[int, dict[str, Any]]:
    """(status, body) of a model listing in `fmt`; a client configured with a wrong workspace learns it here."""
    try:
        if fmt is ApiFormat.OLLAMA:
            return 200, tags_body(gateway, workspace)
        return 200, models_body(gateway, workspace, anthropic=fmt is ApiFormat.ANTHROPIC)
    except ClientError as exc:
        return exc.status, error_body(fmt, exc.status, exc.message, exc.kind)


@get(sorted(_MODEL_ROUTES), name="models")
async def list_models(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    fmt = ApiFormat.ANTHROPIC if "anthropic-version" in request.headers else ApiFormat.OPENAI
    status, body = _listing(request.app.state.gateway, request.headers.get("x-muxgate-workspace"), fmt)
    return Response(body, status_code=status)


@get(_TAGS_ROUTE, name="ollama-tags")
async def ollama_tags(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    status, body = _listing(request.app.state.gateway, request.headers.get("x-muxgate-workspace"), ApiFormat.OLLAMA)
    return Response(body, status_code=status)


@get(["/health", "/api/v1/health"], name="health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


def _record_applied(gateway: Gateway, applied: Applied) -> None:
    """Each applied revision becomes a config_revisions row, so cost can be joined to the change that caused it."""
    if gateway.analytics is not None:
        plan = applied.plan
        gateway.analytics.record_revision(
            applied.revision,
            applied.state_hash,
            added=plan.to_add,
            changed=plan.to_change,
            archived=plan.to_archive,
            recovered=plan.to_recover,
            deleted=plan.to_delete,
        )


def create_app(
    settings: Settings, registry: Registry, *, debug: bool = False, live: LiveReconciler | None = None
) -> Litestar:
    """The gateway serving `registry`; swap `app.state.gateway.registry` to apply a new config. With `live`, the
    app's lifespan runs its watcher, which swaps the registry when the config directory changes."""
    # The workspace activated through the admin API survives a restart (DATA_DIR/session.json).
    session = SessionStore.open(settings.data_dir, registry, fallback=settings.default_workspace)
    gateway = Gateway(
        registry=registry, client=None, settings=settings, active_workspace=session.current.active_workspace
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client = make_upstream(settings.transport)
        gateway.client = client
        try:
            yield
        finally:
            gateway.client = None
            await client.aclose()

    handlers: list[Callable[..., Coroutine[Any, Any, Any]]] = [_proxy_handler(p, api) for p, api in _ROUTES.items()]
    app = Litestar(
        route_handlers=[
            *handlers,
            _prefixed,
            list_models,
            ollama_tags,
            health,
            admin_router(),
            analytics_router(),
            reconcile_status,
            reconcile_router(),
        ],
        cors_config=cors_config(settings),
        # Analytics open first and close last, after the requests in flight were recorded.
        lifespan=[analytics_lifespan(gateway), lifespan] + ([] if live is None else [live.lifespan]),
        # Litestar's default logging config sets the root logger to INFO, which makes httpx log every upstream
        # call; the gateway configures logging itself (proxy.cli).
        logging_config=None,
        debug=debug,
        openapi_config=None,
    )
    app.state.gateway = gateway
    app.state.session = session
    if live is not None:
        live.bind(gateway)
        live.add_listener(lambda applied: _record_applied(gateway, applied))
        app.state.live = live
    protect(app, settings)  # admin token, and the Host check in front of every route
    return app
