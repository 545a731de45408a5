"""Fixtures for the reconciler tests: config trees written from a dict, and real git repositories.

Fixtures hand out plain callables so that test modules never import this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.support import gitrepo
from tests.support.gitrepo import Files, commit_files, isolate_git, write_files


@pytest.fixture
def write_tree(tmp_path: Path) -> Callable[[Files], Path]:
    """Write files into tmp_path/config (created on first use) and return that folder.

    Calling it again adds, replaces or (with None) deletes files in the same folder.
    """
    root = tmp_path / "config"

    def write(files: Files) -> Path:
        root.mkdir(exist_ok=True)
        write_files(root, files)
        return root

    return write


@pytest.fixture
def git(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run git in a folder with no user or system configuration and a fixed identity; returns stdout, stripped."""
    isolate_git(monkeypatch)
    return gitrepo.git


@pytest.fixture
def git_commit(git: Callable[..., str]) -> Callable[[Path, Files], str]:
    """Write files into a repository, commit everything, and return the new commit's full hash."""
    counter = iter(range(1, 1_000_000))

    def commit(repo: Path, files: Files) -> str:
        return commit_files(repo, files, f"change {next(counter)}")

    return commit


@pytest.fixture
def make_git_repo(tmp_path: Path, git: Callable[..., str]) -> Callable[[Sequence[Files]], Path]:
    """A repository at tmp_path/repo whose base branch "main" has one commit per mapping of files, in order."""

    def make(commits: Sequence[Files]) -> Path:
        return gitrepo.make_git_repo(tmp_path / "repo", commits)

    return make
