"""Push mode: the admin API's reconcile endpoints, through which `reconcile DIR --server URL` plans and applies.

    GET  /api/v1/reconcile/state  (reader)  the running state, for a client to plan against
    POST /api/v1/reconcile/apply  (admin)   files ─▶ LiveReconciler.apply_push ─▶ validate, plan, build, swap, save

The server trusts nothing the client checked: the files are loaded and validated again here, the same way the
watcher reads a directory, and an invalid tree applies nothing (422 with the diagnostics). A gateway that watches
its directory refuses pushes (409): the watcher would undo them at the directory's next change. The body is bounded
(`max_body_bytes`, `MAX_FILES`), and every path must be a relative `*.yaml`/`*.yml` path that stays inside the tree,
because paths end up in diagnostics, the saved state and the admin API's answers.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException

from proxy.admin import detail_response
from proxy.gateway import Gateway
from proxy.live.loop import LiveReconciler, Pushed
from proxy.live.status import Reason
from proxy.security import require_admin, require_reader
from reconciler.loader import YAML_SUFFIXES
from reconciler.render import plan_json

STATE_PATH = "/reconcile/state"
APPLY_PATH = "/reconcile/apply"
MAX_FILES = 10_000
MAX_PATH_CHARS = 1024
# A git revision as `reconcile` names it (12 hex digits, maybe "-dirty"), or a ref or tag a script chose.
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+@:-]{0,127}")
_BODY_SHAPE = 'like {"files": [{"path": "teams/a.yaml", "content": "…"}], "revision": null, "prune": false}'


class PushError(ValueError):
    """The body of a push is not one the endpoint accepts; the message says what to send instead."""


def parse_push(raw: bytes, max_files: int = MAX_FILES) -> Pushed:
    """The files, revision and prune flag of an apply request; PushError when the body is malformed."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise PushError(f"The body must be JSON, {_BODY_SHAPE}.") from None
    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        raise PushError(f"The body must be a JSON object with a list of files, {_BODY_SHAPE}.")
    unknown = sorted(set(body) - {"files", "revision", "prune"})
    if unknown:
        raise PushError(f"Unknown field {unknown[0]!r} in the body; send only files, revision and prune.")
    entries: list[Any] = body["files"]
    if len(entries) > max_files:
        raise PushError(f"{len(entries):,} files were pushed; a push may hold at most {max_files:,}.")
    files: dict[str, bytes] = {}
    for index, entry in enumerate(entries):
        path, content = _file(index, entry)
        if path in files:
            raise PushError(f"{path} is pushed twice; send each file once.")
        files[path] = content
    revision = body.get("revision")
    if revision is not None and not (isinstance(revision, str) and _REVISION.fullmatch(revision)):
        raise PushError(
            "The revision must be null or a git revision of at most 128 letters, digits and ._/+@:- "
            "(for example 3f2c1e9a0b1c or 3f2c1e9a0b1c-dirty)."
        )
    prune = body.get("prune", False)
    if not isinstance(prune, bool):
        raise PushError("prune must be true or false.")
    return Pushed(tuple(sorted(files.items(), key=lambda item: item[0].split("/"))), revision, prune)


def _file(index: int, entry: Any) -> tuple[str, bytes]:
    if not isinstance(entry, dict) or set(entry) != {"path", "content"}:
        raise PushError(f'files[{index}] must be an object with exactly "path" and "content".')
    path, content = entry["path"], entry["content"]
    if not isinstance(path, str) or not isinstance(content, str):
        raise PushError(f"files[{index}]: path and content must be strings.")
    problem = path_problem(path)
    if problem is not None:
        raise PushError(f"files[{index}]: {problem}")
    try:
        return path, content.encode("utf-8")
    except UnicodeEncodeError:
        raise PushError(f"{path} holds characters that are not Unicode text (lone surrogates).") from None


def path_problem(path: str) -> str | None:
    """Why `path` cannot name a file of a pushed tree, as a sentence; None when it can."""
    shown = json.dumps(path[:200])
    if not path or len(path) > MAX_PATH_CHARS:
        return f"the path {shown} must have 1 to {MAX_PATH_CHARS} characters."
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path) or "\\" in path:
        return f"the path {shown} holds a control character or a backslash; separate folders with /."
    if path.startswith("/"):
        return f"the path {shown} is absolute; send it relative to the config directory."
    parts = path.split("/")
    if ".." in parts:
        return f"the path {shown} leaves the config directory (..); send it relative to the config directory."
    if any(part in ("", ".") for part in parts):
        return f"the path {shown} has an empty or . segment; send it in the form teams/a.yaml."
    if any(part.startswith(".") for part in parts):
        return f"the path {shown} names a hidden file or folder, which a config directory never reads."
    if not path.endswith(YAML_SUFFIXES):
        return f"the path {shown} is not a YAML file; only *.yaml and *.yml files are config."
    return None


async def _read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past `limit` bytes."""
    too_large = HTTPException(
        status_code=413,
        detail=f"The push is larger than {limit:,} bytes; push fewer or smaller files, or raise "
        "MUXGATE_MAX_BODY_BYTES on the gateway.",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@get(STATE_PATH, name="reconcile-state", guards=[require_reader], sync_to_thread=False)
def reconcile_state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The state the gateway serves (archived workspaces included), which a push is planned against."""
    gateway: Gateway = request.app.state.gateway
    registry = gateway.registry
    return {"revision": registry.revision, "stateHash": registry.state_hash, "state": registry.state.to_json()}


@post(APPLY_PATH, name="reconcile-apply", guards=[require_admin], status_code=200, request_max_body_size=None)
async def reconcile_apply(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Apply pushed files all or nothing: 200 applied or unchanged, 422 invalid, 409 on a watching gateway."""
    live: LiveReconciler | None = request.app.state.get("live")
    if live is None:
        raise HTTPException(
            status_code=404,
            detail="This gateway serves a fixed config and takes no pushes; start it with muxgate serve DIR "
            "and MUXGATE_WATCH=false.",
        )
    if live.watch_enabled:
        raise HTTPException(
            status_code=409,
            detail=f"This gateway follows {live.directory}; commit to it, or start it with MUXGATE_WATCH=false "
            "to accept pushes.",
        )
    gateway: Gateway = request.app.state.gateway
    raw = await _read_body(request, gateway.settings.max_body_bytes)
    try:
        # Decoding a large body is CPU work: off the event loop, which keeps serving requests.
        push = await asyncio.to_thread(parse_push, raw)
    except PushError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    status, plan = await live.apply_push(push)
    if plan is not None:
        return Response({"status": status.to_json(), "plan": plan_json(plan)}, status_code=200)
    code = 422 if status.reason is Reason.VALIDATION_FAILED else 500
    # Diagnostics as `reconcile --output json` gives them, so the client shows them with its own source lines.
    return Response(
        {"detail": status.message, "diagnostics": [d.to_json() for d in status.diagnostics]}, status_code=code
    )


def reconcile_router() -> Router:
    """The push routes under `/api/v1`; a new router per app."""
    return Router(
        path="/api/v1",
        route_handlers=[reconcile_state, reconcile_apply],
        exception_handlers={HTTPException: detail_response},
    )
