"""The pass sees the C the compiler sees: macros expanded by the real preprocessor, iterator
types from the declarations, parameter values for the cost model.

Each miscompile test is differential: before the pass ran the preprocessor, a macro hid an
access from the dependence analysis, the nest was tiled, and the output differed."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run, describe_difference

from tiler.errors import TilerError
from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions, tile_source
from tiler.preprocess import Preprocessor

HIERARCHY = parse_cache_sizes("32K,512K,8M")

# A program whose region updates P in place along a diagonal dependence (each element reads
# its upper-right neighbour of the row before): tiling it rectangularly is illegal, so a model
# that misses the dependence tiles it wrongly. REFERENCE is where a macro writes the
# element, READ where one reads the neighbour.
PROGRAM = """#include <stdio.h>
{definitions}
#ifndef N
#define N 67
#endif
static double P[N][N];

static void kernel(int n)
{{
  int i, j;
#pragma scop
  for (i = 1; i < n; i++)
    for (j = 0; j < n - 1; j++)
      {statement};
#pragma endscop
}}

int main(void)
{{
  int i, j;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      P[i][j] = (double) ((i * 7 + j * 3) % 11) / 5.0;
  kernel(N);
#ifdef DUMP_ARRAYS
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("%a\\n", P[i][j]);
#endif
  double sum = 0.0;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += P[i][j] * (1 + (i + 2 * j) % 5);
  printf("checksum: %.17g\\n", sum);
  return 0;
}}
"""

MACRO_SPELLINGS = {
    "object-like": ("#define CUR P[i][j]", "CUR = P[i-1][j+1] * 0.5 + 1.0"),
    "function-like read": ("#define AT(a, b) P[(a)][(b)]", "P[i][j] = AT(i - 1, j + 1) * 0.5 + 1.0"),
    "function-like write": ("#define SET(a, b, v) P[a][b] = (v)",
                            "SET(i, j, P[i-1][j+1] * 0.5 + 1.0)"),
    "nested": ("#define ROW(a) P[a]\n#define AT(a, b) ROW(a)[b]\n#define UP AT(i - 1, j + 1)",
               "P[i][j] = UP * 0.5 + 1.0"),
    "object-like array name": ("#define GRID P", "GRID[i][j] = GRID[i-1][j+1] * 0.5 + 1.0"),
}


def _check(source: str, tmp_path: Path, cc, options: TileOptions, name: str = "kernel.c",
           flags: tuple[str, ...] = ()) -> str:
    """Tile ``source`` and require the tiled build to print what the original prints;
    return the tiled text."""
    result = tile_source(source, str(tmp_path / name), options)
    original = compile_and_run(source, tmp_path / "original", cc, (*EXACT_FLAGS, *flags),
                               DUMP_DEFINES)
    tiled = compile_and_run(result.text, tmp_path / "tiled", cc, (*EXACT_FLAGS, *flags),
                            DUMP_DEFINES)
    same = tiled.stdout == original.stdout     # (not compared in the assert: pytest would diff)
    assert same, f"{result.text}\n" + describe_difference(original.stdout, tiled.stdout)
    return result.text


@pytest.mark.parametrize("spelling", sorted(MACRO_SPELLINGS))
@pytest.mark.parametrize("sizes", [(8,), (5, 3)])
def test_a_macro_hiding_an_access_keeps_the_program_correct(spelling, sizes, tmp_path, cc):
    definitions, statement = MACRO_SPELLINGS[spelling]
    source = PROGRAM.format(definitions=definitions, statement=statement)
    _check(source, tmp_path, cc, TileOptions(tile_sizes=sizes, hierarchy=HIERARCHY))


def test_the_miscompile_is_real_without_the_preprocessor(tmp_path, cc):
    """The test above can fail: reading the text as written, the object-like macro is a
    scalar and the nest is tiled wrongly."""
    definitions, statement = MACRO_SPELLINGS["object-like"]
    source = PROGRAM.format(definitions=definitions, statement=statement)
    options = TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY, preprocessor=None)
    with pytest.raises(AssertionError):
        _check(source, tmp_path, cc, options)


def test_a_macro_from_a_header_found_through_include_flags(tmp_path, cc):
    headers = tmp_path / "headers"
    headers.mkdir()
    (headers / "grid.h").write_text("#define ROW(a) P[a]\n#define UP(a, b) ROW((a) - 1)[(b) + 1]\n")
    source = PROGRAM.format(definitions='#include "grid.h"',
                            statement="P[i][j] = UP(i, j) * 0.5 + 1.0")
    options = TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY,
                          preprocessor=Preprocessor("cc", (f"-I{headers}",)))
    _check(source, tmp_path, cc, options, flags=(f"-I{headers}",))


def test_a_missing_header_is_a_warning_and_the_files_own_macros_still_expand(tmp_path):
    source = PROGRAM.format(definitions='#include "nowhere_to_be_found.h"\n#define CUR P[i][j]',
                            statement="CUR = P[i-1][j+1] * 0.5 + 1.0")
    result = tile_source(source, str(tmp_path / "kernel.c"),
                         TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    (warning,) = result.warnings
    assert "kernel.c:2:" in warning and "nowhere_to_be_found.h" in warning and "-I" in warning
    (region,) = result.regions
    assert region.expanded_macros == ("CUR",)
    assert "P[(i)][(j)] = P[(i)-1][(j)+1]" in result.text.replace(" ", "").replace(
        "P[(i)][(j)]=P[(i)-1][(j)+1]", "P[(i)][(j)] = P[(i)-1][(j)+1]")


def test_constant_macros_stay_parameters_so_the_output_works_for_other_sizes(tmp_path, cc):
    """``#define N 67`` is kept as the name N (its value goes to the cost model only): the
    tiled file compiled with -DN=23 still matches the original compiled with -DN=23."""
    source = PROGRAM.format(definitions="#define CUR P[i][j]\n#define LIMIT (N - 1)",
                            statement="if (j < LIMIT) CUR = P[i-1][j+1] * 0.5 + 1.0")
    tiled = _check(source, tmp_path, cc, TileOptions(tile_sizes=(4,), hierarchy=HIERARCHY))
    assert "LIMIT" not in tiled.split("#pragma scop")[1] or "N" in tiled
    for flags in (("-DN=23",), ("-DN=5",)):
        original = compile_and_run(source, tmp_path / "o", ("cc",), (*EXACT_FLAGS, *flags),
                                   DUMP_DEFINES)
        again = compile_and_run(tiled, tmp_path / "t", ("cc",), (*EXACT_FLAGS, *flags),
                                DUMP_DEFINES)
        assert again.stdout == original.stdout, flags


def test_a_region_left_out_by_conditional_compilation_is_copied():
    source = "#if 0\n#pragma scop\nfor (i = 0; i < n; i++) A[i] = 0;\n#pragma endscop\n#endif\n"
    result = tile_source(source, "off.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert result.text == source
    (region,) = result.regions
    assert not region.tiled and "conditional compilation" in region.note


def test_a_preprocessor_error_is_located():
    source = ("#include <stdio.h>\n#error this configuration is not supported\n"
              "#pragma scop\nfor (i = 0; i < n; i++) A[i] = 0;\n#pragma endscop\n")
    with pytest.raises(TilerError) as raised:
        tile_source(source, "bad.c", TileOptions())
    assert raised.value.line == 2 and "not supported" in str(raised.value)


def test_a_macro_whose_expansion_is_not_affine_is_a_located_error():
    source = ("#define AT(a, b) P[(a) * (b)]\nvoid f(int n, double P[])\n{\n  int i, j;\n"
              "#pragma scop\n  for (i = 0; i < n; i++)\n    for (j = 0; j < n; j++)\n"
              "      AT(i, j) = 1.0;\n#pragma endscop\n}\n")
    with pytest.raises(TilerError) as raised:
        tile_source(source, "bad.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert raised.value.line == 8 and "subscript" in str(raised.value)


# ---- tiling a tiled file ---------------------------------------------------------------------

def test_tiling_tilers_own_output_copies_the_region_and_says_so(tmp_path, cc):
    source = PROGRAM.format(definitions="", statement="P[i][j] = P[i-1][j] * 0.5 + 1.0")
    once = tile_source(source, "k.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert once.regions[0].tiled
    twice = tile_source(once.text, "k.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert twice.text == once.text
    (region,) = twice.regions
    assert not region.tiled and "already tiled" in region.note
    original = compile_and_run(source, tmp_path / "o", cc, EXACT_FLAGS, DUMP_DEFINES)
    again = compile_and_run(twice.text, tmp_path / "t", cc, EXACT_FLAGS, DUMP_DEFINES)
    assert again.stdout == original.stdout


# ---- iterator types ----------------------------------------------------------------------------

WIDE = """#include <stdio.h>
static double A[4][16];

static void kernel({type} base, {type} count)
{{
  {type} i, j;
#pragma scop
  for (i = 0; i < 4; i++)
    for (j = base; j < base + count; j++)
      A[i][(j - base) % 16] += (double) ((j % 7) + i);
#pragma endscop
}}

int main(void)
{{
  kernel(({type}) 2147483647 - 5, 13);
  kernel(({type}) 4294967296 * 3, 40);
  int i, k;
  for (i = 0; i < 4; i++)
    for (k = 0; k < 16; k++)
      printf("%a\\n", A[i][k]);
  printf("checksum: %.17g\\n", A[1][2]);
  return 0;
}}
"""


@pytest.mark.parametrize("type_name", ["long", "long long"])
def test_wide_iterators_declared_outside_the_region_keep_their_type(type_name, tmp_path, cc):
    source = WIDE.format(type=type_name)
    tiled = _check(source, tmp_path, cc, TileOptions(tile_sizes=(2, 4), hierarchy=HIERARCHY))
    region = tiled.split("#pragma scop")[1]
    assert f"for ({type_name} c0" in region and "for (int " not in region


LONG_RUN = """#include <stdio.h>
static long long A[2][8];

static void kernel(TYPE n)
{
  TYPE i, j;
#pragma scop
  for (i = 0; i < 2; i++)
    for (j = 0; j < n; j++)
      A[i][j % 8] += j % 4;
#pragma endscop
}

int main(void)
{
  kernel(2147483648L + 21);
  printf("checksum: %lld %lld %lld\\n", A[0][1], A[1][3], A[1][6]);
  return 0;
}
"""


@pytest.mark.parametrize("type_name", ["long", "long long"])
def test_a_loop_over_more_than_two_to_the_31_values_runs_to_completion(type_name, tmp_path, cc):
    """The inner loop runs 2^31 + 21 times (a few seconds at -O2): with int iterators the
    tiled loop would overflow (undefined behaviour; at -O0 it never ends)."""
    source = LONG_RUN.replace("TYPE", type_name)
    result = tile_source(source, "long.c", TileOptions(tile_sizes=(1, 1 << 20),
                                                       hierarchy=HIERARCHY))
    assert result.regions[0].tiled and f"for ({type_name} c" in result.text
    original = compile_and_run(source, tmp_path / "o", cc, ("-O2",), timeout=300)
    tiled = compile_and_run(result.text, tmp_path / "t", cc, ("-O2",), timeout=300)
    assert tiled.stdout == original.stdout


def test_an_unsigned_iterator_is_refused_where_it_is_declared_loop():
    source = ("void f(int n, double A[n][n])\n{\n  unsigned i;\n  int j;\n#pragma scop\n"
              "  for (i = 0; i < n; i++)\n    for (j = 0; j < n; j++)\n      A[i][j] = 0;\n"
              "#pragma endscop\n}\n")
    with pytest.raises(TilerError) as raised:
        tile_source(source, "u.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert (raised.value.line, raised.value.column) == (6, 8)
    assert "unsigned" in str(raised.value)


def test_a_size_t_iterator_declared_in_the_loop_is_refused():
    source = ("#include <stddef.h>\nvoid f(int n, double A[n][n])\n{\n#pragma scop\n"
              "  for (size_t i = 0; i < n; i++)\n    for (int j = 0; j < n; j++)\n"
              "      A[i][j] = 0;\n#pragma endscop\n}\n")
    with pytest.raises(TilerError) as raised:
        tile_source(source, "u.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    assert raised.value.line == 5 and "unsigned long" in str(raised.value)


# ---- parameter values for the cost model -------------------------------------------------------

SIZED_BY_ARGUMENTS = """void product(int ni, int nj, int nk, double C[ni][nj], double A[ni][nk],
             double B[nk][nj])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < ni; i++)
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] += A[i][k] * B[k][j];
#pragma endscop
}
"""


def test_param_values_change_the_chosen_sizes():
    guessed = tile_source(SIZED_BY_ARGUMENTS, "p.c", TileOptions(hierarchy=HIERARCHY))
    small = tile_source(SIZED_BY_ARGUMENTS, "p.c", TileOptions(
        hierarchy=HIERARCHY, parameter_values=(("ni", 12), ("nj", 20), ("nk", 6)),
        decide=False))     # (so small a product is not worth tiling: see test_decide.py)
    assert small.regions[0].parameter_values == {"ni": 12, "nj": 20, "nk": 6}
    (band,) = small.regions[0].bands
    assert all(size <= 20 for size in band.sizes)
    assert band.sizes != guessed.regions[0].bands[0].sizes


def test_values_come_from_defines_and_array_extents():
    """A PolyBench-style kernel sized by -D: the arrays' extents give the cost model the
    values of the run-time sizes that subscript them."""
    source = ("#ifndef NI\n#define NI 100\n#endif\n#define NJ 80\n"
              "static double C[NI][NJ], A[NI][NJ];\n" + SIZED_BY_ARGUMENTS.replace(
                  "void product(int ni, int nj, int nk, double C[ni][nj], double A[ni][nk],\n"
                  "             double B[nk][nj])",
                  "void product(int ni, int nj, int nk, double B[nk][nj])"))
    result = tile_source(source, "d.c", TileOptions(
        hierarchy=HIERARCHY, preprocessor=Preprocessor("cc", ("-DNI=48",))))
    assert result.regions[0].parameter_values == {"ni": 48, "nj": 80, "nk": 80}


def test_the_report_names_what_was_assumed():
    """Names defined nowhere the preprocessor can see (a missing header's) are taken as
    parameters and pure functions, and the report says which."""
    source = ('#include "missing_sizes.h"\nvoid f(double A[][100])\n{\n  int i, j;\n'
              "#pragma scop\n  for (i = 0; i < _PB_N; i++)\n    for (j = 0; j < 100; j++)\n"
              "      A[i][j] = SQRT_FUN(A[i][j]) + sqrt_of_two();\n#pragma endscop\n}\n"
              "double sqrt_of_two(void);\n")
    result = tile_source(source, "assumed.c", TileOptions(tile_sizes=(8,), hierarchy=HIERARCHY))
    (region,) = result.regions
    assert region.tiled
    assert region.assumed == ("_PB_N", "SQRT_FUN()", "sqrt_of_two()")
    declared = source.replace('#include "missing_sizes.h"\n', "double sqrt_of_two(void);\n"
                              "double SQRT_FUN(double);\n")
    (region,) = tile_source(declared, "declared.c", TileOptions(
        tile_sizes=(8,), hierarchy=HIERARCHY)).regions
    assert region.assumed == ("_PB_N",)


def test_report_shows_the_sizes_a_header_and_defines_give(tmp_path):
    """``tiler tile`` on a kernel sized by -D and a header: the model's values in --report."""
    import subprocess
    import sys
    (tmp_path / "sizes.h").write_text("#ifndef NI\n#define NI 100\n#endif\n#define NJ 80\n"
                                      "#define DATA_TYPE double\n")
    source = tmp_path / "k.c"
    source.write_text('#include "sizes.h"\nstatic DATA_TYPE C[NI][NJ], A[NI][NJ];\n'
                      + SIZED_BY_ARGUMENTS.replace(
                          "void product(int ni, int nj, int nk, double C[ni][nj], "
                          "double A[ni][nk],\n             double B[nk][nj])",
                          "void product(int ni, int nj, int nk, DATA_TYPE B[nk][nj])"))
    done = subprocess.run([sys.executable, "-m", "tiler.cli", "tile", str(source), "-o", "-",
                           "-DNI=48", "--cache-sizes", "32K,512K,8M", "--report",
                           "--always-tile"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "parameter values for the cost model: ni = 48, nj = 80, nk = 80" in done.stderr
    assert "tiled 1 band(s)" in done.stderr
