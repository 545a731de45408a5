"""The secret guard of a workspace: its mode and its scanner, compiled from the config when the registry is built.

    SecretPolicy documents (global) + Workspace spec.secrets ─ compile_guard ─ SecretGuard (on WorkspaceRuntime)
    request body ─ SecretGuard.protect ─ Redaction (body to send, id → secret table, alerts)

Declared values are read from the environment or files here, like provider keys, never per request; a value that
cannot be read, or is too short to be told apart from ordinary words, is left out with a warning that names its
source, never the value. Patterns are checked again for catastrophic backtracking, so a registry built without
validation still cannot carry one into the request path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reconciler.models import SecretPattern, SecretRef, SecretsMode, SecretsSpec
from reconciler.regex_safety import regex_problem

from .redactor import Redaction, redact
from .scanner import DeclaredPattern, DeclaredValue, Scanner

log = logging.getLogger("muxgate.secrets")

MIN_VALUE_LENGTH: Final = 8
# Bodies larger than this are scanned in a worker thread, so the event loop keeps serving other requests meanwhile.
_THREAD_ABOVE: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class SecretGuard:
    mode: SecretsMode
    scanner: Scanner | None  # None when the mode is off

    async def protect(self, body: dict[str, Any], workspace: str, size: int = 0) -> Redaction:
        """Scan a request body of `size` bytes; redact it unless the mode is alert; nothing when off."""
        done = self.protect_inline(body, workspace, size)
        if done is not None:
            return done
        assert self.scanner is not None
        replace = self.mode is SecretsMode.REDACT
        return await asyncio.to_thread(redact, body, self.scanner, workspace=workspace, replace=replace)

    def protect_inline(self, body: dict[str, Any], workspace: str, size: int = 0) -> Redaction | None:
        """`protect` for a body small enough to scan on the event loop, without a coroutine; None for a larger
        one, which `protect` scans in a worker thread."""
        if self.scanner is None:
            return Redaction(body)
        if size > _THREAD_ABOVE:
            return None
        return redact(body, self.scanner, workspace=workspace, replace=self.mode is SecretsMode.REDACT)


@functools.cache
def builtin_scanner() -> Scanner:
    """The scanner with the built-in rules only, shared by every workspace that declares nothing of its own."""
    return Scanner()


@functools.cache
def default_guard() -> SecretGuard:
    return SecretGuard(SecretsMode.REDACT, builtin_scanner())


def compile_guard(
    spec: SecretsSpec, policies: Iterable[tuple[list[SecretPattern], list[SecretRef]]], environ: Mapping[str, str]
) -> SecretGuard:
    """The guard for a workspace's `spec.secrets`, with the patterns and values of every SecretPolicy."""
    if spec.mode is SecretsMode.OFF:
        return SecretGuard(SecretsMode.OFF, None)
    patterns: list[SecretPattern] = []
    refs: list[SecretRef] = []
    for policy_patterns, policy_values in policies:
        patterns.extend(policy_patterns)
        refs.extend(policy_values)
    patterns.extend(spec.patterns)
    refs.extend(spec.values)
    if not patterns and not refs:
        return SecretGuard(spec.mode, builtin_scanner())
    declared = [p for p in (_pattern(p) for p in patterns) if p is not None]
    values = [v for v in (_value(r, environ) for r in refs) if v is not None]
    return SecretGuard(spec.mode, Scanner(patterns=declared, values=values))


def _pattern(pattern: SecretPattern) -> DeclaredPattern | None:
    problem = regex_problem(pattern.regex)
    if problem:
        log.warning("secret pattern %s is left out: %s", pattern.name, problem)
        return None
    return DeclaredPattern(pattern.name, re.compile(pattern.regex))


def _value(ref: SecretRef, environ: Mapping[str, str]) -> DeclaredValue | None:
    if ref.from_env is not None:
        source = f"environment variable {ref.from_env}"
        value = environ.get(ref.from_env, "").strip()
    else:
        source = f"file {ref.from_file}"
        try:
            value = Path(ref.from_file or "").read_text(encoding="utf-8").strip()
        except OSError as exc:
            log.warning("secret value from %s is left out: it cannot be read (%s)", source, exc.strerror or exc)
            return None
    if len(value) < MIN_VALUE_LENGTH:
        log.warning(
            "secret value from %s is left out: %s; protect values of at least %d characters",
            source,
            "it is empty or unset" if not value else "it is too short to tell apart from ordinary words",
            MIN_VALUE_LENGTH,
        )
        return None
    return DeclaredValue(value, source)
