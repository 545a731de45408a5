"""The Litestar application: client-API routes on raw ASGI handlers, model listings, health, and the lifespan.

`create_app(settings, registry)` builds everything from its arguments and nothing at import time. The upstream
client is opened and closed by the lifespan and kept on the Gateway in `app.state.gateway`, which also holds the
registry that a reconcile swaps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, get
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send

from proxy.asgi import send_json
from proxy.gateway import Gateway
from proxy.registry import Registry
from proxy.request_info import ClientApi
from proxy.settings import Settings
from proxy.translate import error_body
from proxy.upstream import make_client
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
_FORMAT = {
    ClientApi.ANTHROPIC_MESSAGES: ApiFormat.ANTHROPIC,
    ClientApi.OLLAMA_CHAT: ApiFormat.OLLAMA,
    ClientApi.OLLAMA_GENERATE: ApiFormat.OLLAMA,
}


async def _dispatch(api: ClientApi, path: str, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        fmt = _FORMAT.get(api, ApiFormat.OPENAI)
        await send_json(send, 405, error_body(fmt, 405, f"Use POST for {path}."), [(b"allow", b"POST")])
        return
    gateway: Gateway = scope["app"].state.gateway
    await gateway.handle(api, scope, receive, send)


def _proxy_handler(path: str, api: ClientApi) -> Any:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        await _dispatch(api, path, scope, receive, send)

    name = "proxy" + path.replace("/", "-")
    handler.__name__ = name.replace("-", "_")
    return asgi(path=path, is_mount=False, name=name)(handler)


@asgi(path="/w", is_mount=True, name="workspace-prefix")
async def _prefixed(scope: Scope, receive: Receive, send: Send) -> None:
    """`/w/NAME/<client route>`: the workspace in the path, for clients that can only set a base URL."""
    # Litestar hands a mount the path below its prefix, with a trailing slash added.
    name, _, rest = scope["path"].removeprefix("/w").strip("/").partition("/")
    rest = "/" + rest
    scope = {**scope, "path_params": {"workspace": name}}  # type: ignore[typeddict-unknown-key]
    gateway: Gateway = scope["app"].state.gateway
    api = _ROUTES.get(rest)
    if api is not None:
        await _dispatch(api, rest, scope, receive, send)
    elif scope["method"] == "GET" and rest in _MODEL_ROUTES:
        await send_json(send, 200, models_body(gateway, name, anthropic=_has_header(scope, b"anthropic-version")))
    elif scope["method"] == "GET" and rest == _TAGS_ROUTE:
        await send_json(send, 200, tags_body(gateway, name))
    else:
        await send_json(send, 404, {"detail": f"Not found: {scope['path']}"})


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope["headers"])


def _routed_models(gateway: Gateway, workspace: str | None) -> list[tuple[str, str]]:
    """(provider, model) pairs the workspace's rules can route to, in rule order."""
    registry = gateway.registry
    ws = registry.workspaces.get(workspace or gateway.active_workspace)
    if ws is None or ws.archived:
        return []
    return list(dict.fromkeys((r.provider.name, r.model) for r in ws.rules))


def models_body(gateway: Gateway, workspace: str | None, *, anthropic: bool) -> dict[str, Any]:
    """OpenAI's model list, or Anthropic's when the client sends Anthropic's headers."""
    models = _routed_models(gateway, workspace)
    if anthropic:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"} for _, m in models
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


@get(sorted(_MODEL_ROUTES), name="models")
async def list_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
    gateway = request.app.state.gateway
    workspace = request.headers.get("x-muxgate-workspace")
    return models_body(gateway, workspace, anthropic="anthropic-version" in request.headers)


@get(_TAGS_ROUTE, name="ollama-tags")
async def ollama_tags(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return tags_body(request.app.state.gateway, request.headers.get("x-muxgate-workspace"))


@get(["/health", "/api/v1/health"], name="health")
async def health() -> dict[str, str]:
    return {"status": "healthy"}


def create_app(settings: Settings, registry: Registry, *, debug: bool = False) -> Litestar:
    """The gateway serving `registry`; swap `app.state.gateway.registry` to apply a new config."""
    gateway = Gateway(registry=registry, client=None, settings=settings, active_workspace=settings.default_workspace)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client = make_client(settings.transport)
        gateway.client = client
        try:
            yield
        finally:
            gateway.client = None
            await client.aclose()

    handlers: list[Callable[..., Coroutine[Any, Any, Any]]] = [_proxy_handler(p, api) for p, api in _ROUTES.items()]
    app = Litestar(
        route_handlers=[*handlers, _prefixed, list_models, ollama_tags, health],
        lifespan=[lifespan],
        # Litestar's default logging config sets the root logger to INFO, which makes httpx log every upstream
        # call; the gateway configures logging itself (proxy.cli).
        logging_config=None,
        debug=debug,
        openapi_config=None,
    )
    app.state.gateway = gateway
    return app
