"""Workspace reads and activation: `/api/v1/workspaces…` in CodeGate's shapes.

Each handler reads `gateway.registry` once. Activation changes the session only (which workspace serves requests
that name none); what a workspace is stays in git.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery

from proxy.admin.shapes import JsonDict, rule_json, workspace_json, workspace_list
from proxy.gateway import Gateway
from proxy.registry import Registry, WorkspaceRuntime
from proxy.security import require_admin, require_reader
from proxy.session import DataDirError, SessionStore

log = logging.getLogger("muxgate.admin")

_READ = [require_reader]
# CodeGate's sentences, kept word for word: scripts written against it compare them.
NO_WORKSPACE = "Workspace does not exist"
ALREADY_ACTIVE = "Workspace already active"


def _gateway(request: Request[Any, Any, Any]) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def archived_detail(registry: Registry, config_dir: Path, name: FromPath[str]) -> str:
    """Why an archived workspace serves nothing and how to bring it back."""
    origin = registry.state.origin("Workspace", name)
    if origin is not None:
        fix = f"set archived: false in {origin.file} line {origin.line}"
    else:
        fix = f"declare it again in a file of {config_dir}"
    return f"Workspace {name} is archived; {fix} to use it again."


def _served(request: Request[Any, Any, Any], name: FromPath[str]) -> WorkspaceRuntime:
    """The named workspace if it serves requests; 404 otherwise (CodeGate hid archived workspaces too)."""
    gateway = _gateway(request)
    registry = gateway.registry
    workspace = registry.workspaces.get(name)
    if workspace is None:
        raise NotFoundException(detail=NO_WORKSPACE)
    if workspace.archived:
        raise NotFoundException(detail=archived_detail(registry, gateway.settings.config_dir, name))
    return workspace


@get("/workspaces", guards=_READ)
async def list_workspaces(request: Request[Any, Any, Any], provider_name: FromQuery[str | None] = None) -> JsonDict:
    gateway = _gateway(request)
    return workspace_list(gateway.registry, gateway.active_workspace, archived=False, provider=provider_name)


@get("/workspaces/archive", guards=_READ)
async def list_archived_workspaces(request: Request[Any, Any, Any]) -> JsonDict:
    gateway = _gateway(request)
    return workspace_list(gateway.registry, gateway.active_workspace, archived=True)


@get("/workspaces/active", guards=_READ)
async def get_active_workspace(request: Request[Any, Any, Any]) -> JsonDict:
    active = _gateway(request).active_workspace
    session: SessionStore = request.app.state.session
    current = session.current
    updated = current.updated_at.isoformat() if current.active_workspace == active else None
    return {"workspaces": [{"name": active, "is_active": True, "last_updated": updated}]}


@post("/workspaces/active", status_code=204, guards=[require_admin])
async def activate_workspace(request: Request[Any, Any, Any]) -> None:
    name = await _requested_name(request)
    gateway = _gateway(request)
    registry = gateway.registry
    workspace = registry.workspaces.get(name)
    if workspace is None:
        raise NotFoundException(detail=NO_WORKSPACE)
    if workspace.archived:
        raise HTTPException(status_code=409, detail=archived_detail(registry, gateway.settings.config_dir, name))
    if name == gateway.active_workspace:
        raise HTTPException(status_code=409, detail=ALREADY_ACTIVE)
    session: SessionStore = request.app.state.session
    try:
        session.save(name)
    except DataDirError as exc:
        raise HTTPException(status_code=500, detail=f"Workspace {name} was not activated: {exc}") from exc
    gateway.active_workspace = name
    log.info("workspace %s is active", name)


async def _requested_name(request: Request[Any, Any, Any]) -> str:
    try:
        data = json.loads(await request.body())
    except ValueError:
        data = None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise HTTPException(
            status_code=400, detail='The body must be a JSON object naming the workspace, like {"name": "backend"}.'
        )
    return name


@get("/workspaces/{name:str}", guards=_READ)
async def get_workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> JsonDict:
    return workspace_json(_served(request, name))


@get("/workspaces/{name:str}/muxes", guards=_READ)
async def get_workspace_muxes(request: Request[Any, Any, Any], name: FromPath[str]) -> list[JsonDict]:
    return [rule_json(r) for r in _served(request, name).rules]


@get("/workspaces/{name:str}/custom-instructions", guards=_READ)
async def get_custom_instructions(request: Request[Any, Any, Any], name: FromPath[str]) -> JsonDict:
    return {"prompt": _served(request, name).instructions}


HANDLERS = [
    list_workspaces,
    list_archived_workspaces,
    get_active_workspace,
    activate_workspace,
    get_workspace,
    get_workspace_muxes,
    get_custom_instructions,
]
