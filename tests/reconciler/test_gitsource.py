"""Reading the config folder as of a git ref, and naming the working tree's revision, on real repositories."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from reconciler.check import check_ref
from reconciler.gitsource import read_git_tree, repo_root, revision

Files = Mapping[str, str | bytes | None]
MakeRepo = Callable[[Sequence[Files]], Path]
Commit = Callable[[Path, Files], str]

PERSONA = "apiVersion: muxgate/v1\nkind: Persona\nmetadata: {{name: {name}}}\nspec: {{description: {description}}}\n"


def persona(name: str, description: str = "Reviews code") -> str:
    return PERSONA.format(name=name, description=description)


FIRST: Files = {
    "config/reviewer.yaml": persona("reviewer"),
    "config/team/writer.yml": persona("writer"),
    "config/.drafts/draft.yaml": persona("draft"),
    "config/.hidden.yaml": persona("hidden"),
    "config/README.md": "# config\n",
    "app/settings.yaml": "debug: true\n",
}
SECOND: Files = {
    "config/reviewer.yaml": persona("reviewer", "Reviews code for security issues"),
    "config/added-later.yaml": persona("later"),
    "config/team/writer.yml": None,
}


@pytest.fixture
def repo(make_git_repo: MakeRepo) -> Path:
    return make_git_repo([FIRST, SECOND])


def test_reads_a_sub_folder_as_of_a_ref(repo: Path, git: Callable[..., str]) -> None:
    first = git(repo, "rev-parse", "HEAD~1")

    files, diagnostics = read_git_tree(repo / "config", first)

    assert diagnostics == []
    assert files == [
        ("reviewer.yaml", persona("reviewer").encode()),
        ("team/writer.yml", persona("writer").encode()),
    ]


@pytest.mark.parametrize("ref", ["HEAD~1", "main~1", "v1"])
def test_refs_may_be_names_tags_or_relative(repo: Path, git: Callable[..., str], ref: str) -> None:
    git(repo, "tag", "v1", "HEAD~1")

    files, diagnostics = read_git_tree(repo / "config", ref)

    assert diagnostics == []
    assert [path for path, _ in files] == ["reviewer.yaml", "team/writer.yml"]


def test_files_added_after_the_ref_are_absent_and_removed_ones_present(repo: Path) -> None:
    at_first, _ = read_git_tree(repo / "config", "HEAD~1")
    at_head, _ = read_git_tree(repo / "config", "HEAD")

    assert "added-later.yaml" not in dict(at_first)
    assert "team/writer.yml" in dict(at_first)
    assert sorted(dict(at_head)) == ["added-later.yaml", "reviewer.yaml"]
    assert dict(at_head)["reviewer.yaml"] == persona("reviewer", "Reviews code for security issues").encode()


def test_uncommitted_changes_are_not_part_of_a_ref(repo: Path) -> None:
    (repo / "config" / "reviewer.yaml").write_text(persona("reviewer", "Edited, not committed"))
    (repo / "config" / "untracked.yaml").write_text(persona("untracked"))

    files, _ = read_git_tree(repo / "config", "HEAD")

    assert sorted(dict(files)) == ["added-later.yaml", "reviewer.yaml"]
    assert b"Edited" not in dict(files)["reviewer.yaml"]


def test_the_repository_root_as_the_config_folder(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo([{"a.yaml": persona("a"), "sub/b.yaml": persona("b"), ".github/ci.yaml": "on: push\n"}])

    files, diagnostics = read_git_tree(repo, "HEAD")

    assert diagnostics == []
    assert [path for path, _ in files] == ["a.yaml", "sub/b.yaml"]


def test_a_ref_that_does_not_exist(repo: Path) -> None:
    files, diagnostics = read_git_tree(repo / "config", "origin/main")

    assert files == []
    assert [(d.code, d.file) for d in diagnostics] == [("ref-missing", None)]
    assert '"origin/main" is not a branch, tag or commit' in diagnostics[0].message
    assert "git fetch origin main" in diagnostics[0].hint


def test_a_ref_that_looks_like_an_option_is_only_a_missing_ref(repo: Path) -> None:
    files, diagnostics = read_git_tree(repo / "config", "--output=/tmp/x")

    assert files == []
    assert [d.code for d in diagnostics] == ["ref-missing"]


def test_a_folder_outside_any_repository(tmp_path: Path, git: Callable[..., str]) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()

    files, diagnostics = read_git_tree(folder, "HEAD")

    assert files == []
    assert [d.code for d in diagnostics] == ["not-a-repo"]
    assert repo_root(folder) is None


def test_a_folder_that_does_not_exist(repo: Path) -> None:
    files, diagnostics = read_git_tree(repo / "nowhere", "HEAD")

    assert files == []
    assert [d.code for d in diagnostics] == ["dir-missing"]


def test_a_folder_missing_at_the_ref_holds_nothing(repo: Path, git_commit: Commit) -> None:
    git_commit(repo, {"newer/a.yaml": persona("a")})

    files, diagnostics = read_git_tree(repo / "newer", "HEAD~1")

    assert (files, diagnostics) == ([], [])


def test_committed_symlinks_are_not_followed(make_git_repo: MakeRepo, git: Callable[..., str]) -> None:
    repo = make_git_repo([{"config/a.yaml": persona("a")}])
    (repo / "config" / "link.yaml").symlink_to("a.yaml")
    git(repo, "add", "config/link.yaml")
    git(repo, "commit", "--quiet", "-m", "link")

    files, diagnostics = read_git_tree(repo / "config", "HEAD")

    assert [path for path, _ in files] == ["a.yaml"]
    assert [(d.file, d.code) for d in diagnostics] == [("link.yaml", "symlink-outside")]


def test_a_committed_file_over_the_size_limit(make_git_repo: MakeRepo) -> None:
    repo = make_git_repo([{"config/a.yaml": persona("a"), "config/big.yaml": "# " + "x" * (1024 * 1024)}])

    files, diagnostics = read_git_tree(repo / "config", "HEAD")

    assert [path for path, _ in files] == ["a.yaml"]
    assert [(d.file, d.code) for d in diagnostics] == [("big.yaml", "file-too-large")]


def test_check_ref_validates_the_tree_as_of_the_ref(repo: Path) -> None:
    checked = check_ref(repo / "config", "HEAD~1")

    assert checked.diagnostics == ()
    assert checked.state is not None
    assert sorted(checked.state.personas) == ["reviewer", "writer"]
    assert checked.state.personas["reviewer"].spec.description == "Reviews code"


def test_check_ref_reports_a_missing_ref(repo: Path) -> None:
    checked = check_ref(repo / "config", "no-such-branch")

    assert [d.code for d in checked.diagnostics] == ["ref-missing"]
    assert checked.state is None


# --- revision ----------------------------------------------------------------------------------------------------


def test_revision_of_a_clean_tree_is_the_short_commit(repo: Path, git: Callable[..., str]) -> None:
    head = git(repo, "rev-parse", "HEAD")

    assert revision(repo / "config") == head[:12]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        pytest.param("config/reviewer.yaml", persona("reviewer", "edited"), id="modified"),
        pytest.param("config/new.yaml", persona("new"), id="untracked"),
        pytest.param("config/reviewer.yaml", None, id="deleted"),
    ],
)
def test_revision_is_marked_dirty_by_changes_in_the_folder(
    repo: Path, git: Callable[..., str], path: str, content: str | None
) -> None:
    if content is None:
        (repo / path).unlink()
    else:
        (repo / path).write_text(content)

    assert revision(repo / "config") == git(repo, "rev-parse", "HEAD")[:12] + "-dirty"


def test_revision_ignores_changes_outside_the_folder(repo: Path, git: Callable[..., str]) -> None:
    (repo / "app" / "settings.yaml").write_text("debug: false\n")

    assert revision(repo / "config") == git(repo, "rev-parse", "HEAD")[:12]


def test_revision_outside_a_repository(tmp_path: Path) -> None:
    assert revision(tmp_path) is None


def test_revision_of_a_repository_without_commits(tmp_path: Path, git: Callable[..., str]) -> None:
    git(tmp_path, "init", "--quiet")

    assert revision(tmp_path) is None
