"""One request as analytics sees it: a tap on the ASGI `send` plus what the request path tells it.

    Gateway.handle ── RequestRecord(api, send, registry, writer)
        │  record.send: adds x-muxgate-request-id, notes the status, the first body byte and the end
        │  record.routed(…) / record.answered(…) / record.streamed(translator): what the gateway knew
        └─ record.finish() ──▶ a tuple of plain values ──▶ writer queue ──▶ request_rows() in the writer thread

`finish()` reads the usage, prices it, serialises the messages and takes the answer's text from what the request
path parsed already (microseconds). What it queues holds only strings and numbers: tuples of those are invisible
to Python's garbage collector, whereas the request's own objects (body, answer, translator, scope), kept alive
until the writer's next batch, would be promoted to the oldest generation by the thousand every second and make
full collections frequent.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, cast

from litestar.types import Message, Send

from proxy.request_info import ClientApi
from proxy.translate import StreamTranslator, is_streaming, response_stop_reason, response_usage
from reconciler.models import ApiFormat

from . import texts
from .events import REQUEST_COLUMN, Row

if TYPE_CHECKING:
    from proxy.registry import CompiledRule, Registry, WorkspaceRuntime

    from .writer import Writer

REQUEST_ID_HEADER = b"x-muxgate-request-id"
# A longer answer is kept for history up to this size; token estimates then undercount it.
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
_CHAT = frozenset({ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OLLAMA_CHAT})

# What the writer thread completes: (requests row, messages row or None, estimate the output from the answer,
# put the answer's text in the messages row, output price, the answer's text).
RequestItem = tuple[Row, Row | None, bool, bool, float | None, str]


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
        "instructions",
        "latency",
        "provider_format",
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
        writer: Writer | None,
        scope: Any = None,
        active_workspace: str | None = None,
    ) -> None:
        self.request_id = os.urandom(16).hex()
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
        self.instructions = ""
        self.fim = False
        self.called = False
        self.answer: Any = None
        self.provider_format: ApiFormat | None = None
        self.translator: StreamTranslator | None = None

    # --- the request path tells ---

    async def send(self, message: Message) -> None:
        event = cast("dict[str, Any]", message)
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
        await self._downstream(message)

    def routed(
        self, registry: Registry, workspace: WorkspaceRuntime, rule: CompiledRule, body: dict[str, Any], fim: bool
    ) -> None:
        """Routing chose `rule`; `body` is the request as the client sent it (before the instructions)."""
        self.registry = registry
        self.workspace = workspace.name
        self.instructions = workspace.instructions if not fim and self.api in _CHAT else ""
        self.rule = rule
        self.body = body
        self.fim = fim

    def answered(self, answer: Any, provider_format: ApiFormat) -> None:
        """The provider's parsed JSON answer, read for its usage."""
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
        fmt = _FORMAT[self.api]
        rule, body, translator = self.rule, self.body, self.translator
        streamed = translator is not None
        input_tokens = output_tokens = None
        stop_reason = stream_error = None
        complete = True
        if translator is not None:
            input_tokens, output_tokens = translator.input_tokens, translator.output_tokens
            stop_reason, complete, stream_error = translator.stop_reason, translator.complete, translator.error
        elif isinstance(self.answer, dict) and self.provider_format is not None:
            usage = response_usage(self.answer, self.provider_format)
            if usage is not None:
                input_tokens, output_tokens = usage.input_tokens, usage.output_tokens
            stop_reason = response_stop_reason(self.answer, self.provider_format)
        status, outcome = self._outcome(failure, streamed and not complete)
        # An answer was given, whole or in part (a client that left mid-stream saw a 2xx start).
        answered = self.called and (200 <= status < 300 or (status == CLIENT_CLOSED and 200 <= self.status < 300))
        data = b"".join(self.chunks)

        error = None
        if status >= 400:
            error = texts.error_text(data) if data else None
        elif streamed and not complete:
            # The provider's error, or the one the gateway ended the client's stream with.
            error = stream_error or texts.stream_text(fmt, data)[1]
        if isinstance(failure, Exception):
            error = error or f"{type(failure).__name__}: {failure}"

        source = None
        estimate_output = False
        if answered:
            source = "provider"
            if input_tokens is None:
                chars = texts.prompt_chars(body or {}) + len(self.instructions)
                input_tokens = texts.estimate_tokens(chars)
                source = "estimated"
            # What a stream said so far may undercount what it streamed: the writer compares with the text.
            estimate_output = output_tokens is None or (streamed and not complete)
        elif input_tokens is not None or output_tokens is not None:
            source = "provider"
        price = rule.provider.prices.get(rule.model) if rule is not None else None
        price_in = price.input_per_m_tok if price else None
        price_out = price.output_per_m_tok if price else None
        requested = body.get("model") if body is not None else None
        registry = self.registry
        row: Row = (
            self.ts_us,
            self.request_id,
            self.workspace or self._named_workspace(),
            self.api.value,
            rule.provider.name if rule is not None else None,
            rule.provider.type.value if rule is not None else None,
            requested if isinstance(requested, str) else None,
            rule.model if rule is not None else None,
            rule.index if rule is not None else None,
            ("fim" if self.fim else "chat") if rule is not None else None,
            is_streaming(body, fmt) if body is not None else None,
            status,
            outcome,
            stop_reason,
            input_tokens,
            output_tokens,
            source,
            cost(input_tokens, price_in),
            cost(output_tokens, price_out),
            self.latency * 1000 if self.latency is not None else None,
            self.ttft * 1000 if self.ttft is not None and streamed else None,
            registry.revision,
            registry.state_hash,
            error,
        )
        message, want_answer = self._message_row(body, answered)
        # The answer's text from what the request path parsed already: what the stream's translator kept, or the
        # provider's JSON answer. Both were read before secrets were restored, so they have the placeholders
        # history keeps. An answer was given only after one of the two (routing records them before sending).
        text = ""
        if estimate_output or want_answer:
            if translator is not None:
                text = translator.text or ""
            elif self.provider_format is not None:
                text = texts.answer_text(self.provider_format, self.answer)
        return (row, message, estimate_output, want_answer, price_out, text)

    def _message_row(self, body: dict[str, Any] | None, answered: bool) -> tuple[Row | None, bool]:
        rule, workspace = self.rule, self.workspace
        if not self.called or rule is None or body is None or workspace is None:
            return None, False
        resource = self.registry.state.workspaces.get(workspace)
        history = resource.spec.history.value if resource is not None else "full"
        if history == "off":
            return None, False
        messages = texts.conversation(body)
        full = history == "full"
        row: Row = (
            self.ts_us,
            self.request_id,
            workspace,
            history,
            "fim" if self.fim else "chat",
            rule.provider.name,
            rule.model,
            len(messages),
            texts.last_user_text(messages) if full else None,
            texts.to_json(messages) if full else None,
            None,  # the answer's text, filled in by the writer thread
        )
        return row, full and answered

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


_OUTPUT = REQUEST_COLUMN["output_tokens"]
_SOURCE = REQUEST_COLUMN["usage_source"]
_OUTPUT_COST = REQUEST_COLUMN["output_cost"]


def request_rows(item: RequestItem) -> list[tuple[str, Row]]:
    """The writer thread's part: the output estimate from the answer's text, and that text in the history."""
    row, message, estimate_output, want_answer, price_out, text = item
    if estimate_output or want_answer:
        if estimate_output:
            guess = texts.estimate_tokens(len(text))
            if row[_OUTPUT] is None or guess > row[_OUTPUT]:
                fixed = list(row)
                fixed[_OUTPUT], fixed[_SOURCE], fixed[_OUTPUT_COST] = guess, "estimated", cost(guess, price_out)
                row = tuple(fixed)
        if want_answer and message is not None:
            message = (*message[:-1], text)
    rows: list[tuple[str, Row]] = [("requests", row)]
    if message is not None:
        rows.append(("messages", message))
    return rows
