"""Command-line pieces shared by the subcommands: argument types and the cache options."""

from __future__ import annotations

import argparse

from tiler.hierarchy import Hierarchy
from tiler.preprocess import DEFAULT_CC, Preprocessor


def size_list(text: str) -> tuple[int, ...]:
    """argparse type: ``32,32,8`` as a tuple of positive integers."""
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: '{text}'") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive integers: '{text}'")
    return sizes


def micro_tile_shape(text: str) -> tuple[int, int]:
    """argparse type: ``4x8`` as (rows, columns), both positive."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) >= 1 for part in parts):
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLUMNS such as 4x8: '{text}'")
    return int(parts[0]), int(parts[1])


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: '{text}'")
    return value


def add_hierarchy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive ``--cache-sizes`` and ``--hierarchy`` options."""
    caches = parser.add_mutually_exclusive_group()
    caches.add_argument("--cache-sizes", metavar="48K,2M,32M",
                        help="cache sizes to tile for instead of the measured ones")
    caches.add_argument("--hierarchy", metavar="H.json",
                        help="a hierarchy as printed by 'tiler probe --json'")


def add_tiling_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that say how to tile (``tiler tile``'s, also read from ``TILER_FLAGS``
    by ``tiler cc``): sizes, caches, ``--parallel``, ``--report``, ``--no-tile``."""
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--tile-sizes", metavar="32,32,8", type=size_list,
                       help="tile sizes, outermost first, for every band")
    sizes.add_argument("--tile-sizes-file", metavar="tile.sizes",
                       help="PLUTO-style file: one size per line")
    add_hierarchy_arguments(parser)
    parser.add_argument("--parallel", action="store_true",
                        help="mark the outermost parallel tile loop with an OpenMP pragma")
    parser.add_argument("--report", action="store_true", help="describe each region on stderr")
    parser.add_argument("--no-tile", action="store_true",
                        help="regenerate the code from the schedule without tiling")
    parser.add_argument("--always-tile", action="store_true",
                        help="tile every band, also where the model predicts no gain")
    parser.add_argument("--no-register-tiles", action="store_true",
                        help="no Mr x Nr micro-tiles of accumulators (vector code) in tiles")
    parser.add_argument("--no-pack", action="store_true",
                        help="no packed panels of a micro-kernel's broadcast operands")
    parser.add_argument("--no-distribute", action="store_true",
                        help="keep several statements in one innermost point loop")
    parser.add_argument("--micro-tile", metavar="4x8", type=micro_tile_shape,
                        help="micro-tile rows x columns (default: from the target's vectors)")


def hierarchy_from_arguments(args: argparse.Namespace) -> Hierarchy | None:
    """Return the hierarchy ``--cache-sizes``/``--hierarchy`` give, None when neither does."""
    from tiler.hierarchy import load_hierarchy, parse_cache_sizes
    if args.cache_sizes:
        return parse_cache_sizes(args.cache_sizes)
    if args.hierarchy:
        return load_hierarchy(args.hierarchy)
    return None


def add_preprocessor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the compiler's preprocessor options (``-D``, ``-U``, ``-I``, ``-include``,
    ``-std``, ``--cc``), ``--no-preprocess`` and the cost model's ``--param``."""
    group = parser.add_argument_group("the C the compiler sees (give the flags you compile "
                                      "with)")
    group.add_argument("-D", dest="cpp_flags", action="append", type=lambda v: f"-D{v}",
                       metavar="NAME[=VALUE]", default=[], help="define a macro")
    group.add_argument("-U", dest="cpp_flags", action="append", type=lambda v: f"-U{v}",
                       metavar="NAME", help="undefine a macro")
    group.add_argument("-I", dest="cpp_flags", action="append", type=lambda v: f"-I{v}",
                       metavar="DIR", help="add a folder to the include path")
    group.add_argument("-include", dest="cpp_flags", action="append",
                       type=lambda v: f"-include={v}", metavar="FILE",
                       help="include FILE first")
    group.add_argument("-std", dest="cpp_flags", action="append", type=lambda v: f"-std={v}",
                       metavar="STANDARD", help="the C standard, e.g. -std=c99")
    group.add_argument("--cc", default=DEFAULT_CC, metavar="CC",
                       help=f"the compiler whose preprocessor to run (default: {DEFAULT_CC})")
    group.add_argument("--no-preprocess", action="store_true",
                       help="read the regions as written, without the preprocessor")
    group.add_argument("--param", dest="parameter_values", action="append", default=[],
                       type=parameter_value, metavar="N=VALUE",
                       help="a run-time size for the cost model (e.g. --param N=4000)")


def parameter_value(text: str) -> tuple[str, int]:
    """argparse type: ``N=4000`` as a (name, value) pair."""
    name, _, value = text.partition("=")
    if not name.isidentifier() or not value.strip().lstrip("-").isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=INTEGER: '{text}'")
    return name, int(value)


def preprocessor_from_arguments(args: argparse.Namespace) -> Preprocessor | None:
    """Return the preprocessor the options describe (None with ``--no-preprocess``)."""
    if args.no_preprocess:
        return None
    flags = []
    for flag in args.cpp_flags:
        flags += flag.split("=", 1) if flag.startswith("-include=") else [flag]
    return Preprocessor(args.cc, tuple(flags))
