"""`muxgate sql "SELECT …"`: query the analytics, whether the gateway runs or not.

DuckDB lets one process hold the database file, so:

    --server URL given ──────────────────────────────▶ POST URL/api/v1/sql (admin token)
    no --server: open DATA_DIR/muxgate.duckdb read-only
        ├─ it opens (no gateway runs) ───────────────▶ the query runs here, external access off
        └─ a gateway holds it ───────────────────────▶ POST its URL/api/v1/sql (DATA_DIR/gateway-url, else
                                                        MUXGATE_HOST:MUXGATE_PORT)

The admin token comes from MUXGATE_ADMIN_TOKEN or DATA_DIR/admin-token, as the gateway's does. Either way the
query must be one SELECT; anything else, and SQL that does not parse, ends with a sentence and exit status 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb
import httpx

from proxy.security import TOKEN_FILE, TOKEN_VARIABLE
from proxy.settings import Settings

from .service import MAX_ROWS, QUERY_TIMEOUT
from .sql_safety import SqlError, check_query
from .store import AnalyticsError, DatabaseBusy, database_path, open_read_only
from .values import jsonable

FORMATS = ("table", "csv", "json")


class SqlCliError(RuntimeError):
    """Ends `muxgate sql` with this sentence and exit status 1."""


class Result:
    def __init__(self, columns: list[str], rows: list[list[Any]], truncated: bool) -> None:
        self.columns = columns
        self.rows = rows
        self.truncated = truncated


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", metavar="SQL", help='one SELECT, e.g. "SELECT * FROM usage_daily"')
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--data-dir", help="the gateway's data directory (MUXGATE_DATA_DIR; default .muxgate)")
    parser.add_argument(
        "--server", metavar="URL", help="ask this running gateway (default: the file, else MUXGATE_HOST:MUXGATE_PORT)"
    )
    parser.add_argument(
        "--max-rows", type=int, default=MAX_ROWS, help=f"most rows to print, 1 to {MAX_ROWS:,} (default {MAX_ROWS:,})"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from pydantic import ValidationError

    stdout = out or sys.stdout
    flags = {"data_dir": args.data_dir}
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        print(f"muxgate sql: invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}.", file=sys.stderr)
        return 1
    if not 1 <= args.max_rows <= MAX_ROWS:
        print(f"muxgate sql: --max-rows must be from 1 to {MAX_ROWS:,}.", file=sys.stderr)
        return 1
    try:
        if args.server:
            result = query_server(args.server, args.query, settings, args.max_rows)
        else:
            try:
                result = query_file(settings.data_dir, args.query, args.max_rows)
            except DatabaseBusy:
                from proxy.session import announced_url

                # The address the gateway wrote into the data directory, else the one the settings name.
                url = announced_url(settings.data_dir) or ""
                if not url:
                    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
                    url = f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"
                result = query_server(url, args.query, settings, args.max_rows, busy=database_path(settings.data_dir))
    except (SqlCliError, SqlError, AnalyticsError) as exc:
        print(f"muxgate sql: {exc}", file=sys.stderr)
        return 1
    write(result, args.format, stdout)
    if result.truncated:
        print(f"muxgate sql: only the first {len(result.rows):,} rows are shown (--max-rows).", file=sys.stderr)
    return 0


def query_file(data_dir: Path, sql: str, max_rows: int) -> Result:
    """Run `sql` on the database file opened read-only; DatabaseBusy when a gateway holds it."""
    con = open_read_only(data_dir)
    try:
        check_query(con, sql)
        try:
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(max_rows + 1)
        except duckdb.Error as exc:
            raise SqlCliError(f"The query failed: {str(exc).strip()}") from None
    finally:
        con.close()
    return Result(columns, [[jsonable(v) for v in row] for row in rows[:max_rows]], len(rows) > max_rows)


def query_server(url: str, sql: str, settings: Settings, max_rows: int, *, busy: Path | None = None) -> Result:
    """Run `sql` through the SQL endpoint of the gateway at `url`."""
    token = admin_token(settings)
    if token is None:
        raise SqlCliError(
            f"No admin token: set {TOKEN_VARIABLE}, or run this where {Path(settings.data_dir) / TOKEN_FILE} "
            "(written by the gateway) can be read, with --data-dir pointing at its data directory."
        )
    endpoint = url.rstrip("/") + "/api/v1/sql"
    try:
        response = httpx.post(
            endpoint,
            json={"sql": sql, "max_rows": max_rows},
            headers={"authorization": f"Bearer {token}"},
            timeout=QUERY_TIMEOUT + 10,
        )
    except httpx.HTTPError as exc:
        held = f"{busy} is held by another process, and " if busy else ""
        raise SqlCliError(
            f"{held}no gateway answers at {url} ({type(exc).__name__}: {exc}). Pass the gateway's address with "
            "--server URL."
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else None
        raise SqlCliError(str(detail or f"The gateway at {url} answered HTTP {response.status_code}."))
    return Result(list(body["columns"]), [list(r) for r in body["rows"]], bool(body.get("truncated")))


def admin_token(settings: Settings) -> str | None:
    configured = settings.admin_token.get_secret_value().strip() if settings.admin_token else ""
    if configured:
        return configured
    try:
        value = (Path(settings.data_dir) / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


# --- output -----------------------------------------------------------------------------------------------------


def _cell(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def write(result: Result, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        out.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v, "") for v in row] for row in result.rows)
        out.write(buffer.getvalue())
    else:
        out.write(table(result.columns, [[_cell(v, "NULL") for v in row] for row in result.rows]))


def table(columns: list[str], rows: list[list[str]]) -> str:
    """An aligned text table; numbers to the right, a row count below."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    numeric = [all(_is_number(r[i]) for r in rows) and bool(rows) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return " | ".join(
            cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(columns), "-+-".join("-" * w for w in widths)]
    lines.extend(line(r) for r in rows)
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _is_number(text: str) -> bool:
    if text == "NULL":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True
