"""A kernel in the style of a benchmark suite's harness keeps working inside that harness:
bounds through _PB_ macros, arrays through macros, a header found with -I."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccutil import EXACT_FLAGS, compile_and_run

from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions, tile_source

HERE = Path(__file__).parent / "polybench_style"


@pytest.mark.parametrize("options", [TileOptions(tile_sizes=(32,)),
                                     TileOptions(tile_sizes=(5, 3, 2)),
                                     TileOptions(hierarchy=parse_cache_sizes("32K,256K,8M")),
                                     TileOptions(tile_sizes=(8,), parallel=True)],
                         ids=["32", "5-3-2", "model", "parallel"])
def test_harness_kernel_tiles_and_matches(tmp_path, cc, options):
    source = (HERE / "kernel.c").read_text()
    result = tile_source(source, str(HERE / "kernel.c"), options)
    assert any(region.tiled for region in result.regions)
    flags = (*EXACT_FLAGS, f"-I{HERE}")
    tiled_flags = (*flags, "-fopenmp") if options.parallel else flags
    if options.parallel:
        assert "#pragma omp parallel for" in result.text
    original = compile_and_run(source, tmp_path / "original", cc, flags)
    tiled = compile_and_run(result.text, tmp_path / "tiled", cc, tiled_flags)
    assert tiled.stdout == original.stdout
