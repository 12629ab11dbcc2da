"""Build C sources into shared libraries at run time, once per source, flags and compiler."""

from __future__ import annotations

import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tiler.errors import TilerError
from tiler.hierarchy import cache_dir

# Position-independent code in a shared object, for ctypes.
LIBRARY_FLAGS = ("-fPIC", "-shared")


def c_compiler(purpose: str) -> list[str]:
    """Return the C compiler command, ``$CC`` or ``cc``; ``purpose`` names what it builds."""
    command = shlex.split(os.environ.get("CC", "") or "cc")
    if not command or shutil.which(command[0]) is None:
        raise TilerError(f"no C compiler to build the {purpose}: "
                         f"{command[0] if command else ''!r} not found; set CC to a C compiler")
    return command


@functools.cache
def compiler_version(command: tuple[str, ...]) -> str:
    """Return what the compiler says of its version (part of every build's cache key)."""
    try:
        return subprocess.run([*command, "--version"], capture_output=True, text=True,
                              timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise TilerError(f"cannot run the C compiler {' '.join(command)!r} (CC): {error}") \
            from None


def compiler_is_gcc(purpose: str) -> bool:
    """Return whether the C compiler (``c_compiler``) is GCC, for GCC-only flags."""
    version = compiler_version(tuple(c_compiler(purpose)))
    return "Free Software Foundation" in version and "clang" not in version.lower()


def build_shared_library(source: str, name: str, purpose: str, flags: Sequence[str],
                         include_dirs: Sequence[Path] = (), key_extra: str = "") -> Path:
    """Return the shared library built from the C text ``source`` under the user cache
    (``<cache>/<name>/<name>-<hash>.so``), compiling it only when no build of the same source,
    flags, extra key and compiler exists. ``purpose`` names the build in error messages."""
    command = c_compiler(purpose)
    options = [*flags, *LIBRARY_FLAGS, *(f"-I{path}" for path in include_dirs)]
    key = hashlib.sha256("\0".join([source, key_extra, " ".join(command + options),
                                    compiler_version(tuple(command))]).encode()).hexdigest()
    library = cache_dir() / name / f"{name}-{key[:16]}.so"
    if library.exists():
        return library
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TilerError(f"cannot build the {purpose} in {library.parent}: {error.strerror} "
                         f"(set TILER_CACHE_DIR to a writable directory)") from None
    with tempfile.TemporaryDirectory(dir=library.parent) as work:
        source_path = Path(work) / f"{name}.c"
        source_path.write_text(source, encoding="utf-8")
        built = subprocess.run([*command, *options, "-o", str(Path(work) / "built.so"),
                                str(source_path)], capture_output=True, text=True, check=False)
        if built.returncode != 0:
            raise TilerError(f"the C compiler {' '.join(command)!r} (CC) failed on the "
                             f"{purpose}:\n{built.stderr.strip()}")
        os.replace(Path(work) / "built.so", library)
    return library
