"""The analytics schema: named migrations applied in order and recorded in the `migrations` table.

Where it sits: `store.open_database` runs `migrate` on the writer's connection before anything is recorded. A
database from an older Muxgate gets the migrations it lacks; one that records a migration this version does not
know was written by a newer Muxgate and is refused, since its tables may not mean what this code expects.

Timestamps are UTC (`TIMESTAMP` without a zone), so a day in the views is a UTC day. Costs are USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    statements: tuple[str, ...]


class SchemaTooNew(RuntimeError):  # noqa: N818 - reads as a sentence: the schema is too new
    """The database records migrations this version does not know."""

    def __init__(self, unknown: Sequence[str]) -> None:
        self.unknown = tuple(unknown)
        names = ", ".join(self.unknown)
        super().__init__(
            f"it was written by a newer version of Muxgate (unknown migration{'s' if len(unknown) > 1 else ''}: "
            f"{names})"
        )


_TABLES = Migration(
    "0001_tables",
    (
        """CREATE TABLE requests (
            ts TIMESTAMP NOT NULL,
            request_id VARCHAR NOT NULL,
            workspace VARCHAR,
            client_api VARCHAR NOT NULL,
            provider VARCHAR,
            provider_type VARCHAR,
            requested_model VARCHAR,
            model VARCHAR,
            rule_index INTEGER,
            request_type VARCHAR,
            stream BOOLEAN,
            status SMALLINT NOT NULL,
            outcome VARCHAR NOT NULL,
            stop_reason VARCHAR,
            input_tokens BIGINT,
            output_tokens BIGINT,
            usage_source VARCHAR,
            input_cost DOUBLE,
            output_cost DOUBLE,
            latency_ms DOUBLE,
            ttft_ms DOUBLE,
            config_revision VARCHAR,
            state_hash VARCHAR,
            error VARCHAR
        )""",
        """CREATE TABLE messages (
            ts TIMESTAMP NOT NULL,
            request_id VARCHAR NOT NULL,
            workspace VARCHAR NOT NULL,
            history VARCHAR NOT NULL,
            request_type VARCHAR,
            provider VARCHAR,
            model VARCHAR,
            message_count INTEGER,
            prompt VARCHAR,
            request VARCHAR,
            answer VARCHAR
        )""",
        """CREATE TABLE alerts (
            id VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            request_id VARCHAR,
            workspace VARCHAR NOT NULL,
            trigger_type VARCHAR NOT NULL,
            trigger_category VARCHAR NOT NULL,
            detail VARCHAR,
            code_snippet VARCHAR
        )""",
        """CREATE TABLE config_revisions (
            ts TIMESTAMP NOT NULL,
            revision VARCHAR,
            state_hash VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            added INTEGER NOT NULL,
            changed INTEGER NOT NULL,
            archived INTEGER NOT NULL,
            recovered INTEGER NOT NULL,
            deleted INTEGER NOT NULL
        )""",
    ),
)

_VIEWS = Migration(
    "0002_views",
    (
        """CREATE VIEW usage_daily AS
        SELECT CAST(ts AS DATE) AS day, workspace, provider, model,
               count(*) AS requests,
               sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens,
               sum(input_cost) AS input_cost,
               sum(output_cost) AS output_cost,
               sum(input_cost) + sum(output_cost) AS cost
        FROM requests
        GROUP BY ALL""",
        """CREATE VIEW usage_by_rule AS
        SELECT workspace, config_revision, state_hash, rule_index, provider, model,
               min(ts) AS first_seen, max(ts) AS last_seen,
               count(*) AS requests,
               sum(input_tokens) AS input_tokens,
               sum(output_tokens) AS output_tokens,
               sum(input_cost) + sum(output_cost) AS cost
        FROM requests
        WHERE rule_index IS NOT NULL
        GROUP BY ALL""",
        """CREATE VIEW alerts_daily AS
        SELECT CAST(ts AS DATE) AS day, workspace, trigger_type, trigger_category, count(*) AS alerts
        FROM alerts
        GROUP BY ALL""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_TABLES, _VIEWS)

_LEDGER = """CREATE TABLE IF NOT EXISTS migrations (
    position INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
)"""


def applied_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names recorded in the ledger, in the order they were applied (empty for a new database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in con.execute("SELECT name FROM migrations ORDER BY position").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply the migrations the database lacks, each in its own transaction; returns their names.

    Raises SchemaTooNew, and changes nothing, when the database records a migration not in `migrations`.
    """
    known = {m.name for m in migrations}
    done = applied_migrations(con)
    unknown = [name for name in done if name not in known]
    if unknown:
        raise SchemaTooNew(unknown)
    con.execute(_LEDGER)
    applied: list[str] = []
    for position, migration in enumerate(migrations, start=1):
        if migration.name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute("INSERT INTO migrations (position, name) VALUES (?, ?)", [position, migration.name])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.name)
    return applied
