"""Identifiers and timestamps for bodies the translation layer writes itself.

A translated answer needs an id and a creation time in the client's format. Where the provider gave an id it is
kept inside the new one, so a client-side id can be traced back to the provider's logs.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def random_suffix() -> str:
    return os.urandom(12).hex()


def openai_id(provider_id: str | None, *, legacy: bool = False) -> str:
    prefix = "cmpl-" if legacy else "chatcmpl-"
    return prefix + (provider_id or random_suffix())


def anthropic_id(provider_id: str | None) -> str:
    return "msg_" + (provider_id or random_suffix())


def tool_call_id() -> str:
    return "call_" + random_suffix()


def unix_now() -> int:
    return int(time.time())


def iso_time(created: int | None = None) -> str:
    """An RFC 3339 UTC time as Ollama writes it (`...Z`)."""
    moment = datetime.now(UTC) if created is None else datetime.fromtimestamp(created, UTC)
    return moment.isoformat().replace("+00:00", "Z")
