"""`tiler tile` on the command line: outputs, notes, and every kind of bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tiler.cli import main

PROLOGUE = "#include <math.h>\nvoid kernel(int N, double A[N][N], double B[N][N]) {\n  int i, j;\n"
EPILOGUE = "}\n"


def _file(tmp_path: Path, region: str, name: str = "k.c") -> Path:
    path = tmp_path / name
    path.write_text(PROLOGUE + "#pragma scop\n" + region + "#pragma endscop\n" + EPILOGUE)
    return path


GOOD = ("  for (i = 0; i < N; i++)\n"
        "    for (j = 0; j < N; j++)\n"
        "      A[i][j] = A[i][j] + B[j][i];\n")


def test_writes_tiled_file_beside_input(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    before = source.read_bytes()
    assert main(["tile", str(source), "--tile-sizes", "32"]) == 0
    out = tmp_path / "k.tiled.c"
    text = out.read_text()
    assert "c0 += 32" in text and "#define S0(i, j) A[(i)][(j)] = A[(i)][(j)] + B[(j)][(i)]" \
        in text
    assert text.startswith(PROLOGUE + "#pragma scop\n") and text.endswith(
        "#pragma endscop\n" + EPILOGUE)
    assert source.read_bytes() == before


def test_default_sizes_come_from_the_cache_model(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    assert main(["tile", str(source), "-o", "-", "--cache-sizes", "32K,256K", "--report",
                 "--always-tile"]) == 0
    captured = capsys.readouterr()
    assert "footprint of one tile" in captured.err and "held by L1" in captured.err
    # the predicted times of the plan, of the source and of the 32-cube beside it
    assert re.search(r"predicted time: [\d.e+]+ ms tiled, [\d.e+]+ ms as the source has it "
                     r"\([\d.]+x\); runner-up 32x32: [\d.e+]+ ms", captured.err), captured.err
    assert "c0 += 32;" not in captured.out      # not the fixed default


def test_bad_cache_sizes(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    assert main(["tile", str(source), "--cache-sizes", "2M,48K"]) == 1
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "k.tiled.c").exists()


def test_output_to_stdout_and_sizes(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    assert main(["tile", str(source), "-o", "-", "--tile-sizes", "8,4"]) == 0
    out = capsys.readouterr().out
    assert "c0 += 8" in out and "c1 += 4" in out
    assert not (tmp_path / "k.tiled.c").exists()


def test_sizes_file_pluto_format(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    sizes = tmp_path / "tile.sizes"
    sizes.write_text("16\n2\n")
    assert main(["tile", str(source), "-o", "-", "--tile-sizes-file", str(sizes)]) == 0
    out = capsys.readouterr().out
    assert "c0 += 16" in out and "c1 += 2" in out


def test_bad_sizes_file(tmp_path, capsys):
    source = _file(tmp_path, GOOD)
    sizes = tmp_path / "tile.sizes"
    sizes.write_text("16\nbig\n")
    assert main(["tile", str(source), "--tile-sizes-file", str(sizes)]) == 1
    assert f"{sizes}:2:1: error:" in capsys.readouterr().err


def test_no_region_copies_input_with_note(tmp_path, capsys):
    source = tmp_path / "plain.c"
    source.write_text("int main(void) { return 0; }\n")
    assert main(["tile", str(source)]) == 0
    assert (tmp_path / "plain.tiled.c").read_bytes() == source.read_bytes()
    assert "no '#pragma scop' region" in capsys.readouterr().err


def test_untileable_region_is_copied_with_note(tmp_path, capsys):
    # Every iteration depends on the previous one through a scalar: nothing can be tiled.
    region = ("  for (i = 0; i < N; i++)\n    for (j = 0; j < N; j++)\n"
              "      s = s * A[i][j] + B[j][i] * s;\n")
    source = _file(tmp_path, region)
    assert main(["tile", str(source), "--tile-sizes", "32"]) == 0
    assert (tmp_path / "k.tiled.c").read_bytes() == source.read_bytes()
    assert "no tileable band" in capsys.readouterr().err


def test_several_regions_each_tiled(tmp_path):
    path = tmp_path / "two.c"
    region = "#pragma scop\n" + GOOD + "#pragma endscop\n"
    path.write_text(PROLOGUE + region + "  /* between */\n" + region + EPILOGUE)
    assert main(["tile", str(path), "--tile-sizes", "5"]) == 0
    text = (tmp_path / "two.tiled.c").read_text()
    assert text.count("c0 += 5") == 2 and "  /* between */\n" in text


BAD_INPUTS = [
    ("syntax", "  for (i = 0; i < N; i++)\n    A[i][0] = = 1;\n", 6, 15, "syntax error at '='"),
    ("product", "  for (i = 0; i < N; i++)\n    for (j = 0; j < N; j++)\n      A[i*j][0] = 1;\n",
     7, 9, "non-affine subscript 'i*j'"),
    ("indirect", "  for (i = 0; i < N; i++)\n    A[(int) B[i][0]][0] = 1;\n", 6, 13,
     "non-affine subscript 'B[i][0]': it reads the array 'B'"),
    ("bound", "  for (i = 0; i < N * N; i++)\n    A[i][0] = 1;\n", 5, 19,
     "non-affine loop condition 'N * N'"),
    ("while", "  while (N > 0)\n    A[0][0] = 1;\n", 5, 3, "a while loop is not allowed"),
    ("goto", "  for (i = 0; i < N; i++)\n    goto out;\n", 6, 5, "goto is not allowed"),
    ("pointer", "  for (i = 0; i < N; i++)\n    *p = A[i][0];\n", 6, 5,
     "a pointer dereference is not allowed"),
    ("member", "  for (i = 0; i < N; i++)\n    s.x = A[i][0];\n", 6, 5,
     "a struct member access is not allowed"),
    ("unbalanced", "  for (i = 0; i < N; i++) {\n    A[i][0] = 1;\n", 7, 1,
     "ends in the middle of a statement"),
    ("iterator_write", "  for (i = 0; i < N; i++)\n    i = 3;\n", 5, 8,
     "loop iterator 'i' is assigned"),
]


@pytest.mark.parametrize("name, region, line, column, message", BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_located_and_writes_nothing(tmp_path, capsys, name, region, line, column,
                                                 message):
    source = _file(tmp_path, region)
    before = source.read_bytes()
    assert main(["tile", str(source)]) == 1
    err = capsys.readouterr().err
    assert f"{source}:{line}:{column}: error:" in err, err
    assert message in err, err
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.c"]


def test_unmatched_pragma(tmp_path, capsys):
    path = tmp_path / "k.c"
    path.write_text("int x;\n#pragma scop\nint y;\n")
    assert main(["tile", str(path)]) == 1
    assert f"{path}:2:1: error: '#pragma scop' without a matching" in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert main(["tile", str(tmp_path / "none.c")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_usage_error_exit_code(tmp_path):
    assert main(["tile", "--tile-sizes", "0", "x.c"]) == 2


def test_console_script_runs(tmp_path):
    source = _file(tmp_path, GOOD)
    done = subprocess.run([sys.executable, "-m", "tiler.cli", "tile", str(source), "-o", "-"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "for (int c0" in done.stdout
