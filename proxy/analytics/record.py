"""One request as analytics sees it: a tap on the ASGI `send` plus what the request path tells it.

    Gateway.handle ── RequestRecord(api, send, registry, writer)
        │  record.send: adds x-muxgate-request-id, notes the status, the first body byte and the end
        │  record.routed(…) / record.answered(…) / record.streamed(translator): what the gateway knew
        └─ record.finish() ──▶ writer queue ──▶ (writer thread) rows(): usage, estimate, cost, history

On the event loop a request costs a few attribute writes, and at its end `finish()` reads the usage and
serialises the messages (microseconds), so that nothing the request path built stays alive until the writer's
next batch. Decoding the answer's text, estimating, pricing and building rows happen in `rows()`, in the
writer thread.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from litestar.types import Message, Send

from proxy.request_info import ClientApi
from proxy.translate import StreamTranslator, is_streaming, response_stop_reason, response_usage
from reconciler.models import ApiFormat

from . import texts
from .events import Row

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


class RequestRecord:
    """Collects one request's facts; `finish()` queues it and the writer turns it into rows."""

    __slots__ = (
        "_downstream",
        "_kept",
        "active_workspace",
        "answer",
        "api",
        "body",
        "called",
        "chunks",
        "complete",
        "conversation",
        "ended",
        "failure",
        "fim",
        "history",
        "input_tokens",
        "instructions",
        "latency",
        "message_count",
        "output_tokens",
        "prompt",
        "prompt_chars",
        "provider_format",
        "registry",
        "request_id",
        "requested_model",
        "rule",
        "scope",
        "started",
        "status",
        "stop_reason",
        "stream",
        "stream_error",
        "streamed_answer",
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
        self.request_id = uuid.uuid4().hex
        self.ts_us = time.time_ns() // 1000
        self.started = time.perf_counter()
        self.api = api
        self._downstream = send
        self.registry = registry
        self.writer = writer
        self.scope = scope
        self.status = 0
        self.ended = False
        self.ttft: float | None = None
        self.latency: float | None = None
        self.chunks: list[bytes] = []
        # With analytics off nothing is kept.
        self._kept = 0 if writer is not None else MAX_ANSWER_BYTES
        self.workspace: str | None = None
        self.active_workspace = active_workspace
        self.rule: CompiledRule | None = None
        self.body: dict[str, Any] | None = None
        self.instructions = ""
        self.fim = False
        self.called = False
        self.answer: Any = None
        self.provider_format: ApiFormat | None = None
        self.translator: StreamTranslator | None = None
        self.failure: BaseException | None = None
        # Facts kept by finish() when the request's objects are let go.
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.stop_reason: str | None = None
        self.complete = False
        self.stream_error: str | None = None
        self.streamed_answer = False
        self.requested_model: str | None = None
        self.stream: bool | None = None
        self.prompt_chars = 0
        self.history: str | None = None
        self.message_count: int | None = None
        self.prompt: str | None = None
        self.conversation: str | None = None

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
        """The provider's parsed JSON answer, read for its usage in the writer thread."""
        self.answer = answer
        self.provider_format = provider_format

    def streamed(self, translator: StreamTranslator) -> None:
        self.translator = translator

    def finish(self, failure: BaseException | None = None) -> None:
        """The request is over, whichever way: keep the facts, let go of the request's objects, queue it.

        Reading the usage and the history's text here costs a few microseconds; holding the body, the answer,
        the translator and the scope until the writer's next batch would cost more, in garbage collection of
        the thousands of records a second of traffic keeps alive."""
        if self.latency is None:
            self.latency = time.perf_counter() - self.started
        self.failure = failure
        if self.writer is None:
            return
        translator = self.translator
        if translator is not None:
            self.input_tokens, self.output_tokens = translator.input_tokens, translator.output_tokens
            self.stop_reason = translator.stop_reason
            self.complete = translator.complete
            self.stream_error = translator.error
            self.streamed_answer = True
            self.translator = None
        elif isinstance(self.answer, dict) and self.provider_format is not None:
            usage = response_usage(self.answer, self.provider_format)
            if usage is not None:
                self.input_tokens, self.output_tokens = usage.input_tokens, usage.output_tokens
            self.stop_reason = response_stop_reason(self.answer, self.provider_format)
        self.answer = None
        body = self.body
        if body is not None:
            requested = body.get("model")
            self.requested_model = requested if isinstance(requested, str) else None
            self.stream = is_streaming(body, _FORMAT[self.api])
            if self.input_tokens is None:
                self.prompt_chars = texts.prompt_chars(body) + len(self.instructions)
            if self.called and self.workspace is not None:
                self.history = _history_mode(self.registry, self.workspace)
                if self.history != "off":
                    messages = texts.conversation(body)
                    self.message_count = len(messages)
                    if self.history == "full":
                        self.prompt = texts.last_user_text(messages)
                        self.conversation = texts.to_json(messages)
            self.body = None
        if self.workspace is None:
            self.workspace = self._named_workspace()
        self.scope = None
        self.writer.put(self)

    # --- the writer thread reads ---

    def rows(self) -> list[tuple[str, Row]]:
        fmt = _FORMAT[self.api]
        status, outcome = self._outcome()
        rule = self.rule
        registry = self.registry
        streamed = self.streamed_answer
        # An answer was given, whole or in part (a client that left mid-stream saw a 2xx start).
        answered = self.called and (200 <= status < 300 or (status == CLIENT_CLOSED and 200 <= self.status < 300))
        data = b"".join(self.chunks) if answered or status >= 400 or streamed else b""
        decoded: tuple[str, str | None] | None = None

        def decode() -> tuple[str, str | None]:
            nonlocal decoded
            if decoded is None:
                decoded = texts.stream_text(fmt, data) if streamed else (texts.json_text(fmt, data), None)
            return decoded

        def answer() -> str:
            return decode()[0]

        input_tokens, output_tokens, source = self._usage(answered, answer)
        price = rule.provider.prices.get(rule.model) if rule is not None else None
        input_cost = input_tokens * price.input_per_m_tok / 1e6 if price and input_tokens is not None else None
        output_cost = output_tokens * price.output_per_m_tok / 1e6 if price and output_tokens is not None else None
        error = None
        if status >= 400:
            error = texts.error_text(data) if data else None
        elif streamed and not self.complete:
            # The provider's error, or the one the gateway ended the client's stream with.
            error = self.stream_error or decode()[1]
        if isinstance(self.failure, Exception):
            error = error or f"{type(self.failure).__name__}: {self.failure}"
        request_row: Row = (
            self.ts_us,
            self.request_id,
            self.workspace,
            self.api.value,
            rule.provider.name if rule is not None else None,
            rule.provider.type.value if rule is not None else None,
            self.requested_model,
            rule.model if rule is not None else None,
            rule.index if rule is not None else None,
            ("fim" if self.fim else "chat") if rule is not None else None,
            self.stream,
            status,
            outcome,
            self.stop_reason,
            input_tokens,
            output_tokens,
            source,
            input_cost,
            output_cost,
            self.latency * 1000 if self.latency is not None else None,
            self.ttft * 1000 if self.ttft is not None and streamed else None,
            registry.revision,
            registry.state_hash,
            error,
        )
        rows: list[tuple[str, Row]] = [("requests", request_row)]
        if self.history is not None and self.history != "off" and rule is not None:
            full = self.history == "full"
            rows.append(
                (
                    "messages",
                    (
                        self.ts_us,
                        self.request_id,
                        self.workspace,
                        self.history,
                        "fim" if self.fim else "chat",
                        rule.provider.name,
                        rule.model,
                        self.message_count,
                        self.prompt,
                        self.conversation,
                        answer() if full and answered else None,
                    ),
                )
            )
        return rows

    def _outcome(self) -> tuple[int, str]:
        if not self.ended:
            if isinstance(self.failure, Exception):
                return 500, "internal_error"
            return CLIENT_CLOSED, "client_disconnected"
        status = self.status
        if status >= 400:
            return status, "upstream_error" if self.called else "rejected"
        if self.streamed_answer and not self.complete:
            return status, "stream_error"
        return status, "ok"

    def _usage(self, answered: bool, answer: Callable[[], str]) -> tuple[int | None, int | None, str | None]:
        """Tokens from the provider's usage; what it did not say is estimated when an answer was (partly) given."""
        input_tokens, output_tokens = self.input_tokens, self.output_tokens
        if not answered:
            known = input_tokens is not None or output_tokens is not None
            return input_tokens, output_tokens, "provider" if known else None
        estimated = False
        if input_tokens is None:
            input_tokens = texts.estimate_tokens(self.prompt_chars)
            estimated = True
        if output_tokens is None or (self.streamed_answer and not self.complete):
            guess = texts.estimate_tokens(len(answer()))
            if output_tokens is None or guess > output_tokens:
                output_tokens = guess
                estimated = True
        return input_tokens, output_tokens, "estimated" if estimated else "provider"

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


def _history_mode(registry: Registry, workspace: str) -> str:
    resource = registry.state.workspaces.get(workspace)
    return resource.spec.history.value if resource is not None else "full"
