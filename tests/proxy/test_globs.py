from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.globs import compile_glob, validate_glob


@pytest.mark.parametrize("pattern", [None, ""])
def test_an_empty_pattern_matches_every_request_even_without_filenames(pattern: str | None) -> None:
    glob = compile_glob(pattern)
    assert glob.matches_everything
    assert glob([])
    assert glob(["anything.txt"])


@pytest.mark.parametrize(
    ("pattern", "filename", "expected"),
    [
        ("*.py", "app.py", True),
        ("*.py", "src/deep/app.py", True),
        ("*.py", "app.pyc", False),
        ("*.py", "py/app.txt", False),
        ("test_*.go", "pkg/test_server.go", True),
        ("test_*.go", "pkg/server_test.go", False),
        ("*.ts*", "web/App.tsx", True),
        ("*.ts*", "web/App.js", False),
        ("*.PY", "app.py", False),
        ("app.[ch]", "lib/app.h", True),
        ("app.[!ch]", "lib/app.h", False),
    ],
)
def test_a_pattern_without_slash_matches_the_basename(pattern: str, filename: str, expected: bool) -> None:
    assert compile_glob(pattern).matches(filename) is expected


@pytest.mark.parametrize(
    ("pattern", "filename", "expected"),
    [
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "/home/me/repo/src/app.py", True),
        ("src/*.py", "src/api/app.py", True),  # '*' crosses '/'
        ("src/*.py", "mysrc/app.py", False),  # a suffix only counts at a directory boundary
        ("src/*.py", "lib/src.py", False),
        ("src/*.py", "app.py", False),
        ("/src/*.py", "/src/app.py", True),
        ("/src/*.py", "/home/src/app.py", False),
        ("/src/*.py", "src/app.py", False),
        ("src/**/*.py", "src/app.py", True),
        ("src/**/*.py", "src/a/b/app.py", True),
        ("src/**/*.py", "lib/app.py", False),
        ("**/test_*.py", "test_app.py", True),
        ("**/test_*.py", "tests/unit/test_app.py", True),
        ("a/**/b/**/c.txt", "a/b/c.txt", True),
        ("a/**/b/**/c.txt", "x/a/1/b/2/3/c.txt", True),
        ("src/**", "src/any/thing.rs", True),
    ],
)
def test_a_pattern_with_slash_matches_the_path(pattern: str, filename: str, expected: bool) -> None:
    assert compile_glob(pattern).matches(filename) is expected


def test_backslashes_in_filenames_are_directory_separators() -> None:
    assert compile_glob("src/*.py").matches("C:\\repo\\src\\app.py")
    assert compile_glob("*.py").matches("src\\app.py")
    assert not compile_glob("src*").matches("src\\app.py")  # the basename is app.py


def test_a_request_matches_when_any_of_its_filenames_does() -> None:
    glob = compile_glob("*.go")
    assert glob(["README.md", "cmd/main.go"])
    assert not glob(["README.md", "main.py"])
    assert not glob([])


@given(
    pattern=st.text(alphabet="ab.*?_", min_size=1, max_size=8),
    basename=st.text(alphabet="ab._", max_size=8),
    directory=st.sampled_from(["", "dir/", "/abs/path/"]),
)
def test_basename_patterns_agree_with_fnmatch(pattern: str, basename: str, directory: str) -> None:
    assert compile_glob(pattern).matches(directory + basename) is fnmatch.fnmatchcase(basename, pattern)


@pytest.mark.parametrize("pattern", [None, "", "*.py", "src/**/*.py", "[]]", "[!]]x", "a[[]b", "*.[ch]"])
def test_valid_patterns_have_no_error(pattern: str | None) -> None:
    assert validate_glob(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("*.[py", "never closes it; add the closing ']', or write '[[]'"),
        ("src/[a-", "at position 5"),
        ("[]", "never closes"),
        ("src/", "write 'src/*'"),
        ("a\nb", "control character"),
        ("a/**/" * 7 + "x", "more than 6 times"),
    ],
)
def test_unusable_patterns_get_a_sentence_naming_the_fix(pattern: str, fragment: str) -> None:
    error = validate_glob(pattern)
    assert error is not None
    assert fragment in error
    assert repr(pattern) in error
    with pytest.raises(ValueError, match="glob") as raised:
        compile_glob(pattern)
    assert str(raised.value) == error
