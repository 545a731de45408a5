"""Load and validate in one call: a directory, a directory as of a git ref, or files handed over (a push).

The entry point the CLI, the watcher and the benchmarks share, so each of them reads, caches and validates a tree
the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from reconciler.diagnostics import Diagnostic
from reconciler.gitsource import read_git_tree
from reconciler.loader import LoadResult, ParseCache, load_files, read_dir
from reconciler.state import DesiredState
from reconciler.validate import Validation, validate


@dataclass(frozen=True, slots=True)
class Checked:
    load: LoadResult
    validation: Validation

    @property
    def state(self) -> DesiredState | None:
        return self.validation.state

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.validation.diagnostics

    @property
    def sources(self) -> Mapping[str, Sequence[str]]:
        """File → lines, for printing source snippets under diagnostics."""
        return MappingProxyType({f.path: f.lines for f in self.load.files})


def check_dir(directory: Path, cache: ParseCache | None = None) -> Checked:
    files, diagnostics = read_dir(directory)
    return check_files(files, cache, diagnostics)


def check_ref(directory: Path, ref: str, cache: ParseCache | None = None) -> Checked:
    files, diagnostics = read_git_tree(directory, ref)
    return check_files(files, cache, diagnostics)


def check_files(
    files: Iterable[tuple[str, bytes]], cache: ParseCache | None = None, diagnostics: Iterable[Diagnostic] = ()
) -> Checked:
    """A tree given as (relative path, content) pairs; `diagnostics` are what reading it reported."""
    load = load_files(files, cache)
    load = LoadResult(load.files, tuple(diagnostics) + load.diagnostics)
    return Checked(load, validate(load, cache))
