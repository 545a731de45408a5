"""Validate: loaded documents → a DesiredState, or every problem of every file as Diagnostics.

Second stage of the flow, pure. Each document is checked against the pydantic model of its kind; pydantic's errors
are translated into sentences that point at the YAML node (file:line:column) and suggest a fix. Then the checks that
span documents run: unique names, references to providers and models, globs, reserved names, committed secrets.
Nothing is applied unless there is no error at all.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.credentials import find_literal_credentials
from reconciler.diagnostics import Diagnostic, Severity, YamlPath, format_path, has_errors, sort_key
from reconciler.globs import glob_error
from reconciler.loader import Document, LoadResult, ParseCache
from reconciler.models import (
    API_VERSION,
    DEFAULT_WORKSPACE,
    KINDS,
    NAME_RE,
    RESERVED_WORKSPACE_NAMES,
    MatcherType,
    Provider,
    Resource,
    Workspace,
)
from reconciler.state import DesiredState, Origin


@dataclass(frozen=True, slots=True)
class Validation:
    state: DesiredState | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.state is not None


def validate(load: LoadResult, cache: ParseCache | None = None) -> Validation:
    """Every diagnostic of the tree, sorted by file and position; a state only when there is no error.

    With the cache that loaded the tree, documents checked before (same file, same content) are not checked again;
    the checks across documents always run.
    """
    checker = _Checker()
    checker.diagnostics.extend(load.diagnostics)
    for doc in load.documents:
        checker.document_cached(doc, cache)
    checker.cross_document()
    diagnostics = tuple(sorted(dict.fromkeys(checker.diagnostics), key=sort_key))
    if has_errors(diagnostics):
        return Validation(None, diagnostics)
    state = DesiredState.build((r, Origin(d.file, _doc_line(d))) for r, d in checker.resources)
    return Validation(state, diagnostics)


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if not matches:
        lowered = {o.lower(): o for o in options}
        return lowered.get(word.lower())
    return matches[0]


def _doc_line(doc: Document) -> int:
    span = doc.span(())
    return span.line if span else 1


def _quote_list(options: Iterable[str]) -> str:
    return ", ".join(options) or "(none)"


class _Checker:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.resources: list[tuple[Resource, Document]] = []
        # Names declared by documents that failed validation: references to them are not reported again.
        self.invalid_names: set[tuple[str, str]] = set()
        # Credentials found in a document silence pydantic's complaint about the same node (one error, the useful one).
        self._credential_paths: set[tuple[str, int, YamlPath]] = set()

    # --- helpers ------------------------------------------------------------------------------------------------

    def report(
        self,
        doc: Document,
        path: YamlPath,
        summary: str,
        message: str,
        hint: str = "",
        *,
        code: str,
        key: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> None:
        span = doc.span(path, key=key)
        end_column = None
        if span is not None and span.end_line == span.line and span.end_column > span.column:
            end_column = span.end_column
        self.diagnostics.append(
            Diagnostic(
                severity,
                summary,
                file=doc.file,
                line=span.line if span else None,
                column=span.column if span else None,
                end_column=end_column,
                path=path,
                message=message,
                hint=hint,
                code=code,
            )
        )

    # --- one document -------------------------------------------------------------------------------------------

    def document_cached(self, doc: Document, cache: ParseCache | None) -> None:
        found = cache.derived_for(doc) if cache is not None else None
        if found is None:
            marks = len(self.diagnostics), len(self.resources), set(self.invalid_names)
            self.document(doc)
            found = (
                tuple(self.diagnostics[marks[0] :]),
                tuple(self.resources[marks[1] :]),
                frozenset(self.invalid_names - marks[2]),
            )
            if cache is not None:
                cache.remember(doc, found)
            return
        diagnostics, resources, invalid = found
        self.diagnostics.extend(diagnostics)
        self.resources.extend(resources)
        self.invalid_names.update(invalid)

    def document(self, doc: Document) -> None:
        for path, what in find_literal_credentials(doc.data):
            self._credential_paths.add((doc.file, doc.index, path))
            self.report(
                doc,
                path,
                "literal credential",
                f"This value looks like {what}. Secrets are never written in the config.",
                "Reference it instead: apiKey: {fromEnv: NAME} or apiKey: {fromFile: /run/secrets/NAME}, "
                "and rotate the key if it was ever committed.",
                code="literal-credential",
            )
        data = doc.data
        if not isinstance(data, dict):
            self.report(
                doc,
                (),
                "document is not a mapping",
                f"Each document must be a mapping with apiVersion, kind, metadata and spec; found {_type_name(data)}.",
                "Start the document with 'apiVersion: muxgate/v1' and 'kind: ...'.",
                code="not-a-mapping",
            )
            return
        api_version = data.get("apiVersion")
        if api_version is None:
            self.report(
                doc,
                (),
                "missing apiVersion",
                "The document has no apiVersion.",
                f"Add 'apiVersion: {API_VERSION}' at the top of the document.",
                code="missing-api-version",
            )
            return
        if api_version != API_VERSION:
            self.report(
                doc,
                ("apiVersion",),
                "unknown apiVersion",
                f'apiVersion "{api_version}" is not supported; this version of Muxgate reads {API_VERSION}.',
                f"Write 'apiVersion: {API_VERSION}'.",
                code="unknown-api-version",
            )
            return
        kind = data.get("kind")
        if kind not in KINDS:
            if kind is None:
                self.report(
                    doc,
                    (),
                    "missing kind",
                    "The document has no kind.",
                    f"Add 'kind:' with one of {_quote_list(KINDS)}.",
                    code="missing-kind",
                )
            else:
                guess = did_you_mean(str(kind), KINDS)
                self.report(
                    doc,
                    ("kind",),
                    "unknown kind",
                    f'kind "{kind}" is not one Muxgate knows.'
                    + (f' Did you mean "{guess}"?' if guess else "")
                    + f" Known kinds: {_quote_list(KINDS)}.",
                    f"Write one of {_quote_list(KINDS)}.",
                    code="unknown-kind",
                )
            return
        model = KINDS[kind]
        try:
            resource = model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                self._pydantic_error(doc, model, error)
            metadata = data.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                self.invalid_names.add((kind, metadata["name"]))
            return
        self.resources.append((resource, doc))

    def _pydantic_error(self, doc: Document, model: type[BaseModel], error: ErrorDetails) -> None:
        path = _data_path(doc.data, error["loc"])
        if any(
            (doc.file, doc.index, path[:depth]) in self._credential_paths for depth in range(len(path), 0, -1)
        ):
            return
        kind = error["type"]
        where = format_path(path)
        field_name = str(path[-1]) if path else ""
        if kind == "missing":
            parent_fields = _fields_at(model, error["loc"][:-1])
            description = parent_fields.get(field_name, "")
            self.report(
                doc,
                path,
                "missing required field",
                f'"{field_name}" is required in {format_path(path[:-1]) or "the document"}.',
                f"Add {field_name}: {description[:1].lower() + description[1:]}".rstrip(": ")
                if description
                else f"Add {field_name}.",
                code="missing-field",
            )
            return
        if kind == "extra_forbidden":
            allowed = _fields_at(model, error["loc"][:-1])
            guess = did_you_mean(field_name, allowed)
            message = f'"{field_name}" is not a field of {format_path(path[:-1]) or "the document"}.'
            if guess:
                message += f' Did you mean "{guess}"?'
            self.report(
                doc,
                path,
                "unknown field",
                message,
                f"Allowed fields here: {_quote_list(allowed)}.",
                code="unknown-field",
                key=True,
            )
            return
        value = error.get("input")
        if kind in ("enum", "literal_error", "union_tag_invalid"):
            expected = _expected_values(error)
            shown = value if kind != "union_tag_invalid" else error.get("ctx", {}).get("tag")
            if kind == "union_tag_invalid":
                path = (*path, "type") if path and path[-1] != "type" else path
                where = format_path(path)
            guess = did_you_mean(str(shown), expected)
            self.report(
                doc,
                path,
                f"invalid value for {path[-1] if path else 'field'}",
                f'"{shown}" is not allowed in {where}.' + (f' Did you mean "{guess}"?' if guess else ""),
                f"Use one of: {_quote_list(expected)}.",
                code="invalid-value",
            )
            return
        if kind == "union_tag_not_found":
            expected = _expected_values(error)
            self.report(
                doc,
                path,
                "missing required field",
                f'"type" is required in {where}.',
                f"Add type: one of {_quote_list(expected)}.",
                code="missing-field",
            )
            return
        if kind == "string_pattern_mismatch" and field_name in ("name", "provider"):
            self.report(
                doc,
                path,
                "invalid name",
                f'"{value}" is not a valid name: use lower-case letters, digits, "-" and "_", starting with a '
                "letter or digit, at most 63 characters.",
                f'Rename it, for example to "{_suggest_name(str(value))}". Names are never changed silently.',
                code="invalid-name",
            )
            return
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        message = message[:1].upper() + message[1:]
        if not message.endswith("."):
            message += "."
        hint = _fields_at(model, error["loc"][:-1]).get(field_name, "")
        if kind.endswith("_type") or kind in ("model_type", "model_attributes_type", "dict_type", "list_type"):
            message = f"{where or 'The document'}: {message} Found {_type_name(value)}."
        self.report(doc, path, _summary_for(kind), message, hint, code=kind.replace("_", "-"))

    # --- across documents ---------------------------------------------------------------------------------------

    def cross_document(self) -> None:
        first: dict[tuple[str, str], Document] = {}
        unique: list[tuple[Resource, Document]] = []
        for resource, doc in self.resources:
            key = (resource.kind, resource.metadata.name)
            if key in first:
                other = first[key]
                self.report(
                    doc,
                    ("metadata", "name"),
                    f"duplicate {resource.kind.lower()} name",
                    f'{resource.kind} "{key[1]}" is already declared in {other.file} line {_doc_line(other)}.',
                    "Names are unique per kind across all files: rename one or remove the duplicate.",
                    code="duplicate-name",
                )
                continue
            first[key] = doc
            unique.append((resource, doc))
        self.resources = unique
        providers = {r.metadata.name: r for r, _ in unique if isinstance(r, Provider)}
        for resource, doc in unique:
            if isinstance(resource, Workspace):
                self._workspace(resource, doc, providers)

    def _workspace(self, ws: Workspace, doc: Document, providers: dict[str, Provider]) -> None:
        name = ws.metadata.name
        if name in RESERVED_WORKSPACE_NAMES:
            self.report(
                doc,
                ("metadata", "name"),
                "reserved workspace name",
                f'"{name}" is reserved: the admin API uses it in its paths.',
                f"Choose another name; reserved: {_quote_list(sorted(RESERVED_WORKSPACE_NAMES))}.",
                code="reserved-name",
            )
        if name == DEFAULT_WORKSPACE and ws.spec.archived:
            self.report(
                doc,
                ("spec", "archived"),
                "default workspace archived",
                'The "default" workspace always exists and cannot be archived.',
                "Remove 'archived: true' (or set it to false).",
                code="default-archived",
            )
        seen_catch_all: int | None = None
        for i, rule in enumerate(ws.spec.mux_rules):
            base: YamlPath = ("spec", "muxRules", i)
            if seen_catch_all is not None:
                self.report(
                    doc,
                    (*base, "match"),
                    "unreachable mux rule",
                    f"Rule {i} comes after the catch_all rule {seen_catch_all}, which matches every request.",
                    "Move the catch_all rule last: the first matching rule wins.",
                    code="unreachable-rule",
                    severity=Severity.WARNING,
                )
            if rule.match.type is MatcherType.CATCH_ALL and seen_catch_all is None:
                seen_catch_all = i
            if rule.match.pattern:
                problem = glob_error(rule.match.pattern)
                if problem:
                    self.report(
                        doc,
                        (*base, "match", "pattern"),
                        "invalid glob",
                        problem,
                        'Use a shell-style glob such as "*.py" or "src/**/*.ts".',
                        code="invalid-glob",
                    )
            provider = providers.get(rule.provider)
            if provider is None and ("Provider", rule.provider) in self.invalid_names:
                continue
            if provider is None:
                guess = did_you_mean(rule.provider, providers)
                self.report(
                    doc,
                    (*base, "provider"),
                    "unknown provider in mux rule",
                    f'No provider named "{rule.provider}" is declared.'
                    + (f' Did you mean "{guess}"?' if guess else "")
                    + f" Declared: {_quote_list(sorted(providers))}.",
                    "Declare it with a 'kind: Provider' document, or fix the name.",
                    code="unknown-provider",
                )
                continue
            models = [m.name for m in provider.spec.models]
            if models and rule.model not in models:
                guess = did_you_mean(rule.model, models)
                self.report(
                    doc,
                    (*base, "model"),
                    "unknown model in mux rule",
                    f'Provider "{rule.provider}" does not list a model "{rule.model}".'
                    + (f' Did you mean "{guess}"?' if guess else "")
                    + f" Listed: {_quote_list(models)}.",
                    f"Add the model to the provider's spec.models, or pick a listed one.",
                    code="unknown-model",
                )
        if ws.spec.mux_rules and seen_catch_all is None:
            self.report(
                doc,
                ("spec", "muxRules"),
                "no catch_all rule",
                f'Workspace "{name}" has mux rules but none of type catch_all: a request no rule matches gets a 404.',
                "End the list with '- match: {type: catch_all}' and a provider and model.",
                code="no-catch-all",
                key=True,
                severity=Severity.WARNING,
            )


# --- pydantic plumbing ----------------------------------------------------------------------------------------


def _data_path(data: Any, loc: Sequence[str | int]) -> YamlPath:
    """Map pydantic's error location onto the YAML data, dropping union tags and validator names."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes (or other types) an annotation can hold, through Optional, Annotated, list and dict."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    if origin in (list, tuple, set, frozenset):
        return _unwrap(typing.get_args(annotation)[0])
    if origin is dict:
        return _unwrap(typing.get_args(annotation)[1])
    return [annotation]


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> dict[str, str]:
    """YAML field names (aliases) and descriptions of the model reached by following `loc`."""
    candidates: list[Any] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        next_candidates: list[Any] = []
        for cand in candidates:
            if not (isinstance(cand, type) and issubclass(cand, BaseModel)):
                continue
            for name, info in cand.model_fields.items():
                if part in (info.alias, name):
                    next_candidates.extend(_unwrap(info.annotation))
        if next_candidates:
            candidates = next_candidates
        else:
            # A union tag such as "api_key": keep the members whose `type` literal is that tag.
            tagged = [c for c in candidates if part in _literal_values(c, "type")]
            candidates = tagged or candidates
    fields: dict[str, str] = {}
    for cand in candidates:
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            for name, info in cand.model_fields.items():
                fields.setdefault(info.alias or name, info.description or "")
    return fields


def _literal_values(model: Any, field: str) -> tuple[Any, ...]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ()
    info = model.model_fields.get(field)
    if info is None:
        return ()
    return typing.get_args(info.annotation)


def _expected_values(error: ErrorDetails) -> list[str]:
    ctx = error.get("ctx", {})
    expected = str(ctx.get("expected_tags") or ctx.get("expected") or "")
    values = [v.strip().strip("'\"") for v in expected.replace(" or ", ",").split(",")]
    return [v for v in values if v]


def _summary_for(kind: str) -> str:
    if kind.endswith("_type") or kind in ("model_attributes_type",):
        return "wrong type"
    if kind == "value_error":
        return "invalid value"
    if kind.startswith(("greater", "less")):
        return "value out of range"
    if kind.startswith("string_"):
        return "invalid string"
    return "invalid value"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f'a string ("{shown}")'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _suggest_name(value: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower()).strip("-_") or "name"
    cleaned = cleaned[:63]
    return cleaned if NAME_RE.match(cleaned) else "my-name"
