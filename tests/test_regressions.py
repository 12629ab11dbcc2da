"""Reproducers in ``tests/regressions/``: small self-contained programs (the conventions of the
examples, at small default sizes) that once went wrong. Each must keep its output when tiled;
those listed in ``EXPECT_TILED`` must also come out tiled. Known open problems are xfail with
the reason, strictly, so that a fix shows up as an unexpected pass to be turned into a test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiling_check import assert_tiled_prints_the_same

from tiler.pipeline import TileOptions

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
    result, = assert_tiled_prints_the_same(source, f"{name}.c", [OPTIONS], tmp_path, cc)
    if name in EXPECT_TILED:
        notes = "; ".join(region.note for region in result.regions)
        assert any(region.tiled for region in result.regions), notes
