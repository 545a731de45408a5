"""Real git repositories for the tests, in temporary folders, with no user or system configuration.

Every commit has the same author, committer and date, so a test never depends on who runs it. Tests whose code
under test runs git itself (the reconciler, a gateway process) call `isolate_git` first so that it inherits the
same environment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

# Relative path → content; None deletes the file.
Files = Mapping[str, str | bytes | None]

# Variables that would point git at another repository than the one in the working folder.
_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_CEILING_DIRECTORIES")

GIT_ENV: Mapping[str, str] = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    **{
        f"GIT_{role}_{field}": value
        for role in ("AUTHOR", "COMMITTER")
        for field, value in (
            ("NAME", "Muxgate Tests"),
            ("EMAIL", "tests@muxgate.invalid"),
            ("DATE", "2025-01-01T00:00:00+00:00"),
        )
    },
}


def git_env() -> dict[str, str]:
    """This process's environment with git's configuration and identity fixed."""
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTS}
    env.update(GIT_ENV)
    return env


def isolate_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fix git's configuration and identity for this process and every process it starts, for one test."""
    for name in _REDIRECTS:
        monkeypatch.delenv(name, raising=False)
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; its output, stripped. A failure fails the test with git's message."""
    done = subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout.strip()


def write_files(root: Path, files: Files) -> None:
    """Write, replace or (for None) delete files below `root`, creating folders as needed."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes as given: positions in the tests count exactly these characters.
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def commit_files(repo: Path, files: Files, message: str = "change") -> str:
    """Write files into `repo`, commit everything and return the new commit's full hash."""
    write_files(repo, files)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def init_repo(root: Path) -> Path:
    """Make `root` (created if missing) a repository whose branch is "main", with no commits yet."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    return root


def make_git_repo(root: Path, commits: Sequence[Files] = ({},)) -> Path:
    """A repository at `root` whose branch "main" has one commit per mapping of files, in order.

    The default is one commit of whatever `root` already holds.
    """
    init_repo(root)
    for number, files in enumerate(commits, start=1):
        commit_files(root, files, f"change {number}")
    return root


def short_revision(repo: Path) -> str:
    """HEAD's revision abbreviated as the gateway's status names it."""
    return git(repo, "rev-parse", "--short=12", "HEAD")
