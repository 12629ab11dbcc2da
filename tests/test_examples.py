"""Differential test of the examples: every ``examples/*.c`` built as written and after the
pass, with several tile-size choices, must print the same checksum and the same value of every
output element, to the last bit.

Tiling never reorders the two ends of a dependence, and every dependence is kept (a reduction
too), so each floating-point operation sees the same operands in the same order: the results
are bit-identical, not just close. The checksum alone would not show it (a last-bit change of
an element is absorbed by the sum), so the programs are built with ``-DDUMP_ARRAYS`` and their
whole output is compared. Sizes are small primes, so no extent is a multiple of a tile size and
every partial tile is exercised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
from ccutil import (
    DUMP_DEFINES,
    EXACT_FLAGS,
    NATIVE_FLAGS,
    WARNING_FLAGS,
    Build,
    Run,
    compile_c,
    describe_difference,
    run_binary,
)
from conftest import EXAMPLES_DIR, example_paths

from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions, TileResult, tile_source

EXAMPLES = [path.stem for path in example_paths()]

# Problem sizes for the tests: primes above 7 (no multiple of any tile size used below), each
# run well under 0.2 s. A new example needs an entry here.
SMALL_SIZES: dict[str, dict[str, int]] = {
    "backsolve": {"N": 61, "NR": 37},
    "contraction": {"NA": 11, "NB": 37, "NC": 41, "ND": 13},
    "covariance": {"N": 43, "M": 37},
    "floyd_warshall": {"N": 59},
    "gemm": {"NI": 37, "NJ": 53, "NK": 41},
    "heat3d": {"N": 23, "TSTEPS": 11},
    "jacobi2d": {"N": 47, "TSTEPS": 13},
    "lu": {"N": 67},
    "mvt": {"N": 71},
    "syrk": {"N": 53, "M": 37},
    "two_mm": {"NI": 37, "NJ": 43, "NK": 41, "NL": 53},
}

VARIANTS: dict[str, TileOptions] = {
    "32": TileOptions(tile_sizes=(32,)),              # the classic fixed size, every member
    # Sizes from the footprint model, for a fixed hierarchy so the test does not depend on
    # (or probe) the machine it runs on; tiled even where the model would leave the nest as
    # it is (tests/test_decide.py checks that decision).
    "model": TileOptions(hierarchy=parse_cache_sizes("48K,2M,32M"), decide=False),
    "4x4x4": TileOptions(tile_sizes=(4, 4, 4)),
    "1x5x3": TileOptions(tile_sizes=(1, 5, 3)),       # a size of 1 leaves that member whole
    "7": TileOptions(tile_sizes=(7,)),                 # fewer sizes than band members
    "1000": TileOptions(tile_sizes=(1000,)),           # tiles larger than every trip count
    "untiled": TileOptions(tile=False),                # regenerated code, same order
}

# Warnings the pass may add: the region's own iterators are no longer used once the loops
# are regenerated with fresh names.
ACCEPTED_NEW_WARNINGS = {"-Wunused-variable"}


@dataclass
class ExampleBuilds:
    """Compiled and run programs, shared by every test of the module: the original of each
    example is built once, whatever the number of variants compared with it."""

    root: Path
    compiler: tuple[str, ...]

    def __post_init__(self) -> None:
        self._builds: dict[tuple, Build] = {}
        self._runs: dict[Path, Run] = {}
        self._tiled: dict[tuple[str, str], TileResult] = {}

    @cached_property
    def sources(self) -> dict[str, str]:
        return {name: (EXAMPLES_DIR / f"{name}.c").read_text() for name in EXAMPLES}

    def tiled(self, name: str, variant: str) -> TileResult:
        key = (name, variant)
        if key not in self._tiled:
            self._tiled[key] = tile_source(self.sources[name], f"{name}.c", VARIANTS[variant])
        return self._tiled[key]

    def build(self, name: str, text: str, flags: tuple[str, ...]) -> Build:
        """Return the build of ``text`` at the test sizes of example ``name``."""
        defines = {**SMALL_SIZES[name], **DUMP_DEFINES}
        key = (text, flags, tuple(sorted(defines.items())))
        if key not in self._builds:
            self._builds[key] = compile_c(text, self.root, self.compiler, flags, defines)
        return self._builds[key]

    def run(self, build: Build) -> Run:
        if build.binary not in self._runs:
            self._runs[build.binary] = run_binary(build.binary, timeout=30)
        return self._runs[build.binary]

    def original(self, name: str, flags: tuple[str, ...] = EXACT_FLAGS + WARNING_FLAGS
                 ) -> tuple[Build, Run]:
        build = self.build(name, self.sources[name], flags)
        return build, self.run(build)


@pytest.fixture(scope="module")
def builds(tmp_path_factory, cc) -> ExampleBuilds:
    return ExampleBuilds(tmp_path_factory.mktemp("examples"), cc)


def test_generated_files_are_not_examples(tmp_path):
    # The README's quick start leaves examples/gemm.tiled.c; the suite run after it must not
    # take that file for an example of its own.
    for name in ("gemm.c", "gemm.tiled.c", "lu.c", "lu.tiled.c"):
        (tmp_path / name).write_text("int main(void) { return 0; }\n")
    assert [path.name for path in example_paths(tmp_path)] == ["gemm.c", "lu.c"]


def test_every_example_has_small_sizes():
    assert EXAMPLES, f"no examples found in {EXAMPLES_DIR}"
    missing = [name for name in EXAMPLES if name not in SMALL_SIZES]
    assert not missing, f"add test sizes to SMALL_SIZES for: {', '.join(missing)}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_follows_conventions(name, builds):
    text = builds.sources[name]
    assert len(re.findall(r"^\s*#\s*pragma\s+scop\b", text, re.MULTILINE)) == 1
    for macro in SMALL_SIZES[name]:
        assert re.search(rf"#ifndef {macro}\n#define {macro} \d+\n#endif", text), \
            f"size {macro} cannot be overridden with -D{macro}=..."
    _, run = builds.original(name)
    assert run.kernel_time >= 0
    # Bounded by work, not seconds: every problem size stays small (the nests are at most
    # 4 deep, so at most 128^4/64 iterations per example).
    assert all(value <= 128 for value in SMALL_SIZES[name].values()), \
        "test sizes too large: the differential test must stay fast"
    assert re.fullmatch(r"-?\d[\d.e+-]*|-?inf|nan", run.checksum), run.checksum
    assert len(run.stdout.splitlines()) > 1, "-DDUMP_ARRAYS prints no output element"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_tiled_example_prints_same_checksum(name, variant, builds):
    result = builds.tiled(name, variant)
    if VARIANTS[variant].tile:
        notes = "; ".join(region.note for region in result.regions)
        assert any(region.tiled for region in result.regions), f"{name} not tiled: {notes}"
        assert result.text != builds.sources[name]

    original_build, original_run = builds.original(name)
    tiled_build = builds.build(name, result.text, EXACT_FLAGS + WARNING_FLAGS)
    new_warnings = (tiled_build.warning_options() - original_build.warning_options()
                    - ACCEPTED_NEW_WARNINGS)
    assert not new_warnings, f"the tiled code adds warnings:\n{tiled_build.diagnostics}"

    tiled_run = builds.run(tiled_build)
    assert tiled_run.checksum == original_run.checksum
    assert tiled_run.stdout == original_run.stdout, \
        describe_difference(original_run.stdout, tiled_run.stdout)


@pytest.mark.parametrize("name", EXAMPLES)
def test_tiled_example_builds_native(name, builds):
    """The tiling with 32 also compiles and runs at -O3 -march=native, with the same result
    as the original built the same way (contraction is off, and nothing else reassociates)."""
    _, original_run = builds.original(name, NATIVE_FLAGS)
    tiled = builds.build(name, builds.tiled(name, "32").text, NATIVE_FLAGS)
    tiled_run = builds.run(tiled)
    assert tiled_run.stdout == original_run.stdout, \
        describe_difference(original_run.stdout, tiled_run.stdout)


PARALLEL = TileOptions(hierarchy=parse_cache_sizes("48K,2M,32M"), parallel=True, decide=False)


@pytest.mark.parametrize("name", EXAMPLES)
def test_parallel_example_matches_with_openmp(name, builds):
    """--parallel: the marked loops carry no dependence, so the OpenMP build (two threads on
    this machine) prints exactly what the original prints."""
    result = tile_source(builds.sources[name], f"{name}.c", PARALLEL)
    _, original_run = builds.original(name)
    tiled = builds.build(name, result.text, EXACT_FLAGS + ("-fopenmp",))
    assert builds.run(tiled).stdout == original_run.stdout
    # A tiled band gets a parallel loop: a coincident tile loop, or, for a band no loop
    # encloses, the loop along a wavefront of tiles.
    marked = result.text.count("#pragma omp parallel for")
    assert (marked > 0) == (name != "floyd_warshall"), result.regions[0].note
