"""Distribution of the innermost point loop: one loop per statement where legal, the body
kept fused where not; checked differentially, with and without it."""

from dataclasses import replace

from tiling_check import assert_tiled_prints_the_same

from tiler.pipeline import TileOptions, tile_source
from tiler.target import Target

HARNESS = """
#include <stdio.h>
#define N 61
#define M 67
static double a[N][M], b[N][M];
static void kernel(void);
int main(void)
{
  for (int i = 0; i < N; i++)
    for (int j = 0; j < M; j++) {
      a[i][j] = (double) ((i * 7 + j * 3) % 11) / 11.0;
      b[i][j] = (double) ((i * 5 + j) % 13) / 13.0;
    }
  kernel();
#ifdef DUMP_ARRAYS
  for (int i = 0; i < N; i++)
    for (int j = 0; j < M; j++)
      printf("%a %a\\n", a[i][j], b[i][j]);
#endif
  return 0;
}
"""


def _two_statements(first: str, second: str) -> str:
    """Return the program whose kernel runs ``first`` then ``second`` over a 2-D nest."""
    return HARNESS + f"""
static void kernel(void)
{{
  int i, j;
#pragma scop
  for (i = 1; i < N; i++)
    for (j = 1; j < M; j++) {{
      {first}
      {second}
    }}
#pragma endscop
}}
"""


# Two statements a tile runs in one body; the second reads what the first wrote one
# iteration of j before (fdtd-2d's ey[i][j - 1]): one loop each is legal.
FORWARD = _two_statements("a[i][j] = a[i - 1][j] + 0.5 * b[i][j];",
                          "b[i][j] = b[i][j] - 0.25 * a[i][j - 1];")

# The first statement reads what the second wrote one iteration of j before: split in two
# loops it would read it before it is written.
BACKWARD = _two_statements("a[i][j] = a[i - 1][j] + 0.5 * b[i][j - 1];",
                           "b[i][j] = b[i][j] - 0.25 * a[i][j];")

# The second statement reads what the first wrote in the same iteration (gemver's A[i][j]):
# forwarded, and the loads are shared; the body stays fused.
SAME_ITERATION = _two_statements("a[i][j] = a[i - 1][j] + 0.5 * b[i][j];",
                                 "b[i][j] = b[i][j] - 0.25 * a[i][j];")


def innermost_bodies(text: str) -> list[list[str]]:
    """Return the statements of each innermost loop of the generated region, in order."""
    bodies, current, depth_of = [], None, []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("for (int c"):
            current = []
            depth_of.append(current)
        elif stripped.startswith("S") and "(" in stripped and current is not None:
            current.append(stripped.split("(")[0])
        elif stripped == "}" and depth_of:
            finished = depth_of.pop()
            if finished and finished is current:
                bodies.append(finished)
            current = depth_of[-1] if depth_of else None
    return bodies


OPTIONS = TileOptions(tile_sizes=(8, 8), register_tiles=False)


def test_a_forward_dependence_gets_one_loop_per_statement(tmp_path, cc):
    distributed, fused = assert_tiled_prints_the_same(
        FORWARD, "forward.c", [OPTIONS, replace(OPTIONS, distribute=False)], tmp_path, cc)
    assert ["S0"] in innermost_bodies(distributed.text)
    assert ["S1"] in innermost_bodies(distributed.text)
    assert ["S0", "S1"] not in innermost_bodies(distributed.text)
    assert ["S0", "S1"] in innermost_bodies(fused.text)
    (band,) = distributed.regions[0].bands
    assert band.distribution == "one loop per statement"
    assert fused.regions[0].bands[0].distribution == ""


def test_a_backward_dependence_keeps_the_body_fused(tmp_path, cc):
    (result,) = assert_tiled_prints_the_same(BACKWARD, "backward.c", [OPTIONS], tmp_path, cc)
    assert result.regions[0].tiled
    assert ["S0", "S1"] in innermost_bodies(result.text)
    assert "kept fused" in result.regions[0].bands[0].distribution


def test_a_read_in_the_same_iteration_keeps_the_body_fused(tmp_path, cc):
    (result,) = assert_tiled_prints_the_same(SAME_ITERATION, "same.c", [OPTIONS], tmp_path, cc)
    assert ["S0", "S1"] in innermost_bodies(result.text)
    assert result.regions[0].bands[0].distribution == ""


def test_one_statement_is_left_as_it_is():
    one = HARNESS + """
static void kernel(void)
{
  int i, j;
#pragma scop
  for (i = 1; i < N; i++)
    for (j = 1; j < M; j++)
      a[i][j] = a[i - 1][j] + a[i][j - 1];
#pragma endscop
}
"""
    assert tile_source(one, "one.c", OPTIONS).text == \
        tile_source(one, "one.c", replace(OPTIONS, distribute=False)).text


def test_a_body_kept_fused_is_priced_fused():
    """The plans price the split loops' vector code; where the split would break a
    dependence the band is planned again for its fused body: its predicted time is the one
    planned without distribution, and where the split is kept it is not."""
    from tiler.hierarchy import CacheLevel, Hierarchy
    # memory far faster than the core issues: the predicted time is the core's
    hierarchy = Hierarchy(64, (CacheLevel(1, 32 << 10, 1.0, bandwidth_bytes_per_ns=64.0),
                               CacheLevel(2, 512 << 10, 4.0, bandwidth_bytes_per_ns=1e6),
                               CacheLevel(3, 32 << 20, 15.0, bandwidth_bytes_per_ns=1e6)),
                          memory_latency_ns=80.0, memory_bandwidth_bytes_per_ns=1e6,
                          source="test")
    options = TileOptions(tile_sizes=(8, 8), register_tiles=False, hierarchy=hierarchy,
                          target=Target(32, 16, True, "test"))
    for program, split in ((BACKWARD, False), (FORWARD, True)):
        (band,) = tile_source(program, "kernel.c", options).regions[0].bands
        (fused,) = tile_source(program, "kernel.c",
                               replace(options, distribute=False)).regions[0].bands
        assert band.plan.verdict is not None and fused.plan.verdict is not None
        same = band.plan.verdict.tiled_ns == fused.plan.verdict.tiled_ns
        assert same != split, (program, band.plan.verdict, fused.plan.verdict)
