"""The watcher: turns file-system events under the config directory into reconciles (pull mode).

Sits in front of the live loop. `watchfiles.awatch` watches the directory (never single files: a single-file watch
dies at the first atomic save) recursively and groups events: it yields once no new event came for `step` ms, or
after `debounce` ms of continuous events, so a `git checkout` of many files, an editor's write-then-rename or a
script writing 500 files arrive as one batch and cause one reconcile of the whole tree.

What counts as a change: a YAML file added, modified or deleted outside hidden folders; a folder added or removed
(it takes its files with it); and, when the directory is in git, a moved branch or HEAD (a commit or a checkout
that changed no file still changes the revision). While git holds `index.lock` a checkout or pull is half done,
so the reconcile waits for the lock to go (at most `git_wait_limit` seconds, in case a crashed git left it behind).
The lock's events only wake a waiting reconcile; alone they are no change: `git status`, which names the revision,
may take the lock too, and every reconcile would trigger the next.

The directory may disappear (deleted, renamed, an unmounted volume): the watcher reports it, checks every
`poll_interval` seconds whether it is back, and then watches it again, first reconciling whatever changed
meanwhile. The same catch-up runs whenever a watch starts, so nothing changed between the start-up reconcile and
the first event is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final

from watchfiles import Change, awatch

from reconciler.loader import YAML_SUFFIXES

log = logging.getLogger("muxgate.live")

# Files of a git directory whose change means HEAD may point at another commit.
_GIT_REF_FILES: Final = frozenset({"HEAD", "packed-refs"})
_GIT_LOCK: Final = "index.lock"
_GIT_BRANCHES: Final = "refs/heads/"
STEP_MS: Final = 50


def _relative(path: str, base: str) -> str | None:
    """`path` below `base` ("" for `base` itself), or None when it is elsewhere."""
    if path == base:
        return ""
    if path.startswith(base + os.sep):
        return path[len(base) + 1 :]
    return None


class ChangeFilter:
    """Which events reach the live loop: see the module docstring."""

    def __init__(self, root: Path, git_dirs: Sequence[Path] = ()) -> None:
        self._root = str(root)
        self._git_dirs = tuple(str(d) for d in git_dirs)

    def __call__(self, change: Change, path: str) -> bool:
        for git_dir in self._git_dirs:
            rel = _relative(path, git_dir)
            if rel is not None:
                rel = rel.replace(os.sep, "/")
                return (
                    rel in _GIT_REF_FILES
                    or rel == _GIT_LOCK
                    or (rel.startswith(_GIT_BRANCHES) and not rel.endswith(".lock"))
                )
        rel = _relative(path, self._root)
        if rel is None:
            return False
        if rel == "":
            return True
        parts = rel.split(os.sep)
        if any(part.startswith(".") for part in parts):
            return False
        if rel.endswith(YAML_SUFFIXES):
            return True
        # A folder is reported once, as itself, when it is renamed or deleted with its files. Gone, it cannot be
        # asked whether it was a folder; names without a suffix are taken for one (a stray reconcile costs little).
        if change is Change.deleted:
            return "." not in parts[-1]
        return os.path.isdir(path)

    def is_git_lock(self, path: str) -> bool:
        """An event of git's index lock: it wakes a reconcile that waits for git, it is no change by itself."""
        return any(path == os.path.join(git_dir, _GIT_LOCK) for git_dir in self._git_dirs)


def git_dirs(directory: Path) -> tuple[Path, ...]:
    """The git directories holding `directory`'s HEAD and branches (two for a linked worktree); () outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ()
    if done.returncode != 0:
        return ()
    return tuple(dict.fromkeys(Path(line) for line in done.stdout.splitlines() if line.strip()))


def _identity(directory: Path) -> tuple[int, int] | None:
    try:
        st = directory.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if directory.is_dir() else None


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


class Watcher:
    """Calls `on_change` after each relevant batch of events and `on_missing` while the directory is gone."""

    def __init__(
        self,
        directory: Path,
        *,
        on_change: Callable[[], Awaitable[object]],
        on_missing: Callable[[], Awaitable[object]],
        debounce_ms: int = 300,
        poll_interval: float = 0.5,
        git_wait_limit: float = 10.0,
    ) -> None:
        self.directory = Path(os.path.abspath(directory))
        self._on_change = on_change
        self._on_missing = on_missing
        self._debounce_ms = debounce_ms
        self._poll_interval = poll_interval
        self._git_wait_limit = git_wait_limit
        # Set once a watch is in place and has caught up; cleared while the directory is gone. A threading.Event,
        # so code in other threads (tests, benchmarks) can wait on it.
        self.ready = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until `stop` is set."""
        while not stop.is_set():
            if _identity(self.directory) is None:
                self.ready.clear()
                await self._on_missing()
                if await wait_or_stop(stop, self._poll_interval):
                    return
                continue
            try:
                await self._watch(stop)
            except Exception as exc:
                self.ready.clear()
                if _identity(self.directory) is None:
                    continue  # gone while the watch started: reported as missing on the next turn
                # The OS refused the watch (for example the inotify watch limit): say so, and try again later.
                log.error(
                    "Watching %s failed (%s: %s); retrying in %.0f s. If the system ran out of file watches, raise "
                    "fs.inotify.max_user_watches or set WATCHFILES_FORCE_POLLING=1.",
                    self.directory,
                    type(exc).__name__,
                    exc,
                    max(1.0, self._poll_interval),
                )
                if await wait_or_stop(stop, max(1.0, self._poll_interval)):
                    return

    async def _watch(self, stop: asyncio.Event) -> None:
        identity = _identity(self.directory)
        gits = await asyncio.to_thread(git_dirs, self.directory)
        roots = [self.directory, *(g for g in gits if _relative(str(g), str(self.directory)) is None)]
        pending = True  # catch up with whatever changed before this watch started
        deferred_since: float | None = None
        accept = ChangeFilter(self.directory, gits)
        async for changes in awatch(
            *roots,
            watch_filter=accept,
            debounce=self._debounce_ms,
            step=STEP_MS,
            stop_event=stop,
            rust_timeout=max(STEP_MS, int(self._poll_interval * 1000)),
            yield_on_timeout=True,
            recursive=True,
        ):
            if _identity(self.directory) != identity:
                # Deleted, renamed away, or replaced by another folder: the watch follows the old one, so restart.
                return
            pending = pending or any(not accept.is_git_lock(path) for _, path in changes)
            if pending and any((g / _GIT_LOCK).exists() for g in gits):
                deferred_since = deferred_since or time.monotonic()
                if time.monotonic() - deferred_since < self._git_wait_limit:
                    continue
                log.warning(
                    "git's %s has been there for %.0f s; reconciling anyway. Delete it if no git command is running.",
                    _GIT_LOCK,
                    self._git_wait_limit,
                )
            deferred_since = None
            if pending:
                pending = False
                await self._on_change()
            self.ready.set()
