"""Reproducers the program generator found, each run with the options it failed under."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ccutil import EXACT_FLAGS, compile_and_run

from tiler.pipeline import TileOptions, tile_source

REGRESSIONS = Path(__file__).resolve().parent / "regressions"

CASES = {
    "empty_loop_blocks_tiling": TileOptions(tile_sizes=(4, 4)),
    "parallel_loop_end": TileOptions(tile_sizes=(4, 4), parallel=True),
    "parallel_mark_on_single_iteration": TileOptions(tile_sizes=(4000000, 4), parallel=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reproducer_is_tiled_and_matches(name, cc, tmp_path):
    source = (REGRESSIONS / f"{name}.c").read_text()
    options = CASES[name]
    result = tile_source(source, f"{name}.c", options)
    assert any(region.tiled for region in result.regions), result.regions
    flags = (*EXACT_FLAGS, "-fopenmp") if options.parallel else EXACT_FLAGS
    original = compile_and_run(source, tmp_path / "original", cc, EXACT_FLAGS)
    tiled = compile_and_run(result.text, tmp_path / "tiled", cc, flags)
    assert tiled.stdout == original.stdout


def test_a_slow_scheduler_is_cut_short():
    source = (REGRESSIONS / "slow_scheduler.c").read_text()
    started = time.perf_counter()
    result = tile_source(source, "slow_scheduler.c", TileOptions(tile_sizes=(4, 4)))
    assert time.perf_counter() - started < 10          # it took 90 s before the deadline
    assert len(result.regions) == 1
