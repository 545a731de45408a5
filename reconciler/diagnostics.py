"""Diagnostics: what load and validate report instead of raising.

Every problem in a config tree becomes one `Diagnostic` pointing at a file, line and column (1-based, file relative
to the config directory), with a sentence that says what is wrong and a hint that says how to fix it. Renderers in
`reconciler.render` turn them into text, JSON or GitHub annotations.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PathPart = str | int
YamlPath = tuple[PathPart, ...]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    summary: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    # The span underlined in the source snippet, on `line`; at least one character.
    end_column: int | None = None
    path: YamlPath = ()
    message: str = ""
    hint: str = ""
    code: str = ""

    @property
    def yaml_path(self) -> str:
        return format_path(self.path)

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "summary": self.summary,
            "message": self.message,
            "hint": self.hint,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_column": self.end_column,
            "path": self.yaml_path,
        }


def format_path(path: Sequence[PathPart]) -> str:
    """`("spec", "muxRules", 1, "provider")` → `spec.muxRules[1].provider`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file or "", d.line or 0, d.column or 0, d.summary)
