"""Load and validate in one call: a directory, or a directory as of a git ref.

The entry point the CLI, the watcher and the benchmarks share, so each of them reads, caches and validates a tree
the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from reconciler.diagnostics import Diagnostic
from reconciler.gitsource import read_git_tree
from reconciler.loader import LoadResult, ParseCache, load_dir, load_files
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
    load = load_dir(directory, cache)
    return Checked(load, validate(load, cache))


def check_ref(directory: Path, ref: str, cache: ParseCache | None = None) -> Checked:
    files, diagnostics = read_git_tree(directory, ref)
    load = load_files(files, cache)
    load = LoadResult(load.files, tuple(diagnostics) + load.diagnostics)
    return Checked(load, validate(load, cache))
