"""The decision to tile: predictions that move the right way, and a region that tiling would
not speed up left as it is, with the reason."""

from __future__ import annotations

import pytest
from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run

from tiler.decide import TILING_MARGIN, judge, predicted_ns
from tiler.dependences import compute_dependences
from tiler.footprint import band_shape
from tiler.frontend import build_scop
from tiler.hierarchy import CacheLevel, Hierarchy
from tiler.pipeline import TileOptions, tile_source
from tiler.schedule import original_schedule, original_schedule_map, tileable_bands

PRODUCT = """for (i = 0; i < 1500; i++)
  for (k = 0; k < 1500; k++)
    for (j = 0; j < 1500; j++)
      C[i][j] += A[i][k] * B[k][j];
"""
MATRIX_VECTOR = """for (i = 0; i < 3000; i++)
  for (j = 0; j < 3000; j++)
    y[i] += A[i][j] * x[j];
"""


def _hierarchy(l1=32 << 10, l2=512 << 10, l3=32 << 20, latencies=(1.0, 4.0, 15.0),
               memory=80.0) -> Hierarchy:
    return Hierarchy(64, (CacheLevel(1, l1, latencies[0]), CacheLevel(2, l2, latencies[1]),
                          CacheLevel(3, l3, latencies[2])), memory_latency_ns=memory,
                     source="test")


def _shape(region: str):
    scop = build_scop(region)
    deps = compute_dependences(scop, original_schedule_map(scop)).all
    (band,) = tileable_bands(original_schedule(scop, deps))
    return band_shape(scop, band, {}, {})


def test_reuse_makes_tiling_pay_and_a_stream_does_not():
    product = judge(_shape(PRODUCT), (64, 64, 64), (0, 1, 2), _hierarchy())
    assert product.worth_tiling and product.speedup > 10
    streamed = judge(_shape(MATRIX_VECTOR), (32, 512), (0, 1), _hierarchy())
    assert not streamed.worth_tiling and streamed.speedup < TILING_MARGIN
    assert "1.25x" in streamed.reason


@pytest.mark.parametrize("change", ["bigger caches", "faster memory", "faster caches"])
def test_predictions_move_the_right_way(change):
    shape = _shape(PRODUCT)
    base = _hierarchy()
    better = {"bigger caches": _hierarchy(64 << 10, 2 << 20, 64 << 20),
              "faster memory": _hierarchy(memory=40.0),
              "faster caches": _hierarchy(latencies=(0.5, 2.0, 8.0))}[change]
    for sizes, order in [((64, 64, 64), (0, 1, 2)), ((1500, 1500, 1500), (0, 1, 2))]:
        assert predicted_ns(shape, sizes, order, better) <= predicted_ns(shape, sizes, order, base)
    # untiled, the product re-reads B from beyond L2: bigger caches shrink that
    untiled = predicted_ns(shape, (1500,) * 3, (0, 1, 2), base)
    if change == "bigger caches":
        assert predicted_ns(shape, (1500,) * 3, (0, 1, 2), better) < untiled


PROGRAM = """#include <stdio.h>
static double A[600][700], x[700], y[600];
static void kernel(int m, int n)
{
  int i, j;
#pragma scop
  for (i = 0; i < m; i++)
    for (j = 0; j < n; j++)
      y[i] += A[i][j] * x[j];
#pragma endscop
}
int main(void)
{
  int i, j;
  for (i = 0; i < 600; i++)
    for (j = 0; j < 700; j++)
      A[i][j] = (double) ((i * 3 + j) % 13) / 7.0;
  for (j = 0; j < 700; j++)
    x[j] = 1.0 / (j + 1);
  kernel(600, 700);
  for (i = 0; i < 600; i++)
    printf("%a\\n", y[i]);
  printf("checksum: %a\\n", y[5]);
  return 0;
}
"""


def test_a_region_tiling_would_not_speed_up_is_left_as_it_is(tmp_path, cc):
    result = tile_source(PROGRAM, "mv.c", TileOptions(hierarchy=_hierarchy(16 << 10)))
    (region,) = result.regions
    assert not region.tiled and result.text == PROGRAM
    assert "predicted" in region.note and "left unchanged" in region.note
    # asked for, it is tiled all the same (and still correct)
    forced = tile_source(PROGRAM, "mv.c", TileOptions(hierarchy=_hierarchy(16 << 10),
                                                      decide=False))
    assert forced.regions[0].tiled
    original = compile_and_run(PROGRAM, tmp_path / "o", cc, EXACT_FLAGS, DUMP_DEFINES)
    tiled = compile_and_run(forced.text, tmp_path / "t", cc, EXACT_FLAGS, DUMP_DEFINES)
    assert tiled.stdout == original.stdout


def test_a_level_smaller_than_one_iteration_and_a_band_of_scalars():
    """Found by the program generator: no loop of the band fits a tiny level."""
    shape = _shape(PRODUCT)
    tiny = _hierarchy(64, 128, 256)
    assert predicted_ns(shape, (8, 8, 8), (0, 1, 2), tiny) > predicted_ns(
        shape, (8, 8, 8), (0, 1, 2), _hierarchy())
