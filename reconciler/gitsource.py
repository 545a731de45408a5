"""Read a config directory as of a git ref (`reconcile --against origin/main`) and name the working tree's revision.

Feeds the loader the same (path, bytes) pairs as `loader.read_dir`, taken from git's object store instead of the
working tree, so a pull request's plan compares the branch with its base. DIR may be a sub-folder of the repository.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.loader import MAX_FILE_BYTES, YAML_SUFFIXES

_SYMLINK_MODE = "120000"


class GitError(Exception):
    """git could not answer; the message is a sentence for the user."""


def _git(cwd: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input_bytes,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH.") from exc
    if done.returncode != 0:
        raise GitError(done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed.")
    return done.stdout


def repo_root(directory: Path) -> Path | None:
    """The top of the git work tree holding `directory`, or None outside a repository."""
    try:
        out = _git(directory, "rev-parse", "--show-toplevel")
    except GitError:
        return None
    return Path(out.decode().strip())


def read_git_tree(directory: Path, ref: str) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
    """The YAML files under `directory` as they are at `ref`, relative to `directory`."""

    def fail(summary: str, message: str, hint: str, code: str) -> tuple[list[tuple[str, bytes]], list[Diagnostic]]:
        return [], [Diagnostic(Severity.ERROR, summary, message=message, hint=hint, code=code)]

    if not directory.is_dir():
        return fail(
            "config directory not found",
            f"{directory} does not exist or is not a directory.",
            "Pass the folder that holds your Muxgate YAML files.",
            "dir-missing",
        )
    top = repo_root(directory)
    if top is None:
        return fail(
            "not a git repository",
            f"--against needs {directory} to be inside a git repository.",
            "Run it in a clone of your config repository, or drop --against.",
            "not-a-repo",
        )
    try:
        commit = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    except GitError:
        return fail(
            "git ref not found",
            f'"{ref}" is not a branch, tag or commit of {top}.',
            "In CI, fetch the base branch first (for example: git fetch origin main --depth=1) and pass origin/main.",
            "ref-missing",
        )
    sha = commit.decode().strip()
    prefix = directory.resolve().relative_to(top.resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    listing = _git(top, "ls-tree", "-r", "-z", "--long", "--full-tree", sha, "--", prefix or ".")
    diagnostics: list[Diagnostic] = []
    wanted: list[tuple[str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, blob, size = meta.decode().split()
        path = raw_path.decode("utf-8", errors="replace")
        rel = path[len(prefix) :]
        parts = rel.split("/")
        if kind != "blob" or any(p.startswith(".") for p in parts) or not rel.endswith(YAML_SUFFIXES):
            continue
        if mode == _SYMLINK_MODE:
            diagnostics.append(
                Diagnostic(
                    Severity.WARNING,
                    "symlink not followed",
                    file=rel,
                    message=f"{rel} is a symbolic link at {ref}; links are not followed when reading a git ref.",
                    hint="Commit the file itself rather than a link to it.",
                    code="symlink-outside",
                )
            )
            continue
        if int(size) > MAX_FILE_BYTES:
            diagnostics.append(
                Diagnostic(
                    Severity.ERROR,
                    "file too large",
                    file=rel,
                    message=f"{rel} is {int(size):,} bytes at {ref}; at most {MAX_FILE_BYTES:,} are allowed.",
                    hint="Split the file into several smaller files.",
                    code="file-too-large",
                )
            )
            continue
        wanted.append((rel, blob))
    if not wanted:
        return [], diagnostics
    batch = _git(top, "cat-file", "--batch", input_bytes="".join(f"{b}\n" for _, b in wanted).encode())
    files: list[tuple[str, bytes]] = []
    offset = 0
    for rel, _blob in wanted:
        header_end = batch.index(b"\n", offset)
        length = int(batch[offset:header_end].split()[2])
        start = header_end + 1
        files.append((rel, batch[start : start + length]))
        offset = start + length + 1  # each object is followed by a newline
    return files, diagnostics


def revision(directory: Path) -> str | None:
    """The commit checked out in `directory`'s repository, short, with "-dirty" when files under it changed."""
    top = repo_root(directory)
    if top is None:
        return None
    try:
        head = _git(top, "rev-parse", "--short=12", "HEAD").decode().strip()
        # No optional locks: a status that refreshed the index under .git/index.lock could make the user's own
        # `git commit` fail, and a watcher would see the lock file come and go.
        status = _git(directory, "--no-optional-locks", "status", "--porcelain", "--untracked-files=normal", "--", ".")
    except GitError:
        return None
    return f"{head}-dirty" if status.strip() else head
