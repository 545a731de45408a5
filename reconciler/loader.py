"""Load: a config directory (or a git tree) → YAML documents as plain data, with a position for every node.

First stage of the flow. Files are composed with ruamel.yaml's C parser (`typ="safe"`, nodes carry marks), then
turned into plain Python data by hand so that duplicate keys, unknown tags and alias bombs become diagnostics rather
than exceptions. Parsed files are cached by content, so a reconcile after a one-file change parses one file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import BaseResolver
from ruamel.yaml.tag import Tag

from reconciler.diagnostics import Diagnostic, Severity, YamlPath

MAX_FILE_BYTES = 1024 * 1024
# Nodes built per file, and nodes built again through aliases: far above what a real config needs, far below
# what an alias bomb ("billion laughs") asks for, so one is rejected in milliseconds.
MAX_NODES_PER_FILE = 200_000
MAX_ALIAS_NODES_PER_FILE = 10_000
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a file, 1-based lines and columns, end exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, slots=True)
class NodePos:
    value: Span
    key: Span | None = None


@dataclass(frozen=True, slots=True)
class Document:
    file: str
    index: int
    data: Any
    positions: Mapping[YamlPath, NodePos]

    def span(self, path: YamlPath, *, key: bool = False) -> Span | None:
        """The span of the deepest node along `path` that exists (a missing field points at its parent)."""
        for depth in range(len(path), -1, -1):
            pos = self.positions.get(path[:depth])
            if pos is not None:
                if key and depth == len(path) and pos.key is not None:
                    return pos.key
                if depth < len(path) and pos.key is not None:
                    return pos.key
                return pos.value
        return None


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    digest: str
    lines: tuple[str, ...]
    documents: tuple[Document, ...]
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class LoadResult:
    files: tuple[SourceFile, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def documents(self) -> Iterator[Document]:
        for f in self.files:
            yield from f.documents

    def source(self, path: str) -> SourceFile | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


@dataclass
class ParseCache:
    """Parsed files by (path, content digest). `retain` drops what the last load did not see.

    `derived` holds what later stages computed from one document alone (validate's per-document result), keyed by
    the Document object's identity; entries go when their file leaves the cache.
    """

    entries: dict[tuple[str, str], SourceFile] = field(default_factory=dict)
    derived: dict[int, tuple[Document, Any]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def get(self, path: str, digest: str) -> SourceFile | None:
        found = self.entries.get((path, digest))
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, source: SourceFile) -> None:
        self.entries[(source.path, source.digest)] = source

    def retain(self, keys: set[tuple[str, str]]) -> None:
        for key in list(self.entries):
            if key not in keys:
                for doc in self.entries.pop(key).documents:
                    self.derived.pop(id(doc), None)

    def derived_for(self, doc: Document) -> Any | None:
        entry = self.derived.get(id(doc))
        return entry[1] if entry is not None and entry[0] is doc else None

    def remember(self, doc: Document, value: Any) -> None:
        self.derived[id(doc)] = (doc, value)


# --- reading files ------------------------------------------------------------------------------------------------


def read_dir(root: Path) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
    """Every `*.yaml`/`*.yml` below `root` (hidden folders skipped) as (relative posix path, bytes)."""
    diagnostics: list[Diagnostic] = []
    if not root.exists():
        return [], [
            Diagnostic(
                Severity.ERROR,
                "config directory not found",
                message=f"{root} does not exist.",
                hint="Pass the folder that holds your Muxgate YAML files, for example examples/workspaces.",
                code="dir-missing",
            )
        ]
    if not root.is_dir():
        return [], [
            Diagnostic(
                Severity.ERROR,
                "config path is not a directory",
                message=f"{root} is a file, not a directory.",
                hint="Pass the folder that holds the YAML files, not one file.",
                code="dir-not-directory",
            )
        ]
    real_root = root.resolve()
    files: list[tuple[str, bytes]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(YAML_SUFFIXES):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    diagnostics.append(
                        Diagnostic(
                            Severity.WARNING,
                            "symlink leaves the config directory",
                            file=rel,
                            message=f"{rel} points to {target}, outside the config directory; it is not read.",
                            hint="Copy the file into the config directory, or point the link inside it.",
                            code="symlink-outside",
                        )
                    )
                    continue
            try:
                size = path.stat().st_size
                if size > MAX_FILE_BYTES:
                    diagnostics.append(_too_large(rel, size))
                    continue
                files.append((rel, path.read_bytes()))
            except OSError as exc:
                diagnostics.append(
                    Diagnostic(
                        Severity.ERROR,
                        "file cannot be read",
                        file=rel,
                        message=f"{rel}: {exc.strerror or exc}.",
                        hint="Check the file's permissions.",
                        code="unreadable",
                    )
                )
    return files, diagnostics


def _too_large(rel: str, size: int) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "file too large",
        file=rel,
        message=f"{rel} is {size:,} bytes; config files may be at most {MAX_FILE_BYTES:,} bytes.",
        hint="Split the file into several smaller files.",
        code="file-too-large",
    )


def load_dir(root: Path, cache: ParseCache | None = None) -> LoadResult:
    files, diagnostics = read_dir(root)
    result = load_files(files, cache)
    return LoadResult(result.files, tuple(diagnostics) + result.diagnostics)


def load_files(files: Iterable[tuple[str, bytes]], cache: ParseCache | None = None) -> LoadResult:
    sources: list[SourceFile] = []
    diagnostics: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for rel, content in files:
        if len(content) > MAX_FILE_BYTES:
            diagnostics.append(_too_large(rel, len(content)))
            continue
        digest = hashlib.blake2b(content, digest_size=16).hexdigest()
        seen.add((rel, digest))
        source = cache.get(rel, digest) if cache is not None else None
        if source is None:
            source = parse_file(rel, content, digest)
            if cache is not None:
                cache.put(source)
        sources.append(source)
        diagnostics.extend(source.diagnostics)
    if cache is not None:
        cache.retain(seen)
    return LoadResult(tuple(sources), tuple(diagnostics))


# --- parsing one file ---------------------------------------------------------------------------------------------

_TAG = "tag:yaml.org,2002:"


def _tag(suffix: str) -> Tag:
    return Tag(suffix=_TAG + suffix)


_STR, _SEQ, _MAP = _tag("str"), _tag("seq"), _tag("map")
# YAML 1.2 core schema for plain scalars (`yes`, `on` and `012`-as-octal are YAML 1.1 and stay strings/decimals).
_IMPLICIT: tuple[tuple[Tag, re.Pattern[str]], ...] = (
    (_tag("null"), re.compile(r"^(?:~|null|Null|NULL|)$")),
    (_tag("bool"), re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")),
    (_tag("int"), re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")),
    (
        _tag("float"),
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    ),
    (_tag("merge"), re.compile(r"^<<$")),
)
_MAYBE_TYPED = frozenset("~nNtTfF0123456789+-.<")


class _CoreResolver(BaseResolver):
    """The YAML 1.2 core schema without ruamel's version bookkeeping, which cost half the parse time."""

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None) -> None:
        super().__init__(loadumper=loadumper or loader)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if implicit[0] and (not value or value[0] in _MAYBE_TYPED):
                for tag, regex in _IMPLICIT:
                    if regex.match(value):
                        return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _CoreResolver
    yaml.allow_duplicate_keys = True  # we report duplicates ourselves, with both positions
    return yaml


def parse_file(rel: str, content: bytes, digest: str | None = None) -> SourceFile:
    digest = digest or hashlib.blake2b(content, digest_size=16).hexdigest()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        column = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        diag = Diagnostic(
            Severity.ERROR,
            "file is not UTF-8",
            file=rel,
            line=line,
            column=column,
            message=f"Byte 0x{content[exc.start]:02x} at offset {exc.start} is not valid UTF-8.",
            hint="Save the file as UTF-8.",
            code="not-utf8",
        )
        return SourceFile(rel, digest, (), (), (diag,))
    lines = tuple(text.splitlines())
    builder = _Builder(rel, lines)
    documents: list[Document] = []
    try:
        for index, node in enumerate(_yaml().compose_all(io.StringIO(text))):
            if node is None:
                continue
            doc = builder.document(index, node)
            if doc is not None:
                documents.append(doc)
    except MarkedYAMLError as exc:
        builder.diagnostics.append(_syntax_diagnostic(rel, lines, exc))
    except YAMLError as exc:  # pragma: no cover - the C parser reports marks for what we have seen
        builder.diagnostics.append(
            Diagnostic(Severity.ERROR, "YAML syntax error", file=rel, line=1, column=1, message=str(exc))
        )
    return SourceFile(rel, digest, lines, tuple(documents), tuple(builder.diagnostics))


def _syntax_diagnostic(rel: str, lines: tuple[str, ...], exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = (mark.line + 1) if mark is not None else 1
    column = (mark.column + 1) if mark is not None else 1
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    hint = "Check the indentation and quoting around this position."
    if "\t" in text[: max(column, 1)] or "'\\t'" in problem:
        hint = "YAML indentation must use spaces; replace the tab characters with spaces."
    elif "mapping values are not allowed" in problem:
        hint = "A value containing ': ' must be quoted, or the line is indented wrongly."
    message = problem[:1].upper() + problem[1:] if problem else "The YAML cannot be parsed."
    if context:
        message += f" ({context})"
    message = message.rstrip(".") + "."
    return Diagnostic(
        Severity.ERROR,
        "YAML syntax error",
        file=rel,
        line=line,
        column=column,
        message=message,
        hint=hint,
        code="yaml-syntax",
    )


class _AliasBomb(Exception):
    pass


class _Builder:
    """Turns composed nodes into plain data and a position map; collects diagnostics."""

    def __init__(self, rel: str, lines: tuple[str, ...]) -> None:
        self.rel = rel
        self.lines = lines
        self.diagnostics: list[Diagnostic] = []
        self.budget = MAX_NODES_PER_FILE
        self.alias_budget = MAX_ALIAS_NODES_PER_FILE
        self.seen: set[int] = set()

    def document(self, index: int, node: Node) -> Document | None:
        positions: dict[YamlPath, NodePos] = {(): NodePos(_span(node))}
        try:
            data = self._build(node, (), positions)
        except _AliasBomb:
            self.diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    "too many nodes",
                    file=self.rel,
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                    message=(
                        f"Document {index + 1} expands aliases to more than {MAX_ALIAS_NODES_PER_FILE:,} nodes "
                        "(an alias bomb?)."
                    ),
                    hint="Remove the nested anchors and aliases; write the values out.",
                    code="alias-bomb",
                )
            )
            return None
        if data is None:
            return None
        return Document(self.rel, index, data, positions)

    def _error(self, node: Node, summary: str, message: str, hint: str, code: str, path: YamlPath) -> None:
        self.diagnostics.append(
            Diagnostic(
                Severity.ERROR,
                summary,
                file=self.rel,
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
                end_column=node.end_mark.column + 1 if node.end_mark.line == node.start_mark.line else None,
                path=path,
                message=message,
                hint=hint,
                code=code,
            )
        )

    def _build(self, node: Node, path: YamlPath, positions: dict[YamlPath, NodePos], aliased: bool = False) -> Any:
        self.budget -= 1
        if not aliased and id(node) in self.seen:
            aliased = True
        self.seen.add(id(node))
        if aliased:
            self.alias_budget -= 1
        if self.budget < 0 or self.alias_budget < 0:
            raise _AliasBomb
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            items: list[Any] = []
            for i, child in enumerate(node.value):
                child_path = (*path, i)
                positions.setdefault(child_path, NodePos(_span(child)))
                items.append(self._build(child, child_path, positions, aliased))
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, path, positions, aliased)
        return None  # pragma: no cover - the composer produces only these three

    def _mapping(
        self, node: MappingNode, path: YamlPath, positions: dict[YamlPath, NodePos], aliased: bool
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        key_nodes: dict[str, Node] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if str(key_node.tag) == _TAG + "merge":
                merged.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self._error(
                    key_node,
                    "complex mapping key",
                    "A mapping key must be a plain string, not a list or mapping.",
                    "Write the key as a plain word.",
                    "complex-key",
                    path,
                )
                continue
            key = str(key_node.value)
            if key in key_nodes:
                first = key_nodes[key].start_mark
                self._error(
                    key_node,
                    "duplicate key",
                    f'The key "{key}" appears twice in this mapping (first on line {first.line + 1}).',
                    "Remove one of them: YAML keeps only one, and Muxgate does not guess which.",
                    "duplicate-key",
                    (*path, key),
                )
                continue
            key_nodes[key] = key_node
            child_path = (*path, key)
            positions[child_path] = NodePos(_span(value_node), _span(key_node))
            result[key] = self._build(value_node, child_path, positions, aliased)
        # Merge keys (`<<: *defaults`): explicit keys win, earlier merge sources win over later ones.
        for source in merged:
            for key_node, value_node in source.value:
                key = str(key_node.value)
                if key in result or not isinstance(key_node, ScalarNode):
                    continue
                child_path = (*path, key)
                positions[child_path] = NodePos(_span(value_node), _span(key_node))
                result[key] = self._build(value_node, child_path, positions, True)
        return result

    def _merge_sources(self, value: Node, path: YamlPath) -> list[MappingNode]:
        if isinstance(value, MappingNode):
            return [value]
        if isinstance(value, SequenceNode) and all(isinstance(v, MappingNode) for v in value.value):
            return list(value.value)
        self._error(
            value,
            "invalid merge key",
            "The value of '<<' must be a mapping or a list of mappings (usually an alias such as *defaults).",
            "Point '<<' at an anchored mapping.",
            "bad-merge",
            path,
        )
        return []

    def _scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        tag = str(node.tag or "")
        value = node.value
        if not tag.startswith(_TAG):
            self._error(
                node,
                "unsupported YAML tag",
                f"The tag {tag} is not supported.",
                "Remove the tag; plain strings, numbers and booleans are all a config needs.",
                "yaml-tag",
                path,
            )
            return value
        kind = tag[len(_TAG) :]
        if kind == "null":
            return None
        if kind == "bool":
            return value.lower() == "true"
        if kind == "int":
            try:
                return int(value, 0) if value[:2] in ("0x", "0o") else int(value, 10)
            except ValueError:
                return value
        if kind == "float":
            lowered = value.lower()
            if lowered in (".inf", "+.inf"):
                return float("inf")
            if lowered == "-.inf":
                return float("-inf")
            if lowered == ".nan":
                return float("nan")
            try:
                return float(lowered)
            except ValueError:
                return value
        return value  # str, timestamps and binary stay text


def _span(node: Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)
