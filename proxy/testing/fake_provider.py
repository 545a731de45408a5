"""A fake LLM provider: a real HTTP server on a free loopback port that speaks the OpenAI, Anthropic and
Ollama wire formats, records what it receives, and misbehaves on request. Tests, benchmarks and users point a
provider's `endpoint` at it instead of a real upstream.

Routes (the OpenAI base is `{url}/v1`, the Anthropic base `{url}/v1`, the Ollama base `{url}`):

    POST /v1/chat/completions   POST /v1/completions   GET /v1/models      (OpenAI)
    POST /v1/messages                                                      (Anthropic)
    POST /api/chat              POST /api/generate     GET /api/tags       (Ollama)

Answers are deterministic: the text is "echo: <last user text>" (for completions and generate: "echo:
<prompt>"), streamed one word per chunk (at most 64 chunks). Token counts are word counts: the request's
message texts for input, the answer for output. OpenAI streams carry usage in a last chunk only when the
request sets `stream_options.include_usage`; Ollama streams unless the request says `"stream": false`. A
request whose body a real provider would reject (no `model`; no `messages`; Anthropic without `max_tokens` or
with a `system` role in `messages`) gets a 400 in that provider's error format. With `api_key` set, OpenAI
routes require `Authorization: Bearer <key>` and Anthropic requires `x-api-key: <key>` (401 otherwise); Ollama
takes no key.

Misbehaviour is a `Behaviour`, set for every request with `fake.behaviour = Behaviour(...)` or for one request
with the header `x-fake-scenario`, either `key=value` pairs separated by commas or a JSON object, whose fields
override `fake.behaviour` (`none` sets a field back to None):

    x-fake-scenario: status=429, error_message=slow down
    x-fake-scenario: chunks=20, chunk_delay=0.05
    x-fake-scenario: {"text": "a, b", "tool_call": true}

Fields: `status` (an error status answers in the provider's error format), `error_message`, `first_byte_delay`
(seconds before the status line), `chunks` (stream exactly N content chunks; short text is padded with dots),
`chunk_delay` (seconds between content chunks), `close_after_chunks` (close the connection after N content
chunks, 0 = right after the headers; a non-streaming answer is cut in half), `hang_up` (close without
answering), `garbage` (`http`: bytes that are not HTTP; `body`: a 200 whose JSON, or one stream event, does
not parse), `tool_call` (answer with a call of the request's first tool, its arguments `{"text": <answer>}`),
`text` (the answer text).

Every request is recorded in `fake.requests` as a `ReceivedRequest` (method, path, headers, parsed JSON body)
in arrival order, along with what happened to its answer: `status`, `chunks_written`, and
`client_disconnected` (the client went away before the answer was complete). `wait_done()` / `await
wait_done_async()` wait until the answer is finished, so a test can assert on a stream the client abandoned.

Usage:

    async with FakeProvider() as fake, httpx.AsyncClient() as client:     # in the test's event loop
        await client.post(f"{fake.url}/v1/chat/completions", json=...)

    with FakeProvider.running_in_thread(api_key="k") as fake:   # in a thread of its own, for sync code
        ...

    python -m proxy.testing.fake_provider --port 0  # prints its URL, serves until interrupted
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import itertools
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proxy.testing import _wire
from proxy.testing._http1 import Http1Server, HttpRequest, ResponseWriter
from proxy.testing._wire import Frame, Route

DEFAULT_MODELS: Final = ("fake-model", "fake-model-large")
SCENARIO_HEADER: Final = "x-fake-scenario"
RETRY_AFTER_SECONDS: Final = 7
_JSON_HEADERS: Final = [("content-type", "application/json")]


class Garbage(enum.StrEnum):
    HTTP = "http"
    """Bytes that are not an HTTP response, then the connection closes."""
    BODY = "body"
    """A 200 whose JSON body, or one event of its stream, does not parse."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the fake answers; the default is a correct, immediate answer."""

    status: int = 200
    error_message: str | None = None
    first_byte_delay: float = 0.0
    chunks: int | None = None
    chunk_delay: float = 0.0
    close_after_chunks: int | None = None
    hang_up: bool = False
    garbage: Garbage | None = None
    tool_call: bool = False
    text: str | None = None

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status; use a number from 100 to 599.")
        if self.chunks is not None and self.chunks < 1:
            raise ValueError(f"chunks must be at least 1, not {self.chunks}.")
        if min(self.first_byte_delay, self.chunk_delay) < 0:
            raise ValueError("Delays are seconds and cannot be negative.")

    def updated(self, spec: str) -> Behaviour:
        """This behaviour with the fields named in `spec` (`k=v, k=v` or a JSON object) replaced."""
        spec = spec.strip()
        if spec.startswith("{"):
            try:
                raw = json.loads(spec)
            except json.JSONDecodeError as error:
                raise ValueError(f"The scenario is not valid JSON ({error.msg}).") from None
            if not isinstance(raw, dict):
                raise ValueError("A JSON scenario must be an object of Behaviour fields.")
            items: list[tuple[str, Any]] = list(raw.items())
        else:
            items = []
            for pair in filter(None, (p.strip() for p in spec.split(","))):
                key, equals, value = pair.partition("=")
                if not equals:
                    raise ValueError(f"Scenario entry {pair!r} is not key=value.")
                items.append((key.strip(), value.strip()))
        changes = {key: _convert_field(key, value) for key, value in items}
        return dataclasses.replace(self, **changes)


def _convert_field(key: str, value: Any) -> Any:
    converter = _FIELD_CONVERTERS.get(key)
    if converter is None:
        known = ", ".join(_FIELD_CONVERTERS)
        raise ValueError(f"Unknown scenario field {key!r}; the fields are: {known}.")
    if value is None or value in ("", "none", "null"):
        return None
    try:
        return converter(value)
    except ValueError:
        raise ValueError(f"Scenario field {key!r} cannot be {value!r}.") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes"):
        return True
    if str(value).lower() in ("0", "false", "no"):
        return False
    raise ValueError(value)


_FIELD_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "status": int,
    "error_message": str,
    "first_byte_delay": float,
    "chunks": int,
    "chunk_delay": float,
    "close_after_chunks": int,
    "hang_up": _to_bool,
    "garbage": Garbage,
    "tool_call": _to_bool,
    "text": str,
}


@dataclass(eq=False)
class ReceivedRequest:
    """One request as the fake received it, and what became of its answer (filled in while answering)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    json: Any
    """The parsed JSON body, or None when the body is empty or not JSON."""
    status: int | None = None
    chunks_written: int = 0
    client_disconnected: bool = False
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def model(self) -> str | None:
        model = self.json.get("model") if isinstance(self.json, dict) else None
        return model if isinstance(model, str) else None

    @property
    def api_key(self) -> str | None:
        """The key the client sent: `x-api-key`, or the token of `Authorization: Bearer`."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait_done(self, timeout: float = 5.0) -> bool:
        """Block until the answer is finished (or abandoned); False on timeout."""
        return self._done.wait(timeout)

    async def wait_done_async(self, timeout: float = 5.0) -> bool:
        # A thread wait works whichever loop (or thread) the fake runs in.
        return await asyncio.to_thread(self._done.wait, timeout)


class FakeProvider:
    """The fake server; start it with `async with` or `running_in_thread()`, then use `url`."""

    def __init__(
        self,
        *,
        behaviour: Behaviour | None = None,
        api_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self.api_key = api_key
        self.models = tuple(models)
        self.record = record
        """False keeps `requests` empty, for long benchmarks."""
        self.requests: list[ReceivedRequest] = []
        self._host = host
        self._port = port
        self._server: Http1Server | None = None
        self._ids = itertools.count(1)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The fake provider is not running; start it before asking for its address.")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a path, e.g. http://127.0.0.1:41234; OpenAI and Anthropic clients add `/v1`."""
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("The fake provider is already running.")
        server = Http1Server(self._handle)
        self._port = await server.start(self._host, self._port)
        self._server = server

    async def aclose(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(
        cls,
        *,
        behaviour: Behaviour | None = None,
        api_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        record: bool = True,
    ) -> Iterator[FakeProvider]:
        """Run a fake in a thread with its own event loop, for synchronous tests and benchmark processes."""
        fake = cls(behaviour=behaviour, api_key=api_key, models=models, record=record)
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                loop.run_until_complete(fake.start())
            except BaseException as error:
                failure.append(error)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(fake.aclose())
            loop.close()

        thread = threading.Thread(target=serve, name="fake-provider", daemon=True)
        thread.start()
        started.wait()
        if failure:
            thread.join()
            raise failure[0]
        try:
            yield fake
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    # --- answering ------------------------------------------------------------------------------------------

    async def _handle(self, request: HttpRequest, writer: ResponseWriter) -> None:
        try:
            parsed = json.loads(request.body) if request.body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        received = ReceivedRequest(request.method, request.path, request.query, request.headers, request.body, parsed)
        if self.record:
            self.requests.append(received)
        try:
            await self._answer(request, received, writer)
        finally:
            received.client_disconnected = writer.client_gone and not writer.ended
            received._done.set()

    async def _answer(self, request: HttpRequest, received: ReceivedRequest, writer: ResponseWriter) -> None:
        route = _wire.ROUTES.get((request.method, request.path))
        if route is None:
            family = "ollama" if request.path.startswith("/api/") else "openai"
            known_path = any(path == request.path for _, path in _wire.ROUTES)
            status = 405 if known_path else 404
            message = f"{request.method} {request.path} is not served by the fake provider."
            self._send_error(writer, received, family, status, message)
            return
        try:
            behaviour = self.behaviour
            if SCENARIO_HEADER in request.headers:
                behaviour = behaviour.updated(request.headers[SCENARIO_HEADER])
        except ValueError as error:
            self._send_error(writer, received, route.family, 400, f"Invalid {SCENARIO_HEADER}: {error}")
            return

        if behaviour.hang_up:
            writer.close()
            return
        if not await writer.pause(behaviour.first_byte_delay):
            return
        if behaviour.garbage is Garbage.HTTP:
            writer.write_raw(b"\x00\xff not an HTTP response \xfe\r\n\r\n")
            writer.close()
            return
        if self.api_key is not None and route.family != "ollama" and received.api_key != self.api_key:
            self._send_error(writer, received, route.family, 401, "Invalid API key.")
            return
        if behaviour.status >= 400:
            message = behaviour.error_message or f"Fake error {behaviour.status}."
            self._send_error(writer, received, route.family, behaviour.status, message)
            return
        if route is Route.OPENAI_MODELS:
            self._send_json(writer, received, 200, _wire.openai_models(self.models))
            return
        if route is Route.OLLAMA_TAGS:
            self._send_json(writer, received, 200, _wire.ollama_tags(self.models))
            return
        body = received.json
        if not isinstance(body, dict):
            self._send_error(writer, received, route.family, 400, "The request body is not a JSON object.")
            return
        reason = _wire.invalid_reason(route, body)
        if reason is not None:
            self._send_error(writer, received, route.family, 400, reason)
            return

        reply = _wire.reply_for(
            route, body, text=behaviour.text, chunks=behaviour.chunks, tool_call=behaviour.tool_call
        )
        request_id = f"fake{next(self._ids)}"
        if _wire.is_streaming(route, body):
            content_type, frames = _stream_frames(route, body, reply, request_id)
            await self._send_stream(writer, received, behaviour, content_type, frames)
            return
        payload = _json_answer(route, reply, request_id)
        if behaviour.garbage is Garbage.BODY:
            self._send_bytes(writer, received, behaviour.status, b'{"id": "broken', behaviour)
            return
        self._send_bytes(writer, received, behaviour.status, _wire.dumps(payload), behaviour)

    def _send_error(
        self, writer: ResponseWriter, received: ReceivedRequest, family: str, status: int, message: str
    ) -> None:
        if status == 429:  # like the real providers, a rate limit says when to retry
            received.status = status
            headers = [*_JSON_HEADERS, ("retry-after", str(RETRY_AFTER_SECONDS))]
            writer.respond(status, headers, _wire.dumps(_wire.error_body(family, status, message)))
            return
        self._send_json(writer, received, status, _wire.error_body(family, status, message))

    def _send_json(self, writer: ResponseWriter, received: ReceivedRequest, status: int, payload: Any) -> None:
        received.status = status
        writer.respond(status, _JSON_HEADERS, _wire.dumps(payload))

    def _send_bytes(
        self,
        writer: ResponseWriter,
        received: ReceivedRequest,
        status: int,
        body: bytes,
        behaviour: Behaviour,
    ) -> None:
        received.status = status
        if behaviour.close_after_chunks is None:
            writer.respond(status, _JSON_HEADERS, body)
            return
        writer.start(status, _JSON_HEADERS, content_length=len(body))
        writer.write(body[: len(body) // 2])
        writer.close()

    async def _send_stream(
        self,
        writer: ResponseWriter,
        received: ReceivedRequest,
        behaviour: Behaviour,
        content_type: str,
        frames: list[Frame],
    ) -> None:
        if behaviour.garbage is Garbage.BODY:
            broken = b"data: {not json\n\n" if content_type.startswith("text/event-stream") else b"{not json\n"
            at = next((i + 1 for i, f in enumerate(frames) if f.is_content), 0)
            frames = [*frames[:at], Frame(broken, is_content=False), *frames[at:]]
        received.status = behaviour.status
        writer.start(
            behaviour.status,
            [("content-type", content_type), ("cache-control", "no-cache")],
            content_length=None,
        )
        close_after = behaviour.close_after_chunks
        if behaviour.chunk_delay == 0 and close_after is None:
            # Nothing to pace or cut: one write keeps benchmarks cheap.
            writer.write(b"".join(frame.data for frame in frames))
            received.chunks_written = sum(frame.is_content for frame in frames)
            writer.end()
            return
        if close_after == 0:
            writer.close()
            return
        for frame in frames:
            if frame.is_content and received.chunks_written and not await writer.pause(behaviour.chunk_delay):
                return
            writer.write(frame.data)
            await writer.drain()
            if writer.client_gone:
                return
            if frame.is_content:
                received.chunks_written += 1
                if close_after is not None and received.chunks_written >= close_after:
                    writer.close()
                    return
        writer.end()


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _stream_frames(route: Route, body: dict[str, Any], reply: _wire.Reply, request_id: str) -> tuple[str, list[Frame]]:
    sse = "text/event-stream; charset=utf-8"
    if route is Route.OPENAI_CHAT:
        return sse, _wire.openai_chat_stream(reply, request_id, include_usage=_include_usage(body))
    if route is Route.OPENAI_COMPLETIONS:
        return sse, _wire.openai_completion_stream(reply, request_id, include_usage=_include_usage(body))
    if route is Route.ANTHROPIC_MESSAGES:
        return sse, _wire.anthropic_stream(reply, request_id)
    if route is Route.OLLAMA_CHAT:
        return "application/x-ndjson", _wire.ollama_chat_stream(reply)
    return "application/x-ndjson", _wire.ollama_generate_stream(reply)


def _json_answer(route: Route, reply: _wire.Reply, request_id: str) -> dict[str, Any]:
    if route is Route.OPENAI_CHAT:
        return _wire.openai_chat_json(reply, request_id)
    if route is Route.OPENAI_COMPLETIONS:
        return _wire.openai_completion_json(reply, request_id)
    if route is Route.ANTHROPIC_MESSAGES:
        return _wire.anthropic_json(reply, request_id)
    if route is Route.OLLAMA_CHAT:
        return _wire.ollama_chat_json(reply)
    return _wire.ollama_generate_json(reply)


# --- command line -------------------------------------------------------------------------------------------


async def _serve_until_signalled(fake: FakeProvider) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(fake.url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proxy.testing.fake_provider",
        description="Serve a fake OpenAI, Anthropic and Ollama provider; print its URL, serve until stopped.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: 127.0.0.1).")
    parser.add_argument("--port", type=int, default=0, help="Port to bind; 0 picks a free one (default: 0).")
    parser.add_argument("--api-key", default=None, help="Require this key from OpenAI and Anthropic clients.")
    parser.add_argument("--model", action="append", dest="models", help="A model to list (repeatable).")
    parser.add_argument("--scenario", default="", help="Default behaviour, in the x-fake-scenario syntax.")
    parser.add_argument("--record", action="store_true", help="Keep every request in memory (off by default).")
    args = parser.parse_args(argv)
    try:
        behaviour = Behaviour().updated(args.scenario)
    except ValueError as error:
        parser.error(f"--scenario: {error}")
    fake = FakeProvider(
        behaviour=behaviour,
        api_key=args.api_key,
        models=args.models or DEFAULT_MODELS,
        record=args.record,
        host=args.host,
        port=args.port,
    )
    asyncio.run(_serve_until_signalled(fake))
    return 0


if __name__ == "__main__":
    sys.exit(main())
