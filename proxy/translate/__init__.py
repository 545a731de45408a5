"""API-format translation: OpenAI chat and legacy completions, Anthropic Messages, Ollama chat and generate.

Where it sits: after routing has chosen a provider and a model, before the HTTP client.

    client body ── translate_request(body, client_fmt, provider_fmt) ──▶ provider   (path: upstream_path)
    client ◀── translate_response(body, provider_fmt, client_fmt) ── provider answer
    client ◀── StreamTranslator(provider_fmt, client_fmt).feed(chunk) … close() ── provider stream

Everything here is pure and synchronous: dicts and bytes in, dicts and bytes out, no I/O. Errors are
`TranslationError`s with the HTTP status to answer (`error_body` writes them in the client's format).
"""

from .errors import (
    InvalidRequestError,
    InvalidResponseError,
    TranslationError,
    UnsupportedField,
    error_body,
    error_event,
    translate_error,
)
from .outcome import Usage, response_stop_reason, response_usage
from .prompts import is_prompt_request
from .request import is_streaming, stream_usage_requested, translate_request, upstream_path
from .response import passes_through, translate_response
from .streams import StreamTranslator

__all__ = [
    "InvalidRequestError",
    "InvalidResponseError",
    "StreamTranslator",
    "TranslationError",
    "UnsupportedField",
    "Usage",
    "error_body",
    "error_event",
    "is_prompt_request",
    "is_streaming",
    "passes_through",
    "response_stop_reason",
    "response_usage",
    "stream_usage_requested",
    "translate_error",
    "translate_request",
    "translate_response",
    "upstream_path",
]
