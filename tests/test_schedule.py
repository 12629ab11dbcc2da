"""Schedules and legality: permutable bands are found, illegal tilings are refused."""

from __future__ import annotations

import islpy as isl

from tiler import pipeline
from tiler.dependences import compute_dependences
from tiler.frontend import build_scop
from tiler.pipeline import TileOptions, tile_source
from tiler.schedule import (
    TilePlan,
    is_legal,
    original_schedule,
    original_schedule_map,
    tile_schedule,
    tileable_bands,
)

# A[i][j] needs A[i-1][j+1]: distance (1, -1), so (i, j) is not permutable as written.
SKEWED = """for (i = 1; i < N; i++)
  for (j = 0; j < N - 1; j++)
    A[i][j] = A[i-1][j+1] * 0.5 + A[i][j];
"""

GEMM = """for (i = 0; i < N; i++) {
  for (j = 0; j < N; j++)
    C[i][j] *= beta;
  for (k = 0; k < M; k++)
    for (j = 0; j < N; j++)
      C[i][j] += alpha * A[i][k] * B[k][j];
}
"""


def _deps(region: str):
    scop = build_scop(region)
    return scop, compute_dependences(scop, original_schedule_map(scop)).all


def _forced_band(scop, members: str) -> isl.Schedule:
    """A schedule with one band over ``members``, marked permutable whether or not it is."""
    partial = isl.MultiUnionPwAff(members)
    schedule = isl.Schedule.from_domain(scop.domain).insert_partial_schedule(partial)
    return schedule.get_root().child(0).band_set_permutable(1).get_schedule()


def test_original_order_merges_a_permutable_perfect_nest():
    scop, deps = _deps(GEMM)
    bands = tileable_bands(original_schedule(scop, deps))
    assert [band.band_n_member() for band in bands] == [2]     # the (k, j) nest under i


def test_original_order_does_not_merge_against_a_dependence():
    scop, deps = _deps(SKEWED)
    assert tileable_bands(original_schedule(scop, deps)) == []


def test_legality_check_rejects_a_planted_illegal_tiling():
    scop, deps = _deps(SKEWED)
    forced = _forced_band(scop, "[{ S0[i, j] -> [(i)] }, { S0[i, j] -> [(j)] }]")
    tiled, bands = tile_schedule(forced, lambda band: TilePlan(((4, 4),), (0, 1)))
    assert len(bands) == 1
    assert not is_legal(tiled, deps)
    assert is_legal(original_schedule(scop, deps), deps)


def test_legality_check_accepts_a_legal_skewed_tiling():
    scop, deps = _deps(SKEWED)
    skewed = _forced_band(scop, "[{ S0[i, j] -> [(i + j)] }, { S0[i, j] -> [(i)] }]")
    tiled, _ = tile_schedule(skewed, lambda band: TilePlan(((4, 4),), (1, 0)))
    assert is_legal(tiled, deps)


def test_pipeline_refuses_to_emit_an_illegal_schedule(monkeypatch):
    text = "#pragma scop\n" + SKEWED + "#pragma endscop\n"

    def forced(scop, deps, live_ranges=(), computed=None):
        return _forced_band(scop, "[{ S0[i, j] -> [(i)] }, { S0[i, j] -> [(j)] }]"), "forced"

    monkeypatch.setattr(pipeline, "_choose_schedule", forced)
    result = tile_source(text, options=TileOptions(tile_sizes=(4, 4)))
    assert result.text == text
    assert not result.regions[0].tiled
    assert "would break a dependence" in result.regions[0].note


def test_skewing_makes_the_nest_tileable():
    result = tile_source("#pragma scop\n" + SKEWED + "#pragma endscop\n",
                         options=TileOptions(decide=False))
    assert result.regions[0].tiled and result.regions[0].schedule == "isl"


def test_parallel_check_refuses_a_planted_parallel_loop_that_carries_a_dependence():
    """A[i][j] needs A[i-1][j]: i carries a dependence, j does not. A band claiming i is
    coincident gets its tile loop over i marked parallel, which the check must refuse."""
    from tiler.schedule import parallel_loops_are_legal
    scop, deps = _deps("for (i = 1; i < N; i++)\n  for (j = 0; j < N; j++)\n"
                       "    A[i][j] = A[i - 1][j] + 1.0;\n")

    def marked(coincident):
        band = _forced_band(scop, "[{ S0[i, j] -> [(i)] }, { S0[i, j] -> [(j)] }]").get_root()
        band = band.child(0)
        for member, flag in enumerate(coincident):
            band = band.band_member_set_coincident(member, flag)
        plan = TilePlan(((4, 4),), (0, 1))
        return tile_schedule(band.get_schedule(), lambda node: plan, parallel=True)[0]

    wrong, right = marked((1, 1)), marked((0, 1))
    assert is_legal(wrong, deps) and is_legal(right, deps)
    assert not parallel_loops_are_legal(wrong, deps)
    assert parallel_loops_are_legal(right, deps)
