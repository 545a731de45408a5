"""One request as analytics sees it: a tap on the ASGI `send` plus what the request path tells it.

    Gateway.handle ── RequestRecord(api, send, registry, writer)
        │  record.send: adds x-muxgate-request-id, notes the status, the first body byte and the end
        │  record.routed(…) / record.answered(…) / record.streamed(translator): what the gateway knew
        └─ record.finish() ──▶ a tuple of plain values and bytes ──▶ writer (process) ──▶ request_rows()

`finish()` only gathers (under a microsecond warm): the rule's facts worked out when the registry was built, the
stream's usage and text its translator kept, the client's body and the provider's JSON answer as the bytes they
arrived in. `request_rows`, in the writer, parses those bytes for the usage, the stop reason, the history and
the answer's text. What is queued holds only strings, numbers and bytes: tuples of those are invisible to
Python's garbage collector, whereas the request's own objects (parsed body, translator, scope) kept alive
until the writer's next batch would be promoted to the oldest generation by the thousand every second.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import msgspec

from proxy.request_info import ClientApi
from proxy.translate import StreamTranslator, is_streaming, response_stop_reason, response_usage
from proxy.translate.codec import DecodeError, dumps, loads
from reconciler.models import ApiFormat

from . import texts
from .events import Row

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from litestar.types import Message, Send

    from proxy.registry import CompiledRule, Registry, WorkspaceRuntime

    from .writer_process import EventWriter

REQUEST_ID_HEADER = b"x-muxgate-request-id"
# What a client received is kept up to this size, to read an error answer or a stream's last error from it.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
CLIENT_CLOSED = 499  # the status nginx made common for "the client closed the request"

_FORMAT = {
    ClientApi.OPENAI_CHAT: ApiFormat.OPENAI,
    ClientApi.OPENAI_COMPLETIONS: ApiFormat.OPENAI,
    ClientApi.ANTHROPIC_MESSAGES: ApiFormat.ANTHROPIC,
    ClientApi.OLLAMA_CHAT: ApiFormat.OLLAMA,
    ClientApi.OLLAMA_GENERATE: ApiFormat.OLLAMA,
}
_WORKSPACE_HEADER = b"x-muxgate-workspace"


class RequestIds:
    """Random request ids (32 hex digits), read from the operating system's random source a block at a time.

    A call per request measured 12-20 us of CPU in an in-process run of the app with the writer process's threads
    running (0.4 us in a quiet process): a block of `batch` ids costs one call.
    """

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._hex = ""
        self._at = 0

    def next(self) -> str:
        at = self._at
        if at >= len(self._hex):
            self._hex = os.urandom(16 * self._batch).hex()
            at = 0
        self._at = at + 32
        return self._hex[at : at + 32]


_request_ids = RequestIds()
_CHAT = frozenset({ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OLLAMA_CHAT})

# What `finish()` queues, for the writer's `request_rows`: plain values and the bytes the request path had
# anyway (the client's body, the provider's JSON answer), so nothing is parsed or encoded again on the event loop.
RequestItem = tuple[
    int,  # ts (µs since the epoch)
    str,  # request id
    str | None,  # workspace
    str,  # client API
    tuple[str, str, str, int, float | None, float | None] | None,  # the rule: provider, type, model, index, prices
    str | None,  # config revision
    str,  # state hash
    str | None,  # history setting, None when no messages row is written
    int,  # characters of custom instructions added
    bool,  # FIM
    int,  # status
    str,  # outcome
    bool,  # answered
    bytes | None,  # the request body as recorded (after redaction, before instructions)
    str | None,  # the provider's API format
    bytes | None,  # the provider's JSON answer
    tuple[int | None, int | None, str | None, bool, str | None, str]
    | None,  # a stream: usage, stop, complete, error, text
    bytes | None,  # what the client received, when it is read for an error
    str | None,  # the exception that ended the request
    float | None,  # latency (ms)
    float | None,  # time to first token (ms)
]


class RequestRecord:
    """Collects one request's facts while it runs; `finish()` queues them."""

    __slots__ = (
        "_downstream",
        "_kept",
        "active_workspace",
        "answer",
        "api",
        "body",
        "called",
        "chunks",
        "ended",
        "fim",
        "history",
        "instructions",
        "latency",
        "provider_format",
        "raw",
        "registry",
        "request_id",
        "rule",
        "scope",
        "started",
        "status",
        "translator",
        "ts_us",
        "ttft",
        "workspace",
        "writer",
    )

    def __init__(
        self,
        api: ClientApi,
        send: Send,
        registry: Registry,
        writer: EventWriter | None,
        scope: Any = None,
        active_workspace: str | None = None,
    ) -> None:
        self.request_id = _request_ids.next()
        self.ts_us = time.time_ns() // 1000
        self.started = time.perf_counter()
        self.api = api
        self._downstream = send
        self.registry = registry
        self.writer = writer
        self.scope = scope
        self.active_workspace = active_workspace
        self.status = 0
        self.ended = False
        self.ttft: float | None = None
        self.latency: float | None = None
        self.chunks: list[bytes] = []
        # With analytics off nothing is kept.
        self._kept = 0 if writer is not None else MAX_ANSWER_BYTES
        self.workspace: str | None = None
        self.rule: CompiledRule | None = None
        self.body: dict[str, Any] | None = None
        self.raw: bytes | None = None
        self.history: str | None = None
        self.instructions = 0
        self.fim = False
        self.called = False
        self.answer: bytes | None = None
        self.provider_format: ApiFormat | None = None
        self.translator: StreamTranslator | None = None

    # --- the request path tells ---

    def send(self, message: Message) -> Awaitable[None]:
        """The request path's `send`: notes what goes out, then hands back the server's send of it to await (not
        a coroutine of its own, so a message costs no extra coroutine)."""
        event: dict[str, Any] = message  # type: ignore[assignment]  # a plain dict (no call to cast per message)
        kind = event["type"]
        if kind == "http.response.start":
            self.status = event["status"]
            event["headers"] = [*event.get("headers", ()), (REQUEST_ID_HEADER, self.request_id.encode())]
        elif kind == "http.response.body":
            chunk: bytes = event.get("body", b"")
            if chunk:
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.started
                if self._kept < MAX_ANSWER_BYTES:
                    self.chunks.append(chunk)
                    self._kept += len(chunk)
            if not event.get("more_body", False):
                self.ended = True
                self.latency = time.perf_counter() - self.started
        return self._downstream(message)

    def routed(
        self,
        registry: Registry,
        workspace: WorkspaceRuntime,
        rule: CompiledRule,
        body: dict[str, Any],
        fim: bool,
        raw: bytes | None = None,
    ) -> None:
        """Routing chose `rule`; `body` is the request as the client sent it (before the instructions), `raw` its
        bytes when they say exactly that (no secret was redacted), so they need not be encoded again."""
        self.registry = registry
        self.workspace = workspace.name
        self.history = workspace.history
        self.instructions = len(workspace.instructions) if not fim and self.api in _CHAT else 0
        self.rule = rule
        self.body = body
        self.raw = raw
        self.fim = fim

    def answered(self, answer: bytes, provider_format: ApiFormat) -> None:
        """The provider's JSON answer (it parsed), read by the writer for its usage and text."""
        self.answer = answer
        self.provider_format = provider_format

    def streamed(self, translator: StreamTranslator) -> None:
        self.translator = translator

    @property
    def keeps_text(self) -> bool:
        """Whether a stream's translator should keep the answer's text for this record (analytics are on)."""
        return self.writer is not None

    def finish(self, failure: BaseException | None = None) -> None:
        """The request is over, whichever way: queue its facts."""
        if self.latency is None:
            self.latency = time.perf_counter() - self.started
        if self.writer is not None:
            self.writer.put(self.item(failure))

    # --- the facts ---

    def item(self, failure: BaseException | None = None) -> RequestItem:
        """The facts as plain values, taken in a few microseconds: what needs parsing is left to the writer."""
        rule, translator = self.rule, self.translator
        stream = None
        if translator is not None:
            stream = (
                translator.input_tokens,
                translator.output_tokens,
                translator.stop_reason,
                translator.complete,
                translator.error,
                translator.text or "",
            )
        status, outcome = self._outcome(failure, stream is not None and not stream[3])
        # An answer was given, whole or in part (a client that left mid-stream saw a 2xx start).
        answered = self.called and (200 <= status < 300 or (status == CLIENT_CLOSED and 200 <= self.status < 300))
        body, raw = self.body, self.raw
        if raw is None and body is not None:
            raw = dumps(body)  # only when redaction changed the body
        # No history row for a request that never reached a provider.
        history = self.history if self.called and body is not None else None
        data = None
        if status >= 400 or (stream is not None and not stream[3]):
            data = b"".join(self.chunks)
        registry = self.registry
        return (
            self.ts_us,
            self.request_id,
            self.workspace or self._named_workspace(),
            self.api.value,
            rule.facts if rule is not None else None,
            registry.revision,
            registry.state_hash,
            history,
            self.instructions,
            self.fim,
            status,
            outcome,
            answered,
            raw,
            self.provider_format.value if self.provider_format is not None else None,
            self.answer,
            stream,
            data,
            f"{type(failure).__name__}: {failure}" if isinstance(failure, Exception) else None,
            self.latency * 1000 if self.latency is not None else None,
            self.ttft * 1000 if self.ttft is not None and stream is not None else None,
        )

    def _outcome(self, failure: BaseException | None, broken_stream: bool) -> tuple[int, str]:
        if not self.ended:
            if isinstance(failure, Exception):
                return 500, "internal_error"
            return CLIENT_CLOSED, "client_disconnected"
        status = self.status
        if status >= 400:
            return status, "upstream_error" if self.called else "rejected"
        if broken_stream:
            return status, "stream_error"
        return status, "ok"

    def _named_workspace(self) -> str | None:
        """The workspace a refused request asked for (it may not exist), else the active one."""
        scope = self.scope
        if not isinstance(scope, dict):
            return self.active_workspace
        name = scope.get("path_params", {}).get("workspace")
        if name:
            return str(name)
        for key, value in scope.get("headers", ()):
            if key == _WORKSPACE_HEADER:
                return str(value.decode("latin-1"))
        return self.active_workspace


def cost(tokens: int | None, per_million: float | None) -> float | None:
    return tokens * per_million / 1e6 if tokens is not None and per_million is not None else None


# By value, as queued: a dict lookup instead of an enum's constructor.
_FORMAT_OF_API = {api.value: fmt for api, fmt in _FORMAT.items()}
_API_FORMAT = {fmt.value: fmt for fmt in ApiFormat}


class _RecordedBody(msgspec.Struct):
    """The fields of a request body its rows are made of; the rest (tool definitions, options…), often most of
    a coding assistant's request, is skipped by the decoder without being built. An absent field reads as
    null, as `dict.get` reads it: the text helpers and `is_streaming` treat both alike."""

    model: Any = None
    stream: Any = None
    system: Any = None
    messages: Any = None
    prompt: Any = None
    suffix: Any = None


_decode_body = msgspec.json.Decoder(_RecordedBody).decode


def _recorded_body(raw: bytes | None) -> dict[str, Any] | None:
    """Those fields of the body as the dict the text helpers read; None unless the body is an object."""
    if raw is None:
        return None
    try:
        return msgspec.structs.asdict(_decode_body(raw))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def _json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return loads(data)
    except (DecodeError, UnicodeDecodeError):
        return None


def request_rows(item: RequestItem) -> list[tuple[str, Row]]:
    """The writer's part: the request's row and its history row, from what `RequestRecord.item` queued."""
    (
        ts_us,
        request_id,
        workspace,
        api,
        facts,
        revision,
        state_hash,
        history,
        instructions,
        fim,
        status,
        outcome,
        answered,
        raw,
        provider_format,
        answer_bytes,
        stream,
        data,
        failure,
        latency_ms,
        ttft_ms,
    ) = item
    fmt = _FORMAT_OF_API[api]
    body = _recorded_body(raw)
    provider_fmt = _API_FORMAT[provider_format] if provider_format is not None else None
    input_tokens = output_tokens = None
    stop_reason = stream_error = None
    complete = True
    # The answer's text: what the stream's translator kept, or the provider's JSON answer's. Both were read
    # before secrets were restored, so they have the placeholders history keeps.
    answer_text: str | None = None
    if stream is not None:
        input_tokens, output_tokens, stop_reason, complete, stream_error, answer_text = stream
    elif answer_bytes is not None and provider_fmt is not None:
        read = texts.openai_answer(answer_bytes) if provider_fmt is ApiFormat.OPENAI else None
        if read is None:  # another format, or a shape the typed reading does not take
            answer = _json(answer_bytes)
            if isinstance(answer, dict):
                read = (
                    response_usage(answer, provider_fmt),
                    response_stop_reason(answer, provider_fmt),
                    texts.answer_text(provider_fmt, answer),
                )
        if read is not None:
            usage, stop_reason, answer_text = read
            if usage is not None:
                input_tokens, output_tokens = usage.input_tokens, usage.output_tokens

    error = None
    if status >= 400:
        error = texts.error_text(data) if data else None
    elif stream is not None and not complete:
        # The provider's error, or the one the gateway ended the client's stream with.
        error = stream_error or texts.stream_text(fmt, data or b"")[1]
    if failure is not None:
        error = error or failure

    source = None
    estimate_output = False
    if answered:
        source = "provider"
        if input_tokens is None:
            input_tokens = texts.estimate_tokens(texts.prompt_chars(body or {}) + instructions)
            source = "estimated"
        # What a stream said so far may undercount what it streamed: the answer's text tells.
        estimate_output = output_tokens is None or (stream is not None and not complete)
    elif input_tokens is not None or output_tokens is not None:
        source = "provider"

    message_row: Row | None = None
    want_answer = False
    if history is not None and history != "off" and facts is not None and body is not None:
        messages = texts.conversation(body)
        full = history == "full"
        want_answer = full and answered
        message_row = (
            ts_us,
            request_id,
            workspace,
            history,
            "fim" if fim else "chat",
            facts[0],
            facts[2],
            len(messages),
            texts.last_user_text(messages) if full else None,
            texts.to_json(messages) if full else None,
            None,
        )
    text = answer_text or ""
    price_in = facts[4] if facts is not None else None
    price_out = facts[5] if facts is not None else None
    if estimate_output:
        guess = texts.estimate_tokens(len(text))
        if output_tokens is None or guess > output_tokens:
            output_tokens, source = guess, "estimated"
    requested = body.get("model") if body is not None else None
    row: Row = (
        ts_us,
        request_id,
        workspace,
        api,
        facts[0] if facts is not None else None,
        facts[1] if facts is not None else None,
        requested if isinstance(requested, str) else None,
        facts[2] if facts is not None else None,
        facts[3] if facts is not None else None,
        ("fim" if fim else "chat") if facts is not None else None,
        is_streaming(body, fmt) if body is not None else None,
        status,
        outcome,
        stop_reason,
        input_tokens,
        output_tokens,
        source,
        cost(input_tokens, price_in),
        cost(output_tokens, price_out),
        latency_ms,
        ttft_ms,
        revision,
        state_hash,
        error,
    )
    rows: list[tuple[str, Row]] = [("requests", row)]
    if message_row is not None:
        if want_answer:
            message_row = (*message_row[:-1], text)
        rows.append(("messages", message_row))
    return rows
