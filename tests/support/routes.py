"""The gateway's client-facing routes, and how each API shapes an error answer, for the gateway tests."""

from __future__ import annotations

import httpx

OPENAI_CHAT = "/v1/chat/completions"
OPENAI_COMPLETIONS = "/v1/completions"
ANTHROPIC = "/v1/messages"
OLLAMA_CHAT = "/api/chat"
OLLAMA_GENERATE = "/api/generate"
CHAT_ROUTES = (OPENAI_CHAT, ANTHROPIC, OLLAMA_CHAT)
ALL_ROUTES = (*CHAT_ROUTES, OPENAI_COMPLETIONS, OLLAMA_GENERATE)


def error_of(route: str, response: httpx.Response) -> tuple[str, str | None]:
    """(message, type) of an error answer, asserting it has the shape of the API `route` belongs to."""
    body = response.json()
    # Ollama's errors are a bare string; it has no error types.
    if route.startswith("/api/"):
        assert set(body) == {"error"}, body
        assert isinstance(body["error"], str)
        return body["error"], None
    if route == ANTHROPIC:
        assert body["type"] == "error", body
        return body["error"]["message"], body["error"]["type"]
    assert set(body["error"]) >= {"message", "type"}, body
    return body["error"]["message"], body["error"]["type"]
