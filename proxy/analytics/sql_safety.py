"""Which SQL a user may run against the analytics: one SELECT, nothing else.

Where it sits: in front of every user query, on the SQL endpoint of a running gateway and in `muxgate sql`
reading the file directly. DuckDB's own parser gives each statement's type, so there is no guessing from the
text: INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH, COPY, EXPORT, INSTALL/LOAD, SET, PRAGMA, CALL and the rest
are refused by type. A SELECT can still name a file (`read_csv(…)`, `'data.csv'`, `glob(…)`): the connections
it runs on have external access disabled and their configuration locked (see `store`), so those fail inside
DuckDB with a permission error; only the writer's batch directory, which holds rows the database has too, can
be read. DESCRIBE, SHOW and SUMMARIZE parse as SELECTs and are allowed.
"""

from __future__ import annotations

import duckdb

ALLOWED = frozenset({duckdb.StatementType.SELECT})

# Statement types named the way users write them, for the error message.
_NAMES = {
    "EXPORT": "EXPORT DATABASE",
    "LOAD": "INSTALL or LOAD",
    "SET": "SET, RESET or USE",
    "PRAGMA": "PRAGMA or IMPORT DATABASE",
    "TRANSACTION": "BEGIN, COMMIT or ROLLBACK",
}


class SqlError(ValueError):
    """SQL that cannot be run: it does not parse, or it is not a single read-only query."""


class ForbiddenStatement(SqlError):  # noqa: N818 - a public name
    """A statement that would write, load, attach, configure or export."""


def check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise SqlError unless `sql` is exactly one SELECT (which includes DESCRIBE, SHOW and SUMMARIZE)."""
    if not sql.strip():
        raise SqlError("The query is empty; send one SELECT statement.")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"The query does not parse: {_first_line(exc)}") from None
    if not statements:
        raise SqlError("The query is empty; send one SELECT statement.")
    if len(statements) > 1:
        raise SqlError(f"Send one statement at a time; this text holds {len(statements)}.")
    kind = statements[0].type
    if kind not in ALLOWED:
        name = _NAMES.get(kind.name, kind.name)
        article = "an" if name[0] in "AEIOU" else "a"
        raise ForbiddenStatement(
            f"Only SELECT queries may be run on the analytics database; this is {article} {name} statement, which "
            "is refused."
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
