"""Only one SELECT may run: every statement that writes, deletes, attaches, loads, configures, exports or copies is
refused by its parsed type, and a SELECT that reads a file fails inside DuckDB, on the writer's connection (the
SQL endpoint's cursors) and on the read-only connection of `muxgate sql`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from proxy.analytics.sql_safety import ForbiddenStatement, SqlError, check_query
from proxy.analytics.store import open_database, open_read_only

FORBIDDEN = {
    "insert": "INSERT INTO requests SELECT * FROM requests",
    "update": "UPDATE requests SET status = 0",
    "delete": "DELETE FROM requests",
    "create": "CREATE TABLE stolen AS SELECT * FROM messages",
    "create-macro": "CREATE MACRO m(a) AS a",
    "create-secret": "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
    "drop": "DROP TABLE requests",
    "alter": "ALTER TABLE requests ADD COLUMN x INTEGER",
    "truncate": "TRUNCATE requests",
    "attach": "ATTACH 'other.duckdb' AS other",
    "detach": "DETACH other",
    "use": "USE memory",
    "copy-to": "COPY requests TO 'out.csv'",
    "copy-from": "COPY requests FROM 'in.csv'",
    "export": "EXPORT DATABASE 'dump'",
    "import": "IMPORT DATABASE 'dump'",
    "install": "INSTALL httpfs",
    "load": "LOAD httpfs",
    "load-file": "LOAD '/tmp/evil.duckdb_extension'",
    "set": "SET enable_external_access = true",
    "reset": "RESET threads",
    "pragma": "PRAGMA enable_profiling",
    "call": "CALL checkpoint()",
    "checkpoint": "CHECKPOINT",
    "vacuum": "VACUUM",
    "begin": "BEGIN TRANSACTION",
    "explain-analyze": "EXPLAIN ANALYZE DELETE FROM requests",
    "prepare": "PREPARE p AS SELECT 1",
}
FILE_READS = {
    "read_csv": "SELECT * FROM read_csv('{path}')",
    "read_parquet": "SELECT * FROM read_parquet('{path}')",
    "read_json": "SELECT * FROM read_json_auto('{path}')",
    "read_text": "SELECT * FROM read_text('{path}')",
    "glob": "SELECT * FROM glob('{dir}/*')",
    "file-as-table": "SELECT * FROM '{path}'",
    "url-as-table": "SELECT * FROM 'https://example.com/data.csv'",
}


@pytest.fixture
def parser() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    yield con
    con.close()


@pytest.mark.parametrize("sql", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_every_statement_but_select_is_refused_by_its_type(parser: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(ForbiddenStatement, match="Only SELECT queries may be run"):
        check_query(parser, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select * from usage_daily where day > current_date - 7",
        "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
        "FROM requests",
        "DESCRIBE requests",
        "SHOW TABLES",
        "SUMMARIZE requests",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "SELECT 1;",
    ],
)
def test_queries_are_allowed(parser: duckdb.DuckDBPyConnection, sql: str) -> None:
    check_query(parser, sql)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "does not parse"),
        ("SELECT * FROM", "does not parse"),
        ("", "empty"),
        ("  ;  ", "empty"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT 1; DROP TABLE requests", "one statement at a time"),
    ],
)
def test_syntax_errors_and_several_statements_are_named(
    parser: duckdb.DuckDBPyConnection, sql: str, message: str
) -> None:
    with pytest.raises(SqlError, match=message):
        check_query(parser, sql)


@pytest.fixture(params=["writer", "read-only"])
def locked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The two connections user queries run on: a cursor of the writer's, and the read-only one."""
    con = open_database(tmp_path / "data")
    if request.param == "read-only":
        con.close()
        con = open_read_only(tmp_path / "data")
        yield con
    else:
        cursor = con.cursor()
        yield cursor
        cursor.close()
    con.close()


@pytest.mark.parametrize("sql", FILE_READS.values(), ids=FILE_READS.keys())
def test_a_select_that_reads_files_or_the_network_fails(
    locked: duckdb.DuckDBPyConnection, tmp_path: Path, sql: str
) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    query = sql.format(path=outside, dir=tmp_path)
    check_query(locked, query)  # a SELECT, so it passes the type check…
    with pytest.raises(duckdb.Error, match=r"disabled by configuration|Permission"):
        locked.execute(query).fetchall()  # …and DuckDB refuses the file


def test_settings_cannot_be_changed_from_a_query_connection(locked: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.Error, match="locked"):
        locked.execute("SET enable_external_access = true")
    assert locked.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
