"""Build and run one benchmark program, read the time it reports and compare its output.

A kernel is a C file in one of two conventions:

* the examples' own: ``checksum: %.17g`` on stdout, ``kernel_time_s: %.6f`` on stderr;
* PolyBench/C 4.2.1: a ``utilities/`` directory (``polybench.c``, ``polybench.h``) somewhere
  above the file, compiled alongside it; built with ``-DPOLYBENCH_TIME`` the program prints the
  kernel time as a bare number on stdout, and built with ``-DPOLYBENCH_DUMP_ARRAYS`` it dumps its
  output arrays on stderr, which is what two builds are compared by.

Any other program is timed by its wall time and compared by its whole stdout.
"""

from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tiler.errors import TilerError

# How far up from a kernel the PolyBench ``utilities/`` directory is looked for: PolyBench
# keeps kernels three levels below its root (linear-algebra/blas/gemm/gemm.c).
POLYBENCH_SEARCH_DEPTH = 5
POLYBENCH_TIME_DEFINE = "POLYBENCH_TIME"
POLYBENCH_DUMP_DEFINE = "POLYBENCH_DUMP_ARRAYS"
LIBRARIES = ("-lm",)

_INTEGER_DEFINE = re.compile(r"^-D([A-Za-z_]\w*)=\(?(\d+)[uUlL]*\)?$")
# A macro the file defines, and a macro with an integer value in ``cc -E -dM`` output.
_DEFINED_NAME = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", re.MULTILINE)
_MACRO_VALUE = re.compile(r"^#define ([A-Za-z_]\w*) \(?(\d+)[uUlL]*\)?$", re.MULTILINE)
_CHECKSUM_LINE = re.compile(r"^checksum:.*$", re.MULTILINE)
_KERNEL_TIME = re.compile(r"^kernel_time_s:\s*(\S+)\s*$", re.MULTILINE)
_BARE_NUMBER_LINE = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*$", re.MULTILINE)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)",
                     re.IGNORECASE)


class BuildFailure(RuntimeError):
    """The compiler rejected a program; the message holds the command and its diagnostics."""


class RunFailure(RuntimeError):
    """A program exited with an error status, was killed, or ran past its time limit."""


@dataclass(frozen=True)
class Kernel:
    """A C file to benchmark and how to build it.

    Attributes:
        name: the file's stem, the kernel's name in reports.
        path: the file.
        text: its source text.
        include_dirs: ``-I`` directories (the file's own, so a tiled copy built elsewhere still
            finds its headers, and PolyBench's ``utilities/``).
        extra_sources: other C files linked in (PolyBench's ``polybench.c``).
        polybench: whether the file follows the PolyBench conventions.
    """

    name: str
    path: Path
    text: str
    include_dirs: tuple[Path, ...]
    extra_sources: tuple[Path, ...] = ()
    polybench: bool = False


@dataclass(frozen=True)
class Toolchain:
    """A compiler command and the flags every program of one variant is built with."""

    compiler: tuple[str, ...]
    flags: tuple[str, ...]

    def describe(self) -> str:
        """Return the command line prefix as a shell would show it."""
        return shlex.join([*self.compiler, *self.flags])


@dataclass(frozen=True)
class Output:
    """What one run of a program printed and how long it took."""

    stdout: str
    stderr: str
    wall_s: float


@dataclass(frozen=True)
class Measurement:
    """The time a run is scored by and where it came from (``kernel``, ``polybench``, ``wall``)."""

    seconds: float
    source: str


@dataclass(frozen=True)
class Comparison:
    """Whether an output matches the reference and by how much its numbers differ."""

    matches: bool
    max_relative_difference: float = 0.0
    detail: str = field(default="")


def find_polybench_utilities(path: Path) -> Path | None:
    """Return the PolyBench ``utilities/`` directory above ``path``, or ``None``."""
    directory = path.resolve().parent
    for _ in range(POLYBENCH_SEARCH_DEPTH + 1):
        candidate = directory / "utilities"
        if (candidate / "polybench.c").is_file() and (candidate / "polybench.h").is_file():
            return candidate
        if directory.parent == directory:
            break
        directory = directory.parent
    return None


def load_kernel(path: str | Path) -> Kernel:
    """Return the kernel in the C file ``path``; raise ``TilerError`` if it cannot be read."""
    from tiler.pipeline import read_source

    source = Path(path)
    text = read_source(source)
    utilities = find_polybench_utilities(source)
    includes = (source.resolve().parent,)
    if utilities is None:
        return Kernel(source.stem, source, text, includes)
    return Kernel(source.stem, source, text, includes + (utilities,),
                  (utilities / "polybench.c",), polybench=True)


def kernel_defines(kernel: Kernel, flags: Sequence[str], check: bool = False) -> tuple[str, ...]:
    """Return the ``-D`` flags the bench adds to a build of ``kernel``: PolyBench's timer for a
    timed build, its array dump for a ``check`` build; nothing for other kernels."""
    if not kernel.polybench:
        return ()
    wanted = POLYBENCH_DUMP_DEFINE if check else POLYBENCH_TIME_DEFINE
    if any(flag == f"-D{wanted}" or flag.startswith(f"-D{wanted}=") for flag in flags):
        return ()
    return (f"-D{wanted}",)


def integer_defines(flags: Sequence[str]) -> dict[str, int]:
    """Return the ``-DNAME=integer`` macros of ``flags`` (the problem sizes of a build)."""
    found = {}
    for flag in flags:
        match = _INTEGER_DEFINE.match(flag)
        if match:
            found[match.group(1)] = int(match.group(2))
    return found


def file_constants(kernel: Kernel, toolchain: Toolchain, timeout_s: float = 60.0
                   ) -> dict[str, int]:
    """Return the integer value of every macro the kernel's file ``#define``s, as the compiler
    sees it under ``toolchain``'s flags (``-DLARGE`` picks a file's large sizes; ``-DN=500``
    overrides one), plus the integer ``-D`` macros of the flags.

    The model reads sizes from the file's ``#define`` lines as written, where the last of
    ``#ifdef LARGE / #define N 4000`` and ``#ifndef N / #define N 40`` would win whatever the
    flags; the preprocessor knows which one the build uses. Falls back to the ``-D`` flags
    alone if the preprocessor fails.
    """
    given = integer_defines(toolchain.flags)
    command = [*toolchain.compiler, *toolchain.flags, *kernel_defines(kernel, toolchain.flags),
               *(f"-I{directory}" for directory in kernel.include_dirs), "-E", "-dM",
               str(kernel.path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return given
    if result.returncode != 0:
        return given
    own = set(_DEFINED_NAME.findall(kernel.text))
    values = {name: int(value) for name, value in _MACRO_VALUE.findall(result.stdout)
              if name in own}
    return {**values, **given}


def compile_program(text: str, kernel: Kernel, toolchain: Toolchain, workdir: Path, name: str,
                    check: bool = False, timeout_s: float = 600.0) -> Path:
    """Return the binary of ``text`` (a version of ``kernel``) built in ``workdir``.

    ``check`` builds the PolyBench output dump instead of the timer. Raises ``BuildFailure``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / f"{name}.c"
    binary = workdir / name
    source.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    command = [*toolchain.compiler, *toolchain.flags,
               *kernel_defines(kernel, toolchain.flags, check),
               *(f"-I{directory}" for directory in kernel.include_dirs),
               str(source), *map(str, kernel.extra_sources), "-o", str(binary), *LIBRARIES]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildFailure(f"{shlex.join(command)}: {error}") from None
    if result.returncode != 0:
        raise BuildFailure(f"{shlex.join(command)}\n{result.stderr.strip()}")
    return binary


def run_program(binary: Path, timeout_s: float) -> Output:
    """Return the output of one run of ``binary``; raise ``RunFailure`` if it fails or hangs."""
    started = time.perf_counter()
    try:
        result = subprocess.run([str(binary)], capture_output=True, text=True, check=False,
                                timeout=timeout_s, errors="replace")
    except subprocess.TimeoutExpired:
        raise RunFailure(f"{binary.name} ran longer than {timeout_s:g} s") from None
    except OSError as error:
        raise RunFailure(f"{binary.name} could not start: {error}") from None
    wall = time.perf_counter() - started
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or [""])[-1][:200]
        raise RunFailure(f"{binary.name} exited with status {result.returncode} {tail}".strip())
    return Output(result.stdout, result.stderr, wall)


def measure(output: Output, kernel: Kernel) -> Measurement:
    """Return the kernel time a run reports (``kernel_time_s:`` on stderr, or PolyBench's bare
    number on stdout), else the wall time of the whole process."""
    reported = _KERNEL_TIME.findall(output.stderr)
    if len(reported) == 1:
        return Measurement(float(reported[0]), "kernel")
    if kernel.polybench:
        bare = _BARE_NUMBER_LINE.findall(output.stdout)
        if len(bare) == 1:
            return Measurement(float(bare[0]), "polybench")
    return Measurement(output.wall_s, "wall")


def output_to_compare(output: Output, kernel: Kernel, check: bool = False) -> str:
    """Return the part of a run's output that must be equal between variants: the
    ``checksum:`` lines when there are any; PolyBench's array dump (stderr) for a ``check``
    build; otherwise stdout without PolyBench's timer line."""
    if check and kernel.polybench:
        return output.stderr
    checksums = _CHECKSUM_LINE.findall(output.stdout)
    if checksums:
        return "\n".join(checksums)
    if kernel.polybench:
        return _BARE_NUMBER_LINE.sub("", output.stdout)
    return output.stdout


def compare_outputs(expected: str, actual: str, relative_tolerance: float) -> Comparison:
    """Return whether ``actual`` matches ``expected``: the same text between numbers and the
    numbers equal within ``relative_tolerance`` (compilers may contract ``a*b+c`` into a
    fused multiply-add in one build and not in another, which changes the last bits)."""
    if expected == actual:
        return Comparison(True)
    expected_numbers, actual_numbers = _NUMBER.findall(expected), _NUMBER.findall(actual)
    if _NUMBER.split(expected) != _NUMBER.split(actual) or \
            len(expected_numbers) != len(actual_numbers):
        return Comparison(False, math.inf, _first_difference(expected, actual))
    worst, where = 0.0, ""
    for index, (left, right) in enumerate(zip(expected_numbers, actual_numbers)):
        difference = _relative_difference(float(left), float(right))
        if difference > worst:
            worst, where = difference, f"value {index + 1}: expected {left}, got {right}"
    if worst <= relative_tolerance:
        return Comparison(True, worst)
    return Comparison(False, worst, where)


def _relative_difference(left: float, right: float) -> float:
    if left == right or (math.isnan(left) and math.isnan(right)):
        return 0.0
    scale = max(abs(left), abs(right))
    if math.isinf(scale) or math.isnan(scale):
        return math.inf
    return abs(left - right) / scale


def _first_difference(expected: str, actual: str) -> str:
    for number, (left, right) in enumerate(zip(expected.splitlines(), actual.splitlines()), 1):
        if left != right:
            return f"line {number}: expected {left[:80]!r}, got {right[:80]!r}"
    return f"expected {len(expected.splitlines())} lines, got {len(actual.splitlines())}"


def compiler_version(compiler: Sequence[str]) -> str:
    """Return the first line of ``compiler --version`` (the command itself if that fails)."""
    try:
        result = subprocess.run([*compiler, "--version"], capture_output=True, text=True,
                                check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return " ".join(compiler)
    lines = result.stdout.splitlines()
    return lines[0] if result.returncode == 0 and lines else " ".join(compiler)


def require_compiler(compiler: Sequence[str]) -> None:
    """Raise ``TilerError`` unless ``compiler`` names a program on the PATH."""
    if not compiler or shutil.which(compiler[0]) is None:
        raise TilerError(f"no C compiler '{' '.join(compiler)}' on the PATH (see --cc)")
