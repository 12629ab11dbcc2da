"""The decision to tile: predictions that move the right way, and a region that tiling would
not speed up left as it is, with the reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run

import islpy as isl

from tiler.decide import (TILING_MARGIN, Code, chain_limit, core_ns, judge, predicted_ns,
                          source_ns, vectorises)
from tiler.dependences import compute_dependences
from tiler.footprint import (band_shape, instance_count, loop_paths, merged_shape,
                             statement_shape)
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
    product = judge(_shape(PRODUCT), (64, 64, 64), (0, 1, 2), _hierarchy(), Code(2, 32))
    assert product.worth_tiling and product.speedup > 2
    streamed = judge(_shape(MATRIX_VECTOR), (32, 512), (0, 1), _hierarchy(), Code(1, 32))
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
    # untiled, the product re-reads B (18 MB) once per row of C: from memory past a 16 MB
    # last level, from it when it is 64 MB
    if change == "bigger caches":
        untiled = predicted_ns(shape, (1500,) * 3, (0, 1, 2), _hierarchy(l3=16 << 20))
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


def _with_bandwidths(hierarchy: Hierarchy, scale: float) -> Hierarchy:
    levels = tuple(replace(level, bandwidth_bytes_per_ns=bandwidth * scale)
                   for level, bandwidth in zip(hierarchy.levels, (160.0, 80.0, 30.0)))
    return replace(hierarchy, levels=levels, memory_bandwidth_bytes_per_ns=15.0 * scale)


def test_more_bandwidth_and_wider_vectors_predict_less_time():
    shape = _shape(PRODUCT)
    base = _with_bandwidths(_hierarchy(), 1.0)
    faster = _with_bandwidths(_hierarchy(), 2.0)
    for sizes in [(64, 64, 64), (1500, 1500, 1500)]:
        assert predicted_ns(shape, sizes, (0, 1, 2), faster) < predicted_ns(
            shape, sizes, (0, 1, 2), base)
    # j innermost walks C and B with stride one: a wider vector takes fewer issue slots
    narrow, wide = (core_ns(shape, Code(2, width), base) for width in (16, 64))
    assert wide < narrow
    # k innermost keeps C[i][j] in place: a reduction, a chain of additions whatever the width
    assert not vectorises(shape, "S0", 1)
    assert core_ns(shape, Code(1, 64), base) > core_ns(shape, Code(2, 64), base)


STENCIL_PROGRAM = """#include <stdio.h>
static double a[20000], b[20000];
static void sweep(void)
{
  int t, i;
#pragma scop
  for (t = 0; t < 500; t++) {
    for (i = 1; i < 19999; i++)
      b[i] = 0.25 * a[i - 1] + 0.5 * a[i] + 0.25 * a[i + 1];
    for (i = 1; i < 19999; i++)
      a[i] = 0.25 * b[i - 1] + 0.5 * b[i] + 0.25 * b[i + 1];
  }
#pragma endscop
}
int main(void)
{
  int i;
  for (i = 0; i < 20000; i++) {
    a[i] = (double) ((i * 7 + 3) % 29) / 29;
    b[i] = (double) ((i * 5 + 1) % 17) / 17;
  }
  sweep();
  for (i = 0; i < 20000; i += 7)
    printf("%a %a\\n", a[i], b[i]);
  return 0;
}
"""


def test_a_stencil_tiled_in_time_is_priced_with_its_split_loops(tmp_path, cc):
    """Tiling the time loop of a 1-D stencil fuses its two sweeps into one skewed loop that
    reads what the loop wrote an iteration before. Fused, that loop has no vector code, where
    each sweep of the source vectorises: on data that fits in L2 the source is predicted
    faster, and the nest is left as it is. Split into one loop per statement (the default),
    each loop vectorises again, the tiles are predicted to pay, and the tiled program
    computes the same bytes."""
    hierarchy = _with_bandwidths(_hierarchy(l2=1 << 20), 1.0)
    from tiler.target import Target
    options = TileOptions(hierarchy=hierarchy, target=Target(32, 16, True, "test"))
    fused = tile_source(STENCIL_PROGRAM, "stencil.c", replace(options, distribute=False))
    (region,) = fused.regions
    assert not region.tiled and fused.text == STENCIL_PROGRAM
    assert "predicted" in region.note and "left unchanged" in region.note
    # the same nest with every sweep of the source unable to vectorise either (a scalar
    # target) is not predicted slower tiled
    scalar = tile_source(STENCIL_PROGRAM, "stencil.c",
                         replace(options, target=Target(8, 16, False, "test"),
                                 distribute=False))
    assert "0.4" not in scalar.regions[0].note
    split = tile_source(STENCIL_PROGRAM, "stencil.c", options)
    (region,) = split.regions
    assert region.tiled, region.note
    (band,) = region.bands
    assert band.distribution == "one loop per statement"
    assert band.plan.verdict is not None and band.plan.verdict.worth_tiling
    original = compile_and_run(STENCIL_PROGRAM, tmp_path / "o", cc, EXACT_FLAGS)
    tiled = compile_and_run(split.text, tmp_path / "t", cc, EXACT_FLAGS)
    assert tiled.stdout == original.stdout and tiled.stdout.count("\n") > 2000


@pytest.mark.parametrize("domain, expected, tolerance", [
    ("[n] -> { S[i, j] : 0 <= i < n and 0 <= j < i and n = 2400 }", 2400 * 2399 / 2, 0.02),
    ("[n] -> { S[i, j, k] : 0 <= k < j < i < n and n = 300 }", 300 * 299 * 298 / 6, 0.12),
    ("{ S[i, j] : 0 <= i < 7 and 0 <= j <= i }", 28, 0.0),          # small: every point
    ("{ S[i, j] : 0 <= i < 2400 and j = i }", 2400, 0.0),           # a diagonal
    ("{ S[i, j] : 0 <= i < 40 and 0 <= j < 40 and (i < 4 or j < 4) }", 304, 0.0),
])
def test_instances_are_counted_not_boxed(domain, expected, tolerance):
    assert instance_count(isl.Set(domain)) == pytest.approx(expected, rel=tolerance)


def test_a_strided_domain_counts_as_its_box():
    """A grid of points cannot see a stride: the box, on the safe side for a cache model."""
    assert instance_count(isl.Set("{ S[i] : 0 <= i < 100 and i % 2 = 0 }")) == 99


SOLVE = """for (i = 0; i < 2000; i++)
  for (j = 0; j < i; j++)
    x[i] = x[i] - L[i][j] * x[j];
"""
SWEEP = """for (i = 1; i < 1999; i++)
  for (j = 1; j < 1999; j++)
    g[i][j] = (g[i - 1][j] + g[i][j - 1] + g[i][j] + g[i][j + 1] + g[i + 1][j]) / 5.0;
"""


@pytest.mark.parametrize("region", [SOLVE, SWEEP])
def test_short_chains_run_side_by_side(region):
    """A reduction kept in source order (the accumulator's array is also an operand, so
    the compiler cannot fold it) and a sweep that reads what the iteration before wrote are
    chains of dependent operations along the innermost loop. Cut short, the next chain
    starts within the core's window and runs beside it: the predicted core time falls, and
    the innermost run is limited."""
    shape = _shape(region)
    hierarchy = _with_bandwidths(_hierarchy(), 1.0)
    limit = chain_limit(shape, 1, hierarchy, 32)
    assert limit is not None and limit <= 64
    short, long = (core_ns(shape, Code(1, 32, loops=((0, 32.0), (1, float(trip)))), hierarchy)
                   for trip in (16, 1998))
    assert long > 1.5 * short
    # where the loops are not known the chain is taken whole
    assert core_ns(shape, Code(1, 32), hierarchy) == pytest.approx(long, rel=0.05)


def test_a_vector_loop_has_no_chain_to_cut():
    hierarchy = _with_bandwidths(_hierarchy(), 1.0)
    assert chain_limit(_shape(PRODUCT), 2, hierarchy, 32) is None
    # k innermost: C[i][j] accumulates, a chain; the rows of j run beside it
    assert chain_limit(_shape(PRODUCT), 1, hierarchy, 32) is not None


SOLVE_PROGRAM = """#include <stdio.h>
static double L[900][900], x[900];
static void kernel(int n)
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < i; j++)
      x[i] = x[i] - L[i][j] * x[j];
#pragma endscop
}
int main(void)
{
  int i, j;
  for (i = 0; i < 900; i++) {
    x[i] = (double) (i % 9) / 9 - 0.25;
    for (j = 0; j < 900; j++)
      L[i][j] = (double) ((i * 2 + j * 9 + 5) % 23) / (23.0 * 900);
  }
  kernel(900);
  for (i = 0; i < 900; i++)
    printf("%a\\n", x[i]);
  printf("checksum: %a\\n", x[899]);
  return 0;
}
"""


def test_a_chained_nest_is_tiled_with_a_short_innermost_run(tmp_path, cc):
    """The triangular solve, on a machine whose memory keeps up (60 bytes a ns), is bound
    by its chain, which the source runs up to 900 instances long. Tiled, with the innermost
    run cut to the chain limit, it is predicted faster, and computes the same bytes."""
    from tiler.target import Target
    hierarchy = _with_bandwidths(_hierarchy(), 4.0)
    options = TileOptions(hierarchy=hierarchy, target=Target(32, 16, True, "test"))
    result = tile_source(SOLVE_PROGRAM, "solve.c", options)
    (region,) = result.regions
    assert region.tiled, region.note
    (band,) = region.bands
    sizes = band.plan.levels[-1]
    innermost = band.plan.point_order[-1]
    assert sizes[innermost] <= 64
    assert band.plan.verdict is not None and band.plan.verdict.worth_tiling
    original = compile_and_run(SOLVE_PROGRAM, tmp_path / "o", cc, EXACT_FLAGS, DUMP_DEFINES)
    tiled = compile_and_run(result.text, tmp_path / "t", cc, EXACT_FLAGS, DUMP_DEFINES)
    assert tiled.stdout == original.stdout


TWO_SUMS = """for (i = 0; i < 1000; i++)
  for (j = 0; j < 1000; j++) {
    t[i] = A[i][j] * x[j] + t[i];
    y[i] = B[i][j] * x[j] + y[i];
  }
for (i = 0; i < 1000; i++)
  for (j = 0; j < 1000; j++)
    z[i] = z[i] + B[j][i] * x[j];
"""


def test_statements_in_the_same_loops_are_one_source_nest():
    """gesummv's two sums share their loops: as one nest they read x once (a row of A, B
    and x fit L1) and their chains of additions run side by side, so the source is
    predicted faster than as two nests."""
    scop = build_scop(TWO_SUMS)
    paths = loop_paths(scop)
    assert paths["S0"] == paths["S1"] != paths["S2"]
    own = {s.name: statement_shape(scop, s, {}, {}) for s in scop.statements[:2]}
    hierarchy = _with_bandwidths(_hierarchy(), 1.0)
    merged = merged_shape(list(own.values()))
    assert merged.statements == ("S0", "S1")
    apart = source_ns(own, hierarchy, 32)
    together = source_ns({name: merged for name in own}, hierarchy, 32)
    assert together < apart


SPANS = """for (i = 598; i >= 0; i--)
  for (j = i + 1; j < 600; j++) {
    best[i][j] = best[i][j - 1] + best[i + 1][j];
    for (k = i + 1; k < j; k++)
      best[i][j] = best[i][j] > best[i][k] + best[k + 1][j] ? best[i][j]
                   : best[i][k] + best[k + 1][j];
  }
"""


def _declared_shape(region: str, declarations: str):
    from tiler.declarations import scan_declarations
    from tiler.frontend import RegionContext
    scop = build_scop(region, 1, RegionContext(scan_declarations(declarations),
                                               type_sizes={"int": 4, "double": 8}))
    deps = compute_dependences(scop, original_schedule_map(scop)).all
    (band,) = tileable_bands(original_schedule(scop, deps))
    return band_shape(scop, band, {}, scop.element_bytes)


def test_a_loop_of_its_own_runs_its_mean_trip_not_its_box():
    """The k loop inside the band over (i, j) runs from i to j: a third of its box on
    average, and the footprint of a tile sweeps that much of the rows and columns."""
    shape = _declared_shape(SPANS, "int best[600][600];")
    assert shape.members == 2 and shape.inner_loops
    swept = [max(a.inner_extent) for a in shape.accesses if a.statement in shape.inner_loops
             and any(a.inner_extent)]
    assert swept and all(150 <= extent <= 250 for extent in swept), swept


def test_a_chain_of_integers_is_shorter_than_one_of_doubles():
    """A running maximum over integers chains one-cycle operations; over doubles the same
    reduction chains operations as long as an L1 hit."""
    hierarchy = _with_bandwidths(_hierarchy(), 1.0)
    region = """for (i = 0; i < 500; i++)
  for (k = 0; k < 500; k++)
    m[i] = m[i] > a[k][i] ? m[i] : a[k][i];
"""
    times = {}
    for kind in ("int", "double"):
        shape = _declared_shape(region, f"{kind} m[500], a[500][500];")
        assert not vectorises(shape, "S0", 1)
        times[kind] = core_ns(shape, Code(1, 32, loops=((0, 500.0), (1, 500.0))), hierarchy)
    assert times["int"] < 0.5 * times["double"]


PACKED_PRODUCT = """static double A[600][600], B[600][600], C[600][600];
void product(void)
{
  int i, j, k;
#pragma scop
for (i = 0; i < 600; i++)
  for (k = 0; k < 600; k++)
    for (j = 0; j < 600; j++)
      C[i][j] += 1.5 * A[i][k] * B[k][j];
#pragma endscop
}
"""


def _micro_core(sizes: tuple[int, int, int], kept: bool = True) -> float:
    """Return the core time the model gives the product in tiles of ``sizes`` (i, k, j) with
    an 8 x 24 micro-tile of AVX-512 vectors and both panels (without ``kept``, a broadcast
    panel per tile even where there are several tiles along j)."""
    from tiler.target import Target
    result = tile_source(PACKED_PRODUCT, "product.c",
                         TileOptions(tile_sizes=sizes, micro_tile=(8, 24),
                                     target=Target(64, 32, True, "test")))
    (band,) = result.regions[0].bands
    micro = band.plan.micro
    assert micro.panel is not None and micro.panel.operands and micro.panel.gathered
    if not kept:
        micro = replace(micro, panel=replace(micro.panel, row_slots=0, columns=0))
    shape = _shape(PRODUCT.replace("1500", "600").replace("A[i][k]", "1.5 * A[i][k]"))
    loops = tuple((member, float(min(sizes[member], 600))) for member in (0, 1, 2))
    return core_ns(shape, Code(2, 64, micro, loops), _with_bandwidths(_hierarchy(), 1.0))


def test_panels_cost_their_copies_and_small_tiles_copy_more():
    """The broadcast panel is copied once per row block of a tile and the gathered one once
    per tile: narrow tiles copy the first more often, short ones the second. Kept across
    the tiles along j, the broadcast panels are copied once per row block of the band."""
    wide = _micro_core((96, 256, 240), kept=False)
    assert _micro_core((96, 256, 48), kept=False) > 1.1 * wide
    assert _micro_core((16, 256, 240), kept=False) > 1.03 * wide
    assert _micro_core((96, 256, 48)) == pytest.approx(_micro_core((96, 256, 600)))
    assert _micro_core((96, 256, 240)) < wide


def test_a_short_reduction_pays_for_the_code_around_each_micro_tile():
    assert _micro_core((96, 4, 240)) > 1.2 * _micro_core((96, 256, 240))


def test_points_outside_whole_micro_tiles_run_the_point_loops():
    from tiler.decide import _in_whole_blocks
    assert _in_whole_blocks(1200, 144, 24) == 1.0
    assert _in_whole_blocks(100, 30, 8) == pytest.approx(0.72)     # 24 + 24 + 24 + 0
    assert _in_whole_blocks(10, 4, 8) == 0.0
    # tiles of 100 columns cut a block of 24 at most edges: the model prices those points
    # as plain loops, slower than the micro-tile
    assert _micro_core((96, 256, 100)) > 1.05 * _micro_core((96, 256, 144))
