"""Load: a config directory (or a git tree) → YAML documents as plain data, with a position for every node.

First stage of the flow. ruamel.yaml's C parser turns each file into events; nodes are composed from them here, with
bounded nesting, and turned into plain Python data by hand, so that duplicate keys, unknown tags, alias bombs and
pathological nesting become diagnostics rather than exceptions (or a crashed interpreter). Parsed files are cached by
content, so a reconcile after a one-file change parses one file.
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
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import BaseResolver

from reconciler.diagnostics import Diagnostic, Severity, YamlPath

MAX_FILE_BYTES = 1024 * 1024
# Nodes built per file, and nodes built again through aliases: far above what a real config needs, far below
# what an alias bomb ("billion laughs") asks for, so one is rejected in milliseconds.
MAX_NODES_PER_FILE = 200_000
MAX_ALIAS_NODES_PER_FILE = 10_000
# A config nests about ten levels deep; the bound keeps recursion (here, in pydantic) far from Python's limit.
MAX_DEPTH = 64
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
    # Paths whose value the loader already reported (an unsupported tag, a duplicate key): validation says nothing
    # more about them, so one mistake gives one diagnostic.
    flagged: frozenset[YamlPath] = frozenset()

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
    # os.scandir with plain strings: a reconcile re-reads the whole tree, and pathlib's objects cost more than the
    # reading itself on a tree of thousands of small files.
    pending: list[tuple[str, str]] = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            diagnostics.append(_unreadable(prefix.rstrip("/") or ".", exc))
            continue
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = prefix + name
            is_link = entry.is_symlink()
            if entry.is_dir(follow_symlinks=False):
                subfolders.append((entry.path, rel + "/"))
                continue
            if is_link and _is_dir(entry):
                # A linked folder inside DIR is read where it really is; walking it again would declare everything
                # in it twice (and a link to a parent would never end).
                outside = _outside_target(Path(entry.path), real_root)
                if outside is not None:
                    diagnostics.append(_symlink_outside(rel, outside, "folder"))
                continue
            if not name.endswith(YAML_SUFFIXES):
                continue
            if is_link:
                outside = _outside_target(Path(entry.path), real_root)
                if outside is not None:
                    diagnostics.append(_symlink_outside(rel, outside, "file"))
                    continue
            try:
                with open(entry.path, "rb") as fh:
                    content = fh.read(MAX_FILE_BYTES + 1)
                    if len(content) > MAX_FILE_BYTES:
                        diagnostics.append(_too_large(rel, os.fstat(fh.fileno()).st_size))
                        continue
                files.append((rel, content))
            except OSError as exc:
                diagnostics.append(_unreadable(rel, exc))
        pending.extend(reversed(subfolders))
    files.sort(key=lambda item: item[0].split("/"))
    return files, diagnostics


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a loop of links: reading it fails below and says so
        return False


def _unreadable(rel: str, exc: OSError) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "file cannot be read",
        file=rel,
        message=f"{rel} cannot be read: {exc.strerror or exc}.",
        hint="Check the file's permissions, or where the link points if it is a symbolic link.",
        code="unreadable",
    )


def _outside_target(link: Path, real_root: Path) -> Path | None:
    """Where `link` points when that is outside the config directory; None when it stays inside."""
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # a loop of links: reading it fails and says so
        return None
    return None if target.is_relative_to(real_root) else target


def _symlink_outside(rel: str, target: Path, what: str) -> Diagnostic:
    return Diagnostic(
        Severity.WARNING,
        "symlink leaves the config directory",
        file=rel,
        message=f"{rel} points to {target}, outside the config directory; the {what} is not read.",
        hint=f"Copy the {what} into the config directory, or point the link inside it.",
        code="symlink-outside",
    )


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
#
# Nodes are composed here from the C parser's events rather than by ruamel's composer: the composer recurses once per
# nesting level (a file of 100,000 '[' crashes the interpreter) and the parser slows down quadratically with depth,
# so nesting is bounded while the events stream in.

_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP, _MERGE = (_TAG + kind for kind in ("str", "seq", "map", "merge"))
# YAML 1.2 core schema for plain scalars (`yes`, `on` and `012`-as-octal are YAML 1.1 and stay strings/decimals).
_IMPLICIT: tuple[tuple[str, re.Pattern[str]], ...] = (
    (_TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$")),
    (_TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")),
    (_TAG + "int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")),
    (
        _TAG + "float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
    ),
    (_MERGE, re.compile(r"^<<$")),
)
_MAYBE_TYPED = frozenset("~nNtTfF0123456789+-.<")
# Explicit tags a config may spell out (`!!str 012`); anything else (`!!python/object`, `!env`) is refused.
_SCALAR_TAGS = frozenset(_TAG + kind for kind in ("null", "bool", "int", "float", "str"))
_COLLECTION_TAGS = frozenset({_SEQ, _MAP})


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    if implicit[0] and (not value or value[0] in _MAYBE_TYPED):
        for tag, regex in _IMPLICIT:
            if regex.match(value):
                return tag
    return _STR


class _CoreResolver(BaseResolver):
    """ruamel's C loader class needs a resolver; ruamel's versioned one cost half the parse time."""

    # The pure-Python parser asks which YAML version it reads (1.2 lets a key's ':' follow a quoted key directly).
    processing_version = (1, 2)

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None) -> None:
        super().__init__(loadumper=loadumper or loader)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            return _resolve(value, implicit)
        return _SEQ if kind is SequenceNode else _MAP


def _yaml(*, pure: bool = False) -> YAML:
    yaml = YAML(typ="safe", pure=pure)
    yaml.Resolver = _CoreResolver
    return yaml


class _Node:
    __slots__ = ("end_mark", "start_mark", "tag", "value")

    def __init__(self, tag: str, value: Any, start_mark: Any, end_mark: Any) -> None:
        self.tag = tag
        self.value = value
        self.start_mark = start_mark
        self.end_mark = end_mark


class _Scalar(_Node):
    __slots__ = ()
    value: str


class _Sequence(_Node):
    __slots__ = ()
    value: list[_Node]


class _Mapping(_Node):
    __slots__ = ()
    value: list[tuple[_Node, _Node]]


class _UnreadableError(Exception):
    """The file cannot be read further; carries the diagnostic that says why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(slots=True)
class _Frame:
    node: _Sequence | _Mapping
    anchor: str | None
    key: _Node | None = None


def _compose(rel: str, text: str, *, pure: bool) -> Iterator[_Node | None]:
    """The root node of each document of `text` (None for an empty document)."""
    _constructor, parser = _yaml(pure=pure).get_constructor_parser(io.StringIO(text))
    anchors: dict[str, _Node] = {}
    stack: list[_Frame] = []  # the open collections, innermost last
    root: _Node | None = None
    count = 0
    try:
        # Dispatch on the exact event class: this loop runs once per value of every file.
        for event in iter(parser.get_event, None):
            kind = type(event)
            node: _Node
            if kind is ScalarEvent:
                tag = event.tag
                if tag is None:
                    tag = _resolve(event.value, event.implicit)
                elif tag == "!":  # the non-specific tag: a string
                    tag = _STR
                node = _Scalar(tag, event.value, event.start_mark, event.end_mark)
                if event.anchor is not None:
                    anchors[event.anchor] = node
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise _UnreadableError(_too_deep(rel, event.start_mark.line + 1, event.start_mark.column + 1))
                tag = event.tag
                collection: _Sequence | _Mapping
                if kind is SequenceStartEvent:
                    collection = _Sequence(_SEQ if tag in (None, "!") else tag, [], event.start_mark, event.end_mark)
                else:
                    collection = _Mapping(_MAP if tag in (None, "!") else tag, [], event.start_mark, event.end_mark)
                node = collection
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                frame.node.end_mark = event.end_mark
                if frame.anchor is not None:
                    # An anchor names its node once the node is complete: an alias inside it would be a cycle.
                    anchors[frame.anchor] = frame.node
                continue
            elif kind is AliasEvent:
                found = anchors.get(event.anchor)
                if found is None:
                    recursive = any(frame.anchor == event.anchor for frame in stack)
                    raise _UnreadableError(_alias_problem(rel, event, recursive=recursive))
                node = found
            elif kind is DocumentStartEvent:
                anchors, root = {}, None
                continue
            elif kind is DocumentEndEvent:
                yield root
                continue
            else:
                continue
            count += 1
            if count > MAX_NODES_PER_FILE:
                raise _UnreadableError(_too_many_nodes(rel, event.start_mark.line + 1, event.start_mark.column + 1))
            if stack:
                parent = stack[-1]
                if isinstance(parent.node, _Sequence):
                    parent.node.value.append(node)
                elif parent.key is None:
                    parent.key = node
                else:
                    parent.node.value.append((parent.key, node))
                    parent.key = None
            else:
                root = node
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                stack.append(_Frame(collection, event.anchor))
    finally:
        parser.dispose()


# Diagnostics after which the rest of a file is unread.
_STOPPED = frozenset({"yaml-syntax", "control-character"})


def parse_file(rel: str, content: bytes, digest: str | None = None) -> SourceFile:
    digest = digest or hashlib.blake2b(content, digest_size=16).hexdigest()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SourceFile(rel, digest, (), (), (_not_utf8(rel, content, exc.start),))
    source = _parse_text(rel, digest, text, pure=False)
    if any(d.code in _STOPPED for d in source.diagnostics):
        # The C parser follows YAML 1.1 inside [...] and {...}: `{endpoint: http://x:8000}` or `[a:b]` is an error to
        # it and plain YAML 1.2 to the pure-Python parser. That one is 25 times slower, so it only reads the files the
        # fast one refused; when it refuses them too, the fast parser's messages are kept (they are the clearer).
        retried = _parse_text(rel, digest, text, pure=True)
        if not any(d.code in _STOPPED for d in retried.diagnostics):
            return retried
    return source


def _parse_text(rel: str, digest: str, text: str, *, pure: bool) -> SourceFile:
    lines = tuple(text.splitlines())
    builder = _Builder(rel)
    documents: list[Document] = []
    try:
        for index, node in enumerate(_compose(rel, text, pure=pure)):
            if node is None:
                continue
            doc = builder.document(index, node)
            if doc is not None:
                documents.append(doc)
    except _UnreadableError as stop:
        builder.diagnostics.append(stop.diagnostic)
    except MarkedYAMLError as exc:
        builder.diagnostics.append(_syntax_diagnostic(rel, lines, exc))
    except ReaderError as exc:
        builder.diagnostics.append(_reader_diagnostic(rel, text, exc))
    except YAMLError as exc:  # pragma: no cover - both parsers mark every error seen so far
        builder.diagnostics.append(
            Diagnostic(
                Severity.ERROR,
                "YAML syntax error",
                file=rel,
                line=1,
                column=1,
                message=str(exc).strip().rstrip(".") + ".",
                hint="Check the file with a YAML linter.",
                code="yaml-syntax",
            )
        )
    return SourceFile(rel, digest, lines, tuple(documents), tuple(builder.diagnostics))


# --- diagnostics of the YAML layer -------------------------------------------------------------------------------


def _not_utf8(rel: str, content: bytes, offset: int) -> Diagnostic:
    line_start = content.rfind(b"\n", 0, offset) + 1
    # Columns count characters, as everywhere else, not bytes.
    column = len(content[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Diagnostic(
        Severity.ERROR,
        "file is not UTF-8",
        file=rel,
        line=content.count(b"\n", 0, offset) + 1,
        column=column,
        message=f"Byte 0x{content[offset]:02x} at offset {offset} is not valid UTF-8.",
        hint="Save the file as UTF-8 (editors call it 'UTF-8' or 'Unicode'; Latin-1 and Windows-1252 are not).",
        code="not-utf8",
    )


def _reader_diagnostic(rel: str, text: str, exc: ReaderError) -> Diagnostic:
    # The C reader counts the offset in UTF-8 bytes.
    before = text.encode()[: exc.position].decode(errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return Diagnostic(
        Severity.ERROR,
        "character not allowed",
        file=rel,
        line=line,
        column=column,
        message=f"The control character U+{character:04X} is not allowed in YAML.",
        hint="Delete it; such characters are usually pasted by accident from a terminal or a word processor.",
        code="control-character",
    )


def _syntax_diagnostic(rel: str, lines: tuple[str, ...], exc: MarkedYAMLError) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line = (mark.line + 1) if mark is not None else 1
    column = (mark.column + 1) if mark is not None else 1
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    hint = "Check the indentation and quoting around this position."
    message = problem[:1].upper() + problem[1:] if problem else "The YAML cannot be parsed."
    context_mark = exc.context_mark
    if context:
        if context_mark is not None and (context_mark.line, context_mark.column) != (mark.line, mark.column):
            # "while parsing a flow sequence" says little when the '[' is lines above the end of the file.
            context += f" that starts on line {context_mark.line + 1}, column {context_mark.column + 1}"
        message = f"{message.rstrip('.')} ({context})"
    if "\t" in text[:column]:
        message = f"Line {line} uses a tab character where YAML expects spaces."
        hint = "Indent with spaces only: replace the tab characters with spaces."
    elif "mapping values are not allowed" in problem:
        hint = "A value containing ': ' must be quoted, or the line is indented wrongly."
    elif "cannot start any token" in problem:
        hint = "Quote the value: characters such as @ and ` cannot start a plain value."
    return Diagnostic(
        Severity.ERROR,
        "YAML syntax error",
        file=rel,
        line=line,
        column=column,
        message=message.rstrip(".") + ".",
        hint=hint,
        code="yaml-syntax",
    )


def _alias_problem(rel: str, event: AliasEvent, *, recursive: bool) -> Diagnostic:
    name = event.anchor
    if recursive:
        message = f"The alias *{name} is inside the value anchored as &{name}, which would make it contain itself."
        hint = "Point the alias at another anchor, or write the value out."
    else:
        message = f"The alias *{name} refers to no anchor: &{name} is not defined earlier in this document."
        hint = f"Define &{name} before this line; anchors do not carry over from one document (---) to the next."
    return Diagnostic(
        Severity.ERROR,
        "undefined alias",
        file=rel,
        line=event.start_mark.line + 1,
        column=event.start_mark.column + 1,
        end_column=event.end_mark.column + 1 if event.end_mark.line == event.start_mark.line else None,
        message=message,
        hint=hint,
        code="yaml-alias",
    )


def _too_deep(rel: str, line: int, column: int) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "nesting too deep",
        file=rel,
        line=line,
        column=column,
        message=f"Values are nested more than {MAX_DEPTH} levels deep here; a Muxgate config needs about ten.",
        hint="Look for unbalanced brackets or an alias that expands into itself many times.",
        code="too-deep",
    )


def _too_many_nodes(rel: str, line: int, column: int) -> Diagnostic:
    return Diagnostic(
        Severity.ERROR,
        "too many values",
        file=rel,
        line=line,
        column=column,
        message=f"The file holds more than {MAX_NODES_PER_FILE:,} values; it is read no further.",
        hint="Split the file into several smaller files.",
        code="too-many-nodes",
    )


# --- nodes to plain data ------------------------------------------------------------------------------------------


class _AliasBombError(Exception):
    pass


class _TooDeepError(Exception):
    def __init__(self, node: _Node) -> None:
        super().__init__()
        self.node = node


class _Builder:
    """Turns composed nodes into plain data and a position map; collects diagnostics.

    Aliases are expanded here (each use of an anchor builds its value again), so the number of values built through
    aliases is budgeted per file: an alias bomb stops at the budget instead of expanding to billions.
    """

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.diagnostics: list[Diagnostic] = []
        self.alias_budget = MAX_ALIAS_NODES_PER_FILE
        self.seen: set[int] = set()
        # Paths of the current document whose value the loader already reported: later stages stay quiet there.
        self.flagged: set[YamlPath] = set()

    def document(self, index: int, node: _Node) -> Document | None:
        positions: dict[YamlPath, NodePos] = {(): NodePos(_span(node))}
        self.flagged = set()
        try:
            data = self._build(node, (), positions)
        except _AliasBombError:
            self.diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    "too many values through aliases",
                    file=self.rel,
                    line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1,
                    message=(
                        f"Document {index + 1} expands aliases to more than {MAX_ALIAS_NODES_PER_FILE:,} values "
                        "(an alias bomb?)."
                    ),
                    hint="Remove the nested anchors and aliases; write the values out.",
                    code="alias-bomb",
                )
            )
            return None
        except _TooDeepError as exc:
            start = exc.node.start_mark
            self.diagnostics.append(_too_deep(self.rel, start.line + 1, start.column + 1))
            return None
        if data is None:
            return None
        return Document(self.rel, index, data, positions, frozenset(self.flagged))

    def _error(self, node: _Node, summary: str, message: str, hint: str, code: str, path: YamlPath) -> None:
        self.flagged.add(path)
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

    def _spend(self) -> None:
        self.alias_budget -= 1
        if self.alias_budget < 0:
            raise _AliasBombError

    def _build(self, node: _Node, path: YamlPath, positions: dict[YamlPath, NodePos], aliased: bool = False) -> Any:
        if not aliased and id(node) in self.seen:
            aliased = True
        self.seen.add(id(node))
        if aliased:
            self._spend()
        if len(path) > MAX_DEPTH:
            raise _TooDeepError(node)
        if isinstance(node, _Scalar):
            return self._scalar(node, path)
        if node.tag not in _COLLECTION_TAGS:
            self._unsupported_tag(node, path)
        if isinstance(node, _Sequence):
            items: list[Any] = []
            for i, child in enumerate(node.value):
                child_path = (*path, i)
                positions.setdefault(child_path, NodePos(_span(child)))
                items.append(self._build(child, child_path, positions, aliased))
            return items
        if isinstance(node, _Mapping):
            return self._mapping(node, path, positions, aliased)
        return None  # pragma: no cover - the composer produces only these three

    def _mapping(self, node: _Mapping, path: YamlPath, positions: dict[YamlPath, NodePos], aliased: bool) -> Any:
        result: dict[str, Any] = {}
        key_nodes: dict[str, _Node] = {}
        merged: list[_Mapping] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, _Scalar):
                self._error(
                    key_node,
                    "complex mapping key",
                    "A mapping key must be a plain string, not a list or mapping.",
                    "Write the key as a plain word.",
                    "complex-key",
                    path,
                )
                continue
            key = key_node.value
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
        # Merge keys (`<<: *defaults`): explicit keys win, earlier merge sources win over later ones, and a source's
        # own merge keys are expanded in place.
        for key_node, value_node in self._merged_pairs(merged, path):
            key = key_node.value
            if key in result:
                continue
            child_path = (*path, key)
            positions[child_path] = NodePos(_span(value_node), _span(key_node))
            result[key] = self._build(value_node, child_path, positions, True)
        return result

    def _merged_pairs(self, sources: list[_Mapping], path: YamlPath) -> Iterator[tuple[_Scalar, _Node]]:
        pending = list(reversed(sources))
        while pending:
            source = pending.pop()
            nested: list[_Mapping] = []
            for key_node, value_node in source.value:
                self._spend()
                if key_node.tag == _MERGE:
                    nested.extend(self._merge_sources(value_node, path))
                elif isinstance(key_node, _Scalar):
                    yield key_node, value_node
            pending.extend(reversed(nested))

    def _merge_sources(self, value: _Node, path: YamlPath) -> list[_Mapping]:
        if isinstance(value, _Mapping):
            return [value]
        if isinstance(value, _Sequence) and all(isinstance(v, _Mapping) for v in value.value):
            return [v for v in value.value if isinstance(v, _Mapping)]
        self._error(
            value,
            "invalid merge key",
            "The value of '<<' must be a mapping or a list of mappings (usually an alias such as *defaults).",
            "Point '<<' at an anchored mapping.",
            "bad-merge",
            path,
        )
        return []

    def _unsupported_tag(self, node: _Node, path: YamlPath) -> None:
        tag = node.tag[len(_TAG) :] if node.tag.startswith(_TAG) else node.tag
        shown = f"!!{tag}" if node.tag.startswith(_TAG) else tag
        self._error(
            node,
            "unsupported YAML tag",
            f"The tag {shown} is not supported: Muxgate reads plain YAML values and never builds objects from tags.",
            "Remove the tag; plain strings, numbers, booleans, lists and mappings are all a config needs.",
            "yaml-tag",
            path,
        )

    def _scalar(self, node: _Scalar, path: YamlPath) -> Any:
        tag = node.tag
        value = node.value
        if tag not in _SCALAR_TAGS:
            self._unsupported_tag(node, path)
            return value
        kind = tag[len(_TAG) :]
        if kind == "null":
            return None
        if kind == "bool":
            lowered = value.lower()
            return lowered == "true" if lowered in ("true", "false") else value
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
        return value


def _span(node: _Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)
