"""Packed panels of a micro-kernel's broadcast operands: planned only where they pay and are
legal, refused when the tile writes what they would hold (a planted panel), exact bit for bit
when a later statement changes the packed array between tiles."""

from __future__ import annotations

from dataclasses import replace

import islpy as isl
import pytest
from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run
from test_register_tiles import AVX2, PROGRAM, PRODUCT, panels_filled
from tiling_check import assert_tiled_prints_the_same

from tiler.frontend import build_scop
from tiler.pipeline import TileOptions, tile_source
from tiler.target import Target
from tiler.transform.panel import (
    Panel,
    broadcast_operands,
    panel_mark,
    panels_are_legal,
    plan_panel,
)
from tiler.transform.register import MicroKernel, register_tile
from tiler.transform.vector_form import c_text, vector_form

TYPES = {"C": "double", "A": "double", "B": "double", "alpha": "double"}


def _form(body: str):
    return vector_form(body, "j", TYPES, {"i", "j", "k"})


def test_the_broadcast_operands_are_the_largest_pieces_invariant_along_the_vector():
    form = _form("C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j] - A[i][0] / alpha")
    texts = [c_text(operand, {}) for operand in broadcast_operands(form.update, "j")]
    assert texts == ["(alpha * A[i][k])", "(A[i][0] / alpha)"]


def test_a_panel_packs_what_varies_with_the_reduction_and_says_why_not():
    form = _form("C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j] - A[i][0] / alpha")
    panel = plan_panel(form, "j", "k", 4, 64, 32, 8)
    assert isinstance(panel, Panel)
    # only alpha * A[i][k] moves with k; A[i][0] / alpha is the same at every step
    assert [c_text(operand, {}) for operand in panel.operands] == ["(alpha * A[i][k])"]
    assert panel.places == (0,) and panel.width == 4 and panel.elements == 256
    assert panel.arrays >= {"A", "alpha"} and "C" not in panel.arrays
    # one micro-tile along the vector member: nothing to amortise the copy over
    assert "pays from" in plan_panel(form, "j", "k", 4, 64, 8, 8)
    assert "at most" in plan_panel(form, "j", "k", 8, 4096, 32, 8)
    assert "varies along the reduction" in plan_panel(_form("C[i][j] += alpha * B[k][j]"),
                                                      "j", "k", 4, 64, 32, 8)


def _schedule_with_panel(panel: Panel):
    scop = build_scop(PRODUCT.replace("ni", "N").replace("nj", "N").replace("nk", "N"))
    band = isl.MultiUnionPwAff("[N] -> [{ S0[i, k, j] -> [(i)] }, { S0[i, k, j] -> [(k)] }, "
                               "{ S0[i, k, j] -> [(j)] }]")
    schedule = isl.Schedule.from_domain(scop.domain).insert_partial_schedule(band)
    kernel = MicroKernel(0, 2, 1, 4, 8, 4, "S0", object(), ((0, 1), (2, 1), (1, 1)),
                         unroll=False, panel=panel)
    node = register_tile(schedule.get_root().child(0), kernel, (0, 1, 2), "tiler_micro_0")
    node = node.insert_mark(panel_mark(panel, node.get_ctx()))
    return scop, node.get_schedule()


def test_a_planted_panel_of_an_array_the_tile_writes_is_refused():
    honest = plan_panel(_form("C[i][j] += A[i][k] * B[k][j]"), "j", "k", 4, 32, 32, 8)
    assert isinstance(honest, Panel) and honest.arrays == {"A", "i", "k"}
    # the same panel claiming to hold values of C, which the tile writes
    planted = replace(honest, arrays=frozenset({"C", "i", "k"}))
    verdicts = []
    for panel in (honest, planted):
        scop, schedule = _schedule_with_panel(replace(panel, number=0))
        verdicts.append(panels_are_legal(schedule, scop))
    assert verdicts == [True, False]


def test_a_refused_panel_leaves_the_micro_kernel_without_it(monkeypatch, tmp_path, cc):
    from tiler import pipeline
    monkeypatch.setattr(pipeline, "panels_are_legal",
                        lambda schedule, scop: "tiler_panel" not in schedule.to_str())
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", "double")
    options = TileOptions(tile_sizes=(16, 16, 32), micro_tile=(4, 8), target=AVX2)
    result, = assert_tiled_prints_the_same(source, "p.c", [options], tmp_path, cc)
    band, = result.regions[0].bands
    assert "tiler_acc0_0" in result.text and "tiler_panel" not in result.text
    assert band.plan.micro.panel is None and "refused" in band.plan.micro.panel_note


# The packed array changes between two products: a panel lives for one tile, so the second
# product must not see the first one's values. (The update reads the last row of C first,
# so no scheduler can fuse it into the product.)
UPDATED_BETWEEN = """\
  for (t = 0; t < 3; t++) {
    for (i = 0; i < ni; i++)
      for (k = 0; k < nk; k++)
        for (j = 0; j < nj; j++)
          C[i][j] += alpha * A[i][k] * B[k][j];
    for (i = 0; i < ni; i++)
      for (k = 0; k < nk; k++)
        A[i][k] = A[i][k] * alpha - C[ni - 1 - i][k % 7];
  }
"""

# Two packed operands in one statement, one of them a quotient, with a triangular bound.
TWO_OPERANDS = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j <= i + 20 && j < nj; j++)
        C[i][j] = C[i][j] + A[i][k] * B[k][j] - D[i][k % 7 + 1] / (A[i][k] + 2);
"""

VARIANTS = [
    TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8), target=AVX2),
    TileOptions(tile_sizes=(7, 5, 24), micro_tile=(3, 8), target=AVX2),
    TileOptions(tile_sizes=(1, 9, 16), micro_tile=(4, 8), target=AVX2),
    TileOptions(tile_sizes=(100, 100, 100), micro_tile=(5, 8), target=AVX2),
    TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8), target=AVX2, parallel=True),
]


@pytest.mark.parametrize("element", ["double", "float"])
@pytest.mark.parametrize("region", [UPDATED_BETWEEN, TWO_OPERANDS],
                         ids=["updated_between", "two_operands"])
def test_packed_output_is_bit_identical(region, element, tmp_path, cc):
    source = PROGRAM.replace("int i, j, k;", "int i, j, k, t;").replace("REGION", region) \
        .replace("TYPE", element)
    results = assert_tiled_prints_the_same(source, "panel.c", VARIANTS, tmp_path, cc)
    packed = [panels_filled(result.text) for result in results]
    assert all(packed[:3]) and packed[-1], packed


# syrk's shape: A[j][k] moves across rows along the vector member j; vector code reads it
# from a transposed panel, one block per column block of the tile. The triangle j <= i
# gives diagonal micro-tiles that are partial along the vector member.
GATHERED = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j <= i; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * A[j][k];
"""

# Two gathered references, one of them of another array, beside a plain vector operand.
TWO_GATHERED = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < ni; j++)
        C[i][j] = C[i][j] + A[i][k] * B[k][j] - D[j][k] * A[j][k] / 4;
"""


@pytest.mark.parametrize("element", ["double", "float"])
@pytest.mark.parametrize("region", [GATHERED, TWO_GATHERED], ids=["gathered", "two_gathered"])
def test_gathered_output_is_bit_identical(region, element, tmp_path, cc):
    source = PROGRAM.replace("REGION", region).replace("TYPE", element)
    variants = VARIANTS + [TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8),
                                       target=AVX2, pack=False)]
    results = assert_tiled_prints_the_same(source, "gathered.c", variants, tmp_path, cc)
    gathered = [result.text.count("_vfull[") for result in results]
    # every packed variant gathers (and then has vector code); without packing, none
    assert all(gathered[:-1]) and not gathered[-1], gathered
    assert "tiler_acc0_0" not in results[-1].text


def test_a_reference_gathered_along_rows_too_gets_no_panel():
    form = vector_form("C[i][j] = C[i][j] + A[i][k] * A[j + i][k]", "j", TYPES,
                       {"i", "j", "k"}, gather=True)
    assert [c_text(ref, {}) for ref in form.gathered] == ["A[(j + i)][k]"]
    assert "moves with 'i'" in plan_panel(form, "j", "k", 4, 64, 32, 8, "i")
    assert isinstance(plan_panel(form, "j", "k", 1, 64, 32, 8, None), Panel)


@pytest.mark.parametrize("region", [PRODUCT, GATHERED], ids=["broadcast", "gathered"])
def test_panels_are_private_to_the_thread_running_a_tile(region, tmp_path, cc, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    source = PROGRAM.replace("REGION", region).replace("TYPE", "double")
    original = compile_and_run(source, tmp_path, cc, EXACT_FLAGS, DUMP_DEFINES)
    tiled = tile_source(source, "threads.c", TileOptions(
        tile_sizes=(8, 16, 16), micro_tile=(4, 8), target=AVX2, parallel=True)).text
    assert "#pragma omp parallel for" in tiled and panels_filled(tiled)
    run = compile_and_run(tiled, tmp_path, cc, (*EXACT_FLAGS, "-fopenmp"), DUMP_DEFINES)
    assert run.stdout == original.stdout


# A target with eight doubles (16 floats) a vector and 32 registers (AVX-512): the two
# vectors of B[k][j] a reduction step loads span two cache lines, so B is packed per column
# block too.
AVX512 = Target(64, 32, True, "test")


@pytest.mark.parametrize("element", ["double", "float"])
def test_streamed_vector_operands_are_packed_bit_identically(element, tmp_path, cc):
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", element)
    nr = 16 if element == "double" else 32          # two vectors, 128 bytes
    variants = [TileOptions(tile_sizes=sizes, micro_tile=(rows, nr), target=AVX512)
                for sizes, rows in [((16, 16, 2 * nr), 4), ((24, 9, 40), 3),
                                    ((100, 100, 100), 8), ((8, 32, 2 * nr), 2)]]
    variants.append(TileOptions(tile_sizes=(16, 16, 2 * nr), micro_tile=(4, nr), target=AVX512,
                                parallel=True))
    results = assert_tiled_prints_the_same(source, "streamed.c", variants, tmp_path, cc)
    described = [band.plan.micro.describe() for result in results
                 for band in result.regions[0].bands]
    assert all("B[k][j]" in text and "per column block" in text for text in described), described
    # with AVX2's four doubles a step (one line), B is loaded where it is
    avx2 = tile_source(source, "streamed.c", TileOptions(tile_sizes=(16, 16, 32),
                                                         micro_tile=(4, 8), target=AVX2))
    assert "_vfull[" not in avx2.text


# atax's first product along the vector member i: A[i][k] moves with both members of the
# band, so each element is read once; a transposed copy of it would cost more than the
# vector code saves (measured 2x slower than the source on atax and bicg).
READ_ONCE = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      D[0][i] = D[0][i] + A[i][k] * B[k][0];
"""
# the same product for every row j: each element of A is read once per j, and gathered
REUSED = """\
  for (j = 0; j < 5; j++)
    for (i = 0; i < ni; i++)
      for (k = 0; k < nk; k++)
        D[j][i] = D[j][i] + A[i][k] * B[k][j];
"""


@pytest.mark.parametrize("region, gathered", [(READ_ONCE, False), (REUSED, True)],
                         ids=["read_once", "reused"])
def test_an_operand_read_once_is_not_gathered(region, gathered, tmp_path, cc):
    source = PROGRAM.replace("REGION", region).replace("TYPE", "double")
    options = TileOptions(tile_sizes=(16, 16, 16), micro_tile=(1, 8), target=AVX2)
    (result,) = assert_tiled_prints_the_same(source, "once.c", [options], tmp_path, cc)
    (band,) = result.regions[0].bands
    assert ("_vfull[" in result.text) == gathered
    if not gathered:
        assert "A[i][k] would be gathered" in band.plan.micro_note
        assert "read once in the band" in band.plan.micro_note


def test_a_heap_panel_is_aligned_to_a_cache_line_whatever_malloc_returns(tmp_path, cc):
    """The transposed panel's vector loads are of 64 bytes: from malloc's 16-byte boundary each
    would span two cache lines. Under a malloc that returns addresses 16 bytes past a line,
    every panel still starts on a line, and the program prints what the original does."""
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", "double")
    options = TileOptions(tile_sizes=(16, 16, 32), micro_tile=(4, 16), target=AVX512)
    result = tile_source(source, "aligned.c", options)
    assert "_vfull[" in result.text
    misaligned = ("static char arena[1 << 22] __attribute__((aligned(64)));\n"
                  "static unsigned long used;\n"
                  "static void *misaligned_malloc(unsigned long n)\n"
                  "{ char *p = arena + used + 16; used += (n + 16 + 63) / 64 * 64;\n"
                  "  return used <= sizeof arena ? p : 0; }\n"
                  "#define __builtin_malloc(n) misaligned_malloc(n)\n"
                  "#define __builtin_free(p) ((void) (p))\n")
    lines = []
    for line in result.text.splitlines(keepends=True):
        lines.append(line)
        if "_v = " in line and line.lstrip().startswith("__typeof__"):
            name = line.split("*", 1)[1].split("=", 1)[0].strip()
            lines.append(f'if ((__UINTPTR_TYPE__) {name} % 64) puts("misaligned");\n')
    checked = misaligned + "".join(lines)
    assert checked.count('puts("misaligned")') >= 1
    original = compile_and_run(source, tmp_path / "o", cc, EXACT_FLAGS)
    tiled = compile_and_run(checked, tmp_path / "t", cc, EXACT_FLAGS)
    assert "misaligned" not in tiled.stdout
    assert tiled.stdout == original.stdout


@pytest.mark.parametrize("element", ["double", "float"])
def test_broadcast_panels_are_kept_across_the_tiles_along_the_vector(element, tmp_path, cc):
    """With several tiles along j, each row block's panel of alpha * A[i][k] is kept for all
    of them (the j tile loop innermost, the panels above it); a tile as wide as the band
    keeps one panel per tile as before. Tiles that divide the sizes or not, and --parallel."""
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", element)
    variants = [TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8), target=AVX2),
                TileOptions(tile_sizes=(10, 7, 24), micro_tile=(3, 8), target=AVX2),
                TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8), target=AVX2,
                            parallel=True),
                TileOptions(tile_sizes=(64, 64, 64), micro_tile=(4, 8), target=AVX2)]
    results = assert_tiled_prints_the_same(source, "kept.c", variants, tmp_path, cc)
    assert ["_bkey[" in result.text for result in results] == [True, True, True, False]
    assert all(panels_filled(result.text) for result in results)


def _tiled_with_kept_panel(coincident_rows: bool):
    from tiler.transform.parallel import PARALLEL_MARK
    from tiler.transform.tiling import TilePlan, tile_schedule

    panel = plan_panel(_form("C[i][j] += A[i][k] * B[k][j]"), "j", "k", 4, 16, 16, 8, "i",
                       8, 64)
    assert panel.row_slots == 3 and panel.columns == 64
    scop, schedule = _schedule_with_panel(replace(panel, number=0))
    band = isl.MultiUnionPwAff("[N] -> [{ S0[i, k, j] -> [(i)] }, { S0[i, k, j] -> [(k)] }, "
                               "{ S0[i, k, j] -> [(j)] }]")
    node = isl.Schedule.from_domain(scop.domain).insert_partial_schedule(band).get_root() \
        .child(0).band_set_permutable(1)
    node = node.band_member_set_coincident(0, int(coincident_rows)) \
        .band_member_set_coincident(2, 1)
    kernel = MicroKernel(0, 2, 1, 4, 8, 4, "S0", object(), ((0, 1), (2, 1), (1, 1)),
                         unroll=False, panel=panel)
    tiled, bands = tile_schedule(node.get_schedule(),
                                 lambda band: TilePlan(((8, 16, 16),), (0, 1, 2), micro=kernel),
                                 parallel=True)
    marks = []

    def visit(node, above):
        if node.get_type() == isl.schedule_node_type.mark:
            name = node.mark_get_id().get_name()
            above = above + (name,)
            if name.startswith("tiler_panel"):
                marks.append(above)
        for position in range(node.n_children()):
            visit(node.child(position), above)

    visit(tiled.get_root(), ())
    assert len(marks) == 1 and any(name.startswith(PARALLEL_MARK) for name in marks[0])
    return bands[0].plan.micro.panel


def test_kept_panels_stay_inside_the_parallel_loop():
    """The panels are kept above the vector member's tile loop only where the parallel loop
    is further out; where only that loop can run in parallel, each tile has its own."""
    assert _tiled_with_kept_panel(True).row_slots == 3
    assert _tiled_with_kept_panel(False).row_slots == 0


@pytest.mark.parametrize("element", ["double", "float"])
@pytest.mark.parametrize("columns", [53, 49], ids=["width_5", "width_1"])
def test_edge_micro_tiles_run_the_vector_code(element, columns, tmp_path, cc):
    """Where every operand along the vector member comes from a transposed panel, the
    micro-tiles at the band's last columns (53 = 3 x 16 + 5 and 49 = 3 x 16 + 1 doubles)
    run the vector code too: their columns go through a buffer, the panel is zero past
    them. Where B is loaded where it is (AVX2's one line a
    step), they keep the generic code."""
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", element) \
        .replace("#define NJ 53", f"#define NJ {columns}")
    nr = 16 if element == "double" else 32
    variants = [TileOptions(tile_sizes=(16, 16, 2 * nr), micro_tile=(4, nr), target=AVX512),
                TileOptions(tile_sizes=(100, 100, 100), micro_tile=(3, nr), target=AVX512),
                TileOptions(tile_sizes=(16, 16, 2 * nr), micro_tile=(4, nr), target=AVX512,
                            parallel=True),
                TileOptions(tile_sizes=(16, 16, 32), micro_tile=(4, 8), target=AVX2)]
    results = assert_tiled_prints_the_same(source, "edge.c", variants, tmp_path, cc)
    edges = ["_width = " in result.text for result in results]
    assert edges == [True, True, True, False], edges


def test_the_parallel_loop_gets_tiles_for_every_processor(tmp_path, cc, monkeypatch):
    """With --parallel, the model's tile of all rows (one iteration of the parallel loop) is
    cut into two tiles a processor, in whole micro-tiles; the threads then print what the
    original prints."""
    import tiler.pipeline
    monkeypatch.setattr(tiler.pipeline, "_processors", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    from tiler.hierarchy import parse_cache_sizes
    source = PROGRAM.replace("REGION", PRODUCT).replace("TYPE", "double") \
        .replace("#define NI 37", "#define NI 300").replace("#define NJ 53", "#define NJ 160") \
        .replace("#define NK 41", "#define NK 300")
    sizes = {}
    for parallel in (False, True):
        result = tile_source(source, "rows.c", TileOptions(
            target=AVX512, parallel=parallel, hierarchy=parse_cache_sizes("32K,256K,8M")))
        (band,) = result.regions[0].bands
        sizes[parallel] = band.sizes
    # 300 rows in 8 tiles of 38, rounded up to the micro-tile's rows
    assert sizes[False][0] > 150 and sizes[True][0] == 40, sizes
    original = compile_and_run(source, tmp_path, cc, EXACT_FLAGS, DUMP_DEFINES)
    run = compile_and_run(result.text, tmp_path, cc, (*EXACT_FLAGS, "-fopenmp"), DUMP_DEFINES)
    assert run.stdout == original.stdout
