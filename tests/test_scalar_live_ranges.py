"""Scalar temporaries: their reuse of one memory cell does not stop tiling, as long as no
value of the scalar is overwritten before all of its reads have run."""

from __future__ import annotations

import islpy as isl
import pytest
from tiling_check import assert_tiled_prints_the_same

from tiler.dependences import live_ranges_intact, privatisable_scalars, relax_scalar_dependences
from tiler.frontend import build_scop
from tiler.pipeline import TileOptions, tile_source
from tiler.schedule import original_schedule_map

PROGRAM = """\
#include <stdio.h>
#define N 29
static double A[N][N], B[N][N], C[N][N];
static double s, t;
int main(void)
{
  int i, j, k;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      A[i][j] = (double) ((i * 7 + j * 3) % 11) - 5.0;
      B[i][j] = (double) ((i + 2 * j) % 5);
    }
  s = 0.5;
  t = 0.25;
#pragma scop
REGION
#pragma endscop
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("%a %a %a\\n", A[i][j], B[i][j], C[i][j]);
  printf("%a %a\\n", s, t);
  return 0;
}
"""

# Written, then read, in every iteration: tileable.
TEMPORARY = """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      s = A[i][j] * 2.0;
      C[j][i] = s + B[i][j];
    }
"""

# A dot product accumulated in a scalar for every (i, j): the (i, j) band is tileable.
DOT = """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      s = 0.0;
      for (k = 0; k < N; k++)
        s += A[i][k] * B[k][j];
      C[i][j] = s;
    }
"""

# The value before the region is read first, each value is read one iteration later, and the
# last value is kept: the scalar carries a value across iterations.
CARRIED = """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      C[i][j] = s + B[i][j];
      s = A[i][j] * 0.5 + t;
    }
"""

# Two temporaries, one written only on some iterations (its value can come from an earlier
# iteration), one behind ?: (a write that may not happen: not privatised).
CONDITIONAL = """\
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      if (j % 3 == 0)
        s = A[i][j];
      C[i][j] = s * B[j][i];
      B[j][i] = A[i][j] > 0.0 ? (t = A[j][i]) : t;
    }
"""

VARIANTS = [TileOptions(tile_sizes=sizes) for sizes in ((1,), (4, 7), (32,))] + [
    TileOptions(), TileOptions(tile_sizes=(8,), parallel=True)]


@pytest.mark.parametrize("region", [TEMPORARY, DOT, CARRIED, CONDITIONAL],
                         ids=["temporary", "dot", "carried", "conditional"])
def test_tiled_program_prints_the_same(region, cc, tmp_path):
    source = PROGRAM.replace("REGION", region.rstrip("\n"))
    assert_tiled_prints_the_same(source, "scalars.c", VARIANTS, tmp_path, cc)


@pytest.mark.parametrize("region", [TEMPORARY, DOT], ids=["temporary", "dot"])
def test_temporaries_do_not_stop_tiling(region):
    result = tile_source(PROGRAM.replace("REGION", region), "scalars.c",
                         TileOptions(tile_sizes=(8, 8)))
    assert [band.sizes[:2] for band in result.regions[0].bands] == [(8, 8)], \
        result.regions[0].note


def test_carried_scalar_is_not_reordered():
    result = tile_source(PROGRAM.replace("REGION", CARRIED), "scalars.c",
                         TileOptions(tile_sizes=(8,)))
    assert not result.regions[0].tiled, result.regions[0].note


def test_parallel_loop_never_shares_a_temporary():
    """With --parallel the tiles of TEMPORARY are built without a parallel loop: the threads
    would share s."""
    result = tile_source(PROGRAM.replace("REGION", TEMPORARY), "scalars.c",
                         TileOptions(tile_sizes=(8,), parallel=True))
    assert result.regions[0].tiled and "omp parallel" not in result.text


def test_write_behind_a_condition_is_not_privatised():
    assert privatisable_scalars(build_scop(CONDITIONAL)) == ("s",)


def test_overlapping_live_ranges_are_detected():
    scop = build_scop(TEMPORARY)
    order = original_schedule_map(scop)
    relaxed = relax_scalar_dependences(scop, order)
    assert relaxed is not None and live_ranges_intact(order, relaxed.live_ranges)
    # Every S0 before every S1: each read of s sees the last write, not its own.
    distributed = isl.UnionMap("[N] -> { S0[i, j] -> [0, i, j]; S1[i, j] -> [1, i, j] }")
    assert relaxed.deps.is_subset(distributed.lex_lt_union_map(distributed))
    assert not live_ranges_intact(distributed, relaxed.live_ranges)


def test_pipeline_refuses_a_schedule_that_overlaps_live_ranges(monkeypatch):
    from tiler import pipeline
    text = "#pragma scop\n" + TEMPORARY + "#pragma endscop\n"

    def distributed(scop, deps, live_ranges=(), computed=None):
        schedule = isl.Schedule.from_domain(scop.domain).insert_partial_schedule(
            isl.MultiUnionPwAff("[{ S0[i, j] -> [(0)]; S1[i, j] -> [(1)] }]"))
        band = isl.MultiUnionPwAff("[{ S0[i, j] -> [(i)]; S1[i, j] -> [(i)] }, "
                                   "{ S0[i, j] -> [(j)]; S1[i, j] -> [(j)] }]")
        node = schedule.get_root().child(0).child(0).insert_partial_schedule(band)
        return node.band_set_permutable(1).get_schedule(), "forced"

    monkeypatch.setattr(pipeline, "_choose_schedule", distributed)
    result = tile_source(text, options=TileOptions(tile_sizes=(4, 4)))
    assert result.text == text and not result.regions[0].tiled
    assert "would break a dependence" in result.regions[0].note
