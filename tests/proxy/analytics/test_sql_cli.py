"""`muxgate sql` on the file when no gateway runs: the three output formats, row limits, and one sentence with
exit status 1 for every mistake."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from proxy.analytics.store import open_database
from proxy.cli import build_parser
from proxy.cli import main as muxgate


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    con = open_database(tmp_path)
    con.execute(
        "INSERT INTO config_revisions VALUES "
        "(TIMESTAMP '2026-11-27 10:00:00', 'abc123', 'h1', 'startup', 3, 0, 0, 0, 0), "
        "(TIMESTAMP '2026-11-27 11:30:00', NULL, 'h2', 'apply', 0, 1, 0, 0, 2)"
    )
    con.close()
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    from proxy.analytics.sql_cli import run as run_sql

    out = io.StringIO()
    code = run_sql(build_parser().parse_args(["sql", *args]), out)
    return code, out.getvalue()


QUERY = "SELECT revision, source, changed, ts FROM config_revisions ORDER BY ts"


def test_table(data_dir: Path) -> None:
    code, out = run(QUERY, "--data-dir", str(data_dir))
    assert code == 0
    assert out.splitlines() == [
        "revision | source  | changed | ts",
        "---------+---------+---------+--------------------",
        "abc123   | startup |       0 | 2026-11-27T10:00:00",
        "NULL     | apply   |       1 | 2026-11-27T11:30:00",
        "(2 rows)",
    ]


def test_csv(data_dir: Path) -> None:
    code, out = run(QUERY, "--data-dir", str(data_dir), "--format", "csv")
    assert code == 0
    assert out == "revision,source,changed,ts\nabc123,startup,0,2026-11-27T10:00:00\n,apply,1,2026-11-27T11:30:00\n"


def test_json(data_dir: Path) -> None:
    code, out = run(QUERY, "--data-dir", str(data_dir), "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {"revision": "abc123", "source": "startup", "changed": 0, "ts": "2026-11-27T10:00:00"},
        {"revision": None, "source": "apply", "changed": 1, "ts": "2026-11-27T11:30:00"},
    ]


def test_max_rows_cuts_and_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run("SELECT * FROM range(5) t(n)", "--data-dir", str(data_dir), "--max-rows", "2", "--format", "csv")
    assert (code, out) == (0, "n\n0\n1\n")
    assert "only the first 2 rows" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM requests", "this is a DELETE statement, which is refused."),
        ("ATTACH 'x.duckdb'", "this is an ATTACH statement, which is refused."),
        ("COPY requests TO 'x.csv'", "this is a COPY statement, which is refused."),
        ("INSTALL httpfs", "this is an INSTALL or LOAD statement, which is refused."),
        ("SET threads = 1", "this is a SET, RESET or USE statement, which is refused."),
        ("SELECT * FROM read_csv('/etc/hostname')", "file system operations are disabled by configuration"),
        ("SELECT * FROM 'data.parquet'", "file system operations are disabled by configuration"),
        ("SELEKT 1", "The query does not parse"),
        ("SELECT * FROM no_such_table", "The query failed: Catalog Error"),
    ],
)
def test_mistakes_are_one_sentence_and_exit_1(
    data_dir: Path, capsys: pytest.CaptureFixture[str], sql: str, message: str
) -> None:
    assert muxgate(["sql", sql, "--data-dir", str(data_dir)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("muxgate sql: ")
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_a_missing_database_names_who_creates_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert muxgate(["sql", "SELECT 1", "--data-dir", str(tmp_path / "nothing")]) == 1
    assert "muxgate serve --data-dir" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()


def test_a_server_that_does_not_answer_is_named(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_dir / "admin-token").write_text("t\n")
    code = muxgate(["sql", "SELECT 1", "--data-dir", str(data_dir), "--server", "http://127.0.0.1:9"])
    assert code == 1
    assert "no gateway answers at http://127.0.0.1:9" in capsys.readouterr().err


def test_max_rows_is_bounded(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert muxgate(["sql", "SELECT 1", "--data-dir", str(data_dir), "--max-rows", "0"]) == 1
    assert "--max-rows must be from 1 to 10,000" in capsys.readouterr().err
