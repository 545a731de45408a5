"""The `muxgate` command: `muxgate serve DIR` runs the gateway; `muxgate reconcile …` is the same as `reconcile …`."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler import cli as reconcile_cli
from reconciler.render import render_text

# Objects allocated and not yet freed before the cyclic collector looks at the youngest generation.
YOUNG_GC_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once the server is built, before it serves: the cyclic collector's settings for a process that serves
    requests (the benchmarks' bare passthrough uses them too, so that it measures the same runtime)."""
    # What exists now (modules, the app, the registry) lives as long as the process: moved out of the cyclic
    # collector's sight, a full collection no longer walks some 100,000 objects (about 50 ms, every few thousand
    # requests under load) to find nothing.
    gc.collect()
    gc.freeze()
    # The youngest generation's count is objects allocated and not yet freed. With 16 requests in flight their
    # live objects alone passed Python's default threshold of 700: a collection every ~25 requests that found
    # nothing to free, 6.5 us of CPU a request (measured under load). Garbage in cycles still gets collected
    # once this much of it piles up.
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = reconcile_cli._Parser(prog="muxgate", description="Muxgate, a GitOps-managed LLM gateway.")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=reconcile_cli._Parser
    )
    serve = commands.add_parser(
        "serve",
        help="run the gateway on a config directory",
        description="Run the gateway on DIR. Flags override MUXGATE_* environment variables.",
    )
    serve.add_argument("directory", nargs="?", metavar="DIR", help="config directory (MUXGATE_CONFIG_DIR; default .)")
    serve.add_argument("--host", help="address to bind (MUXGATE_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind, 0 for a free one (MUXGATE_PORT; default 8989)")
    serve.add_argument("--data-dir", help="state and analytics directory (MUXGATE_DATA_DIR; default .muxgate)")
    serve.add_argument("--transport", choices=("aiohttp", "httpx"), help="upstream HTTP transport (MUXGATE_TRANSPORT)")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="(MUXGATE_LOG_LEVEL)")
    reconcile = commands.add_parser(
        "reconcile",
        help="validate a config directory, print the plan, apply it with --server",
        description=reconcile_cli.__doc__,
    )
    reconcile_cli.add_arguments(reconcile)
    sql = commands.add_parser(
        "sql",
        help="query the analytics with SQL, while the gateway runs or not",
        description="Run one SELECT on the analytics (DATA_DIR/muxgate.duckdb): through the running gateway's "
        "/api/v1/sql (admin token from MUXGATE_ADMIN_TOKEN or DATA_DIR/admin-token), else on the file read-only.",
    )
    sql.add_argument("query", metavar="SQL", help='one SELECT, e.g. "SELECT * FROM usage_daily"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output (default: table)")
    sql.add_argument("--data-dir", help="the gateway's data directory (MUXGATE_DATA_DIR; default .muxgate)")
    sql.add_argument("--server", metavar="URL", help="ask the gateway at URL (default: the file, else HOST:PORT)")
    sql.add_argument("--max-rows", type=int, default=10_000, help="most rows to print, up to 10000 (default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "reconcile":
        return reconcile_cli.run(args)
    if args.command == "sql":
        from proxy.analytics.sql_cli import run as run_sql

        return run_sql(args)
    return serve(args)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("muxgate").setLevel(level.upper())


def serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from proxy.analytics import AnalyticsError
    from proxy.analytics.lifespan import preflight
    from proxy.app import create_app
    from proxy.live import LiveReconciler
    from proxy.security import exposure_warning
    from proxy.session import DataDirError, announce_url, prepare_data_dir, withdraw_url
    from proxy.settings import Settings

    flags: dict[str, Any] = {
        "config_dir": args.directory,
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "transport": args.transport,
        "log_level": args.log_level,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = ".".join(str(p) for p in error["loc"])
            # Name where the bad value came from: the flag when one was given, else the environment variable.
            source = _flag_name(field) if field in given else f"MUXGATE_{field.upper()}"
            print(f"muxgate: invalid setting {field} ({source}): {error['msg']}.", file=sys.stderr)
        return 1
    configure_logging(settings.log_level)
    log = logging.getLogger("muxgate")
    try:
        prepare_data_dir(settings.data_dir)
        preflight(settings)  # the analytics database opens and is of a version this one can use
    except (DataDirError, AnalyticsError) as exc:
        print(f"muxgate: {exc}", file=sys.stderr)
        return 1
    # The directory's config, or the last good one saved in the data dir when the directory is broken.
    live = LiveReconciler(settings)
    startup = live.bootstrap()
    checked = startup.checked
    if checked.diagnostics:
        sys.stdout.write(render_text(None, checked.diagnostics, checked.sources, color=sys.stdout.isatty()))
    if startup.notice:
        print(startup.notice, file=sys.stderr)
    if startup.registry is None:
        return 1
    registry = startup.registry
    state = registry.state
    try:
        app = create_app(settings, registry, live=live)
    except DataDirError as exc:
        print(f"muxgate: {exc}", file=sys.stderr)
        return 1
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(f"muxgate: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    archived = sum(1 for w in registry.workspaces.values() if w.archived)
    print(
        f"Muxgate serving {settings.config_dir} (revision {registry.revision or 'not in git'}, "
        f"{len(registry.workspaces) - archived} workspaces"
        + (f" and {archived} archived" if archived else "")
        + f", {len(state.providers)} providers) on {url}",
        flush=True,
    )
    log.info("state %s loaded from %s", state.short_hash, Path(settings.config_dir).resolve())
    if (warning := exposure_warning(settings.host)) is not None:
        log.warning(warning)
    settle_garbage_collector()
    config = uvicorn.Config(
        app,
        # httptools parses HTTP/1.1 in C; uvicorn's pure-Python h11 took a sixth of the gateway's CPU under load
        # (docs/benchmarks.md, "What the gateway adds"). The event loop is uvloop where it is installed (a
        # dependency except on Windows): 18 % more requests per second than asyncio's own loop.
        http="httptools",
        loop="auto",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # The address goes into the data directory once the app has started, and out when it shuts down (uvicorn
    # ends the process with the signal that stopped it, so nothing after run() would be reached).
    app.on_startup.append(lambda: announce_url(settings.data_dir, url))
    app.on_shutdown.append(lambda: withdraw_url(settings.data_dir, url))
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn shut down gracefully and raised SIGINT again; the exit status says so, with no traceback.
        return 128 + signal.SIGINT
    return 0


def _flag_name(field: str) -> str:
    return "DIR" if field == "config_dir" else "--" + field.replace("_", "-")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only when it does. Without it, a kept-alive
    # connection waits ~40 ms for a delayed ACK between the response's headers and its body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
