"""Fixtures for the reconciler tests: config trees written from a dict, and real git repositories.

Fixtures hand out plain callables so that test modules never import this file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

# Relative path → content; None deletes the file.
Files = Mapping[str, str | bytes | None]


def write_files(root: Path, files: Files) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes as given: positions in the tests count exactly these characters.
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


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
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Muxgate Tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@muxgate.invalid")
        monkeypatch.setenv(f"GIT_{role}_DATE", "2025-01-01T00:00:00+00:00")

    def run(cwd: Path, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
        return done.stdout.strip()

    return run


@pytest.fixture
def git_commit(git: Callable[..., str]) -> Callable[[Path, Files], str]:
    """Write files into a repository, commit everything, and return the new commit's full hash."""
    counter = iter(range(1, 1_000_000))

    def commit(repo: Path, files: Files) -> str:
        write_files(repo, files)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "--allow-empty", "-m", f"change {next(counter)}")
        return git(repo, "rev-parse", "HEAD")

    return commit


@pytest.fixture
def make_git_repo(
    tmp_path: Path, git: Callable[..., str], git_commit: Callable[[Path, Files], str]
) -> Callable[[Sequence[Files]], Path]:
    """A repository at tmp_path/repo whose base branch "main" has one commit per mapping of files, in order."""

    def make(commits: Sequence[Files]) -> Path:
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch=main")
        for files in commits:
            git_commit(repo, files)
        return repo

    return make
