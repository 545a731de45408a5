"""Analytics in the gateway's life: checked before the server starts, opened by the app's lifespan, flushed and
closed when the lifespan ends (uvicorn runs it on SIGTERM and SIGINT after the requests in flight finished).

`muxgate serve` calls `preflight` first, so a database it cannot use (a broken file, one from a newer version)
stops it with exit status 1 and a sentence, before it listens.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from reconciler.plan import diff

from .service import Analytics
from .store import check_writable

if TYPE_CHECKING:
    from proxy.gateway import Gateway
    from proxy.settings import Settings

log = logging.getLogger("muxgate.analytics")


def preflight(settings: Settings) -> None:
    """Raise AnalyticsError when analytics are on and the database cannot be opened and migrated."""
    if settings.analytics:
        check_writable(settings.data_dir)


def record_startup(analytics: Analytics, gateway: Gateway) -> None:
    """The registry the gateway starts with is a revision too: everything in it counts as added."""
    registry = gateway.registry
    plan = diff(registry.state, None)
    analytics.record_revision(registry.revision, registry.state_hash, added=plan.to_add, source="startup")


def analytics_lifespan(gateway: Gateway) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The lifespan hook for `create_app`: opens analytics into `gateway.analytics` unless they are off."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        settings = gateway.settings
        if not settings.analytics:
            yield
            return
        process = settings.analytics_writer == "process"
        analytics = await asyncio.to_thread(functools.partial(Analytics.open, settings.data_dir, process=process))
        record_startup(analytics, gateway)
        gateway.analytics = analytics
        try:
            yield
        finally:
            gateway.analytics = None
            await asyncio.to_thread(analytics.close)
            stats = analytics.stats()
            if stats["dropped"]:
                log.warning("analytics: %d events were dropped while serving", stats["dropped"])

    return lifespan
