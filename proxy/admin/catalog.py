"""Reads of the global resources: `/api/v1/provider-endpoints…` and `/api/v1/personas…`, in CodeGate's shapes.

Provider endpoints show their type, address and auth type, never a key; their `id` is their name.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery

from proxy.admin.shapes import JsonDict, persona_json, provider_json, provider_models
from proxy.registry import ProviderRuntime, Registry
from proxy.security import require_reader

_READ = [require_reader]
# CodeGate's sentences, kept word for word.
NO_PROVIDER_ENDPOINT = "Provider endpoint not found"
NO_PROVIDER = "Provider not found"
NO_PERSONA = "Persona does not exist"


def _registry(request: Request[Any, Any, Any]) -> Registry:
    registry: Registry = request.app.state.gateway.registry
    return registry


def _provider(registry: Registry, name: str, detail: str) -> ProviderRuntime:
    provider = registry.providers.get(name)
    if provider is None:
        raise NotFoundException(detail=detail)
    return provider


@get("/provider-endpoints", guards=_READ)
async def list_provider_endpoints(
    request: Request[Any, Any, Any], name: FromQuery[str | None] = None
) -> list[JsonDict]:
    registry = _registry(request)
    if name is not None:
        return [provider_json(_provider(registry, name, NO_PROVIDER_ENDPOINT), registry)]
    return [provider_json(p, registry) for p in sorted(registry.providers.values(), key=lambda p: p.name)]


# Declared before /provider-endpoints/{name} for readers; the router prefers the literal path either way.
@get("/provider-endpoints/models", guards=_READ)
async def list_all_models(request: Request[Any, Any, Any]) -> list[JsonDict]:
    registry = _registry(request)
    return [m for name in sorted(registry.providers) for m in provider_models(registry.providers[name], registry)]


@get("/provider-endpoints/{name:str}", guards=_READ)
async def get_provider_endpoint(request: Request[Any, Any, Any], name: FromPath[str]) -> JsonDict:
    registry = _registry(request)
    return provider_json(_provider(registry, name, NO_PROVIDER_ENDPOINT), registry)


@get("/provider-endpoints/{name:str}/models", guards=_READ)
async def list_provider_models(request: Request[Any, Any, Any], name: FromPath[str]) -> list[JsonDict]:
    registry = _registry(request)
    return provider_models(_provider(registry, name, NO_PROVIDER), registry)


@get("/personas", guards=_READ)
async def list_personas(request: Request[Any, Any, Any]) -> list[JsonDict]:
    return [persona_json(p) for p in _registry(request).state.personas.values()]


@get("/personas/{name:str}", guards=_READ)
async def get_persona(request: Request[Any, Any, Any], name: FromPath[str]) -> JsonDict:
    persona = _registry(request).state.personas.get(name)
    if persona is None:
        raise NotFoundException(detail=NO_PERSONA)
    return persona_json(persona)


HANDLERS = [
    list_provider_endpoints,
    list_all_models,
    get_provider_endpoint,
    list_provider_models,
    list_personas,
    get_persona,
]
