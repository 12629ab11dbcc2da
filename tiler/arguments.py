"""Command-line pieces shared by the subcommands: argument types and the cache options."""

from __future__ import annotations

import argparse

from tiler.hierarchy import Hierarchy


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


def hierarchy_from_arguments(args: argparse.Namespace) -> Hierarchy | None:
    """Return the hierarchy ``--cache-sizes``/``--hierarchy`` give, None when neither does."""
    from tiler.hierarchy import load_hierarchy, parse_cache_sizes
    if args.cache_sizes:
        return parse_cache_sizes(args.cache_sizes)
    if args.hierarchy:
        return load_hierarchy(args.hierarchy)
    return None
