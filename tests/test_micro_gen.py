"""Generated matrix-product regions under register tiles and packed panels.

The general program generator (``program_gen``) rarely makes a band the micro-kernel takes
(one statement that accumulates along a reduction, its operands moving with stride one or
gathered), so these programs are drawn from the shapes it does take: a product of two
operands, broadcast, streamed or gathered along the vector member, over rectangles and
triangles, of random sizes, tiled with random sizes, micro-tiles, targets and options. Each
must print what the original prints, bit for bit.

``TILER_MICRO_FUZZ_EXAMPLES=500 python3 -m pytest tests/test_micro_gen.py
--hypothesis-show-statistics`` runs a longer random set and shows what it covered (vector
code, panels kept across tiles, micro-tiles at the edges, transposed panels).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from test_register_tiles import PROGRAM
from tiling_check import assert_tiled_prints_the_same

from tiler.pipeline import TileOptions
from tiler.target import Target

# Statements of the region's innermost loop, with the arrays A[NI][NK], B[NK][NJ], C[NI][NJ]
# and D[NI][NJ] of ``PROGRAM``; those reading A[j][k] gather it along the vector member j
# (they need NJ <= NI).
PRODUCTS = (
    "C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];",
    "C[i][j] += A[i][k] * B[k][j] - A[i][k % 3] / (alpha + 2);",
    "C[i][j] = C[i][j] - B[k][j] * (A[i][k] + alpha);",
)
GATHERING = (
    "C[i][j] = C[i][j] + alpha * A[i][k] * A[j][k];",
    "C[i][j] += A[i][k] * B[k][j] + B[k][i % NJ] * A[j][k];",
)
# Bounds of the reduction k and of the vector member j: whole, or a triangle with i.
REDUCTIONS = ("k = 0; k < nk; k++", "k = 0; k <= i && k < nk; k++",
              "k = i + 1; k < nk; k++")
COLUMNS = ("j = 0; j < nj; j++", "j = 0; j <= i && j < nj; j++")
# (16 and 24, tiles of several micro-tiles, drawn more often)
TILE_SIZES = (1, 2, 5, 8, 16, 16, 24, 24, 37, 1000)
TARGETS = {"AVX2": Target(32, 16, True, "test"), "AVX-512": Target(64, 32, True, "test")}

EXAMPLES = int(os.environ.get("TILER_MICRO_FUZZ_EXAMPLES", "0"))


@st.composite
def regions(draw) -> tuple[str, str]:
    """Return (program text, element type)."""
    gathering = draw(st.booleans())
    statement = draw(st.sampled_from(GATHERING if gathering else PRODUCTS))
    ni = draw(st.integers(1, 60))
    nj = draw(st.integers(1, ni if gathering else 60))
    nk = draw(st.integers(1, 60))
    element = draw(st.sampled_from(("double", "float")))
    region = (f"  for (i = 0; i < ni; i++)\n"
              f"    for ({draw(st.sampled_from(REDUCTIONS))})\n"
              f"      for ({draw(st.sampled_from(COLUMNS))})\n"
              f"        {statement}\n")
    text = PROGRAM.replace("REGION", region).replace("TYPE", element) \
        .replace("#define NI 37", f"#define NI {ni}").replace("#define NJ 53", f"#define NJ {nj}") \
        .replace("#define NK 41", f"#define NK {nk}")
    return text, element


@st.composite
def tilings(draw) -> TileOptions:
    target_name = draw(st.sampled_from(sorted(TARGETS)))
    target = TARGETS[target_name]
    lanes = target.vector_bytes // 8            # doubles; float programs get twice as many
    return TileOptions(tile_sizes=tuple(draw(st.lists(st.sampled_from(TILE_SIZES),
                                                      min_size=3, max_size=3))),
                       micro_tile=(draw(st.integers(1, 8)), lanes * draw(st.integers(1, 3))),
                       target=target, pack=draw(st.booleans()),
                       parallel=draw(st.booleans()))


def _example(statement: str, columns: str, sizes: tuple[int, int, int]) -> tuple[str, str]:
    region = (f"  for (i = 0; i < ni; i++)\n    for (k = 0; k < nk; k++)\n"
              f"      for ({columns})\n        {statement}\n")
    text = PROGRAM.replace("REGION", region).replace("TYPE", "double") \
        .replace("#define NI 37", f"#define NI {sizes[0]}") \
        .replace("#define NJ 53", f"#define NJ {sizes[1]}") \
        .replace("#define NK 41", f"#define NK {sizes[2]}")
    return text, "double"


# Always among the examples: panels kept across the tiles along j, with micro-tiles at the
# edges (AVX-512: B streamed into the transposed panel; 45 = 2 x 16 + 13 columns), and a
# gathered A[j][k] under a triangle.
@example(region=_example(PRODUCTS[0], COLUMNS[0], (30, 45, 20)),
         options=[TileOptions(tile_sizes=(8, 16, 32), micro_tile=(4, 16),
                              target=TARGETS["AVX-512"]),
                  TileOptions(tile_sizes=(16, 5, 32), micro_tile=(3, 16),
                              target=TARGETS["AVX-512"], parallel=True)])
@example(region=_example(GATHERING[0], COLUMNS[1], (40, 33, 19)),
         options=[TileOptions(tile_sizes=(8, 8, 16), micro_tile=(4, 8), target=TARGETS["AVX2"]),
                  TileOptions(tile_sizes=(24, 24, 24), micro_tile=(2, 8),
                              target=TARGETS["AVX-512"])])
@settings(max_examples=EXAMPLES or 16, derandomize=not EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(region=regions(), options=st.lists(tilings(), min_size=2, max_size=2))
def test_generated_products_print_the_same_after_register_tiling(region, options, cc):
    text, _ = region
    with tempfile.TemporaryDirectory() as directory:
        results = assert_tiled_prints_the_same(text, "product.c", options, Path(directory), cc)
    for result in results:
        code = result.text
        for marker, label in (("__builtin_memcpy(&tiler_acc", "vector code"),
                              ("_bkey[", "panels kept across tiles"),
                              ("_width = ", "micro-tiles at the edges"),
                              ("_vfull[", "a transposed panel")):
            if marker in code:
                event(label)
