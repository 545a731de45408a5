"""CodeGate's mutating endpoints, answered with 409 and where to make the change in git instead.

Muxgate's config is the directory in git: the API never edits it, so an old dashboard or script that tries learns
which file and line to edit. The admin token is checked first (guard `require_admin`), so these answers never tell
an unauthenticated caller anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from litestar import Request, delete, post, put
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from proxy.gateway import Gateway
from proxy.registry import Registry
from proxy.security import require_admin

Kind = Literal["Workspace", "Provider", "Persona"]
Action = Literal["change", "recover", "delete-archived"]
_WRITE = [require_admin]


def managed_detail(
    registry: Registry, config_dir: Path, kind: Kind, name: str | None, action: Action = "change"
) -> str:
    """The sentence of a 409: the file and line declaring the resource, or where to declare it."""
    label = kind.lower()
    if not name:
        return f"{label}s are managed in git: declare one in a file of {config_dir}"
    origin = registry.state.origin(kind, name)
    if origin is not None:
        return f"{label} {name} is managed in git: edit {origin.file} line {origin.line}"
    declared: Mapping[str, Any] = {
        "Workspace": registry.state.workspaces,
        "Provider": registry.state.providers,
        "Persona": registry.state.personas,
    }[kind]
    if name in declared:  # declared by nobody but always there: the implicit default workspace
        return f"{label} {name} is managed in git: declare it in a file of {config_dir}"
    if kind == "Workspace" and name in registry.workspaces:
        # Archived because its declaration is gone; the reconciler keeps it until it is pruned.
        fix = (
            "set MUXGATE_PRUNE_ARCHIVED=true on the gateway to remove archived workspaces"
            if action == "delete-archived"
            else f"declare it again in a file of {config_dir} to recover it"
        )
        return f"workspace {name} is managed in git: it is archived because no file declares it; {fix}"
    return f"{label}s are managed in git: declare {label} {name} in a file of {config_dir}"


def _conflict(
    request: Request[Any, Any, Any], kind: Kind, name: str | None, action: Action = "change"
) -> HTTPException:
    gateway: Gateway = request.app.state.gateway
    detail = managed_detail(gateway.registry, gateway.settings.config_dir, kind, name, action)
    return HTTPException(status_code=409, detail=detail)


async def _name_in_body(request: Request[Any, Any, Any]) -> str | None:
    """The "name" of a create request, to point at the right file; None when the body has none."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


@post("/workspaces", status_code=201, guards=_WRITE)
async def create_workspace(request: Request[Any, Any, Any]) -> None:
    raise _conflict(request, "Workspace", await _name_in_body(request))


@put(
    ["/workspaces/{name:str}", "/workspaces/{name:str}/muxes", "/workspaces/{name:str}/custom-instructions"],
    status_code=200,
    guards=_WRITE,
)
async def update_workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Workspace", name)


@delete(["/workspaces/{name:str}", "/workspaces/{name:str}/custom-instructions"], status_code=204, guards=_WRITE)
async def delete_workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Workspace", name)


@post("/workspaces/archive/{name:str}/recover", status_code=204, guards=_WRITE)
async def recover_workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Workspace", name, "recover")


@delete("/workspaces/archive/{name:str}", status_code=204, guards=_WRITE)
async def hard_delete_workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Workspace", name, "delete-archived")


@post("/provider-endpoints", status_code=201, guards=_WRITE)
async def create_provider(request: Request[Any, Any, Any]) -> None:
    raise _conflict(request, "Provider", await _name_in_body(request))


@put(["/provider-endpoints/{name:str}", "/provider-endpoints/{name:str}/auth-material"], status_code=200, guards=_WRITE)
async def update_provider(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Provider", name)


@delete("/provider-endpoints/{name:str}", status_code=204, guards=_WRITE)
async def delete_provider(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Provider", name)


@post("/personas", status_code=201, guards=_WRITE)
async def create_persona(request: Request[Any, Any, Any]) -> None:
    raise _conflict(request, "Persona", await _name_in_body(request))


@put("/personas/{name:str}", status_code=200, guards=_WRITE)
async def update_persona(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Persona", name)


@delete("/personas/{name:str}", status_code=204, guards=_WRITE)
async def delete_persona(request: Request[Any, Any, Any], name: FromPath[str]) -> None:
    raise _conflict(request, "Persona", name)


HANDLERS = [
    create_workspace,
    update_workspace,
    delete_workspace,
    recover_workspace,
    hard_delete_workspace,
    create_provider,
    update_provider,
    delete_provider,
    create_persona,
    update_persona,
    delete_persona,
]
