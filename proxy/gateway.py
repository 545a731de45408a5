"""The request path: pick the workspace, route by its mux rules, rewrite, translate, call the provider, stream back.

    client ─▶ workspace (header, /w/NAME/ prefix, or the active one) ─▶ first matching rule
           ─▶ instructions (chat only) ─▶ translate to the provider's API ─▶ upstream (aiohttp or httpx)
           ◀─ translate the answer (JSON, SSE or NDJSON) back to the client's API, chunk by chunk

Every failure reaches the client in the format of the API it called. The registry is read once per request, so a
request finishes on the config it started with while a reconcile swaps in a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar.types import Receive, Scope, Send

from proxy.analytics import Analytics, RequestRecord, begin_request
from proxy.asgi import (
    BodyTooLarge,
    ClientGone,
    DisconnectWatch,
    header,
    read_body,
    send_json,
    start_stream,
)
from proxy.registry import BASE_UPSTREAM_HEADERS, CompiledRule, ProviderRuntime, Registry, WorkspaceRuntime
from proxy.request_info import ClientApi, extract_filenames, is_fim
from proxy.rewrite import add_instructions
from proxy.secrets import report_alerts, restore_body, restoring
from proxy.settings import Settings
from proxy.translate import (
    StreamTranslator,
    TranslationError,
    error_body,
    error_event,
    is_streaming,
    passes_through,
    stream_usage_requested,
    translate_error,
    translate_request,
    translate_response,
    upstream_path,
)
from proxy.translate.codec import DecodeError, dumps, loads
from proxy.upstream import UPSTREAM_ERRORS, Upstream, UpstreamError, UpstreamResponse, map_error
from reconciler.models import ApiFormat, ProviderType

log = logging.getLogger("muxgate.gateway")

CLIENT_FORMAT: dict[ClientApi, ApiFormat] = {
    ClientApi.OPENAI_CHAT: ApiFormat.OPENAI,
    ClientApi.OPENAI_COMPLETIONS: ApiFormat.OPENAI,
    ClientApi.ANTHROPIC_MESSAGES: ApiFormat.ANTHROPIC,
    ClientApi.OLLAMA_CHAT: ApiFormat.OLLAMA,
    ClientApi.OLLAMA_GENERATE: ApiFormat.OLLAMA,
}
_LEGACY = frozenset({ClientApi.OPENAI_COMPLETIONS, ClientApi.OLLAMA_GENERATE})
_CHAT = frozenset({ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OLLAMA_CHAT})
_REQUIRED_FIELD = {
    ClientApi.OPENAI_CHAT: "messages",
    ClientApi.OPENAI_COMPLETIONS: "prompt",
    ClientApi.ANTHROPIC_MESSAGES: "messages",
    ClientApi.OLLAMA_CHAT: "messages",
    ClientApi.OLLAMA_GENERATE: "prompt",
}
_STREAM_TYPE = {
    ApiFormat.OPENAI: b"text/event-stream",
    ApiFormat.ANTHROPIC: b"text/event-stream",
    ApiFormat.OLLAMA: b"application/x-ndjson",
}
ANTHROPIC_VERSION = "2023-06-01"
WORKSPACE_HEADER = b"x-muxgate-workspace"
# An upstream error body is read for its message; a provider that sends more is cut off here.
_MAX_ERROR_BODY = 64 * 1024


class ClientError(Exception):
    """A request the gateway refuses, with the status and sentence the client gets."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


@dataclass
class Gateway:
    """What the request path reads: the swappable registry, the upstream client and the settings."""

    registry: Registry
    client: Upstream | None
    settings: Settings
    active_workspace: str = "default"
    analytics: Analytics | None = None

    def workspace_for(self, scope: Scope, registry: Registry) -> WorkspaceRuntime:
        name = scope.get("path_params", {}).get("workspace") or header(scope, WORKSPACE_HEADER)
        return self.find_workspace(name, registry)

    def find_workspace(self, name: str | None, registry: Registry) -> WorkspaceRuntime:
        """The named workspace (the active one when `name` is empty); ClientError 404 if unknown or archived."""
        name = name or self.active_workspace
        workspace = registry.workspaces.get(name)
        if workspace is None:
            raise ClientError(404, f'Workspace "{name}" does not exist.', "not_found_error")
        if workspace.archived:
            raise ClientError(
                404,
                f'Workspace "{name}" is archived; declare it again (or set archived: false) to use it.',
                "not_found_error",
            )
        return workspace

    async def handle(self, api: ClientApi, scope: Scope, receive: Receive, send: Send) -> None:
        # Every request gets an id (header x-muxgate-request-id) and, with analytics on, a row however it ends.
        record = begin_request(self.analytics, api, send, self.registry, scope, self.active_workspace)
        try:
            call = await self._prepare(api, scope, receive, record)
            if call is not None:
                # The provider's call runs in this task, cancelled if the client leaves (inline, not through
                # cancel_on_disconnect: a frame less on each of the call's resumptions).
                watch = DisconnectWatch(receive)
                try:
                    await call.run()
                except asyncio.CancelledError:
                    if not watch.absorbs_cancel():
                        raise
                finally:
                    watch.stop()
        except BaseException as exc:
            record.finish(exc)
            raise
        record.finish()

    async def _prepare(self, api: ClientApi, scope: Scope, receive: Receive, record: RequestRecord) -> _Call | None:
        """Read, check, route, protect and rewrite the request: the provider's call to make, or None when the
        client has been answered already (an error) or has left."""
        fmt = CLIENT_FORMAT[api]
        send = record.send
        try:
            registry = self.registry
            workspace = self.workspace_for(scope, registry)
            raw = await read_body(receive, self.settings.max_body_bytes)
            body = _parse(raw, api)
            fim = is_fim(api, body)
            filenames = extract_filenames(body, api) if workspace.needs_filenames else ()
            rule = workspace.route(fim, filenames)
            if rule is None:
                raise ClientError(404, f'No matching rule found for workspace "{workspace.name}".', "not_found_error")
            provider = rule.provider
            if provider.key_error:
                raise ClientError(502, f"Provider {provider.name} has no API key: {provider.key_error}.", "api_error")
            # Secrets become REDACTED<id> here, before anything is recorded or sent; the answer gets them back.
            guard = workspace.secrets
            redaction = guard.protect_inline(body, workspace.name, len(raw))
            if redaction is None:  # a large body: scanned in a worker thread
                redaction = await guard.protect(body, workspace.name, len(raw))
            if redaction.alerts:
                report_alerts(redaction.alerts, self.analytics, record.request_id)
            record.routed(registry, workspace, rule, redaction.body, fim, raw if redaction.body is body else None)
            body = redaction.body
            if workspace.instructions and not fim and api in _CHAT:
                body = add_instructions(body, api, workspace.instructions)
            upstream_body = translate_request(
                body,
                fmt,
                provider.api_format,
                model=rule.model,
                fim=fim,
                # An OpenAI provider's usage chunk is asked for when something reads it: analytics, or a client
                # of another API, whose stream carries usage. Otherwise the client's request goes as it came.
                stream_usage=self.analytics is not None or provider.api_format is not fmt,
                completion_tokens=provider.type is ProviderType.OPENAI,
            )
        except ClientGone:
            return None
        except BodyTooLarge as exc:
            await send_json(send, 413, error_body(fmt, 413, f"{exc} Send a smaller prompt."))
            return None
        except ClientError as exc:
            await send_json(send, exc.status, error_body(fmt, exc.status, exc.message, exc.kind))
            return None
        except TranslationError as exc:
            await send_json(send, exc.status, error_body(fmt, exc.status, str(exc)))
            return None
        return _Call(self, api, fmt, workspace, rule, body, upstream_body, scope, send, record, redaction.values)


def _parse(raw: bytes, api: ClientApi) -> dict[str, Any]:
    if not raw:
        raise ClientError(400, "The request has no body; send a JSON object.")
    try:
        body = loads(raw)
    except (DecodeError, UnicodeDecodeError) as exc:
        raise ClientError(400, f"The request body is not valid JSON ({exc}).") from exc
    if not isinstance(body, dict):
        raise ClientError(400, "The request body must be a JSON object.")
    required = _REQUIRED_FIELD[api]
    if required not in body:
        raise ClientError(400, f'The request has no "{required}" field.')
    return body


def upstream_headers(provider: ProviderRuntime, scope: Scope, client: ApiFormat | None = None) -> Mapping[str, str]:
    """Headers for the provider, built from scratch: nothing hop-by-hop or client-specific is forwarded.

    `client` is the API the client called. A passthrough key goes in the header the provider expects, with one
    exception: an Anthropic client that sends `Authorization: Bearer` (its SDK's auth token, such as an OAuth
    token, which Anthropic reads only there) keeps that header; OpenAI and Ollama clients send every key that way.
    """
    if provider.fixed_headers is not None:  # nothing in them comes from the request
        return provider.fixed_headers
    headers = dict(BASE_UPSTREAM_HEADERS)
    bearer_token = False
    if provider.auth == "api_key":
        key = provider.api_key
    elif provider.auth == "passthrough":
        key = header(scope, b"x-api-key")
        bearer = header(scope, b"authorization")
        if key is None and bearer and bearer[:7].lower() == "bearer ":
            key = bearer[7:].strip()
            bearer_token = client is ApiFormat.ANTHROPIC
    else:
        key = None
    if provider.api_format is ApiFormat.ANTHROPIC:
        headers["anthropic-version"] = header(scope, b"anthropic-version") or ANTHROPIC_VERSION
        beta = header(scope, b"anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        if key and bearer_token:
            headers["authorization"] = f"Bearer {key}"
        elif key:
            headers["x-api-key"] = key
    elif key:
        headers["authorization"] = f"Bearer {key}"
    return headers


class _Call:
    """One upstream call and its answer; runs as a task cancelled when the client disconnects."""

    def __init__(
        self,
        gateway: Gateway,
        api: ClientApi,
        fmt: ApiFormat,
        workspace: WorkspaceRuntime,
        rule: CompiledRule,
        body: dict[str, Any],
        upstream_body: dict[str, Any],
        scope: Scope,
        send: Send,
        record: RequestRecord,
        restore: Mapping[str, str] | None = None,
    ) -> None:
        self.gateway = gateway
        self.record = record
        # Placeholder id → secret, for the answer.
        self.restore = restore or {}
        record.called = True
        self.api = api
        self.fmt = fmt
        self.workspace = workspace
        self.rule = rule
        self.body = body
        self.upstream_body = upstream_body
        self.scope = scope
        self.send = send
        self.started = False
        provider = rule.provider
        self.url = provider.base_url + upstream_path(provider.api_format, upstream_body)
        self.route_headers = rule.route_headers

    async def fail(self, status: int, message: str, kind: str | None = None) -> None:
        if self.started:
            # Headers are gone: the error becomes the stream's last event.
            await self.send({"type": "http.response.body", "body": error_event(self.fmt, message), "more_body": False})
            return
        await send_json(self.send, status, error_body(self.fmt, status, message, kind), self.route_headers)

    async def run(self) -> None:
        client = self.gateway.client
        assert client is not None, "the gateway's lifespan opens the upstream client"
        provider = self.rule.provider
        try:
            response = await client.post(
                self.url,
                dumps(self.upstream_body),
                upstream_headers(provider, self.scope, self.fmt),
                provider.connect_timeout,
                provider.read_timeout,
            )
        except UPSTREAM_ERRORS as exc:
            error = map_error(exc, provider.name, provider.base_url)
            await self.fail(error.status, error.message, "api_error")
            return
        try:
            if response.status >= 400:
                await self.relay_error(response)
            elif is_streaming(self.body, self.fmt):
                await self.relay_stream(response)
            else:
                await self.relay_json(response)
        except UpstreamError as exc:
            await self.fail(exc.status, exc.message, "api_error")
        except UPSTREAM_ERRORS as exc:
            error = map_error(exc, provider.name, provider.base_url)
            await self.fail(error.status, error.message, "api_error")
        finally:
            # Closing an answer that broke can fail the same way; the client has been told already. (A try rather
            # than contextlib.suppress: no context manager object per request.)
            try:  # noqa: SIM105
                await response.close()
            except UPSTREAM_ERRORS:
                pass

    async def relay_error(self, response: UpstreamResponse) -> None:
        raw = b""
        async for chunk in response.chunks():
            raw += chunk
            if len(raw) > _MAX_ERROR_BODY:
                break
        try:
            parsed: Any = loads(raw)
        except (DecodeError, UnicodeDecodeError):
            parsed = None
        status = response.status
        body = translate_error(parsed, self.rule.provider.api_format, self.fmt, status)
        headers = self.route_headers
        retry_after = response.header("retry-after")
        if retry_after is not None:  # a rate-limited client needs to know when to come back
            headers = (*headers, (b"retry-after", retry_after.encode("latin-1", "replace")))
        await send_json(self.send, status, body, headers)

    async def relay_json(self, response: UpstreamResponse) -> None:
        raw = await response.read()
        provider = self.rule.provider
        if (
            provider.api_format is self.fmt
            and not self.restore
            and passes_through(raw, self.fmt, legacy=self.api in _LEGACY)
        ):
            # Nothing to change (same format, no secret to restore): the provider's bytes go out, checked to be a
            # JSON object of the route's kind without being built into objects.
            self.record.answered(raw, provider.api_format)
            await send_json(self.send, 200, raw, self.route_headers)
            return
        try:
            parsed = loads(raw)
            self.record.answered(raw, provider.api_format)
            body = translate_response(
                parsed, provider.api_format, self.fmt, model=self.rule.model, legacy=self.api in _LEGACY
            )
        except (DecodeError, UnicodeDecodeError, TranslationError) as exc:
            raise UpstreamError(502, f"Provider {provider.name} sent an answer that cannot be read: {exc}") from exc
        if self.restore:
            body = restore_body(body, self.restore)
        # An answer nothing changed (same format, no secret restored) goes out as the provider's bytes.
        await send_json(self.send, 200, raw if body is parsed else body, self.route_headers)

    async def relay_stream(self, response: UpstreamResponse) -> None:
        provider = self.rule.provider
        translator = StreamTranslator(
            provider.api_format,
            self.fmt,
            model=self.rule.model,
            legacy=self.api in _LEGACY,
            include_usage=stream_usage_requested(self.body, self.fmt),
            wrap=restoring(self.restore),
            keep_text=self.record.keeps_text,
        )
        self.record.streamed(translator)
        send = self.send
        await start_stream(send, 200, _STREAM_TYPE[self.fmt], self.route_headers)
        self.started = True
        async for chunk in response.chunks():
            out = translator.feed(chunk)
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
        tail = translator.close()
        if translator.error and not translator.complete:
            log.warning("stream from provider %s ended badly: %s", provider.name, translator.error)
        await send({"type": "http.response.body", "body": tail, "more_body": False})
