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
    Match,
    MatcherType,
    Provider,
    ProviderSpec,
    Resource,
    SecretPattern,
    SecretPolicy,
    SecretRef,
    Workspace,
)
from reconciler.regex_safety import regex_problem
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
    options = list(options)
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = {o.lower(): o for o in options}
        return lowered.get(word.lower())
    return matches[0]


def _doc_line(doc: Document) -> int:
    span = doc.span(())
    return span.line if span else 1


def _quote_list(options: Iterable[str]) -> str:
    return ", ".join(options) or "(none)"


_REFERENCE_HINT = "Reference it instead: apiKey: {fromEnv: NAME} or apiKey: {fromFile: /run/secrets/NAME}."


class _Checker:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.resources: list[tuple[Resource, Document]] = []
        # Names declared by documents that failed validation: references to them are not reported again.
        self.invalid_names: set[tuple[str, str]] = set()

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
        # Paths already explained (a pasted key, a YAML tag): pydantic's complaint about the same node adds nothing.
        quiet = set(doc.flagged)
        for path, what in find_literal_credentials(doc.data):
            quiet.add(path)
            self.report(
                doc,
                path,
                "literal credential",
                f"This value looks like {what}. Secrets are never written in the config.",
                (
                    _REFERENCE_HINT
                    if path and path[-1] == "apiKey"
                    else "Remove it; where a provider needs a key, reference it with apiKey: {fromEnv: NAME}."
                )
                + " Rotate the secret: it may already be in the git history.",
                code="literal-credential",
            )
        data = doc.data
        if not isinstance(data, dict):
            self.report(
                doc,
                (),
                "document is not a mapping",
                f"Each document must be a mapping with apiVersion, kind, metadata and spec; found {_type_name(data)}.",
                f"Start the document with 'apiVersion: {API_VERSION}' and 'kind: ...'.",
                code="not-a-mapping",
            )
            return
        if not self._header(doc, data):
            return
        kind = data["kind"]
        model = KINDS[kind]
        try:
            # YAML speaks camelCase only: the models also accept snake_case names, for Python callers.
            resource = model.model_validate(data, by_alias=True, by_name=False)
        except ValidationError as exc:
            self._pydantic_errors(doc, model, exc.errors(include_url=False), quiet)
            metadata = data.get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
                self.invalid_names.add((kind, metadata["name"]))
            return
        self.resources.append((resource, doc))

    def _header(self, doc: Document, data: dict[str, Any]) -> bool:
        """Check apiVersion and kind, which decide how the rest is read; True when both are right."""
        if "apiVersion" not in data:
            self.report(
                doc,
                (),
                "missing apiVersion",
                "The document has no apiVersion.",
                f"Add 'apiVersion: {API_VERSION}' at the top of the document.",
                code="missing-api-version",
            )
            return False
        api_version = data["apiVersion"]
        if api_version != API_VERSION:
            self.report(
                doc,
                ("apiVersion",),
                "unknown apiVersion",
                f'apiVersion "{api_version}" is not supported; this version of Muxgate reads {API_VERSION}.'
                if isinstance(api_version, str)
                else f"apiVersion must be the text {API_VERSION}, not {_type_name(api_version)}.",
                f"Write 'apiVersion: {API_VERSION}'.",
                code="unknown-api-version",
            )
            return False
        kind = data.get("kind")
        if kind is None:
            self.report(
                doc,
                (),
                "missing kind",
                "The document has no kind.",
                f"Add 'kind:' with one of {_quote_list(KINDS)}.",
                code="missing-kind",
            )
            return False
        if not isinstance(kind, str) or kind not in KINDS:
            guess = did_you_mean(kind, KINDS) if isinstance(kind, str) else None
            self.report(
                doc,
                ("kind",),
                "unknown kind",
                (
                    f'kind "{kind}" is not one Muxgate knows.' + (f' Did you mean "{guess}"?' if guess else "")
                    if isinstance(kind, str)
                    else f"kind must be a single word, not {_type_name(kind)}."
                )
                + f" Known kinds: {_quote_list(KINDS)}.",
                f"Write one of {_quote_list(KINDS)}.",
                code="unknown-kind",
            )
            return False
        return True

    def _pydantic_errors(
        self, doc: Document, model: type[BaseModel], errors: list[ErrorDetails], quiet: set[YamlPath]
    ) -> None:
        located = [(error, _walk(model, doc.data, error["loc"])[0]) for error in errors]
        # A misspelt key also leaves the field it meant "missing": the unknown-field error says both.
        misspelt: set[YamlPath] = set()
        for error, path in located:
            if error["type"] == "extra_forbidden" and path:
                guess = did_you_mean(str(path[-1]), _fields_at(model, doc.data, error["loc"][:-1]))
                if guess:
                    misspelt.add((*path[:-1], guess))
        for error, path in located:
            if error["type"] == "missing" and path in misspelt:
                continue
            if any(path[:depth] in quiet for depth in range(len(path), -1, -1)):
                continue
            self._pydantic_error(doc, model, error, path)

    def _pydantic_error(self, doc: Document, model: type[BaseModel], error: ErrorDetails, path: YamlPath) -> None:
        kind = error["type"]
        loc = error["loc"]
        where = format_path(path) or "the document"
        parent = format_path(path[:-1]) or "the document"
        field_name = str(path[-1]) if path else ""
        value = error.get("input")
        siblings = _fields_at(model, doc.data, loc[:-1])
        description = siblings.get(field_name, "")
        if kind == "missing":
            self.report(
                doc,
                path,
                "missing required field",
                f'"{field_name}" is required in {parent}.',
                f"Add {field_name}: {_lower_first(description)}" if description else f"Add {field_name}.",
                code="missing-field",
            )
        elif kind == "extra_forbidden":
            guess = did_you_mean(field_name, siblings)
            self.report(
                doc,
                path,
                "unknown field",
                f'"{field_name}" is not a field of {parent}.' + (f' Did you mean "{guess}"?' if guess else ""),
                f"Allowed fields here: {_quote_list(siblings)}.",
                code="unknown-field",
                key=True,
            )
        elif kind in ("enum", "literal_error", "union_tag_invalid"):
            if kind == "union_tag_invalid":
                value = error.get("ctx", {}).get("tag")
                path = (*path, "type")
                where = format_path(path)
            expected = _expected_values(error)
            guess = did_you_mean(str(value), expected)
            self.report(
                doc,
                path,
                f"invalid value for {path[-1] if path else 'field'}",
                f"{_shown(value)} is not allowed in {where}." + (f' Did you mean "{guess}"?' if guess else ""),
                f"Use one of: {_quote_list(expected)}.",
                code="invalid-value",
            )
        elif kind == "union_tag_not_found":
            tags = [str(t) for c in _walk(model, doc.data, loc)[1] for t in _literal_values(c, "type")]
            self.report(
                doc,
                path,
                "missing required field",
                f'"type" is required in {where}.',
                f"Add type: one of {_quote_list(tags)}.",
                code="missing-field",
            )
        elif kind == "string_pattern_mismatch":
            self._pattern_mismatch(doc, path, str(value))
        elif kind.endswith(("_type", "_parsing")):
            self._wrong_type(doc, path, kind, value)
        elif kind == "value_error":
            self._model_rule(doc, model, error, path)
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            ctx = error.get("ctx", {})
            bound = {
                "greater_than": f"greater than {_number(ctx.get('gt'))}",
                "greater_than_equal": f"at least {_number(ctx.get('ge'))}",
                "less_than": f"less than {_number(ctx.get('lt'))}",
                "less_than_equal": f"at most {_number(ctx.get('le'))}",
            }[kind]
            self.report(
                doc,
                path,
                "value out of range",
                f"{where} must be {bound}, not {_number(value)}.",
                description,
                code="out-of-range",
            )
        elif kind == "string_too_short":
            self.report(
                doc,
                path,
                "empty value",
                f"{where} is empty.",
                f"Write {field_name}: {_lower_first(description)}" if description else f"Give {field_name} a value.",
                code="empty-value",
            )
        else:
            message = error["msg"].removeprefix("Value error, ")
            self.report(
                doc,
                path,
                "invalid value",
                f"{where}: {message[:1].lower() + message[1:]}".rstrip(".") + ".",
                description,
                code="invalid-value",
            )

    def _pattern_mismatch(self, doc: Document, path: YamlPath, value: str) -> None:
        field_name = path[-1] if path else ""
        if field_name == "fromEnv":
            self.report(
                doc,
                path,
                "invalid environment variable name",
                f"{_shown(value)} is not an environment variable name.",
                'Use letters, digits and "_", not starting with a digit, for example OPENAI_API_KEY.',
                code="invalid-env-name",
            )
            return
        suggestion = _suggest_name(value)
        hint = f'Rename it, for example to "{suggestion}". Names are never changed silently.'
        if field_name == "provider":
            hint = f'Write the provider\'s name as declared in its metadata.name, for example "{suggestion}".'
        self.report(
            doc,
            path,
            "invalid name",
            f'{_shown(value)} is not a valid name: use lower-case letters, digits, "-" and "_", starting with '
            "a letter or digit, at most 63 characters.",
            hint,
            code="invalid-name",
        )

    def _wrong_type(self, doc: Document, path: YamlPath, kind: str, value: Any) -> None:
        where = format_path(path) or "the document"
        field_name = str(path[-1]) if path else "the value"
        if kind.startswith("bool"):
            expected = "true or false"
            hint = "Write true or false, without quotes."
            if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
                hint += f" YAML 1.2 reads {value} as text, not as a boolean."
        elif kind.startswith(("float", "int")):
            expected = "a number"
            hint = (
                f"Write the number without quotes: {field_name}: {value}."
                if isinstance(value, str) and _is_number(value)
                else f"Write a number, for example {field_name}: 1.5."
            )
        elif kind.startswith("string"):
            expected = "text"
            hint = (
                f'Put the value in quotes: {field_name}: "{_yaml_scalar(value)}".'
                if isinstance(value, bool | int | float)
                else "Write a single text value; quote it if it contains ': ' or starts with a special character."
            )
        elif kind.startswith("list"):
            expected = "a list"
            hint = 'Write one item per line, each starting with "- ", indented below the key.'
        else:  # dict_type, model_type, model_attributes_type
            expected = "a mapping"
            hint = f'Write "key: value" lines indented below {field_name}:.'
            if field_name == "apiKey" and isinstance(value, str):
                hint = _REFERENCE_HINT
            elif value is None:
                hint = f"Give {field_name} its fields, or remove the empty {field_name}: line."
        self.report(
            doc,
            path,
            "wrong type",
            f"{where} must be {expected}, not {_type_name(value)}.",
            hint,
            code="wrong-type",
        )

    def _model_rule(self, doc: Document, model: type[BaseModel], error: ErrorDetails, path: YamlPath) -> None:
        """A rule a model checks across its fields; the model's own wording is replaced by one that names the fix."""
        holders = _walk(model, doc.data, error["loc"])[1]
        value = error.get("input")
        if Match in holders:
            self.report(
                doc,
                (*path, "pattern"),
                "pattern on a catch_all rule",
                "A catch_all rule matches every request, so it takes no pattern.",
                "Remove the pattern, or use type filename_match, fim_filename or chat_filename to match files.",
                code="catch-all-pattern",
            )
        elif ProviderSpec in holders:
            provider_type = value.get("type") if isinstance(value, dict) else None
            self.report(
                doc,
                (*path, "type"),
                "endpoint missing",
                f"A provider of type {provider_type} has no well-known address, so it needs an endpoint.",
                "Add endpoint: with the server's base URL, for example http://vllm.internal:8000/v1.",
                code="endpoint-missing",
            )
        elif SecretRef in holders:
            both = isinstance(value, dict) and "fromEnv" in value and "fromFile" in value
            self.report(
                doc,
                path,
                "ambiguous secret reference" if both else "secret reference without a source",
                f"{format_path(path)} gives both fromEnv and fromFile; a secret has exactly one source."
                if both
                else f"{format_path(path)} gives neither fromEnv nor fromFile.",
                "Keep exactly one: {fromEnv: NAME} or {fromFile: /run/secrets/NAME}.",
                code="secret-source",
            )
        elif path and path[-1] == "endpoint":
            self.report(
                doc,
                path,
                "invalid endpoint",
                f"{_shown(value)} is not an http:// or https:// URL.",
                "Write the full base URL with its scheme, for example https://api.openai.com/v1.",
                code="invalid-endpoint",
            )
        else:
            message = error["msg"].removeprefix("Value error, ")
            self.report(
                doc,
                path,
                "invalid value",
                message[:1].upper() + message[1:].rstrip(".") + ".",
                "",
                code="invalid-value",
            )

    # --- across documents ---------------------------------------------------------------------------------------

    def cross_document(self) -> None:
        first: dict[tuple[str, str], Document] = {}
        unique: list[tuple[Resource, Document]] = []
        for resource, doc in self.resources:
            key = (resource.kind, resource.metadata.name)
            if key in first:
                other = first[key]
                other_span = other.span(("metadata", "name"))
                self.report(
                    doc,
                    ("metadata", "name"),
                    f"duplicate {resource.kind.lower()} name",
                    f'{resource.kind} "{key[1]}" is already declared in {other.file} line '
                    f"{other_span.line if other_span else _doc_line(other)}.",
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
                self._secret_patterns(doc, ("spec", "secrets", "patterns"), resource.spec.secrets.patterns)
            elif isinstance(resource, SecretPolicy):
                self._secret_patterns(doc, ("spec", "patterns"), resource.spec.patterns)

    def _secret_patterns(self, doc: Document, base: YamlPath, patterns: Sequence[SecretPattern]) -> None:
        for i, pattern in enumerate(patterns):
            problem = regex_problem(pattern.regex)
            if problem:
                self.report(
                    doc,
                    (*base, i, "regex"),
                    "unusable secret pattern",
                    f'Pattern "{pattern.name}": {problem[:1].lower()}{problem[1:]}',
                    "Write a Python regular expression that starts with a literal, such as acme_[A-Za-z0-9]{32}.",
                    code="unsafe-pattern",
                )

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
            self._rule_target(doc, base, rule.provider, rule.model, providers)
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

    def _rule_target(
        self, doc: Document, base: YamlPath, provider_name: str, model: str, providers: dict[str, Provider]
    ) -> None:
        provider = providers.get(provider_name)
        if provider is None:
            if ("Provider", provider_name) in self.invalid_names:
                return  # its own errors are reported where it is declared
            guess = did_you_mean(provider_name, providers)
            self.report(
                doc,
                (*base, "provider"),
                "unknown provider in mux rule",
                f'No provider named "{provider_name}" is declared.'
                + (f' Did you mean "{guess}"?' if guess else "")
                + f" Declared: {_quote_list(sorted(providers))}.",
                "Declare it with a 'kind: Provider' document, or fix the name.",
                code="unknown-provider",
            )
            return
        models = [m.name for m in provider.spec.models]
        if models and model not in models:
            guess = did_you_mean(model, models)
            self.report(
                doc,
                (*base, "model"),
                "unknown model in mux rule",
                f'Provider "{provider_name}" does not list a model "{model}".'
                + (f' Did you mean "{guess}"?' if guess else "")
                + f" Listed: {_quote_list(models)}.",
                "Add the model to the provider's spec.models, or pick a listed one.",
                code="unknown-model",
            )


# --- pydantic plumbing ----------------------------------------------------------------------------------------


def _walk(model: type[BaseModel], data: Any, loc: Sequence[str | int]) -> tuple[YamlPath, list[Any]]:
    """Follow pydantic's error location through the models and the data.

    Returns the location as a YAML path (union tags such as "api_key" in ("spec", "auth", "api_key", "apiKey")
    dropped) and the types that can hold the value there.
    """
    path: list[str | int] = []
    node = data
    candidates: list[Any] = [model]
    # pydantic names the chosen member of a tagged union once, right after the union's field; a key written in the
    # YAML may spell the same word ("api_key" under auth), so only that one place is read as a tag.
    tag_next = False
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            tag_next = False
            continue
        field_types = [
            t
            for cand in candidates
            if isinstance(cand, type) and issubclass(cand, BaseModel)
            for name, info in cand.model_fields.items()
            if (info.alias or name) == part
            for t in _unwrap(info.annotation)
        ]
        tagged = [c for c in candidates if part in _literal_values(c, "type")] if tag_next else []
        tag_next = False
        if tagged:
            candidates = tagged
            continue
        if field_types:
            candidates = field_types
            tag_next = len(field_types) > 1
        elif not (isinstance(node, dict) and part in node) and i < len(loc) - 1:
            continue  # a validator's name, not a place in the YAML
        path.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return tuple(path), candidates


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


def _fields_at(model: type[BaseModel], data: Any, loc: Sequence[str | int]) -> dict[str, str]:
    """YAML field names (aliases) and descriptions of the model reached by following `loc`."""
    fields: dict[str, str] = {}
    for cand in _walk(model, data, loc)[1]:
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


# --- wording --------------------------------------------------------------------------------------------------


def _lower_first(text: str) -> str:
    """'Model to route to' → 'model to route to', but 'USD per million' stays as it is."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _shown(value: Any) -> str:
    """A value quoted for a message: strings in quotes, anything else described."""
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 60 else f'"{value[:59]}…"'
    return _type_name(value)


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


def _yaml_scalar(value: bool | float) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _number(value: Any) -> str:
    """0.0 → "0", 1.5 → "1.5"; anything else as it comes."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _suggest_name(value: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower()).strip("-_") or "name"
    cleaned = cleaned[:63].rstrip("-_")
    return cleaned if NAME_RE.match(cleaned) else "my-name"
