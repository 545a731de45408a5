"""Errors of the translation layer, and error bodies in each client format.

    TranslationError (ValueError)     a body cannot be translated; `status` is the HTTP status to answer with
     ├── UnsupportedField             the target API has no equivalent for a field the client relies on (400)
     ├── InvalidRequestError               the client's body does not follow its own API (400)
     └── InvalidResponseError              the provider's answer does not follow its API (502)

The server catches `TranslationError` and answers `error_body(client_format, exc.status, str(exc))`. In the
middle of a stream it writes `error_event(client_format, message)` instead, since the status line is gone.
"""

from __future__ import annotations

from typing import Any

from reconciler.models import ApiFormat

from .codec import JsonDict, dumps

PROVIDER_NAMES = {
    ApiFormat.OPENAI: "an OpenAI",
    ApiFormat.ANTHROPIC: "an Anthropic",
    ApiFormat.OLLAMA: "an Ollama",
}


class TranslationError(ValueError):
    status = 400


class UnsupportedField(TranslationError):  # noqa: N818 - the name callers know
    """`field` names the field (`n`, `logprobs`, `messages[2].content[1]`). Between Anthropic and Ollama the
    request passes through OpenAI's shape, and a path found in that second step is a path in OpenAI's shape."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidRequestError(TranslationError):
    pass


class InvalidResponseError(TranslationError):
    status = 502


def unsupported(field: str, target: ApiFormat, what: str, fix: str) -> UnsupportedField:
    """Build the usual sentence: `<what> cannot be sent to <target> provider; <fix>.`"""
    return UnsupportedField(field, f"{what} cannot be sent to {PROVIDER_NAMES[target]} provider; {fix}.")


# Anthropic's error types; OpenAI uses the same words for the common cases, and "server_error" for 5xx.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def error_type(fmt: ApiFormat, status: int) -> str:
    if fmt is ApiFormat.OPENAI:
        if status >= 500:
            return "server_error"
        if status == 429:
            return "rate_limit_error"
        return "invalid_request_error" if status not in (401, 403, 404) else _ANTHROPIC_TYPES[status]
    return _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(fmt: ApiFormat, status: int, message: str, type: str | None = None) -> JsonDict:
    """The body of an error answer in `fmt`; `type` defaults to the usual one for `status`."""
    if fmt is ApiFormat.OLLAMA:
        return {"error": message}
    kind = type or error_type(fmt, status)
    if fmt is ApiFormat.ANTHROPIC:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def error_event(fmt: ApiFormat, message: str, type: str | None = None) -> bytes:
    """An error in the middle of a stream, as one complete event (SSE) or line (NDJSON) of `fmt`."""
    if fmt is ApiFormat.OLLAMA:
        return dumps({"error": message}) + b"\n"
    if fmt is ApiFormat.ANTHROPIC:
        body = error_body(fmt, 500, message, type or "api_error")
        return b"event: error\ndata: " + dumps(body) + b"\n\n"
    return b"data: " + dumps(error_body(fmt, 500, message, type or "server_error")) + b"\n\n"


def error_message(body: Any, status: int) -> tuple[str, str | None]:
    """The message and type of a provider's error body in any of the three formats (or FastAPI's `detail`)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            kind = error.get("type")
            return error["message"], kind if isinstance(kind, str) else None
        if isinstance(error, str):
            return error, None
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail, None
    return f"The provider answered with HTTP {status} and a body this gateway cannot read.", None


def translate_error(body: Any, source: ApiFormat, target: ApiFormat, status: int) -> JsonDict:
    """A provider's error body (format `source`) re-written for a client that speaks `target`."""
    if source is target and isinstance(body, dict):
        return body
    message, kind = error_message(body, status)
    return error_body(target, status, message, kind)
