"""Footprints against brute-force enumeration, and the tile-size model against its budgets."""

from __future__ import annotations

import islpy as isl
import numpy as np
import pytest

from tiler.declarations import scan_declarations
from tiler.dependences import compute_dependences
from tiler.footprint import band_shape, fix_parameters, footprint
from tiler.frontend import RegionContext, build_scop
from tiler.hierarchy import CacheLevel, Hierarchy
from tiler.schedule import original_schedule, original_schedule_map, tileable_bands
from tiler.tilesize import (LEVEL_FRACTION, PREFETCH_STREAMS, choose_tile_sizes,
                            last_level_sizes, point_order)

RECTANGULAR = """for (i = 0; i < N; i++)
  for (k = 0; k < N; k++)
    for (j = 0; j < N; j++)
      C[i][j] += A[i][k] * B[k][j];
"""
TRIANGULAR = """for (i = 0; i < N; i++)
  for (j = 0; j <= i; j++)
    for (k = 0; k < M; k++)
      C[i][j] += A[i][k] * A[j][k];
"""
STENCIL = """for (i = 1; i < N - 1; i++)
  for (j = 1; j < N - 1; j++)
    B[i][j] = A[i-1][j] + A[i+1][j] + A[i][j-1] + A[i][j+1] + s;
"""
SKEWED_ACCESS = """for (i = 0; i < N; i++)
  for (j = 0; j < N; j++)
    Z[i][j] = y[i + j] + x[2 * i] * W[j][i];
"""
DECLARATIONS = "double A[100][100], B[100][100], C[100][100], W[100][100], Z[100][100];\n" \
               "double y[300], x[300];\n" \
               "float s;\n"


def _band(region: str, declarations: str = ""):
    """Return the model of ``region`` (element sizes from ``declarations``) and its band."""
    context = RegionContext(scan_declarations(declarations), type_sizes={"float": 4,
                                                                           "double": 8})
    scop = build_scop(region, 1, context)
    deps = compute_dependences(scop, original_schedule_map(scop)).all
    (band,) = tileable_bands(original_schedule(scop, deps))
    return scop, band


def _brute_force_elements(scop, band, sizes, origin, parameters) -> dict:
    """Count the distinct elements of each array one tile touches, point by point."""
    fixed = fix_parameters(scop, parameters)
    members = band.band_n_member()
    bounds = " and ".join(f"{o} <= b{k} < {o + s}" for k, (o, s) in enumerate(zip(origin, sizes)))
    box = isl.UnionSet(f"{{ [{', '.join(f'b{k}' for k in range(members))}] : {bounds} }}")
    schedule = band.band_get_partial_schedule_union_map()
    instances = schedule.intersect_range(box).domain().intersect(band.get_domain())
    instances = instances.intersect_params(fixed)
    prefix = band.get_prefix_schedule_union_map().intersect_domain(instances)
    if not prefix.range().is_empty():
        point = isl.UnionSet.from_point(prefix.range().sample_point())
        instances = prefix.intersect_range(point).domain()
    counts = {}
    for statement in scop.statements:
        for access in statement.accesses:
            image = isl.UnionMap(access.relation).intersect_domain(instances).range()
            counts.setdefault(access.array, isl.UnionSet.empty(image.get_space()))
            counts[access.array] = counts[access.array].union(image)
    return {array: elements.as_set().count_val().to_python() if not elements.is_empty() else 0
            for array, elements in counts.items()}


@pytest.mark.parametrize("sizes", [(4, 4, 4), (2, 8, 3), (1, 5, 7)])
def test_rectangular_footprint_is_exact(sizes):
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 64}, scop.element_bytes)
    model = footprint(shape, sizes)
    brute = _brute_force_elements(scop, band, sizes, (8, 16, 24), {"N": 64})
    assert {a: b // 8 for a, b in model.bytes_per_array.items()} == brute


def test_triangular_footprint_bounds_a_full_tile_and_is_exact_off_the_diagonal():
    scop, band = _band(TRIANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 64, "M": 64}, scop.element_bytes)
    sizes = (4, 4, 8)
    model = {a: b // 8 for a, b in footprint(shape, sizes).bytes_per_array.items()}
    below_diagonal = _brute_force_elements(scop, band, sizes, (32, 8, 16), {"N": 64, "M": 64})
    on_diagonal = _brute_force_elements(scop, band, sizes, (8, 8, 16), {"N": 64, "M": 64})
    assert model == below_diagonal
    assert all(model[a] >= on_diagonal[a] for a in on_diagonal)


def test_stencil_footprint_merges_shifted_references():
    scop, band = _band(STENCIL, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 64}, scop.element_bytes)
    model = footprint(shape, (6, 10))
    brute = _brute_force_elements(scop, band, (6, 10), (10, 20), {"N": 64})
    # the box of the five references is (6+2) x (10+2); the four corners are not touched
    assert model.bytes_per_array["A"] // 8 == brute["A"] + 4
    assert model.bytes_per_array["B"] // 8 == brute["B"]


def test_skewed_and_strided_accesses_are_bounded():
    scop, band = _band(SKEWED_ACCESS, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 64}, scop.element_bytes)
    model = {a: b // 8 for a, b in footprint(shape, (5, 7)).bytes_per_array.items()}
    brute = _brute_force_elements(scop, band, (5, 7), (10, 20), {"N": 64})
    assert model["y"] == brute["y"] == 5 + 7 - 1
    assert model["W"] == brute["W"] == 35
    assert model["x"] >= brute["x"] == 5             # stride 2: the box holds 9 elements


def test_element_sizes_and_lines():
    scop, band = _band(STENCIL, "float A[10][10]; double B[10][10];")
    sizes = scop.element_bytes
    assert sizes == {"A": 4, "B": 8}
    shape = band_shape(scop, band, {"N": 64}, sizes)
    lines = footprint(shape, (1, 32), line_bytes=64).lines_per_array
    # one row of 32 doubles spans 4 lines, or 5 when it does not start on a line boundary
    assert 4 <= lines["B"] <= 5


def _hierarchy(l1: int, l2: int) -> Hierarchy:
    return Hierarchy(64, (CacheLevel(1, l1, 1.0), CacheLevel(2, l2, 4.0),
                          CacheLevel(3, 16 * l2, 15.0)), memory_latency_ns=80.0, source="test")


@pytest.mark.parametrize("l1, l2", [(32 << 10, 256 << 10), (48 << 10, 2 << 20),
                                    (16 << 10, 128 << 10), (64 << 10, 512 << 10)])
def test_chosen_sizes_fit_the_levels_they_are_reported_in(l1, l2):
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 2000}, scop.element_bytes)
    choice = choose_tile_sizes(shape, _hierarchy(l1, l2))
    budget = {1: LEVEL_FRACTION * l1, 2: LEVEL_FRACTION * l2, 3: LEVEL_FRACTION * 16 * l2}
    assert choice.tile_level == 2 and choice.tile_bytes <= budget[2]
    assert choice.slab_bytes <= budget[choice.slab_level]
    if l1 >= 32 << 10:          # a slab of 1 KiB rows has room in L1 from 32 KiB on
        assert choice.slab_level == 1
    assert footprint(shape, choice.sizes).total_lines * 64 == choice.tile_bytes
    assert choice.sizes[choice.point_order[-1]] % 8 == 0    # stride-one size: whole lines


def test_the_choice_is_the_cheapest_candidate_by_its_own_cost():
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 2000}, {})
    hierarchy = _hierarchy(48 << 10, 1 << 20)
    choice = choose_tile_sizes(shape, hierarchy)
    for other in [(32, 32, 32), (64, 64, 64), (8, 8, 8), (256, 256, 256)]:
        cost = choose_tile_sizes(shape, hierarchy, only=other).nanoseconds_per_iteration
        assert choice.nanoseconds_per_iteration <= cost * 1.02


def test_bigger_caches_give_bigger_tiles():
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 2000}, {})
    small = choose_tile_sizes(shape, _hierarchy(16 << 10, 128 << 10))
    large = choose_tile_sizes(shape, _hierarchy(64 << 10, 2 << 20))
    assert np.prod(large.sizes) > np.prod(small.sizes)


def test_short_runs_keep_to_the_rows_a_prefetcher_follows():
    """Runs of the innermost loop cut short (to a chain limit of 16) leave the tile at most
    32 rows of each array it walks along them (C's rows move with i, B's with k); full runs
    of 1 KiB or more are free to take more rows."""
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 2000}, scop.element_bytes)
    hierarchy = _hierarchy(48 << 10, 2 << 20)
    order = point_order(shape)
    assert order[-1] == 2
    cut = choose_tile_sizes(shape, hierarchy, innermost_limit=16)
    assert cut.sizes[2] <= 16
    assert cut.sizes[0] <= PREFETCH_STREAMS and cut.sizes[1] <= PREFETCH_STREAMS
    full = choose_tile_sizes(shape, hierarchy)
    assert full.sizes[2] * 8 >= 1024 and max(full.sizes[:2]) > PREFETCH_STREAMS


def test_sizes_are_clamped_to_known_trip_counts():
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 20}, {})
    choice = choose_tile_sizes(shape, _hierarchy(48 << 10, 2 << 20))
    assert all(size <= 20 for size in choice.sizes)


def test_point_order_puts_the_stride_one_loop_innermost():
    region = """for (i = 0; i < N; i++)
  for (j = 0; j < N; j++)
    for (k = 0; k < N; k++)
      C[i][j] += A[i][k] * B[k][j];
"""
    scop, band = _band(region)
    shape = band_shape(scop, band, {}, {})
    assert point_order(shape) == (0, 2, 1)         # i, k, j: B and C walk j with stride one


def test_last_level_tiles_are_multiples_that_fit_the_last_level():
    scop, band = _band(RECTANGULAR, DECLARATIONS)
    shape = band_shape(scop, band, {"N": 4000}, {})
    hierarchy = _hierarchy(48 << 10, 1 << 20)
    inner = choose_tile_sizes(shape, hierarchy).sizes
    outer = last_level_sizes(shape, inner, hierarchy)
    assert outer is not None
    assert all(o % i == 0 for o, i in zip(outer, inner))
    assert footprint(shape, outer).total_lines * 64 <= LEVEL_FRACTION * 16 * (1 << 20)
    assert last_level_sizes(shape, inner, Hierarchy(64, hierarchy.levels[:2])) is None
