"""The `reconcile` command: validate a config directory and print the plan (`muxgate reconcile` is the same).

A thin shell over `reconciler.check`, `reconciler.plan` and `reconciler.render`. Exit codes are part of the contract:
0 valid (and, with --detailed-exitcode, nothing to change); 1 invalid config or any error; 2 valid with pending
changes, only with --detailed-exitcode. Usage mistakes exit 1 too, so 2 always means "changes".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from reconciler.check import Checked, check_dir, check_ref
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.gitsource import repo_root
from reconciler.plan import Plan, diff
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
        description="Validate a Muxgate config directory and show what would change.",
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
        help="validate and print the plan; change nothing (required for now)",
    )
    parser.add_argument(
        "--against",
        metavar="GIT_REF",
        help="compare with DIR as of this git ref (for example origin/main) instead of with nothing",
    )
    parser.add_argument("--output", choices=("text", "json", "github"), default="text", help="output format")
    parser.add_argument("--no-color", action="store_true", help="never colour the text output")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the config is valid and there are changes",
    )
    parser.add_argument("--prune", action="store_true", help="plan to delete archived workspaces")


def main(argv: Sequence[str] | None = None, prog: str = "reconcile") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(args)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    directory = Path(args.directory)
    if not args.dry_run:
        print(
            "reconcile: nothing to apply to. Pass --dry-run to validate and print the plan; "
            "a running gateway applies DIR itself with `muxgate serve DIR`.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    desired = check_dir(directory)
    diagnostics = list(desired.diagnostics)
    sources = dict(desired.sources)
    current: DesiredState | None = None
    if args.against:
        base = check_ref(directory, args.against)
        if base.state is None:
            diagnostics.extend(_base_problems(base, args.against))
        current = base.state
    plan: Plan | None = None
    if desired.state is not None and not any(d.severity is Severity.ERROR for d in diagnostics):
        plan = diff(
            desired.state,
            current,
            prune=args.prune,
            source_label=str(directory),
            current_label=args.against or "nothing (no --against given)",
        )
    _print(args, plan, diagnostics, sources, directory, out)
    if plan is None:
        return EXIT_ERROR
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


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
