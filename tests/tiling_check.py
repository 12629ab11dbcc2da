"""The differential check the small handwritten tests share: tile a program with each of
several options and require the output of the original, element by element."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run, describe_difference

from tiler.pipeline import TileOptions, TileResult, tile_source


def assert_tiled_prints_the_same(source: str, name: str, variants: Iterable[TileOptions],
                                 workdir: Path, compiler: Sequence[str]) -> list[TileResult]:
    """Build ``source`` and, for each options in ``variants``, its tiled version (with
    ``-DDUMP_ARRAYS`` and flags that keep floating point exact); fail unless every build
    prints what the original prints. Return the tiling results."""
    original = compile_and_run(source, workdir, compiler, EXACT_FLAGS, DUMP_DEFINES)
    results = []
    for options in variants:
        result = tile_source(source, name, options)
        tiled = compile_and_run(result.text, workdir, compiler, EXACT_FLAGS, DUMP_DEFINES)
        assert tiled.stdout == original.stdout, (
            f"{options}\n{result.text}\n" + describe_difference(original.stdout, tiled.stdout))
        results.append(result)
    return results
