"""docs/analytics.md describes every column of every table and every view, as the schema defines them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.analytics.events import COLUMNS
from proxy.analytics.store import open_database

DOC = Path(__file__).resolve().parents[3] / "docs" / "analytics.md"


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(title)}.*?$(.*?)(?=^#)", text, re.M | re.S)
    assert match, f"docs/analytics.md has no section starting {title!r}"
    return match.group(1)


def documented(text: str) -> set[str]:
    """Names in backticks in the first cell of each table row."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize("table", list(COLUMNS))
def test_every_column_is_documented(table: str) -> None:
    assert documented(section(f"`{table}`")) == {name for name, _ in COLUMNS[table]}


def test_every_view_and_its_columns_are_documented(tmp_path: Path) -> None:
    con = open_database(tmp_path)
    try:
        views = {
            name: [c[0] for c in con.execute(f"DESCRIBE {name}").fetchall()]
            for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
    finally:
        con.close()
    rows = {}
    for line in section("Views").splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            rows[cells[1].strip().strip("`")] = re.findall(r"`([a-z_]+)`", cells[2])
    assert rows == views


def test_the_schema_has_the_documented_columns(tmp_path: Path) -> None:
    con = open_database(tmp_path)
    try:
        for table, columns in COLUMNS.items():
            described = [(c[0], c[1]) for c in con.execute(f"DESCRIBE {table}").fetchall()]
            assert described == list(columns), table
    finally:
        con.close()
