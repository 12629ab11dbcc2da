"""The ``tiler`` command: a thin layer over the Python API (see README)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import TYPE_CHECKING

from tiler.arguments import (
    add_preprocessor_arguments,
    add_tiling_arguments,
    hierarchy_from_arguments,
    preprocessor_from_arguments,
)
from tiler.errors import TilerError

if TYPE_CHECKING:                      # the pipeline imports islpy: only when a command needs it
    from tiler.pipeline import TileOptions, TileResult

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
# A failure of tiler itself (a bug), told apart from bad input and usage errors.
EXIT_INTERNAL = 3
# Exit statuses of a command stopped by Ctrl-C, and of one whose reader of standard output
# went away, as shells report them for C programs (128 + SIGINT, 128 + SIGPIPE).
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141
# Set (to anything) to see the traceback of an internal error.
TRACEBACK_VARIABLE = "TILER_TRACEBACK"
# The input file name that means standard input, and how errors name it.
STDIN_ARGUMENT, STDIN_NAME = "-", "<stdin>"


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    from tiler.version import package_version
    parser = argparse.ArgumentParser(prog="tiler", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tiler {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tile = commands.add_parser("tile", help="tile the #pragma scop regions of C files",
                               description="Write FILE.tiled.c (or -o) for each FILE.c with "
                               "every scop region tiled; everything else is copied byte for "
                               "byte. FILE '-' reads standard input and writes standard "
                               "output.")
    tile.add_argument("files", metavar="FILE.c", nargs="+")
    tile.add_argument("-o", "--output", metavar="OUT.c",
                      help="output file of a single input, '-' for stdout")
    tile.add_argument("--in-place", action="store_true",
                      help="write the result over the input file (atomically)")
    add_tiling_arguments(tile)
    add_preprocessor_arguments(tile)
    tile.add_argument("--cflags", metavar='"-O3 -march=native"',
                      help="the flags the output is compiled with (decide the vector unit)")

    probe = commands.add_parser("probe", help="measure the cache hierarchy")
    from tiler.probe_command import add_probe_arguments
    add_probe_arguments(probe)
    bench = commands.add_parser("bench", help="time the original against tilings and tuners",
                                description="Build and time, interleaved, the original, the "
                                "default tiling, fixed 32, an auto-tuned tiling and Polly.")
    from tiler.bench.command import add_bench_arguments
    add_bench_arguments(bench)

    commands.add_parser("cc", help="a compiler launcher that tiles C sources as they build",
                        add_help=False, description="tiler cc [COMPILER] ARGS... (see README)")

    qmoe = commands.add_parser("qmoe", help="the QMoE sub-1-bit MoE decoding workload")
    from tiler.qmoe.cli import add_qmoe_arguments
    add_qmoe_arguments(qmoe)
    return parser


def _read_sizes_file(path: str) -> tuple[int, ...]:
    """Return the sizes of a PLUTO ``tile.sizes`` file (one integer per line)."""
    from tiler.pipeline import read_source
    sizes = []
    for number, line in enumerate(read_source(path).splitlines(), start=1):
        text = line.split("#")[0].strip()
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise TilerError(f"expected a positive integer, found '{text}'", number, 1, path)
        sizes.append(int(text))
    if not sizes:
        raise TilerError("no tile size in the file", 1, 1, path)
    return tuple(sizes)


def _kib(size: float) -> str:
    return f"{size / 1024:.1f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.2f} MiB"


def _held(level: int) -> str:
    return f"held by L{level}" if level else "larger than every cache level"


def _describe_band(band) -> list[str]:
    """Return the --report lines of one tiled band."""
    plan = band.plan
    lines = [f"  band over {', '.join(band.statements)} ({len(band.sizes)} members):"]
    sizes = " / ".join("x".join(map(str, level)) for level in plan.levels)
    lines.append(f"    tile sizes {sizes}; point loops in member order "
                 f"{', '.join(map(str, plan.point_order))}")
    if band.distribution:
        lines.append(f"    innermost point loop over {len(band.statements)} statements: "
                     f"{band.distribution}")
    choice = plan.details
    if choice is not None:
        arrays = ", ".join(f"{array} {_kib(size)}" for array, size
                           in sorted(choice.footprint_bytes.items()))
        lines.append(f"    footprint of one tile: {arrays}; {_kib(choice.tile_bytes)} in "
                     f"cache lines, {_held(choice.tile_level)}")
        lines.append(f"    slab (one iteration of the outermost point loop): "
                     f"{_kib(choice.slab_bytes)}, {_held(choice.slab_level)}")
        lines.append(f"    {choice.lines_per_iteration:.4f} cache lines loaded per iteration, "
                     f"{choice.nanoseconds_per_iteration:.3f} ns by the latency model; chosen "
                     f"in {choice.seconds * 1000:.1f} ms")
    verdict = plan.verdict
    if verdict is not None and verdict.tiled_ns > 0:
        runner_up = "" if plan.runner_up is None else (
            f"; runner-up {plan.runner_up[0]}: {plan.runner_up[1] / 1e6:.3g} ms")
        lines.append(f"    predicted time: {verdict.tiled_ns / 1e6:.3g} ms tiled, "
                     f"{verdict.untiled_ns / 1e6:.3g} ms as the source has it "
                     f"({verdict.speedup:.2f}x){runner_up}")
    if plan.micro is not None:
        lines.append(f"    {plan.micro.describe()}")
    elif plan.micro_note:
        lines.append(f"    no micro-tile: {plan.micro_note}")
    if any(band.coincident):
        parallel = [str(k) for k, flag in enumerate(band.coincident) if flag]
        lines.append(f"    parallel members: {', '.join(parallel)}")
    return lines


def _describe_region(region) -> list[str]:
    """Return the --report lines about what the region's model knows of its context."""
    lines = []
    if region.expanded_macros:
        lines.append(f"  macros expanded: {', '.join(region.expanded_macros)}")
    if region.parameter_values:
        values = ", ".join(f"{name} = {value}" for name, value
                           in sorted(region.parameter_values.items()))
        lines.append(f"  parameter values for the cost model: {values}")
    if region.assumed:
        lines.append(f"  declared nowhere the preprocessor shows (parameters of unknown value, "
                     f"pure functions): {', '.join(region.assumed)}")
    return lines


def _tile_options(args: argparse.Namespace) -> TileOptions:
    """Return the ``TileOptions`` the command line asks for."""
    from tiler.pipeline import TileOptions
    sizes = args.tile_sizes
    if args.tile_sizes_file:
        sizes = _read_sizes_file(args.tile_sizes_file)
    target = None
    if args.cflags is not None:
        import shlex

        from tiler.target import DEFAULT_COMPILER, detect_target
        target = detect_target(DEFAULT_COMPILER, tuple(shlex.split(args.cflags)))
    return TileOptions(tile_sizes=sizes, hierarchy=hierarchy_from_arguments(args),
                       tile=not args.no_tile, parallel=args.parallel,
                       preprocessor=preprocessor_from_arguments(args),
                       parameter_values=tuple(args.parameter_values),
                       decide=not args.always_tile,
                       register_tiles=not args.no_register_tiles,
                       pack=not args.no_pack,
                       distribute=not args.no_distribute,
                       micro_tile=args.micro_tile, target=target)


def _check_tile_usage(args: argparse.Namespace) -> None:
    """Raise ``UsageError`` for a combination of inputs and output flags that has no meaning."""
    from tiler.output import same_file
    several = len(args.files) > 1
    if several and args.output is not None:
        raise UsageError("-o names the output of a single input file; without it each "
                         "FILE.c is written to FILE.tiled.c")
    if several and STDIN_ARGUMENT in args.files:
        raise UsageError("standard input ('-') must be the only input file")
    if args.in_place and STDIN_ARGUMENT in args.files:
        raise UsageError("--in-place cannot write over standard input")
    if args.in_place and args.output is not None and not same_file(args.output, args.files[0]):
        raise UsageError("--in-place writes over the input file; -o names another file")


def _output_path(source: str, args: argparse.Namespace) -> str | None:
    """Return where the result of input ``source`` goes (None: standard output). Raises
    ``UsageError`` if that would overwrite one of the input files without ``--in-place``."""
    from tiler.output import default_output_path, same_file
    if args.output == STDIN_ARGUMENT or (source == STDIN_ARGUMENT and args.output is None):
        return None
    if args.in_place:
        return source
    target = args.output or str(default_output_path(source))
    for other in args.files:
        if other != STDIN_ARGUMENT and same_file(target, other):
            raise UsageError(f"the output '{target}' is the input file '{other}'; the input "
                             "is never overwritten unless --in-place is given")
    return target


def _print_notes(name: str, result: TileResult, report: bool) -> None:
    """Print the notes on ``result`` (and with ``report`` the description of every band)."""
    if not result.regions:
        print(f"{name}: note: no '#pragma scop' region; output equals input", file=sys.stderr)
    for region in result.regions:
        if not region.tiled or report:
            print(f"{name}:{region.line}:1: note: {region.note}", file=sys.stderr)
        if report:
            print("\n".join(_describe_region(region)), file=sys.stderr)
            for band in region.bands:
                print("\n".join(_describe_band(band)), file=sys.stderr)
            print(f"  region done in {region.seconds * 1000:.1f} ms", file=sys.stderr)


def _tile_one(source: str, target: str | None, options: TileOptions,
              args: argparse.Namespace) -> None:
    """Tile the input ``source`` and write the result to ``target`` (None: standard output).
    Raises ``TilerError`` for bad input or an output that cannot be written."""
    from tiler.output import check_output_path, write_atomically, write_in_place
    from tiler.pipeline import read_source, tile_source
    if source == STDIN_ARGUMENT:
        name = STDIN_NAME
        text = sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape")
    else:
        name, text = source, read_source(source)
    if target is not None:
        check_output_path(target)              # before the work, not only at the end
    result = tile_source(text, name, options)
    for warning in result.warnings:
        print(warning, file=sys.stderr)
    if target is None:
        # As bytes: bytes of the input that are not UTF-8 are copied as they are.
        sys.stdout.flush()
        sys.stdout.buffer.write(result.text.encode("utf-8", errors="surrogateescape"))
        sys.stdout.buffer.flush()
    elif args.in_place:
        write_in_place(target, result.text)
    else:
        write_atomically(target, result.text)
    _print_notes(name, result, args.report)


def run_tile_command(args: argparse.Namespace) -> int:
    """``tiler tile``: tile each input file, write the results, print notes on stderr. A bad
    file is reported and the others are still written."""
    _check_tile_usage(args)
    targets = [(source, _output_path(source, args)) for source in args.files]
    options = _tile_options(args)
    status = EXIT_OK
    for source, target in targets:
        try:
            _tile_one(source, target, options, args)
        except TilerError as error:
            print(error, file=sys.stderr)
            status = EXIT_INPUT
    return status


def _run_command(args: argparse.Namespace) -> int:
    """Run the subcommand ``args`` names; return its exit code."""
    if args.command == "tile":
        return run_tile_command(args)
    if args.command == "probe":
        from tiler.probe_command import run_probe_command
        return run_probe_command(args)
    if args.command == "bench":
        from tiler.bench.command import run_bench_command
        return run_bench_command(args)
    from tiler.qmoe.cli import run_qmoe_command
    return run_qmoe_command(args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code. No traceback reaches the user: bad input
    is a located error (exit 1), a bad command line exit 2, a failure of tiler itself a
    short message asking for a report (exit 3)."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["cc"]:            # the compiler's own options are not tiler's
        from tiler.launcher import run_cc
        return run_cc(arguments[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    try:
        return _run_command(args)
    except TilerError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    except UsageError as error:
        print(f"tiler {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of standard output went away (``tiler tile k.c -o - | head``).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:  # noqa: BLE001 - the last resort: a message, not a traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        print(f"tiler: internal error: {type(error).__name__}: {error}\n"
              f"tiler: this is a bug in tiler; please report it with the input and the "
              f"command line ({TRACEBACK_VARIABLE}=1 shows where it failed)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
