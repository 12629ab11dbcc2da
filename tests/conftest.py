"""Shared fixtures: the C compiler every compile-and-run test uses, and where the examples are."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccutil import CompilerMissing, compiler_version, find_compiler

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPOSITORY / "examples"


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
