"""Shared fixtures: the C compiler every compile-and-run test uses, and where the examples are."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccutil import CompilerMissing, compiler_version, find_compiler

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPOSITORY / "examples"
# What `tiler tile` writes beside its input (the README's quick start leaves
# examples/gemm.tiled.c): generated, so not an example of its own.
GENERATED_SUFFIX = ".tiled.c"


def example_paths(directory: Path = EXAMPLES_DIR) -> list[Path]:
    """Return the example programs in ``directory``, sorted, without the files tiler wrote
    there."""
    return sorted(path for path in directory.glob("*.c")
                  if not path.name.endswith(GENERATED_SUFFIX))


def pytest_report_header(config) -> str:
    try:
        return f"C compiler: {compiler_version(find_compiler())}"
    except CompilerMissing as missing:
        return f"C compiler: none ({missing})"


@pytest.fixture(scope="session")
def cc() -> tuple[str, ...]:
    """The C compiler command; a missing compiler fails the test instead of skipping it,
    because the differential tests are the ones that show the pass keeps programs correct."""
    try:
        return find_compiler()
    except CompilerMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The directory of the example programs."""
    return EXAMPLES_DIR
