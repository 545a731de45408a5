"""The `reconcile` command: validate a config directory, print the plan, and apply it to a running gateway with
--server (push mode). `muxgate reconcile` is the same.

A thin shell over `reconciler.check`, `reconciler.plan`, `reconciler.render` and `reconciler.push`. Exit codes are
part of the contract: 0 valid (with --dry-run --detailed-exitcode, and nothing to change), or applied; 1 invalid
config or any error; 2 valid with pending changes, only with --dry-run --detailed-exitcode. Usage mistakes exit 1
too, so 2 always means "changes".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from reconciler.check import Checked, check_files, check_ref
from reconciler.diagnostics import Diagnostic, Severity, has_errors
from reconciler.gitsource import repo_root
from reconciler.gitsource import revision as git_revision
from reconciler.loader import read_dir
from reconciler.plan import Plan, diff
from reconciler.push import TOKEN_VARIABLE, GatewayClient, PushError, PushRejectedError, read_token
from reconciler.render import github_step_summary, render_github, render_json, render_text
from reconciler.state import DesiredState

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 is reserved for "valid with changes"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def build_parser(prog: str = "reconcile") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Validate a Muxgate config directory and show what would change, or apply it to a running "
        "gateway (--server URL without --dry-run).",
        epilog="Exit codes: 0 valid (no changes with --detailed-exitcode), 1 invalid or error, "
        "2 valid with changes (only with --detailed-exitcode).",
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR", help="config directory (default: .)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the plan; change nothing",
    )
    parser.add_argument(
        "--against",
        metavar="GIT_REF",
        help="compare with DIR as of this git ref (for example origin/main) instead of with nothing",
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="the running gateway (for example http://127.0.0.1:8989): compare with what it serves, and without "
        "--dry-run apply DIR to it",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        type=Path,
        help=f"file holding the gateway's admin token, such as its DATA_DIR/admin-token (default: ${TOKEN_VARIABLE})",
    )
    parser.add_argument("--output", choices=("text", "json", "github"), default="text", help="output format")
    parser.add_argument("--no-color", action="store_true", help="never colour the text output")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the config is valid and there are changes",
    )
    parser.add_argument(
        "--prune", action="store_true", help="plan (and with --server, apply) deleting archived workspaces"
    )


def main(argv: Sequence[str] | None = None, prog: str = "reconcile") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(args)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    directory = Path(args.directory)
    if not args.dry_run and not args.server:
        _fail(
            "nothing to apply to. Pass --dry-run to validate and print the plan, or --server URL to apply DIR to a "
            "running gateway; a gateway can also follow DIR itself with `muxgate serve DIR`."
        )
        return EXIT_ERROR
    if args.server and args.against:
        _fail("--against and --server name two things to compare with; pass one of them.")
        return EXIT_ERROR
    files, read_problems = read_dir(directory)
    desired = check_files(files, diagnostics=read_problems)
    diagnostics = list(desired.diagnostics)
    sources = dict(desired.sources)
    valid = desired.state is not None and not has_errors(diagnostics)
    current: DesiredState | None = None
    current_label = "nothing (no --against given)"
    gateway: GatewayClient | None = None
    try:
        if args.server and valid:
            # An invalid DIR is reported without asking the gateway anything, and nothing is sent.
            token = read_token(args.token_file)
            if token is None and not args.dry_run:
                raise PushError(
                    f"Applying needs the gateway's admin token; pass --token-file with the admin-token file of its "
                    f"data directory, or set {TOKEN_VARIABLE}."
                )
            gateway = GatewayClient(args.server, token)
            current = gateway.running().state
            current_label = f"the running gateway at {gateway.url}"
        elif args.against:
            base = check_ref(directory, args.against)
            if base.state is None:
                diagnostics.extend(_base_problems(base, args.against))
            current = base.state
            current_label = args.against
        plan: Plan | None = None
        if desired.state is not None and not has_errors(diagnostics):
            plan = diff(
                desired.state,
                current,
                prune=args.prune,
                source_label=str(directory),
                current_label=current_label,
            )
        _print(args, plan, diagnostics, sources, directory, out)
        if plan is None:
            return EXIT_ERROR
        if gateway is None or args.dry_run:
            return EXIT_CHANGES if args.detailed_exitcode and plan.has_changes else EXIT_OK
        return _apply(args, gateway, files, directory, sources, out, planned=plan.has_changes)
    except PushError as exc:
        _fail(str(exc))
        return EXIT_ERROR
    finally:
        if gateway is not None:
            gateway.close()


def _apply(
    args: argparse.Namespace,
    gateway: GatewayClient,
    files: Sequence[tuple[str, bytes]],
    directory: Path,
    sources: dict[str, Sequence[str]],
    out: TextIO,
    *,
    planned: bool,
) -> int:
    """Push DIR's files; the gateway validates them again and applies them all or nothing. `planned` says whether
    the plan printed before had changes (the push goes anyway: the revision may be new)."""
    try:
        outcome = gateway.apply(files, git_revision(directory), prune=args.prune)
    except PushRejectedError as exc:
        # The gateway's checks can differ from these (another version): its diagnostics, with DIR's lines.
        sys.stderr.write(render_text(None, exc.diagnostics, sources, color=False))
        _fail(str(exc))
        return EXIT_ERROR
    if outcome.has_changes or planned:
        # Text output reads on; JSON and GitHub output stay one document on stdout.
        print(outcome.sentence(), file=out if args.output == "text" else sys.stderr)
    return EXIT_OK


def _fail(sentence: str) -> None:
    print(f"reconcile: {sentence}", file=sys.stderr)


def _base_problems(base: Checked, ref: str) -> list[Diagnostic]:
    """Problems reading the base: a missing ref is an error; an invalid base only a warning (not this change's)."""
    fatal = [d for d in base.diagnostics if d.code in ("ref-missing", "not-a-repo", "dir-missing")]
    if fatal:
        return fatal
    errors = sum(1 for d in base.diagnostics if d.severity is Severity.ERROR)
    return [
        Diagnostic(
            Severity.WARNING,
            "base config is invalid",
            message=f"The config at {ref} does not validate ({errors} errors); the plan compares against nothing.",
            hint=f"Run reconcile --dry-run on {ref} to see its errors.",
            code="base-invalid",
        )
    ]


def _print(
    args: argparse.Namespace,
    plan: Plan | None,
    diagnostics: list[Diagnostic],
    sources: dict[str, Sequence[str]],
    directory: Path,
    out: TextIO,
) -> None:
    if args.output == "json":
        out.write(render_json(plan, diagnostics))
    elif args.output == "github":
        out.write(render_github(plan, diagnostics, sources, path_prefix=_repo_prefix(directory)))
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as fh:
                fh.write(github_step_summary(plan, diagnostics))
    else:
        color = not args.no_color and out.isatty() and "NO_COLOR" not in os.environ
        out.write(render_text(plan, diagnostics, sources, color=color))
    out.flush()


def _repo_prefix(directory: Path) -> str:
    """GitHub annotations name files relative to the repository root; diagnostics name them relative to DIR."""
    top = repo_root(directory) if directory.is_dir() else None
    if top is None:
        return ""
    rel = directory.resolve().relative_to(top.resolve()).as_posix()
    return "" if rel == "." else rel + "/"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
