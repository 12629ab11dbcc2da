"""tiler's own options in a build: ``TILER_FLAGS`` and the few ``tiler cc`` flags."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

from tiler.arguments import add_tiling_arguments, hierarchy_from_arguments
from tiler.errors import TilerError
from tiler.hierarchy import Hierarchy, default_hierarchy

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


def resolved_hierarchy(settings: LauncherSettings) -> Hierarchy:
    """Return the hierarchy to tile for: ``--cache-sizes``/``--hierarchy``, else the cached
    probe result (probing once if there is none)."""
    try:
        return hierarchy_from_arguments(settings.arguments) or default_hierarchy()
    except TilerError as error:
        raise FlagsError(str(error)) from None


def options_fingerprint(settings: LauncherSettings, openmp: bool, hierarchy: Hierarchy) -> str:
    """Return a text that changes whenever the ``TileOptions`` of a compile would: every
    tiling option (a new one included), a sizes file's text, ``-fopenmp``, the hierarchy.
    It is computed without the pipeline, so a cache hit costs no import of isl."""
    options = {key: value for key, value in sorted(vars(settings.arguments).items())
               if key not in ("report", "strict")}
    sizes_file = settings.arguments.tile_sizes_file
    if sizes_file:
        try:
            options["tile_sizes_file"] = Path(sizes_file).read_text(errors="replace")
        except OSError as error:
            raise TilerError(f"cannot read '{sizes_file}': {error.strerror}",
                             filename=sizes_file) from None
    return repr((options, openmp, hierarchy.to_json()))


def tile_options_for_compile(compiler: list[str], flags: tuple[str, ...], openmp: bool,
                             settings: LauncherSettings, hierarchy: Hierarchy):
    """Return the ``TileOptions`` of one compile: tiler's options from ``TILER_FLAGS``,
    parallel loops when the compile has ``-fopenmp``, ``#line`` markers always.
    ``compiler`` and ``flags`` (its preprocessing arguments, ending ``-E SOURCE``) are for
    the preprocessor."""
    from tiler.cli import _read_sizes_file
    from tiler.pipeline import TileOptions
    arguments = settings.arguments
    sizes = arguments.tile_sizes
    if arguments.tile_sizes_file:
        sizes = _read_sizes_file(arguments.tile_sizes_file)
    # The frontend reads each region through the compile's own preprocessor: the real
    # compiler (after a wrapper such as ccache) with the compile's flags, its inputs left out.
    from tiler.preprocess import Preprocessor
    from tiler.target import detect_target
    preprocessor_flags = tuple(flags[:-2]) if flags[-2:-1] == ("-E",) else tuple(flags)
    return TileOptions(tile_sizes=sizes, hierarchy=hierarchy, tile=not arguments.no_tile,
                       preprocessor=Preprocessor(compiler[-1], preprocessor_flags),
                       decide=not arguments.always_tile,
                       register_tiles=not arguments.no_register_tiles,
                       pack=not arguments.no_pack,
                       micro_tile=arguments.micro_tile,
                       # the vector unit of this compile's own flags (-march=...)
                       target=detect_target(compiler[-1], preprocessor_flags),
                       parallel=arguments.parallel or openmp, line_markers=True)
