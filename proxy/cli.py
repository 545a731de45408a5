"""The `muxgate` command: `muxgate reconcile …` (the same as `reconcile …`) and, later, `muxgate serve`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reconciler import cli as reconcile_cli


def build_parser() -> argparse.ArgumentParser:
    parser = reconcile_cli._Parser(prog="muxgate", description="Muxgate, a GitOps-managed LLM gateway.")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=reconcile_cli._Parser
    )
    reconcile = commands.add_parser(
        "reconcile", help="validate a config directory and print the plan", description=reconcile_cli.__doc__
    )
    reconcile_cli.add_arguments(reconcile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "reconcile":
        return reconcile_cli.run(args)
    print(
        f"muxgate: unknown command {args.command}", file=sys.stderr
    )  # pragma: no cover - argparse refuses first
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
