"""The ``tiler`` command: a thin layer over the Python API (see README)."""

from __future__ import annotations

import argparse
import sys

from tiler.errors import TilerError

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tiler", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    probe = commands.add_parser("probe", help="measure the cache hierarchy")
    probe.add_argument("--quick", action="store_true", help="a fast probe (under 10 s)")
    probe.add_argument("--json", action="store_true", help="print the hierarchy as JSON")
    probe.add_argument("--plot", metavar="FILE.png", help="draw the latency curve")
    probe.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the cached hierarchy")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    try:
        if args.command == "probe":
            from tiler.probe import run_probe_command
            return run_probe_command(args)
    except TilerError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
