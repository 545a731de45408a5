"""The CodeGate-compatible reads of a workspace's analytics: token usage, alerts, alert summary, messages.

Where it sits: behind the routes of `proxy.analytics.routes`. Totals are aggregated by DuckDB (GROUP BY, ROLLUP,
FILTER), never summed row by row in Python; Python only shapes the few result rows into CodeGate's JSON.
Every function takes `read(sql, params)`, which runs on a cursor of the writer's connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.translate.codec import DecodeError, loads

from .texts import plain_text

Read = Callable[[str, list[Any]], Awaitable[list[tuple[Any, ...]]]]

# CodeGate's trigger types, which its dashboard counts.
SECRETS = "codegate-secrets"
PII = "codegate-pii"
PACKAGES = "codegate-context-retriever"

_TOKEN_USAGE = """
SELECT model, any_value(provider_type),
       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),
       coalesce(sum(input_cost), 0), coalesce(sum(output_cost), 0)
FROM requests
WHERE workspace = $1 AND model IS NOT NULL AND {where}
GROUP BY ROLLUP (model)
ORDER BY model NULLS FIRST
"""

_ALERT_COUNTS = f"""
count(*) FILTER (WHERE trigger_type = '{PACKAGES}') AS packages,
count(*) FILTER (WHERE trigger_type = '{PII}') AS pii,
count(*) FILTER (WHERE trigger_type = '{SECRETS}') AS secrets,
count(*) AS total
"""


def iso(value: Any) -> str | None:
    """A TIMESTAMP (UTC, naive) as ISO 8601 with a Z."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return None


def _usage(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "input_tokens": int(row[2]),
        "output_tokens": int(row[3]),
        "input_cost": float(row[4]),
        "output_cost": float(row[5]),
    }


def _aggregate(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """ROLLUP rows (the total first, model NULL) as CodeGate's TokenUsageAggregate."""
    total = next((r for r in rows if r[0] is None), None)
    return {
        "tokens_by_model": {
            r[0]: {"provider_type": r[1], "model": r[0], "token_usage": _usage(r)} for r in rows if r[0] is not None
        },
        "token_usage": _usage(total) if total else _usage((None, None, 0, 0, 0, 0)),
    }


async def workspace_known(read: Read, workspace: str) -> bool:
    rows = await read(
        "SELECT EXISTS (SELECT 1 FROM requests WHERE workspace = $1) OR "
        "EXISTS (SELECT 1 FROM messages WHERE workspace = $1)",
        [workspace],
    )
    return bool(rows and rows[0][0])


async def token_usage(read: Read, workspace: str) -> dict[str, Any]:
    return _aggregate(await read(_TOKEN_USAGE.format(where="true"), [workspace]))


async def alerts_summary(read: Read, workspace: str) -> dict[str, Any]:
    rows = await read(
        f"SELECT {_ALERT_COUNTS} FROM alerts WHERE workspace = $1 AND trigger_category = 'critical'", [workspace]
    )
    return _summary(rows[0])


def _summary(counts: tuple[Any, ...]) -> dict[str, Any]:
    packages, pii, secrets, total = counts
    return {"malicious_packages": packages, "pii": pii, "secrets": secrets, "total_alerts": total}


def _alert(row: tuple[Any, ...]) -> dict[str, Any]:
    alert_id, request_id, snippet, detail, trigger_type, category, ts = row[:7]
    return {
        "id": alert_id,
        "prompt_id": request_id,
        "code_snippet": _json_or_none(snippet),
        "trigger_string": detail,
        "trigger_type": trigger_type,
        "trigger_category": category,
        "timestamp": iso(ts),
    }


_ALERT_COLUMNS = "a.id, a.request_id, a.code_snippet, a.detail, a.trigger_type, a.trigger_category, a.ts"


async def alerts(read: Read, workspace: str, *, limit: int) -> list[dict[str, Any]]:
    """Critical alerts, newest first, each with the conversation of its request when history kept one."""
    rows = await read(
        f"""SELECT {_ALERT_COLUMNS}, m.ts, m.request_type, m.provider, m.prompt, m.request, m.answer
        FROM alerts a LEFT JOIN messages m ON m.request_id = a.request_id AND m.workspace = a.workspace
        WHERE a.workspace = $1 AND a.trigger_category = 'critical'
        ORDER BY a.ts DESC LIMIT $2""",
        [workspace, limit],
    )
    result = []
    for row in rows:
        alert = _alert(row)
        conversation = None
        if row[7] is not None:
            conversation = _conversation(
                chat_id=row[1], ts=row[7], kind=row[8], provider=row[9], request=row[11], answer=row[12], usage=None
            )
            conversation["alerts"] = [alert]
        result.append(
            {
                "conversation": conversation,
                "alert_id": alert["id"],
                **{k: alert[k] for k in ("code_snippet", "trigger_string", "trigger_type", "trigger_category")},
                "timestamp": alert["timestamp"],
            }
        )
    return result


async def messages(read: Read, workspace: str, *, page: int, page_size: int) -> dict[str, Any]:
    """CodeGate's paged conversation summaries, newest first: one per recorded request."""
    offset = (page - 1) * page_size
    rows = await read(
        f"""WITH page AS (
            SELECT * FROM messages WHERE workspace = $1 ORDER BY ts DESC, request_id LIMIT $2 OFFSET $3
        ),
        counted AS (
            SELECT request_id, {_ALERT_COUNTS} FROM alerts
            WHERE workspace = $1 AND trigger_category = 'critical' AND request_id IN (SELECT request_id FROM page)
            GROUP BY request_id
        )
        SELECT p.request_id, p.ts, p.prompt, p.provider, p.request_type, p.model, r.provider_type,
               coalesce(r.input_tokens, 0), coalesce(r.output_tokens, 0),
               coalesce(r.input_cost, 0), coalesce(r.output_cost, 0),
               coalesce(c.packages, 0), coalesce(c.pii, 0), coalesce(c.secrets, 0), coalesce(c.total, 0)
        FROM page p
        LEFT JOIN requests r ON r.request_id = p.request_id AND r.workspace = $1
        LEFT JOIN counted c ON c.request_id = p.request_id
        ORDER BY p.ts DESC, p.request_id""",
        [workspace, page_size, offset],
    )
    total = await read("SELECT count(*) FROM messages WHERE workspace = $1", [workspace])
    data = []
    for row in rows:
        request_id, ts, prompt, provider, kind, model = row[:6]
        usage = {"input_tokens": row[7], "output_tokens": row[8], "input_cost": row[9], "output_cost": row[10]}
        data.append(
            {
                "chat_id": request_id,
                "prompt": {"message": prompt or "", "timestamp": iso(ts), "message_id": request_id},
                "provider": provider,
                "type": kind,
                "conversation_timestamp": iso(ts),
                "alerts_summary": _summary(row[11:15]),
                "total_alerts": row[14],
                "token_usage_agg": {
                    "tokens_by_model": {model: {"provider_type": row[6], "model": model, "token_usage": usage}},
                    "token_usage": usage,
                },
            }
        )
    return {"data": data, "limit": page_size, "offset": offset, "total": total[0][0]}


async def message(read: Read, workspace: str, request_id: str) -> dict[str, Any] | None:
    """One request's conversation (CodeGate's Conversation), or None if there is none."""
    rows = await read(
        "SELECT ts, request_type, provider, request, answer FROM messages WHERE workspace = $1 AND request_id = $2",
        [workspace, request_id],
    )
    if not rows:
        return None
    ts, kind, provider, request, answer = rows[0]
    usage = await read(
        _TOKEN_USAGE.format(where="request_id = $2"),
        [workspace, request_id],
    )
    alert_rows = await read(
        f"SELECT {_ALERT_COLUMNS} FROM alerts a WHERE a.workspace = $1 AND a.request_id = $2 ORDER BY a.ts",
        [workspace, request_id],
    )
    conversation = _conversation(
        chat_id=request_id, ts=ts, kind=kind, provider=provider, request=request, answer=answer, usage=usage
    )
    conversation["alerts"] = [_alert(r) for r in alert_rows]
    return conversation


def _conversation(
    *,
    chat_id: str,
    ts: Any,
    kind: str | None,
    provider: str | None,
    request: str | None,
    answer: str | None,
    usage: list[tuple[Any, ...]] | None,
) -> dict[str, Any]:
    """CodeGate's Conversation: the request's messages paired as questions and answers, the last question
    with the answer the gateway relayed. History kept as `metadata` has no text: no pairs."""
    stamp = iso(ts)
    pairs: list[dict[str, Any]] = []
    listed = _json_or_none(request)
    question: str | None = None
    for item in listed if isinstance(listed, list) else ():
        if not isinstance(item, dict):
            continue
        role, text = item.get("role"), plain_text(item.get("content"))
        if role == "user":
            if question is not None:
                pairs.append(_pair(chat_id, stamp, question, None))
            question = text
        elif role == "assistant" and question is not None:
            pairs.append(_pair(chat_id, stamp, question, text))
            question = None
    if question is not None:
        pairs.append(_pair(chat_id, stamp, question, answer))
    return {
        "question_answers": pairs,
        "provider": provider,
        "type": kind,
        "chat_id": chat_id,
        "conversation_timestamp": stamp,
        "token_usage_agg": _aggregate(usage) if usage is not None else None,
        "alerts": [],
    }


def _pair(chat_id: str, stamp: str | None, question: str, answer: str | None) -> dict[str, Any]:
    return {
        "question": {"message": question, "timestamp": stamp, "message_id": chat_id},
        "answer": None if answer is None else {"message": answer, "timestamp": stamp, "message_id": chat_id},
    }


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return loads(text)
    except (DecodeError, UnicodeDecodeError):
        return text
