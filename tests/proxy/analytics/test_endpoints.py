"""The analytics routes of a running gateway: POST /api/v1/sql (admin token, one SELECT, values as JSON) and
CodeGate's token-usage, alerts, alerts-summary and messages of a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.analytics.conftest import ADMIN_TOKEN, MODEL, PRICES, Analysed, catch_all
from tests.proxy.analytics.test_sql_safety import FORBIDDEN

QUESTION = "Which port does the gateway use?"


def ask(gateway: Analysed, workspace: str, question: str = QUESTION) -> str:
    response = gateway.http.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": question}]},
        headers={"x-muxgate-workspace": workspace},
    )
    assert response.status_code == 200
    return response.headers["x-muxgate-request-id"]


@pytest.fixture
def gateway(analysed: Any) -> Analysed:
    served: Analysed = analysed(
        {"workspaces": {"reports": catch_all("anthropic"), "other": catch_all("openai"), "quiet": catch_all("ollama")}}
    )
    return served


def test_sql_needs_the_admin_token(gateway: Analysed) -> None:
    assert gateway.sql_response("SELECT 1", token=None).status_code == 401
    wrong = gateway.sql_response("SELECT 1", token="not-the-token")
    assert wrong.status_code == 403
    assert ADMIN_TOKEN not in wrong.text


def test_sql_answers_columns_types_and_json_values(gateway: Analysed) -> None:
    request_id = ask(gateway, "reports")
    response = gateway.sql_response(
        "SELECT request_id, ts, stream, input_cost, INTERVAL 90 SECOND AS i, [1, 2] AS l, {'a': 1} AS s, "
        f"'\\x01'::BLOB AS b, 12.5::DECIMAL(4, 1) AS d FROM requests WHERE request_id = '{request_id}'"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["request_id", "ts", "stream", "input_cost", "i", "l", "s", "b", "d"]
    assert body["types"][:4] == ["VARCHAR", "TIMESTAMP", "BOOLEAN", "DOUBLE"]
    (row,) = body["rows"]
    assert row[0] == request_id
    assert row[1].startswith("20")
    assert "T" in row[1]
    assert row[2:] == [False, row[3], 90.0, [1, 2], {"a": 1}, "AQ==", 12.5]
    assert body["truncated"] is False


def test_sql_caps_rows(gateway: Analysed) -> None:
    body = gateway.sql_response("SELECT * FROM range(50)", max_rows=7).json()
    assert len(body["rows"]) == 7
    assert body["truncated"] is True
    assert gateway.sql_response("SELECT 1", max_rows=0).status_code == 400


@pytest.mark.parametrize("sql", [*list(FORBIDDEN.values())[:12], "SELECT * FROM read_csv('/etc/passwd')", "SELEC 1"])
def test_sql_refuses_what_is_not_a_select_with_a_sentence(gateway: Analysed, sql: str) -> None:
    before = gateway.sql("SELECT count(*) AS n FROM requests")[0]["n"]
    response = gateway.sql_response(sql)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.endswith(("refused.", "configuration")) or "does not parse" in detail or "Permission" in detail
    assert gateway.sql("SELECT count(*) AS n FROM requests")[0]["n"] == before


def test_sql_body_must_hold_a_query(gateway: Analysed) -> None:
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    for payload in ({"query": "SELECT 1"}, [1], {"sql": 5}):
        response = gateway.http.post(f"{gateway.url}/api/v1/sql", json=payload, headers=headers)
        assert response.status_code == 400
        assert '"sql"' in response.json()["detail"]


def test_token_usage_is_aggregated_per_model_and_in_total(gateway: Analysed) -> None:
    before = httpx.get(f"{gateway.url}/api/v1/workspaces/reports/token-usage").json()
    rows = [gateway.row(ask(gateway, "reports", f"question number {n}")) for n in range(3)]
    usage = httpx.get(f"{gateway.url}/api/v1/workspaces/reports/token-usage").json()
    added_in = sum(r["input_tokens"] for r in rows)
    added_out = sum(r["output_tokens"] for r in rows)
    total = usage["token_usage"]
    assert total["input_tokens"] - before["token_usage"]["input_tokens"] == added_in
    assert total["output_tokens"] - before["token_usage"]["output_tokens"] == added_out
    model = usage["tokens_by_model"][MODEL["anthropic"]]
    assert model["provider_type"] == "anthropic"
    assert model["token_usage"]["input_cost"] == pytest.approx(
        model["token_usage"]["input_tokens"] * PRICES["anthropic"]["inputPerMTok"] / 1e6
    )


def test_an_unknown_workspace_is_404(gateway: Analysed) -> None:
    for path in ("token-usage", "alerts", "alerts-summary", "messages", "messages/x"):
        response = httpx.get(f"{gateway.url}/api/v1/workspaces/nowhere-at-all/{path}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Workspace does not exist"}


def test_alerts_and_their_summary(gateway: Analysed) -> None:
    request_id = ask(gateway, "other", "my key is in here")
    analytics = gateway.server.app.state.gateway.analytics
    analytics.record_alert("other", "codegate-secrets", "critical", detail="an API key", request_id=request_id)
    analytics.record_alert("other", "codegate-pii", "critical", detail="an email address", request_id=request_id)
    analytics.record_alert("other", "codegate-secrets", "info", detail="not counted", request_id=request_id)
    summary = httpx.get(f"{gateway.url}/api/v1/workspaces/other/alerts-summary").json()
    assert summary == {"malicious_packages": 0, "pii": 1, "secrets": 1, "total_alerts": 2}
    alerts = httpx.get(f"{gateway.url}/api/v1/workspaces/other/alerts").json()
    mine = [a for a in alerts if a["conversation"] and a["conversation"]["chat_id"] == request_id]
    assert {a["trigger_type"] for a in mine} == {"codegate-secrets", "codegate-pii"}
    first = mine[0]
    assert first["trigger_category"] == "critical"
    assert first["conversation"]["question_answers"][0]["question"]["message"] == "my key is in here"
    assert gateway.sql("SELECT count(*) AS n FROM alerts_daily WHERE workspace = 'other'")[0]["n"] >= 2


def test_messages_are_paged_newest_first_and_one_opens_as_a_conversation(gateway: Analysed) -> None:
    ids = [ask(gateway, "quiet", f"question {n}") for n in range(3)]
    page = httpx.get(f"{gateway.url}/api/v1/workspaces/quiet/messages", params={"page_size": 2}).json()
    assert page["limit"] == 2
    assert page["offset"] == 0
    assert page["total"] >= 3
    assert [c["chat_id"] for c in page["data"]] == [ids[2], ids[1]]
    summary = page["data"][0]
    assert summary["prompt"]["message"] == "question 2"
    assert summary["type"] == "chat"
    assert summary["provider"] == "ollama"
    assert summary["token_usage_agg"]["token_usage"]["input_tokens"] > 0
    second = httpx.get(f"{gateway.url}/api/v1/workspaces/quiet/messages", params={"page": 2, "page_size": 2}).json()
    assert second["data"][0]["chat_id"] == ids[0]

    conversation = httpx.get(f"{gateway.url}/api/v1/workspaces/quiet/messages/{ids[1]}").json()
    assert conversation["chat_id"] == ids[1]
    assert conversation["question_answers"] == [
        {
            "question": {
                "message": "question 1",
                "timestamp": conversation["conversation_timestamp"],
                "message_id": ids[1],
            },
            "answer": {
                "message": "echo: question 1",
                "timestamp": conversation["conversation_timestamp"],
                "message_id": ids[1],
            },
        }
    ]
    assert conversation["token_usage_agg"]["tokens_by_model"][MODEL["ollama"]]["token_usage"]["output_tokens"] == 3
    missing = httpx.get(f"{gateway.url}/api/v1/workspaces/quiet/messages/not-a-request")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Conversation not found"})


def test_the_writer_status_is_served(gateway: Analysed) -> None:
    status = httpx.get(f"{gateway.url}/api/v1/analytics").json()
    assert status["database"].endswith("muxgate.duckdb")
    assert status["dropped"] == 0
    assert status["written"] > 0
    assert status["writer"] == "process"
    assert b"proxy.analytics.writer_process" in Path(f"/proc/{status['writer_pid']}/cmdline").read_bytes()
