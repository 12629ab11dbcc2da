"""Golden tests of the code generator: each input in ``tests/golden/`` must become exactly its
``.expected.c`` file. They pin the shape of the output (loop structure, macros, names); whether
the output computes the right thing is the differential test's job (test_examples.py).

After an intended change of the generated code, regenerate the expected files with
``TILER_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ccutil import WARNING_FLAGS, describe_difference

from tiler.pipeline import TileOptions, tile_source
from tiler.target import Target

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("TILER_UPDATE_GOLDEN", "") not in ("", "0")

# input file stem -> how it is tiled
CASES: dict[str, TileOptions] = {
    "rect2d": TileOptions(tile_sizes=(32, 32)),       # original order, one 2-deep band
    "gemm": TileOptions(tile_sizes=(32, 32, 32),      # imperfect nest, 3-deep band
                        register_tiles=False),
    # a 4x8 micro-tile for a fixed AVX2-like target (4 doubles a vector, 16 registers)
    "product": TileOptions(tile_sizes=(32, 32, 32), micro_tile=(4, 8),
                           target=Target(32, 16, True, "golden"), pack=False),
    # the same micro-tile with its broadcast operand packed (a panel per 4-row block)
    "panel": TileOptions(tile_sizes=(32, 32, 32), micro_tile=(4, 8),
                         target=Target(32, 16, True, "golden")),
    # a reference gathered along the vector member into a transposed panel
    "gathered": TileOptions(tile_sizes=(32, 32, 32), micro_tile=(4, 8),
                            target=Target(32, 16, True, "golden")),
    "stencil1d": TileOptions(tile_sizes=(8, 16)),     # time loop: skewed band
}


def expected_path(case: str) -> Path:
    return GOLDEN_DIR / f"{case}.expected.c"


@pytest.mark.parametrize("case", CASES)
def test_generated_code_matches_golden(case):
    source = GOLDEN_DIR / f"{case}.c"
    result = tile_source(source.read_text(), source.name, CASES[case])
    assert any(region.tiled for region in result.regions), result.regions
    expected = expected_path(case)
    if UPDATE:
        expected.write_text(result.text)
        return
    assert expected.exists(), (f"{expected} is missing; create it with "
                               "TILER_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py")
    assert result.text == expected.read_text(), (
        f"the code generated for {source.name} changed (regenerate with TILER_UPDATE_GOLDEN=1 "
        f"if intended):\n{describe_difference(expected.read_text(), result.text, 40)}")


@pytest.mark.parametrize("case", CASES)
def test_golden_output_is_valid_c(case, cc, tmp_path):
    """The expected files themselves compile cleanly, so a golden never pins broken code."""
    import subprocess

    expected = expected_path(case)
    if not expected.exists():
        pytest.fail(f"{expected} is missing")
    command = [*cc, "-std=c99", "-fsyntax-only", *WARNING_FLAGS, "-Wno-unknown-pragmas",
               "-Wno-unused-variable", "-Werror", str(expected)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
