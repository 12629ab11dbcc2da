"""Reproducers in ``tests/regressions/``: small self-contained programs (the conventions of the
examples, at small default sizes) that once went wrong. Each must keep its output when tiled;
those listed in ``EXPECT_TILED`` must also come out tiled. Known open problems are xfail with
the reason, strictly, so that a fix shows up as an unexpected pass to be turned into a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ccutil import DUMP_DEFINES, EXACT_FLAGS, compile_and_run, describe_difference

from tiler.pipeline import TileOptions, tile_source

REGRESSIONS_DIR = Path(__file__).resolve().parent / "regressions"
REPRODUCERS = sorted(path.stem for path in REGRESSIONS_DIR.glob("*.c"))

# Reproducers whose region should be tiled.
EXPECT_TILED = {"scalar_temporary"}

# reproducer -> why it fails today
KNOWN_OPEN: dict[str, str] = {}

OPTIONS = TileOptions(tile_sizes=(32,))


def _marks(name: str) -> list:
    if name in KNOWN_OPEN:
        return [pytest.mark.xfail(reason=KNOWN_OPEN[name], strict=True)]
    return []


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in REPRODUCERS])
def test_reproducer(name, cc, tmp_path):
    source = (REGRESSIONS_DIR / f"{name}.c").read_text()
    result = tile_source(source, f"{name}.c", OPTIONS)
    original = compile_and_run(source, tmp_path, cc, EXACT_FLAGS, DUMP_DEFINES)
    tiled = compile_and_run(result.text, tmp_path, cc, EXACT_FLAGS, DUMP_DEFINES)
    assert tiled.stdout == original.stdout, describe_difference(original.stdout, tiled.stdout)
    if name in EXPECT_TILED:
        notes = "; ".join(region.note for region in result.regions)
        assert any(region.tiled for region in result.regions), notes
