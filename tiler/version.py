"""The version of tiler: from the installed package's metadata, else from pyproject.toml
(a source tree used without installing it)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "tiler"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_PROJECT_VERSION = re.compile(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"',
                              re.MULTILINE | re.DOTALL)


def pyproject_version(path: Path = PYPROJECT) -> str | None:
    """Return the ``version`` of the ``[project]`` table of ``path`` (None: none found)."""
    try:
        found = _PROJECT_VERSION.search(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


def package_version() -> str:
    """Return tiler's version: the installed distribution's, else pyproject.toml's, else
    ``"unknown"``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return pyproject_version() or "unknown"
