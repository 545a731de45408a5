"""Glob semantics of mux rules, as documented in reconciler/globs.py."""

from __future__ import annotations

import pytest

from reconciler.globs import MAX_PATTERN_LENGTH, compile_glob, glob_error


def matches(pattern: str | None, *names: str) -> bool:
    return compile_glob(pattern)(list(names))


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # No '/': the basename decides, wherever the file is.
        pytest.param("*.py", "app.py", True, id="basename-plain"),
        pytest.param("*.py", "src/app.py", True, id="basename-in-a-folder"),
        pytest.param("*.py", "/home/me/project/src/app.py", True, id="basename-absolute"),
        pytest.param("*.py", "C:\\work\\src\\app.py", True, id="basename-windows-path"),
        pytest.param("*.py", "src/app.pyc", False, id="basename-whole-name"),
        pytest.param("*.py", "app.py/readme", False, id="basename-not-a-folder-name"),
        pytest.param("app.py", "src/app.py", True, id="basename-literal"),
        pytest.param("Dockerfile", "deploy/Dockerfile", True, id="basename-no-star"),
        # With '/': matched against the path, at a folder boundary.
        pytest.param("src/*.py", "src/app.py", True, id="path-relative"),
        pytest.param("src/*.py", "/home/me/project/src/app.py", True, id="path-suffix-of-absolute"),
        pytest.param("src/*.py", "./src/app.py", True, id="path-dot-slash"),
        pytest.param("src/*.py", "mysrc/app.py", False, id="path-boundary"),
        pytest.param("src/*.py", "src/sub/app.py", False, id="path-star-does-not-cross-slash"),
        pytest.param("src/*.py", "C:\\work\\src\\app.py", True, id="path-windows"),
        # A leading '/' anchors at the start of the path.
        pytest.param("/src/*.py", "/src/app.py", True, id="anchored"),
        pytest.param("/src/*.py", "/home/me/src/app.py", False, id="anchored-not-a-suffix"),
        # '?' is one character other than '/'.
        pytest.param("src/?.py", "src/a.py", True, id="question-one"),
        pytest.param("src/?.py", "src/ab.py", False, id="question-not-two"),
        pytest.param("src?app.py", "src/app.py", False, id="question-not-slash"),
        # '**' crosses folders, including none.
        pytest.param("src/**/*.ts", "src/a.ts", True, id="globstar-zero-folders"),
        pytest.param("src/**/*.ts", "src/ui/b/c.ts", True, id="globstar-many-folders"),
        pytest.param("src/**/*.ts", "lib/ui/c.ts", False, id="globstar-other-root"),
        pytest.param("src/**", "src/ui/b/c.ts", True, id="globstar-trailing"),
        pytest.param("**/test_*.py", "tests/unit/test_app.py", True, id="globstar-leading"),
        # Character classes.
        pytest.param("[abc].py", "b.py", True, id="class"),
        pytest.param("[abc].py", "d.py", False, id="class-miss"),
        pytest.param("[!abc].py", "d.py", True, id="negated-class"),
        pytest.param("[!abc].py", "a.py", False, id="negated-class-miss"),
        pytest.param("v[0-9].txt", "v7.txt", True, id="range"),
        pytest.param("[]]x", "]x", True, id="bracket-first-in-class"),
        pytest.param("[[]x", "[x", True, id="open-bracket-in-class"),
        pytest.param("[a&&b]", "&", True, id="ampersands-are-literal"),
        pytest.param("src/[!x]/a.py", "src//a.py", False, id="negated-class-never-slash"),
        # Everything else is literal, and case matters.
        pytest.param("*.PY", "app.py", False, id="case-sensitive"),
        pytest.param("a+b(1).py", "a+b(1).py", True, id="regex-characters-literal"),
        pytest.param("a.py", "axpy", False, id="dot-literal"),
    ],
)
def test_glob_semantics(pattern: str, name: str, expected: bool) -> None:
    assert glob_error(pattern) is None
    assert matches(pattern, name) is expected


def test_any_filename_of_the_request_may_match() -> None:
    assert matches("*.py", "README.md", "src/app.py")
    assert not matches("*.py", "README.md", "src/app.ts")


@pytest.mark.parametrize("pattern", ["", None])
def test_empty_pattern_matches_every_request_even_without_filenames(pattern: str | None) -> None:
    assert matches(pattern)
    assert matches(pattern, "anything.bin")


def test_a_pattern_never_matches_a_request_without_filenames() -> None:
    assert not matches("*")
    assert not matches("**")


def test_star_alone_matches_any_basename() -> None:
    assert matches("*", "src/app.py")


@pytest.mark.parametrize(
    ("pattern", "phrase"),
    [
        pytest.param("[abc", "The '[' at position 1 is never closed with ']'.", id="unclosed-class"),
        pytest.param("src/[", "The '[' at position 5 is never closed", id="unclosed-later"),
        pytest.param("[]", "never closed", id="bracket-only-member"),
        pytest.param("[z-a].py", "bad character range z-a", id="range-backwards"),
        pytest.param("a\nb", "line break", id="newline"),
        pytest.param("x" * (MAX_PATTERN_LENGTH + 1), f"at most {MAX_PATTERN_LENGTH}", id="too-long"),
    ],
)
def test_invalid_globs_are_explained(pattern: str, phrase: str) -> None:
    problem = glob_error(pattern)

    assert problem is not None
    assert phrase in problem
    assert problem.endswith(".")


def test_longest_allowed_pattern_is_valid() -> None:
    assert glob_error("x" * MAX_PATTERN_LENGTH) is None
