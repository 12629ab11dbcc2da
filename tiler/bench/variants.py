"""The versions of a kernel the bench compares: its source text after the pass with a given
choice of tile sizes, and the Polly toolchain (clang's polyhedral optimiser) for the original.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tiler import pipeline
from tiler.errors import TilerError
from tiler.hierarchy import Hierarchy
from tiler.preprocess import Preprocessor

# The variants in the order of every table, JSON object and plot.
VARIANT_ORDER = ("original", "default", "fixed32", "autotuned", "clang", "polly")
# PLUTO's and Polly's default tile size: the baseline a tile-size model has to beat.
FIXED_SIZE = 32
# Polly's polyhedral optimiser with its default tiling (32 per loop) switched on explicitly.
POLLY_FLAGS = ("-mllvm", "-polly", "-mllvm", "-polly-tiling")
# clang commands tried for Polly, newest first, when none is given.
POLLY_COMPILERS = ("clang-19", "clang-18", "clang-17", "clang-16", "clang")


@dataclass(frozen=True)
class TiledText:
    """A kernel's text after the pass, with what the pass chose.

    Attributes:
        text: the tiled file.
        tiled: whether any band was tiled (if not, the text is the original's).
        band_sizes: the tile sizes of every tiled band, in program order.
        depth: the number of members of the deepest tiled band.
        pass_s: the time of the whole pass.
        model_s: the time the size model took to choose (0 when sizes were given).
        notes: the pass's note per region.
        predicted_ns: the model's predicted time, summed over the bands it judged (``None``:
            none; with given sizes only where a hierarchy was given).
    """

    text: str
    tiled: bool
    band_sizes: tuple[tuple[int, ...], ...]
    depth: int
    pass_s: float
    model_s: float
    notes: tuple[str, ...]
    predicted_ns: float | None = None


def tile_text(text: str, filename: str, sizes: Sequence[int] | None,
              hierarchy: Hierarchy | None, preprocessor: Preprocessor | None = None
              ) -> TiledText:
    """Return ``text`` tiled with ``sizes`` (``None``: the model's sizes for ``hierarchy``;
    with sizes, a ``hierarchy`` only prices them), the regions seen through ``preprocessor``
    (the build's compiler and its ``-D``/``-I`` flags: the model takes the problem sizes of
    the build). Raises ``TilerError`` when the pass rejects the file."""
    options = pipeline.TileOptions(tile_sizes=tuple(sizes) if sizes else None,
                                   hierarchy=hierarchy,
                                   preprocessor=preprocessor or pipeline.DEFAULT_PREPROCESSOR)
    started = time.perf_counter()
    result = pipeline.tile_source(text, filename, options)
    elapsed = time.perf_counter() - started
    bands = [band for region in result.regions for band in region.bands]
    model = sum(getattr(band.plan.details, "seconds", 0.0) for band in bands)
    verdicts = [band.plan.verdict for band in bands if band.plan.verdict is not None]
    return TiledText(result.text, any(region.tiled for region in result.regions),
                     tuple(tuple(band.sizes) for band in bands),
                     max((len(band.sizes) for band in bands), default=0), elapsed, model,
                     tuple(region.note for region in result.regions),
                     sum(verdict.tiled_ns for verdict in verdicts) if verdicts else None)


@dataclass(frozen=True)
class PollyToolchain:
    """A clang that runs Polly, or the reason none was found."""

    compiler: tuple[str, ...] | None
    note: str


def find_polly(candidates: Sequence[str] | None = None) -> PollyToolchain:
    """Return the first clang of ``candidates`` that compiles a trivial file with Polly on."""
    tried = []
    for name in candidates or POLLY_COMPILERS:
        command = tuple(name.split())
        if shutil.which(command[0]) is None:
            continue
        tried.append(name)
        if _polly_works(command):
            return PollyToolchain(command, f"{name} with {' '.join(POLLY_FLAGS)}")
    if tried:
        return PollyToolchain(None, f"{', '.join(tried)} found but without Polly "
                              "(-mllvm -polly is rejected); install libpolly-NN-dev")
    return PollyToolchain(None, "no clang with Polly found (e.g. apt-get install clang-19 "
                          "libpolly-19-dev)")


def _polly_works(compiler: tuple[str, ...]) -> bool:
    with tempfile.TemporaryDirectory(prefix="tiler-polly-") as directory:
        source = Path(directory) / "empty.c"
        source.write_text("int main(void) { return 0; }\n")
        try:
            result = subprocess.run([*compiler, "-O3", *POLLY_FLAGS, str(source), "-o",
                                     str(Path(directory) / "empty")], capture_output=True,
                                    check=False, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0


def describe_tiling_error(error: TilerError) -> str:
    """Return the pass's error as one line for a report."""
    return str(error).splitlines()[0]
