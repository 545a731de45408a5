"""The analytics routes under `/api/v1`: the SQL endpoint and CodeGate's per-workspace usage, alerts and messages.

    POST /api/v1/sql                                     {"sql": "SELECT …", "max_rows": 10000} (admin token)
    GET  /api/v1/analytics                               writer status: queued, written, dropped, last error
    GET  /api/v1/workspaces/{name}/token-usage           tokens and cost by model, and in total
    GET  /api/v1/workspaces/{name}/alerts                critical alerts with their conversations
    GET  /api/v1/workspaces/{name}/alerts-summary        counts by kind
    GET  /api/v1/workspaces/{name}/messages              paged conversation summaries (?page=1&page_size=50)
    GET  /api/v1/workspaces/{name}/messages/{id}         one request's conversation

Every read first waits for queued events to be written, so a request answered a moment ago is counted. Errors
are `{"detail": "<sentence>"}`, as in the rest of the admin API.
"""

from __future__ import annotations

from typing import Annotated, Any

import duckdb
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException, NotFoundException, ServiceUnavailableException
from litestar.params import FromPath, QueryParameter

from proxy.security import require_admin, require_reader

from . import queries
from .service import MAX_ROWS, Analytics
from .sql_safety import SqlError
from .values import jsonable
from .writer import QueryTimeout

NO_WORKSPACE = "Workspace does not exist"
MAX_PAGE_SIZE = 1000


def _analytics(request: Request[Any, Any, Any]) -> Analytics:
    analytics: Analytics | None = request.app.state.gateway.analytics
    if analytics is None:
        raise ServiceUnavailableException(
            detail="Analytics are turned off on this gateway (MUXGATE_ANALYTICS=false); turn them on and restart it."
        )
    return analytics


def _bad_request(message: str) -> HTTPException:
    return HTTPException(status_code=400, detail=message)


@post("/sql", guards=[require_admin], status_code=200)
async def run_sql(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Run one SELECT on the live analytics database."""
    analytics = _analytics(request)
    try:
        payload = await request.json()
    except Exception:
        raise _bad_request('The body must be JSON: {"sql": "SELECT …"}.') from None
    sql = payload.get("sql") if isinstance(payload, dict) else None
    if not isinstance(sql, str):
        raise _bad_request('The body must be a JSON object with the query in "sql": {"sql": "SELECT …"}.')
    max_rows = payload.get("max_rows", MAX_ROWS)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or not 1 <= max_rows <= MAX_ROWS:
        raise _bad_request(f'"max_rows" must be a whole number from 1 to {MAX_ROWS:,}.')
    try:
        result = await analytics.sql(sql, max_rows=max_rows)
    except (SqlError, QueryTimeout) as exc:
        raise _bad_request(str(exc)) from None
    except duckdb.Error as exc:
        raise _bad_request(f"The query failed: {str(exc).strip()}") from None
    return {
        "columns": result.columns,
        "types": result.types,
        "rows": [[jsonable(v) for v in row] for row in result.rows],
        "truncated": result.truncated,
    }


@get("/analytics", guards=[require_reader])
async def analytics_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    analytics = _analytics(request)
    await analytics.flush()
    return analytics.stats()


async def _workspace(request: Request[Any, Any, Any], name: FromPath[str]) -> Analytics:
    """The analytics, once `name` is known: declared (even archived) or present in the recorded data."""
    analytics = _analytics(request)
    if name not in request.app.state.gateway.registry.workspaces and not await queries.workspace_known(
        analytics.read, name
    ):
        raise NotFoundException(detail=NO_WORKSPACE)
    return analytics


@get("/workspaces/{name:str}/token-usage", guards=[require_reader])
async def token_usage(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    analytics = await _workspace(request, name)
    return await queries.token_usage(analytics.read, name)


@get("/workspaces/{name:str}/alerts-summary", guards=[require_reader])
async def alerts_summary(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    analytics = await _workspace(request, name)
    return await queries.alerts_summary(analytics.read, name)


@get("/workspaces/{name:str}/alerts", guards=[require_reader])
async def alerts(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_ROWS)] = 1000,
) -> list[dict[str, Any]]:
    analytics = await _workspace(request, name)
    return await queries.alerts(analytics.read, name, limit=limit)


@get("/workspaces/{name:str}/messages", guards=[require_reader])
async def messages(
    request: Request[Any, Any, Any],
    name: FromPath[str],
    page: Annotated[int, QueryParameter(ge=1)] = 1,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    analytics = await _workspace(request, name)
    return await queries.messages(analytics.read, name, page=page, page_size=page_size)


@get("/workspaces/{name:str}/messages/{chat_id:str}", guards=[require_reader])
async def message(request: Request[Any, Any, Any], name: FromPath[str], chat_id: FromPath[str]) -> dict[str, Any]:
    analytics = await _workspace(request, name)
    conversation = await queries.message(analytics.read, name, chat_id)
    if conversation is None:
        raise NotFoundException(detail="Conversation not found")
    return conversation


def _detail(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    return Response({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def analytics_router() -> Router:
    """The analytics routes under `/api/v1`; a new router per app."""
    return Router(
        path="/api/v1",
        route_handlers=[run_sql, analytics_status, token_usage, alerts_summary, alerts, messages, message],
        exception_handlers={HTTPException: _detail},
    )
