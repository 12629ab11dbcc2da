"""Register tiles: micro-tiles of accumulators (GNU C vector code for full micro-tiles, the
generic code for the rest) print what the original prints, bit for bit; the members come
from the accesses; a micro-kernel whose points depend on each other is refused; the gemm
micro-kernel keeps its accumulators in registers."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace

import islpy as isl
import pytest
from ccutil import DUMP_DEFINES, NATIVE_FLAGS, compile_and_run
from tiling_check import assert_tiled_prints_the_same

from tiler.dependences import compute_dependences
from tiler.frontend import build_scop
from tiler.pipeline import TileOptions, tile_source
from tiler.schedule import original_schedule_map
from tiler.target import Target, target_from_macros
from tiler.transform.register import (
    MicroKernel,
    micro_kernels_are_legal,
    micro_tile_shape,
    register_tile,
)
from tiler.transform.vector_form import vector_form


def panels_filled(text: str) -> int:
    """Return how many broadcast panels the vector code of ``text`` fills (one panel a tile,
    or one per row block kept across the tiles along the vector member)."""
    return len(re.findall(r"_b?full(\[\w+\])? = 1;", text))

# A target with four doubles per vector and 16 registers (AVX2), so that the tests do not
# depend on the machine they run on.
AVX2 = Target(32, 16, True, "test")

PROGRAM = """\
#include <stdio.h>
#define NI 37
#define NJ 53
#define NK 41
static TYPE A[NI][NK], B[NK][NJ], C[NI][NJ], D[NI][NJ];
static void kernel(int ni, int nj, int nk, TYPE alpha)
{
  int i, j, k;
#pragma scop
REGION
#pragma endscop
}
int main(void)
{
  int i, j;
  for (i = 0; i < NI; i++)
    for (j = 0; j < NK; j++)
      A[i][j] = (TYPE) ((i * (j + 1) + 3) % 17) / 7;
  for (i = 0; i < NK; i++)
    for (j = 0; j < NJ; j++)
      B[i][j] = (TYPE) ((i * (j + 2) + 1) % 13) / 3;
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++) {
      C[i][j] = (TYPE) ((i * 3 + j * 5 + 7) % 11) / 9;
      D[i][j] = (TYPE) ((i + j) % 5);
    }
  kernel(NI, NJ, NK, (TYPE) 1.5);
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++)
      printf("%a %a\\n", (double) C[i][j], (double) D[i][j]);
  return 0;
}
"""

PRODUCT = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] += alpha * A[i][k] * B[k][j];
"""

# The reduction innermost as written, the vector member the middle loop; the update is
# written out (X = X op e) and subtracts a quotient.
PRODUCT_WRITTEN_OUT = """\
  for (i = 0; i < ni; i++)
    for (j = 0; j < nj; j++)
      for (k = 0; k < nk; k++)
        C[i][j] = C[i][j] - A[i][k] * B[k][j] / (alpha + 2);
"""

# A triangular band: j <= i (and j below nj).
TRIANGLE = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j <= i && j < nj; j++)
        C[i][j] += A[i][k] * B[k][j];
"""

# Two statements in one band (kept apart by isl's scheduler without fusion, each gets
# vector code of its own).
TWO_STATEMENTS = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++) {
        C[i][j] += A[i][k] * B[k][j];
        D[i][j] += A[i][k] - B[k][j];
      }
"""

# An initialisation and the product, fused by isl's scheduler unless it is kept apart.
SCALED_PRODUCT = """\
  for (i = 0; i < ni; i++) {
    for (j = 0; j < nj; j++)
      C[i][j] *= alpha;
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] += A[i][k] * B[k][j];
  }
"""

# The reduction bounded by the rows member, both ways (symm's two triangles): the micro-tiles
# on the diagonal run vector code over the steps every row has, generic code around them.
LOWER_REDUCTION = """\
  for (i = 0; i < ni; i++)
    for (k = 0; k <= i && k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];
"""
UPPER_REDUCTION = """\
  for (i = 0; i < ni; i++)
    for (k = i + 1; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];
"""

# The written array read at rows the micro-tile writes later (trmm's shape): point (i, j)
# reads C[k][j], k > i, before point (k, j) of the same micro-tile writes it (an anti
# dependence, which the vector code keeps: it stores after every step).
READS_WRITTEN = """\
  for (i = 0; i < ni; i++)
    for (k = i + 1; k < ni; k++)
      for (j = 0; j < nj; j++)
        C[i][j] = C[i][j] + A[i][k] * C[k][j];
"""

REGIONS = {"product": PRODUCT, "written_out": PRODUCT_WRITTEN_OUT, "triangle": TRIANGLE,
           "reads_written": READS_WRITTEN,
           "lower_reduction": LOWER_REDUCTION, "upper_reduction": UPPER_REDUCTION,
           "two_statements": TWO_STATEMENTS, "scaled_product": SCALED_PRODUCT}

VARIANTS = {
    "model": TileOptions(target=AVX2, decide=False),   # the sizes around a micro-tile
    "32": TileOptions(tile_sizes=(32,), target=AVX2),
    "one_row": TileOptions(tile_sizes=(16, 16, 16), micro_tile=(1, 8), target=AVX2),
    "non_dividing": TileOptions(tile_sizes=(14, 9, 30), micro_tile=(3, 12), target=AVX2),
    "beyond_trips": TileOptions(tile_sizes=(1000,), micro_tile=(40, 64), target=AVX2),
    "parallel": TileOptions(tile_sizes=(16, 16, 16), micro_tile=(4, 8), target=AVX2,
                            parallel=True),
    "size_one": TileOptions(tile_sizes=(1, 16, 16), micro_tile=(4, 8), target=AVX2),
    "no_pack": TileOptions(tile_sizes=(32,), target=AVX2, pack=False),
    "no_register_tiles": TileOptions(register_tiles=False, target=AVX2),
}


def _program(region: str, element: str) -> str:
    return PROGRAM.replace("REGION", region).replace("TYPE", element)


@pytest.mark.parametrize("element", ["double", "float"])
@pytest.mark.parametrize("name", sorted(REGIONS))
def test_register_tiled_output_is_bit_identical(name, element, tmp_path, cc):
    results = assert_tiled_prints_the_same(_program(REGIONS[name], element), f"{name}.c",
                                           VARIANTS.values(), tmp_path, cc)
    vectorised = [result.text.count("__builtin_memcpy(&tiler_acc0_0") for result in results]
    # the vector code is there (the test would pass vacuously without it)
    assert vectorised[0] >= 1 and vectorised[1] >= 1, vectorised
    assert vectorised[-1] == 0
    # and so are packed panels, except where they are turned off
    packed = dict(zip(VARIANTS, (panels_filled(result.text) for result in results)))
    assert packed["32"] >= 1 and packed["parallel"] >= 1 and packed["size_one"] >= 1, packed
    assert packed["no_pack"] == 0 and packed["no_register_tiles"] == 0, packed
    if "reduction" in name:
        # the diagonal's micro-tiles: generic code clipped to the steps around vector code
        assert all(" && c5 <= (" in result.text for result in results[:2]), name


def test_vector_code_is_bit_identical_at_native_flags(tmp_path, cc):
    source = _program(PRODUCT_WRITTEN_OUT, "double")
    original = compile_and_run(source, tmp_path, cc, NATIVE_FLAGS, DUMP_DEFINES)
    for micro in [(4, 8), (3, 4), (2, 16)]:
        tiled = tile_source(source, "p.c", TileOptions(tile_sizes=(16, 32, 32),
                                                       micro_tile=micro, target=AVX2)).text
        assert "tiler_acc0_0" in tiled
        assert compile_and_run(tiled, tmp_path, cc, NATIVE_FLAGS,
                               DUMP_DEFINES).stdout == original.stdout


def test_members_come_from_the_accesses():
    # The loops are named so that nothing about their names or order tells the roles.
    region = """\
  for (p = 0; p < nk; p++)
    for (q = 0; q < nj; q++)
      for (r = 0; r < ni; r++)
        C[r][q] += A[r][p] * B[p][q];
"""
    source = _program(region, "double").replace("int i, j, k;", "int p, q, r;")
    result = tile_source(source, "roles.c", TileOptions(tile_sizes=(16, 16, 16), target=AVX2))
    kernel = result.regions[0].bands[0].plan.micro
    assert (kernel.reduction, kernel.vector, kernel.rows) == (0, 1, 2)
    assert kernel.vectorised


def test_statements_without_a_vector_form_say_why():
    types = {"C": "double", "A": "double", "B": "double", "alpha": "double", "x": "float",
             "big": "long double"}
    iterators = {"i", "j", "k"}
    assert not isinstance(vector_form("C[(i)][(j)] += A[(i)][(k)] * B[(k)][(j)]", "j", types,
                                      iterators), str)
    # the written array read at another element has a vector form; whether a point reads
    # what another wrote is the dependences' to say (see the test below)
    assert not isinstance(vector_form("C[(i)][(j)] += C[(i)][(k)] * B[(k)][(j)]", "j", types,
                                      iterators), str)
    for body, reason in [
        ("C[(i)][(j)] += A[(j)][(k)]", "stride one"),            # across rows of A
        ("C[(i)][(j)] += big * B[(k)][(j)]", "type"),
        ("C[(i)][(j)] = A[(i)][(k)] * B[(k)][(j)]", "does not read"),
        ("C[(i)][(j)] += sqrt(B[(k)][(j)])", "other than"),
        ("C[(i)][(2*j)] += B[(k)][(j)]", "stride one"),
    ]:
        found = vector_form(body, "j", types, iterators)
        assert isinstance(found, str) and reason in found, (body, found)
    # a float accumulator does not take a double scalar (C would compute in double)
    float_types = dict(types, C="float", B="float")
    assert "wider type" in vector_form("C[(i)][(j)] += alpha * B[(k)][(j)]", "j", float_types,
                                  iterators)


def test_target_comes_from_the_compiler_macros():
    assert target_from_macros("#define __AVX2__ 1\n#define __AVX__ 1\n#define __FMA__ 1\n") \
        == Target(32, 16, True, "__AVX__")
    assert target_from_macros("#define __AVX512F__ 1\n").vector_bytes == 64
    assert target_from_macros("#define __aarch64__ 1\n").vector_registers == 32
    assert target_from_macros("#define __x86_64__ 1\n").lanes(8) == 1


def test_loops_are_priced_at_the_width_the_compiler_vectorises_them():
    # gcc's tuning for AVX-512 Intel cores vectorises loops with 256-bit vectors; the micro-tiles'
    # GNU C vectors keep the registers' full width.
    avx512 = Target(64, 32, True, "test", loop_vector_bytes=32)
    assert avx512.loop_vector() == 32 and avx512.vector_bytes == 64
    assert Target(32, 16, True, "test").loop_vector() == 32
    assert Target(32, 16, True, "test", loop_vector_bytes=64).loop_vector() == 32


@pytest.mark.skipif(shutil.which("gcc") is None or "Free Software Foundation" not in
                    subprocess.run(["gcc", "--version"], capture_output=True,
                                   text=True).stdout, reason="needs gcc")
def test_gcc_says_which_width_its_loop_vectoriser_prefers():
    from tiler.target import preferred_vector_bytes
    assert preferred_vector_bytes("gcc", ("-O3", "-march=sapphirerapids")) == 32
    assert preferred_vector_bytes("gcc", ("-O3", "-march=sapphirerapids",
                                          "-mprefer-vector-width=512")) == 64
    assert preferred_vector_bytes("no-such-compiler-here", ("-O3",)) is None


def test_micro_tile_shapes_from_the_registers():
    avx512 = Target(64, 32, True, "test")
    # 32 registers: three vectors a row on a rectangular band (24 accumulators, three
    # loads, a broadcast), two on a triangle; 16 registers: two vectors a row
    assert micro_tile_shape(avx512, 8, rectangular=True) == (8, 24, 8)
    assert micro_tile_shape(avx512, 8) == (8, 16, 8)
    assert micro_tile_shape(AVX2, 8, rectangular=True) == (6, 8, 4)
    assert micro_tile_shape(AVX2, 4, rectangular=True) == (6, 16, 8)
    assert micro_tile_shape(avx512, 8, (4, 8), rectangular=True) == (4, 8, 8)
    # sizes given: a tile of 32 holds two micro-tiles of 16, one of 24 and a remainder
    assert micro_tile_shape(avx512, 8, rectangular=True, extent=32) == (8, 16, 8)
    assert micro_tile_shape(avx512, 8, rectangular=True, extent=144) == (8, 24, 8)
    assert micro_tile_shape(avx512, 8, rectangular=True, extent=48) == (8, 24, 8)


def test_a_micro_kernel_whose_points_depend_on_each_other_is_refused():
    # C[i][k] is written by the point (i, j = k) of the micro-tile that reads it at step k.
    dependent = """\
for (i = 0; i < N; i++)
  for (k = 0; k < N; k++)
    for (j = 0; j < N; j++)
      C[i][j] += C[i][k] * B[k][j];
"""
    independent = dependent.replace("C[i][k]", "A[i][k]")
    # C[k][j], k > i, read before the point (k, j) of the micro-tile writes it: an anti
    # dependence only, which the vector code keeps (it stores after every step)
    read_before_written = dependent.replace("k = 0", "k = i + 1").replace("C[i][k]", "C[k][j]")
    verdicts = []
    for region in (dependent, independent, read_before_written):
        scop = build_scop(region)
        found = compute_dependences(scop, original_schedule_map(scop))
        # what the pipeline checks: flow and output dependences
        deps = found.flow.union(found.output)
        band = isl.MultiUnionPwAff("[N] -> [{ S0[i, k, j] -> [(i)] }, { S0[i, k, j] -> [(k)] }, "
                                    "{ S0[i, k, j] -> [(j)] }]")
        schedule = isl.Schedule.from_domain(scop.domain).insert_partial_schedule(band)
        planted = MicroKernel(0, 2, 1, 4, 8, 4, "S0", object(), ((0, 1), (2, 1), (1, 1)),
                              unroll=False)
        node = register_tile(schedule.get_root().child(0), planted, (0, 1, 2), "tiler_micro_0")
        verdicts.append(micro_kernels_are_legal(node.get_schedule(), deps))
        if region is read_before_written:   # and all of them would refuse it
            assert not micro_kernels_are_legal(node.get_schedule(), found.all)
    assert verdicts == [False, True, True]


def _loops(assembly: str) -> list[list[str]]:
    """Return the bodies of the loops of an assembly listing: the lines from a label to a
    jump back to it."""
    lines = assembly.splitlines()
    labels = {line[:-1]: n for n, line in enumerate(lines) if re.fullmatch(r"\.L\w+:", line)}
    loops = []
    for n, line in enumerate(lines):
        jump = re.match(r"\s+j\w+\s+(\.L\w+)$", line)
        if jump and labels.get(jump.group(1), n) < n:
            loops.append(lines[labels[jump.group(1)]:n + 1])
    return loops


# gcc 12 spilled the address offsets of the micro-tile's rows with AVX2's 16 registers (3 to
# 6 loads from the stack per reduction step) until the broadcast operands were packed into a
# panel walked by one pointer (tiler.transform.panel); with AVX-512's 32 registers nothing
# was spilled either way.
@pytest.mark.parametrize("flags", [("-O3", "-march=native"), ("-O3", "-mavx2", "-mfma")])
def test_gemm_micro_kernel_has_no_spills(flags, tmp_path, cc):
    source = _program(PRODUCT, "double")
    micro = None if "-march=native" in flags else (6, 8)
    target = None if micro is None else AVX2
    tiled = tile_source(source, "gemm.c", TileOptions(tile_sizes=(64, 256, 512),
                                                      micro_tile=micro, target=target)).text
    assert "tiler_acc0_0" in tiled and panels_filled(tiled)     # vector code, a panel
    path = tmp_path / "gemm.c"
    path.write_text(tiled)
    assembly = subprocess.run([*cc, *flags, "-S", "-o", "-", str(path)], capture_output=True,
                              text=True, check=True).stdout
    vector_ops = re.compile(r"\sv(fmadd|mul|add)\w*pd\s")
    # the innermost loop doing the micro-tile's arithmetic: the shortest with 8 or more
    # vector multiply-adds (one per accumulator at least)
    kernels = [body for body in _loops(assembly)
               if sum(bool(vector_ops.search(line)) for line in body) >= 8]
    assert kernels, assembly
    kernel = min(kernels, key=len)
    accumulators = [line for line in kernel if re.search(r"\((%rsp|%rbp)\)", line)
                    and re.search(r"%[xyz]mm", line)]
    assert not accumulators, "\n".join(kernel)        # holds today: no vector spills
    # (an address computed from the stack pointer, lea, reads no memory)
    stack = [line for line in kernel if re.search(r"\((%rsp|%rbp)\)", line)
             and not re.match(r"\s+lea", line)]
    assert not stack, "\n".join(kernel)


def test_sizes_around_the_micro_tile_follow_the_levels():
    from tiler.footprint import band_shape, footprint
    from tiler.hierarchy import parse_cache_sizes
    from tiler.tilesize import LEVEL_FRACTION, micro_kernel_sizes
    from tiler.transform.tiling import TilePlan

    region = PRODUCT.replace("ni", "1000").replace("nj", "1100").replace("nk", "1200")
    hierarchy = parse_cache_sizes("32K,512K,16M")
    seen = []

    def planner(band):
        shape = band_shape(build_scop(region), band, {}, {"A": 8, "B": 8, "C": 8})
        seen.append(shape)
        return TilePlan(((1, 1, 1),), (0, 1, 2))

    from tiler.schedule import original_schedule, tile_schedule
    scop = build_scop(region)
    deps = compute_dependences(scop, original_schedule_map(scop)).all
    tile_schedule(original_schedule(scop, deps), planner)
    shape = seen[0]
    sizes = micro_kernel_sizes(shape, (1, 1, 1), 0, 2, 1, 6, 8, hierarchy)
    budgets = [level.size_bytes * LEVEL_FRACTION for level in hierarchy.levels]

    def fits(members, budget, invariant_along=None):
        kept = shape
        if invariant_along is not None:    # only what the member leaves in place
            kept = replace(shape, accesses=tuple(
                a for a in shape.accesses if not any(r[invariant_along] for r in a.coefficients)))
        return footprint(kept, members).total_lines * 64 <= budget

    rows, steps, columns = sizes
    assert rows % 6 == 0 and columns % 8 == 0
    # L1: the rows' panel of A, reused across the micro-tiles of one row
    assert fits((6, steps, 8), budgets[0], 2) and not fits((6, steps + 1, 8), budgets[0], 2)
    # L2: the block of B, reused across rows of micro-tiles
    assert fits((6, steps, columns), budgets[1], 0)
    assert not fits((6, steps, columns + 8), budgets[1], 0) or columns + 8 > 1100
    # the last level: the whole tile
    assert fits((rows, steps, columns), budgets[2])
    assert not fits((rows + 6, steps, columns), budgets[2]) or rows + 6 > 1000


def test_a_refused_micro_kernel_leaves_a_tiling_without_micro_tiles(monkeypatch):
    from tiler import pipeline
    # refuse every schedule with a micro-kernel in it
    monkeypatch.setattr(pipeline, "micro_kernels_are_legal",
                        lambda schedule, deps: "tiler_micro" not in schedule.to_str())
    result = tile_source(_program(PRODUCT, "double"), "p.c",
                         TileOptions(tile_sizes=(16, 16, 16), target=AVX2))
    region = result.regions[0]
    assert region.tiled and "tiler_acc" not in result.text
    assert all(band.plan.micro is None and "refused" in band.plan.micro_note
               for band in region.bands)

