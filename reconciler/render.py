"""Render: a Plan and its Diagnostics as text for people, JSON for scripts, or GitHub workflow commands.

Last step of a dry run (load → validate → plan → render); renderers only read. They print what validation and
`reconciler.plan.diff` produced, and print a plan only when no diagnostic is an error, so the three formats
agree on when a configuration is valid. The formats are a contract, documented in docs/plan-format.md.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import Diagnostic, PathPart, Severity, format_path, has_errors
from reconciler.plan import ABSENT, ActionType, Change, Plan, ResourceAction, path_parts

FORMAT_VERSION = "1"
SENSITIVE = "(sensitive value)"
STRING_LIMIT = 40

SYMBOLS: Mapping[ActionType, str] = {
    ActionType.CREATE: "+",
    ActionType.UPDATE: "~",
    ActionType.ARCHIVE: "-",
    ActionType.RECOVER: "↺",
    ActionType.DELETE: "-",
}
_VERBS: Mapping[ActionType, str] = {
    ActionType.CREATE: "will be created",
    ActionType.UPDATE: "will be updated in place",
    ActionType.ARCHIVE: "will be archived",
    ActionType.RECOVER: "will be recovered",
    ActionType.DELETE: "will be deleted",
}
# How a list is summarised on one line ("2 rules"), by the key that holds it.
_NOUNS: Mapping[str, str] = {"muxRules": "rule", "models": "model"}
_SENSITIVE_KEY = re.compile(r"api_?key|password|passwd|secret|private_?key|credential|token$", re.IGNORECASE)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Characters that would move the cursor, recolour the terminal or reorder text if printed as they are.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"
_SYMBOL_COLORS: Mapping[str, str] = {"+": _GREEN, "~": _YELLOW, "-": _RED, "↺": _CYAN}


@dataclass(frozen=True, slots=True)
class _Style:
    color: bool

    def paint(self, text: str, *codes: str) -> str:
        if not self.color or not codes:
            return text
        return "".join(codes) + text + _RESET

    def symbol(self, symbol: str) -> str:
        return self.paint(symbol, _SYMBOL_COLORS.get(symbol, ""))


# --- text ---------------------------------------------------------------------------------------------------


def render_text(
    plan: Plan | None,
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, Sequence[str]],
    *,
    color: bool,
) -> str:
    """Diagnostics, with snippets from `sources` (file → its lines), then the plan if the config is valid."""
    style = _Style(color)
    blocks = [_diagnostic_block(d, sources, style) for d in diagnostics]
    if plan is not None and not has_errors(diagnostics):
        blocks.append(_plan_block(plan, style))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def summary_sentence(plan: Plan) -> str:
    """`Plan: 1 to add, 0 to change, 1 to archive.` — recover and delete only when there are any."""
    parts = [f"{plan.to_add} to add", f"{plan.to_change} to change", f"{plan.to_archive} to archive"]
    if plan.to_recover:
        parts.append(f"{plan.to_recover} to recover")
    if plan.to_delete:
        parts.append(f"{plan.to_delete} to delete")
    return "Plan: " + ", ".join(parts) + "."


def _diagnostic_block(d: Diagnostic, sources: Mapping[str, Sequence[str]], style: _Style) -> str:
    is_error = d.severity is Severity.ERROR
    label = "Error" if is_error else "Warning"
    lines = [
        style.paint(f"{label}:", _BOLD, _RED if is_error else _YELLOW) + style.paint(f" {_clean(d.summary)}", _BOLD)
    ]
    where = _where(d)
    if where:
        lines.append(f"  {where}:")
    lines.extend(_snippet(d, sources, style, _RED if is_error else _YELLOW))
    for text in (d.message, d.hint):
        lines.extend(f"  {_clean(line)}" for line in text.splitlines())
    return "\n".join(line.rstrip() for line in lines)


def _where(d: Diagnostic) -> str:
    parts = []
    if d.file is not None:
        at = f"on {_clean(d.file)}"
        if d.line is not None:
            at += f" line {d.line}"
            if d.column is not None:
                at += f", column {d.column}"
        parts.append(at)
    if d.path:
        parts.append(f"in {_clean(d.yaml_path)}")
    return ", ".join(parts)


def _snippet(d: Diagnostic, sources: Mapping[str, Sequence[str]], style: _Style, caret_color: str) -> list[str]:
    """The line before and the line itself, numbered, with the span underlined."""
    if d.file is None or d.line is None or d.file not in sources:
        return []
    source = sources[d.file]
    if not 1 <= d.line <= len(source):
        return []
    numbers = range(max(1, d.line - 1), d.line + 1)
    width = len(str(d.line))
    out = [f"    {n:>{width}} | {_clean(_strip_eol(source[n - 1]))}" for n in numbers]
    if d.column is not None:
        text = _clean(_strip_eol(source[d.line - 1]))
        start = max(d.column, 1) - 1
        end = max(d.end_column or 0, start + 2) - 1
        # Copy tabs so the carets land under the same terminal column as the text above them.
        pad = "".join("\t" if ch == "\t" else " " * _cells(ch) for ch in text[:start])
        pad += " " * max(0, start - len(text))
        carets = "^" * max(1, sum(_cells(ch) for ch in text[start:end]))
        out.append(" " * (4 + width + 3) + pad + style.paint(carets, caret_color))
    return out


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _cells(ch: str) -> int:
    """Terminal cells a character takes: two for wide East Asian characters, none for combining marks."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _clean(text: str) -> str:
    """Config text made safe to print: one `?` per unsafe character, so columns still line up."""
    return _UNSAFE.sub("?", text)


def _plan_block(plan: Plan, style: _Style) -> str:
    pending = plan.pending
    if not pending:
        return style.paint("No changes.", _BOLD) + f" Your configuration matches {_clean(plan.current_label)}."
    lines = [style.paint("Muxgate will perform the following actions:", _BOLD), ""]
    for action in pending:
        lines.extend(_action_lines(action, style))
    lines += ["", style.paint(summary_sentence(plan), _BOLD)]
    return "\n".join(lines)


def _action_lines(action: ResourceAction, style: _Style) -> Iterator[str]:
    header = f'{action.kind.lower()} "{action.name}" {_VERBS[action.action]}'
    yield f"  {style.symbol(SYMBOLS[action.action])} {style.paint(header, _BOLD)}"
    if action.reason:
        yield f"      # ({_clean(action.reason)})"
    if action.action is ActionType.DELETE:
        return
    if action.action is ActionType.CREATE:
        shown = [c for c in action.changes if not _is_empty(c.new)]
    else:
        # The header already says archived or recovered; the flag itself is not news.
        shown = [c for c in action.changes if c.path != ("spec", "archived")]
    if not shown:
        return
    rows = [(_change_symbol(c), _display_path(path_parts(c)), _change_value(c)) for c in shown]
    width = max(len(path) for _, path, _ in rows)
    for symbol, path, value in rows:
        yield f"      {style.symbol(symbol)} {path.ljust(width)} = {value}"
    hidden = action.unchanged_fields
    if action.action is not ActionType.CREATE and hidden:
        yield f"        # ({hidden} unchanged field{'s' if hidden != 1 else ''} hidden)"


def _change_symbol(change: Change) -> str:
    if change.is_addition:
        return "+"
    if change.is_removal:
        return "-"
    return "~"


def _is_empty(value: Any) -> bool:
    # A new resource lists what it sets; empty and false fields are the defaults, not news.
    return value is None or value is False or (isinstance(value, str | list | dict) and not value)


def _change_value(change: Change) -> str:
    if _is_sensitive(change.path):
        return SENSITIVE if change.is_addition or change.is_removal else f"{SENSITIVE} -> {SENSITIVE}"
    key = _last_key(change.path)
    if change.is_addition:
        return _value(change.new, key)
    if change.is_removal:
        return _value(change.old, key)
    if isinstance(change.old, str) and isinstance(change.new, str):
        old, new = _string_pair(change.old, change.new)
    else:
        old, new = _value(change.old, key), _value(change.new, key)
    return f"{old} -> {new}"


def _is_sensitive(path: Sequence[PathPart]) -> bool:
    return any(isinstance(part, str) and _SENSITIVE_KEY.search(part) for part in path)


def _last_key(path: Sequence[PathPart]) -> str:
    return next((part for part in reversed(path) if isinstance(part, str)), "")


def _value(value: Any, key: str = "") -> str:
    """One value on one line: strings quoted and shortened, lists counted, objects inline."""
    if isinstance(value, str):
        return _short_string(value)
    if isinstance(value, list):
        noun = _NOUNS.get(key, "item")
        return f"{len(value)} {noun}{'' if len(value) == 1 else 's'}"
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{_display_key(k)} = {SENSITIVE if _SENSITIVE_KEY.search(str(k)) else _value(v, str(k))}"
            for k, v in value.items()
        )
        return "{" + items + "}"
    return json.dumps(value)


def _quote(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _short_string(text: str) -> str:
    first = text.split("\n", 1)[0]
    cut = first[:STRING_LIMIT]
    if cut == text:
        return _quote(text)
    return _quote(cut)[:-1] + '…"'


def _string_pair(old: str, new: str) -> tuple[str, str]:
    """Both strings shortened; when that hides the difference, a window around where they first differ."""
    short_old, short_new = _short_string(old), _short_string(new)
    if short_old != short_new:
        return short_old, short_new
    same = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
    start = max(0, same - STRING_LIMIT // 4)
    return _window(old, start), _window(new, start)


def _window(text: str, start: int) -> str:
    piece = text[start : start + STRING_LIMIT]
    quoted = _quote(piece)[1:-1]
    lead = "…" if start > 0 else ""
    tail = "…" if start + STRING_LIMIT < len(text) else ""
    return f'"{lead}{quoted}{tail}"'


def _display_key(key: Any) -> str:
    text = str(key)
    return text if _PLAIN_KEY.match(text) else _quote(text)


def _display_path(parts: Sequence[PathPart]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{_quote(part)}]"
    return out


# --- JSON ---------------------------------------------------------------------------------------------------


def render_json(plan: Plan | None, diagnostics: Sequence[Diagnostic]) -> str:
    """The documented JSON document (format_version 1); `plan` is null whenever the config is invalid."""
    valid = not has_errors(diagnostics)
    document = {
        "format_version": FORMAT_VERSION,
        "valid": valid,
        "diagnostics": [d.to_json() for d in diagnostics],
        "plan": plan_json(plan) if plan is not None and valid else None,
    }
    return json.dumps(document, indent=2) + "\n"


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "desired_hash": plan.desired_hash,
        "current_hash": plan.current_hash,
        "counts": _counts(plan),
        "resources": [
            {
                "kind": action.kind,
                "name": action.name,
                "actions": [action.action.value],
                "changes": [_change_json(c) for c in action.changes],
                "reason": action.reason,
            }
            for action in plan.actions
        ],
    }


def _counts(plan: Plan) -> dict[str, int]:
    return {
        "add": plan.to_add,
        "change": plan.to_change,
        "archive": plan.to_archive,
        "recover": plan.to_recover,
        "delete": plan.to_delete,
    }


def _change_json(change: Change) -> dict[str, Any]:
    # An absent side is left out rather than written as null, which is a value a field can have.
    out: dict[str, Any] = {"path": format_path(change.path)}
    if change.old is not ABSENT:
        out["before"] = change.old
    if change.new is not ABSENT:
        out["after"] = change.new
    return out


# --- GitHub Actions -----------------------------------------------------------------------------------------


def render_github(
    plan: Plan | None,
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, Sequence[str]],
    *,
    path_prefix: str = "",
) -> str:
    """Workflow commands: one annotation per diagnostic, then the plain plan in a collapsible group.

    `path_prefix` is the config directory relative to the repository root, which GitHub needs to place an
    annotation on a file. `sources` is kept so all renderers are called alike; annotations need no snippet.
    """
    del sources
    lines = [_annotation(d, path_prefix) for d in diagnostics]
    if plan is not None and not has_errors(diagnostics):
        text = _plan_block(plan, _Style(color=False))
        # The runner honours the legacy `##[command]` syntax anywhere in a line, and the plan quotes config
        # values: stop-commands makes them inert. The token is a hash of the text, so the text cannot hold it.
        token = "muxgate-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        lines += ["::group::Muxgate plan", f"::stop-commands::{token}", text, f"::{token}::", "::endgroup::"]
    return "\n".join(lines) + "\n" if lines else ""


def _annotation(d: Diagnostic, path_prefix: str) -> str:
    command = "error" if d.severity is Severity.ERROR else "warning"
    props: list[tuple[str, str]] = []
    if d.file is not None:
        props.append(("file", posixpath.join(path_prefix, d.file) if path_prefix else d.file))
        if d.line is not None:
            props.append(("line", str(d.line)))
            if d.column is not None:
                props.append(("col", str(d.column)))
                if d.end_column is not None:
                    # GitHub's endColumn is inclusive; Diagnostic.end_column is one past the span.
                    props.append(("endColumn", str(max(d.column, d.end_column - 1))))
    props.append(("title", d.summary))
    data = "\n".join(text for text in (d.message, d.hint) if text) or d.summary
    joined = ",".join(f"{name}={escape_property(value)}" for name, value in props)
    return f"::{command} {joined}::{escape_data(data)}"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_step_summary(plan: Plan | None, diagnostics: Sequence[Diagnostic]) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: the outcome, a table of counts, and the plain text in a fence."""
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    lines = ["## Muxgate plan", ""]
    if errors:
        lines.append(
            f"**Invalid configuration:** {_count(errors, 'error')}, {_count(warnings, 'warning')}. Nothing was planned."
        )
    elif plan is None:
        lines.append("**No plan was made.**")
    elif not plan.has_changes:
        lines.append("**No changes.**")
    else:
        lines.append(f"**{summary_sentence(plan)}**")
    if plan is not None and not errors:
        lines += [
            "",
            "| Add | Change | Archive | Recover | Delete |",
            "| ---: | ---: | ---: | ---: | ---: |",
            "| " + " | ".join(str(n) for n in _counts(plan).values()) + " |",
        ]
    text = render_text(plan, diagnostics, {}, color=False)
    if text:
        # A fence longer than any run of backticks in the text, so config values cannot close it.
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * max(3, longest + 1)
        lines += ["", f"{fence}text", text.rstrip("\n"), fence]
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
