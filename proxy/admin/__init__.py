"""The admin API under `/api/v1`, compatible with CodeGate's REST shapes.

    workspaces.py  workspace reads, the active workspace (the session)
    catalog.py     provider endpoints and personas (reads)
    managed.py     CodeGate's mutations: 409 naming the file and line to edit in git
    shapes.py      registry → JSON

Reads are open on a loopback bind and need the admin token otherwise; activation and mutations always need it
(proxy.security). Every error body is `{"detail": "<sentence>"}`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException

from proxy.admin import catalog, managed, workspaces


def detail_response(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """CodeGate's error body: only the sentence (Litestar's default adds the status code)."""
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def admin_router() -> Router:
    """The `/api/v1` router; a new one per app, so apps built in one process share nothing."""
    return Router(
        path="/api/v1",
        route_handlers=[*workspaces.HANDLERS, *catalog.HANDLERS, *managed.HANDLERS],
        exception_handlers={HTTPException: detail_response},
    )
