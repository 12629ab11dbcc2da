"""Names the generated code introduces (loop iterators, statement macros, the helper macros
``min``, ``max``, ``floord``) never collide with a name the file uses, however many of the
usual choices the file takes: tiling such a file must not fail, and the tiled program must
print what the original prints."""

from __future__ import annotations

import re

import pytest
from tiling_check import assert_tiled_prints_the_same

from tiler.codegen import fresh_name, fresh_prefix
from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions

# Every prefix and helper name the code generator tries first is a variable or a function
# here. The functions tiler_min, tiler_max and tiler_floord compute something else than the
# helpers of the same name would: a helper macro defined under one of their names would
# change what main prints after the region.
CROWDED = r"""#include <stdio.h>

#ifndef N
#define N 29
#endif

static double A[N][N];
static int c0 = 1, t0 = 2, tile_c0 = 3, tiler_c0 = 4, S0 = 5, tiler_S0 = 6;
static int min = 7, max = 8, floord = 9;
static int tiler_min(int a, int b) { return a * b; }
static int tiler_max(int a, int b) { return a - b; }
static int tiler_floord(int a, int b) { return a + b; }

static void kernel(int n)
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j <= i; j++)
      A[i][j] = A[i][j] * 0.5 + A[j][i] + (double) (c0 + t0 + tile_c0 + tiler_c0 + S0 + min);
  for (i = 1; i < n; i++)
    for (j = 0; j < n - i; j++)
      A[i][j] = A[i - 1][j + 1] * 0.25 + (double) (tiler_S0 + max + floord);
#pragma endscop
}

int main(void)
{
  int i, j;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      A[i][j] = (double) ((i * 5 + j * 3) % 13) / 8.0;
  kernel(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("A[%d][%d] = %a\n", i, j, A[i][j]);
  printf("%d %d %d\n", tiler_min(3, 4), tiler_max(3, 4), tiler_floord(7, 2));
  printf("%d %d %d %d %d %d %d %d %d\n", c0, t0, tile_c0, tiler_c0, S0, tiler_S0, min, max,
         floord);
  return 0;
}
"""

VARIANTS = [TileOptions(tile_sizes=(4, 4)), TileOptions(tile_sizes=(3, 5)),
            TileOptions(hierarchy=parse_cache_sizes("48K,2M,32M"), decide=False)]


def test_a_file_using_every_usual_name_is_tiled_correctly(tmp_path, cc):
    results = assert_tiled_prints_the_same(CROWDED, "crowded.c", VARIANTS, tmp_path, cc)
    for result in results:
        assert all(region.tiled for region in result.regions), result.regions
        text = result.text
        defined = set(re.findall(r"#define (\w+)", text))
        # The helpers the tiled loops need, under names the file does not use.
        assert defined & {"tiler_min_1", "tiler_max_1"}, sorted(defined)
        assert not defined & {"min", "max", "floord", "tiler_min", "tiler_max",
                              "tiler_floord", "S0", "tiler_S0"}, sorted(defined)
        assert not re.search(r"\bfor \(int (c|t|tile_c|tiler_c)\d+\b", text)


@pytest.mark.parametrize("taken, expected", [
    (set(), "c"),
    ({"c0"}, "t"),
    ({"c0", "t3", "tile_c12"}, "tiler_c"),
    ({"c0", "t3", "tile_c12", "tiler_c0"}, "tiler_c_1_"),
    ({"c0", "t3", "tile_c12", "tiler_c0", "tiler_c_1_5", "tiler_c_2_0"}, "tiler_c_3_"),
    ({"c", "t", "cx", "c0x", "c_0"}, "c"),        # no digits after the prefix: not taken
])
def test_fresh_prefix(taken, expected):
    assert fresh_prefix(["c", "t", "tile_c", "tiler_c"], taken) == expected


def test_fresh_prefix_always_finds_one():
    # Every numbered prefix up to 500 is taken: the next one is still found.
    taken = {"c0"} | {f"c_{number}_7" for number in range(1, 501)}
    assert fresh_prefix(["c"], taken) == "c_501_"


def test_fresh_name():
    assert fresh_name(["min", "tiler_min"], set()) == "min"
    assert fresh_name(["min", "tiler_min"], {"min", "tiler_min", "tiler_min_1"}) == "tiler_min_2"
