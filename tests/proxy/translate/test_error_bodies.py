"""Error bodies and stream error events in each client format."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.translate import error_body, error_event, translate_error
from reconciler.models import ApiFormat

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA


def test_error_body_shapes() -> None:
    assert error_body(OPENAI, 400, "Bad field.") == {
        "error": {"message": "Bad field.", "type": "invalid_request_error", "param": None, "code": None}
    }
    assert error_body(ANTHROPIC, 429, "Slow down.") == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down."},
    }
    assert error_body(OLLAMA, 404, "model not found") == {"error": "model not found"}


@pytest.mark.parametrize(
    ("status", "openai_type", "anthropic_type"),
    [
        (401, "authentication_error", "authentication_error"),
        (404, "not_found_error", "not_found_error"),
        (502, "server_error", "api_error"),
        (529, "server_error", "overloaded_error"),
    ],
)
def test_error_type_follows_the_status(status: int, openai_type: str, anthropic_type: str) -> None:
    assert error_body(OPENAI, status, "m")["error"]["type"] == openai_type
    assert error_body(ANTHROPIC, status, "m")["error"]["type"] == anthropic_type
    assert error_body(ANTHROPIC, status, "m", type="custom")["error"]["type"] == "custom"


def test_error_events_are_complete_frames() -> None:
    assert error_event(OPENAI, "Upstream broke.") == (
        b'data: {"error":{"message":"Upstream broke.","type":"server_error","param":null,"code":null}}\n\n'
    )
    assert error_event(ANTHROPIC, "Upstream broke.") == (
        b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Upstream broke."}}\n\n'
    )
    assert error_event(OLLAMA, "Upstream broke.") == b'{"error":"Upstream broke."}\n'


PROVIDER_ERRORS: dict[ApiFormat, dict[str, Any]] = {
    OPENAI: {
        "error": {"message": "Rate limit reached.", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    },
    ANTHROPIC: {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached."}},
    OLLAMA: {"error": "Rate limit reached."},
}


@pytest.mark.parametrize("source", list(ApiFormat))
@pytest.mark.parametrize("target", list(ApiFormat))
def test_provider_errors_are_rewritten_for_the_client(source: ApiFormat, target: ApiFormat) -> None:
    out = translate_error(PROVIDER_ERRORS[source], source, target, 429)
    if source is target:
        assert out == PROVIDER_ERRORS[source]
    elif target is OLLAMA:
        assert out == {"error": "Rate limit reached."}
    else:
        message = out["error"]["message"]
        assert message == "Rate limit reached."
        assert out["error"]["type"] == ("rate_limit_error" if source is not OPENAI else "requests")


def test_unreadable_provider_errors_still_give_a_sentence() -> None:
    assert translate_error("<html>Bad Gateway</html>", OPENAI, ANTHROPIC, 502) == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "The provider answered with HTTP 502 and a body this gateway cannot read.",
        },
    }
    assert translate_error({"detail": "No matching rule"}, OPENAI, OLLAMA, 404) == {"error": "No matching rule"}
