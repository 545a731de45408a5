"""The watcher on a real file system: which events count, bursts grouped into one reconcile, a directory that goes
away and comes back, git's index lock, and a prompt stop."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from watchfiles import Change

from proxy.live.watch import ChangeFilter, Watcher, git_dirs
from tests.support.gitrepo import init_repo

WORKSPACE = "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {{name: {name}}}\nspec: {{}}\n"


# --- which events count -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "rel", "counts"),
    [
        (Change.modified, "backend.yaml", True),
        (Change.added, "teams/frontend.yml", True),
        (Change.deleted, "teams/legacy.yaml", True),
        (Change.added, "README.md", False),
        (Change.deleted, "notes.txt", False),
        (Change.added, ".backend.yaml.swp", False),
        (Change.added, ".hidden/team.yaml", False),
        (Change.added, "teams/.draft.yaml", False),
        (Change.modified, "backend.yaml~", False),
        # A folder renamed or removed with its files is reported once, as itself.
        (Change.deleted, "teams", True),
        (Change.deleted, "", True),
    ],
)
def test_yaml_files_and_folders_count_hidden_and_other_files_do_not(
    tmp_path: Path, change: Change, rel: str, counts: bool
) -> None:
    root = tmp_path / "config"
    path = str(root / rel) if rel else str(root)
    assert ChangeFilter(root)(change, path) is counts


def test_an_added_folder_counts_and_an_added_plain_file_does_not(tmp_path: Path) -> None:
    (tmp_path / "teams").mkdir()
    (tmp_path / "Makefile").write_text("")
    accept = ChangeFilter(tmp_path)
    assert accept(Change.added, str(tmp_path / "teams"))
    assert not accept(Change.added, str(tmp_path / "Makefile"))
    assert not accept(Change.added, str(tmp_path.parent / "elsewhere.yaml"))


@pytest.mark.parametrize(
    ("rel", "counts"),
    [
        ("HEAD", True),
        ("packed-refs", True),
        ("refs/heads/main", True),
        ("refs/heads/feature/x", True),
        ("index.lock", True),
        ("refs/heads/main.lock", False),
        ("index", False),
        ("objects/ab/cdef", False),
        ("logs/HEAD", False),
        ("FETCH_HEAD", False),
    ],
)
def test_in_the_git_directory_only_moved_branches_count(tmp_path: Path, rel: str, counts: bool) -> None:
    root = tmp_path / "repo"
    accept = ChangeFilter(root, [root / ".git"])
    assert accept(Change.modified, str(root / ".git" / rel)) is counts


def test_git_directories_of_a_repository_and_of_none(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    init_repo(repo)
    assert git_dirs(repo / "config") == (repo / ".git",)
    outside = tmp_path / "plain"
    outside.mkdir()
    # tmp_path is not inside a repository on any sane test machine; if it were, this would say so.
    assert git_dirs(outside) == ()


# --- the watcher ------------------------------------------------------------------------------------------------


class Recorder:
    """The watcher's callbacks: counts calls, and lets a test wait until a condition holds."""

    def __init__(self) -> None:
        self.changes = 0
        self.missing = 0
        self.change_times: list[float] = []
        self._event = asyncio.Event()

    async def on_change(self) -> None:
        self.changes += 1
        self.change_times.append(time.monotonic())
        self._event.set()

    async def on_missing(self) -> None:
        self.missing += 1
        self._event.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        with anyio.fail_after(timeout):
            while not predicate():
                self._event.clear()
                await self._event.wait()


@asynccontextmanager
async def watching(directory: Path, **options: Any) -> AsyncIterator[tuple[Watcher, Recorder]]:
    recorder = Recorder()
    watcher = Watcher(
        directory, on_change=recorder.on_change, on_missing=recorder.on_missing, poll_interval=0.1, **options
    )
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        assert await asyncio.to_thread(watcher.ready.wait, 10), "The watcher did not start."
        # A watch starts with one catch-up reconcile, for changes made before it was in place.
        assert recorder.changes == 1
        yield watcher, recorder
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    root.mkdir()
    (root / "default.yaml").write_text(WORKSPACE.format(name="default"))
    return root


@pytest.mark.anyio
async def test_an_edit_causes_one_reconcile(config: Path) -> None:
    async with watching(config) as (_, recorder):
        (config / "default.yaml").write_text(WORKSPACE.format(name="default") + "# edited\n")
        await recorder.until(lambda: recorder.changes == 2)


@pytest.mark.anyio
async def test_a_burst_of_500_files_is_one_reconcile(config: Path) -> None:
    async with watching(config) as (_, recorder):
        for i in range(250):
            (config / f"team-{i}.yaml").write_text(WORKSPACE.format(name=f"team-{i}"))
        for i in range(250):
            (config / f"team-{i}.yaml").unlink()
        await recorder.until(lambda: recorder.changes >= 2)
        # Whatever came after the burst (nothing should) would show up with the next edit as a third call.
        (config / "default.yaml").write_text(WORKSPACE.format(name="default") + "# after\n")
        await recorder.until(lambda: recorder.changes >= 3)
        assert recorder.changes == 3


@pytest.mark.anyio
async def test_a_renamed_directory_is_reported_and_watched_again_when_back(config: Path) -> None:
    aside = config.with_name("aside")
    async with watching(config) as (watcher, recorder):
        config.rename(aside)
        await recorder.until(lambda: recorder.missing >= 1)
        assert not watcher.ready.is_set()
        aside.rename(config)
        # Back: a catch-up reconcile, then edits are seen again.
        await recorder.until(lambda: recorder.changes >= 2)
        assert await asyncio.to_thread(watcher.ready.wait, 10)
        before = recorder.changes
        (config / "default.yaml").write_text(WORKSPACE.format(name="default") + "# edited\n")
        await recorder.until(lambda: recorder.changes > before)


@pytest.mark.anyio
async def test_a_directory_replaced_by_another_is_watched_anew(config: Path) -> None:
    replacement = config.with_name("replacement")
    replacement.mkdir()
    (replacement / "default.yaml").write_text(WORKSPACE.format(name="default"))
    async with watching(config) as (watcher, recorder):
        shutil.rmtree(config)
        replacement.rename(config)
        await recorder.until(lambda: recorder.changes >= 2)
        assert await asyncio.to_thread(watcher.ready.wait, 10)
        before = recorder.changes
        (config / "team.yaml").write_text(WORKSPACE.format(name="team"))
        await recorder.until(lambda: recorder.changes > before)


@pytest.mark.anyio
async def test_the_reconcile_waits_while_git_holds_its_index_lock(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    init_repo(repo)
    (repo / "default.yaml").write_text(WORKSPACE.format(name="default"))
    lock = repo / ".git" / "index.lock"
    async with watching(repo) as (_, recorder):
        lock.write_text("")
        (repo / "team.yaml").write_text(WORKSPACE.format(name="team"))
        # Stands for a checkout that takes a while: git removes its lock when the working tree is complete.
        await asyncio.sleep(0.4)
        released = time.monotonic()
        lock.unlink()
        await recorder.until(lambda: recorder.changes >= 2)
        assert recorder.change_times[1] >= released


@pytest.mark.anyio
async def test_a_lock_left_behind_delays_the_reconcile_only_so_long(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    init_repo(repo)
    (repo / ".git" / "index.lock").write_text("")
    async with watching(repo, git_wait_limit=0.3) as (_, recorder):
        written = time.monotonic()
        (repo / "team.yaml").write_text(WORKSPACE.format(name="team"))
        await recorder.until(lambda: recorder.changes >= 2)
        assert recorder.change_times[1] - written >= 0.3


@pytest.mark.anyio
async def test_stop_ends_the_watch_promptly(config: Path) -> None:
    # With a long poll interval the watch waits 5 s between timeouts; only the stop event can end it sooner.
    recorder = Recorder()
    watcher = Watcher(config, on_change=recorder.on_change, on_missing=recorder.on_missing, poll_interval=5)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    with anyio.fail_after(10):
        # Edit until the watch sees one: then it is in place, waiting inside watchfiles.
        while recorder.changes == 0:
            (config / "default.yaml").write_text(WORKSPACE.format(name="default") + f"# {time.monotonic()}\n")
            with anyio.move_on_after(0.2):
                await recorder.until(lambda: recorder.changes > 0)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 0.5


@pytest.mark.anyio
async def test_a_missing_directory_is_polled_until_it_exists(tmp_path: Path) -> None:
    later = tmp_path / "later"
    recorder = Recorder()
    watcher = Watcher(later, on_change=recorder.on_change, on_missing=recorder.on_missing, poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    await recorder.until(lambda: recorder.missing >= 2)
    assert recorder.changes == 0
    later.mkdir()
    (later / "default.yaml").write_text(WORKSPACE.format(name="default"))
    await recorder.until(lambda: recorder.changes == 1)
    stop.set()
    await asyncio.wait_for(task, 5)
