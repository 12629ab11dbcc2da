"""The ``tiler`` command: a thin layer over the Python API (see README)."""

from __future__ import annotations

import argparse
import sys

from tiler.arguments import add_hierarchy_arguments, hierarchy_from_arguments, size_list
from tiler.errors import TilerError

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tiler", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tile = commands.add_parser("tile", help="tile the #pragma scop regions of a C file",
                               description="Write FILE.tiled.c (or -o) with every scop "
                               "region tiled; everything else is copied byte for byte.")
    tile.add_argument("file", metavar="FILE.c")
    tile.add_argument("-o", "--output", metavar="OUT.c", help="output file, '-' for stdout")
    sizes = tile.add_mutually_exclusive_group()
    sizes.add_argument("--tile-sizes", metavar="32,32,8", type=size_list,
                       help="tile sizes, outermost first, for every band")
    sizes.add_argument("--tile-sizes-file", metavar="tile.sizes",
                       help="PLUTO-style file: one size per line")
    add_hierarchy_arguments(tile)
    tile.add_argument("--parallel", action="store_true",
                      help="mark the outermost parallel tile loop with an OpenMP pragma")
    tile.add_argument("--report", action="store_true", help="describe each region on stderr")
    tile.add_argument("--no-tile", action="store_true",
                      help="regenerate the code from the schedule without tiling")

    probe = commands.add_parser("probe", help="measure the cache hierarchy")
    from tiler.probe_command import add_probe_arguments
    add_probe_arguments(probe)
    bench = commands.add_parser("bench", help="time the original against tilings and tuners",
                                description="Build and time, interleaved, the original, the "
                                "default tiling, fixed 32, an auto-tuned tiling and Polly.")
    from tiler.bench.command import add_bench_arguments
    add_bench_arguments(bench)

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
                 f"{', '.join(map(str, plan.point_order))} (stride-one innermost)")
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
    if any(band.coincident):
        parallel = [str(k) for k, flag in enumerate(band.coincident) if flag]
        lines.append(f"    parallel members: {', '.join(parallel)}")
    return lines


def run_tile_command(args: argparse.Namespace) -> int:
    """``tiler tile``: tile one file, write the result, print notes on stderr."""
    from tiler.pipeline import (
        TileOptions,
        default_output_path,
        read_source,
        tile_source,
        write_atomically,
    )
    sizes = args.tile_sizes
    if args.tile_sizes_file:
        sizes = _read_sizes_file(args.tile_sizes_file)
    options = TileOptions(tile_sizes=sizes, hierarchy=hierarchy_from_arguments(args), tile=not args.no_tile,
                          parallel=args.parallel)
    result = tile_source(read_source(args.file), args.file, options)
    if args.output == "-":
        sys.stdout.write(result.text)
    else:
        write_atomically(args.output or default_output_path(args.file), result.text)
    if not result.regions:
        print(f"{args.file}: note: no '#pragma scop' region; output equals input",
              file=sys.stderr)
    for region in result.regions:
        if not region.tiled or args.report:
            print(f"{args.file}:{region.line}:1: note: {region.note}", file=sys.stderr)
        if args.report:
            for band in region.bands:
                print("\n".join(_describe_band(band)), file=sys.stderr)
            print(f"  region done in {region.seconds * 1000:.1f} ms", file=sys.stderr)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK
    try:
        if args.command == "tile":
            return run_tile_command(args)
        if args.command == "probe":
            from tiler.probe_command import run_probe_command
            return run_probe_command(args)
        if args.command == "bench":
            from tiler.bench.command import run_bench_command
            return run_bench_command(args)
        if args.command == "qmoe":
            from tiler.qmoe.cli import run_qmoe_command
            return run_qmoe_command(args)
    except TilerError as error:
        print(error, file=sys.stderr)
        return EXIT_INPUT
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
