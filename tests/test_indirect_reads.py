"""Reads whose subscripts come from data (gathers, ``x[idx[i]][j]``): taken as reads of any
element along those subscripts, so every dependence through them is kept, and tiled."""

from __future__ import annotations

import islpy as isl
import pytest
from tiling_check import assert_tiled_prints_the_same

from tiler.errors import TilerError
from tiler.frontend import build_scop
from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions, tile_source

PROGRAM = """\
#include <stdio.h>
#define N 61
#define M 37
static double A[N][M], x[M + 3][N], y[N][N];
static int idx[N][M];
int main(void)
{
  int i, j, k;
  for (i = 0; i < N; i++)
    for (j = 0; j < M; j++) {
      A[i][j] = (double) ((i * 7 + j * 3) % 11) - 5.0;
      idx[i][j] = (i * 13 + j * 5) % M;
    }
  for (i = 0; i < M + 3; i++)
    for (j = 0; j < N; j++)
      x[i][j] = (double) ((i + 2 * j) % 5);
#pragma scop
REGION
#pragma endscop
  for (i = 0; i < N; i++)
    for (j = 0; j < M; j++)
      printf("%a\\n", A[i][j]);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("%a\\n", y[i][j]);
  return 0;
}
"""

# A gather: y = A times the rows of x that idx picks.
GATHER = """\
  for (i = 0; i < N; i++)
    for (k = 0; k < M; k++)
      for (j = 0; j < N; j++)
        y[i][j] += A[i][k] * x[idx[i][k] + 2][j];
"""

# A reads itself at a place computed from data while it is being written: any element of an
# earlier row may be read, so (i, j) is no permutable band.
SELF = """\
  for (i = 1; i < N; i++)
    for (j = 0; j < M; j++)
      A[i][j] = A[idx[i][j] % i][idx[i][j]] * 0.5 + A[i][j] + x[j][i];
"""

# The same, with the index array itself rewritten inside the region.
INDEX_WRITTEN = """\
  for (i = 1; i < N; i++)
    for (j = 0; j < M; j++) {
      idx[i][j] = (idx[i - 1][j] + j) % M;
      y[i][j] = y[i - 1][j] + x[idx[i][j]][i];
    }
"""

VARIANTS = [TileOptions(tile_sizes=sizes) for sizes in ((1,), (7, 3, 5), (32,), (500,))] + [
    TileOptions(hierarchy=parse_cache_sizes("4K,64K")),
    TileOptions(tile_sizes=(8,), parallel=True)]


@pytest.mark.parametrize("region", [GATHER, SELF, INDEX_WRITTEN], ids=["gather", "self",
                                                                      "index_written"])
def test_tiled_program_prints_the_same(region, cc, tmp_path):
    source = PROGRAM.replace("REGION", region.rstrip("\n"))
    assert_tiled_prints_the_same(source, "indirect.c", VARIANTS, tmp_path, cc)


def test_gather_is_tiled_in_all_three_loops():
    result = tile_source(PROGRAM.replace("REGION", GATHER), "gather.c",
                         TileOptions(tile_sizes=(16, 16, 16)))
    assert result.regions[0].tiled
    assert [band.sizes for band in result.regions[0].bands] == [(16, 16, 16)]


def test_read_through_data_may_touch_any_element_of_that_subscript():
    scop = build_scop(GATHER)
    access = next(a for a in scop.statements[0].accesses if a.array == "x")
    elements = access.relation.range()
    # Along the first subscript every value is possible, along the second only j's.
    assert not elements.dim_has_upper_bound(isl.dim_type.set, 0)
    assert elements.dim_has_upper_bound(isl.dim_type.set, 1)
    # The cache model sees one element per (i, k) pair the index depends on, and j.
    assert access.shape is not None and access.shape.dim(isl.dim_type.out) == 3
    exact = next(a for a in scop.statements[0].accesses if a.array == "A")
    assert exact.shape is None


def test_self_dependence_through_data_blocks_reordering():
    result = tile_source(PROGRAM.replace("REGION", SELF), "self.c", TileOptions(tile_sizes=(8,)))
    region = result.regions[0]
    assert not region.tiled and not region.bands, region.note


def test_write_through_data_is_an_error():
    with pytest.raises(TilerError, match="non-affine subscript"):
        build_scop("for (i = 0; i < N; i++)\n  A[idx[i]] = 1.0;\n")
