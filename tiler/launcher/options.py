"""tiler's own options in a build: ``TILER_FLAGS`` and the few ``tiler cc`` flags."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

from tiler.arguments import add_tiling_arguments, hierarchy_from_arguments
from tiler.errors import TilerError

# The environment variable a build system carries tiler's options in (like CFLAGS).
FLAGS_VARIABLE = "TILER_FLAGS"
# On the compiler command line or in TILER_FLAGS: a region tiler cannot handle fails the build.
STRICT_FLAG = "--tiler-strict"


@dataclass(frozen=True)
class LauncherSettings:
    """What ``TILER_FLAGS`` asks for: the parsed tiling options, ``--report`` and strictness."""

    arguments: argparse.Namespace
    report: bool
    strict: bool


class FlagsError(ValueError):
    """``TILER_FLAGS`` holds something the option parser rejects."""


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit; a launcher reports and stops
        raise FlagsError(message)


def parse_tiler_flags(text: str, strict_on_command_line: bool) -> LauncherSettings:
    """Return the settings ``TILER_FLAGS`` (``text``) gives, with the same option parser as
    ``tiler tile``. Raises ``FlagsError`` for an option it does not know."""
    parser = _RaisingParser(prog=FLAGS_VARIABLE, add_help=False)
    add_tiling_arguments(parser)
    parser.add_argument(STRICT_FLAG, dest="strict", action="store_true")
    try:
        arguments = parser.parse_args(shlex.split(text))
    except ValueError as error:
        raise FlagsError(str(error)) from None
    return LauncherSettings(arguments, arguments.report, arguments.strict or
                            strict_on_command_line)


def tile_options_for_compile(compiler: list[str], flags: tuple[str, ...], openmp: bool,
                             settings: LauncherSettings):
    """Return the ``TileOptions`` of one compile: tiler's options from ``TILER_FLAGS``,
    parallel loops when the compile has ``-fopenmp``, ``#line`` markers always.
    ``compiler`` and ``flags`` (its preprocessing arguments) are for the preprocessor."""
    from tiler.cli import _read_sizes_file
    from tiler.pipeline import TileOptions
    arguments = settings.arguments
    sizes = arguments.tile_sizes
    if arguments.tile_sizes_file:
        sizes = _read_sizes_file(arguments.tile_sizes_file)
    try:
        hierarchy = hierarchy_from_arguments(arguments)
    except TilerError as error:
        raise FlagsError(str(error)) from None
    # TODO(preprocess): once TileOptions has its `preprocessor` field, pass
    # `preprocessor=Preprocessor(compiler[0], flags)` (tiler.preprocess), so the frontend
    # sees the text the compiler will; the cache key already covers the preprocessed text.
    del compiler, flags
    return TileOptions(tile_sizes=sizes, hierarchy=hierarchy, tile=not arguments.no_tile,
                       parallel=arguments.parallel or openmp, line_markers=True)
