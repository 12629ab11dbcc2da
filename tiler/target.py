"""The vector unit of the target: vector width and register count from the compiler's
predefined macros for the flags the user compiles with (``cc FLAGS -dM -E -``)."""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass, replace

from tiler.preprocess import DEFAULT_CC, Preprocessor, predefined_macros

# The compiler and flags whose target the micro-tiles are sized for when the user names none:
# the build the README and the benchmarks use.
DEFAULT_COMPILER = DEFAULT_CC
DEFAULT_TARGET_FLAGS = ("-O3", "-march=native")
# (macro, vector bytes, vector registers), widest first: the first macro the compiler
# predefines decides. x86-64 has 16 vector registers below AVX-512 and 32 with it; AArch64
# has 32 NEON registers; SSE2 is in every x86-64.
VECTOR_UNITS = (
    ("__AVX512F__", 64, 32),
    ("__AVX__", 32, 16),
    ("__aarch64__", 16, 32),
    ("__ARM_NEON", 16, 16),
    ("__SSE2__", 16, 16),
)
# A target the macros say nothing about: scalar code, with the 16 registers of a common
# core, so that plain unroll-and-jam still keeps a small micro-tile in registers.
SCALAR_REGISTERS = 16


@dataclass(frozen=True)
class Target:
    """The vector unit micro-tiles are sized for."""

    vector_bytes: int            # bytes of one vector register (1 vector = 1 element: scalar)
    vector_registers: int
    fma: bool
    source: str                  # what it was read from: the macro, or why it is a default
    # the vectors the compiler's own loop vectoriser uses, where it prefers narrower ones than
    # the registers (None: the registers' width); see ``preferred_vector_bytes``
    loop_vector_bytes: int | None = None

    def loop_vector(self) -> int:
        """Return the bytes of the vectors the compiler's loop vectoriser emits."""
        return min(self.vector_bytes, self.loop_vector_bytes or self.vector_bytes)

    def lanes(self, element_bytes: int) -> int:
        """Return how many elements of ``element_bytes`` one vector holds (at least 1)."""
        return max(1, self.vector_bytes // element_bytes)


SCALAR_TARGET = Target(8, SCALAR_REGISTERS, False, "no vector unit known")


def target_from_macros(macros: str) -> Target:
    """Return the target that the output of ``cc -dM -E`` describes."""
    return _target_of({line.split()[1] for line in macros.splitlines()
                       if line.startswith("#define ") and len(line.split()) >= 2})


def _target_of(defined: set[str]) -> Target:
    fma = "__FMA__" in defined or "__ARM_FEATURE_FMA" in defined
    for macro, vector_bytes, registers in VECTOR_UNITS:
        if macro in defined:
            return Target(vector_bytes, registers, fma, macro)
    return Target(SCALAR_TARGET.vector_bytes, SCALAR_REGISTERS, fma, "no vector macro")


def detect_target(compiler: str = DEFAULT_COMPILER,
                  flags: tuple[str, ...] = DEFAULT_TARGET_FLAGS) -> Target:
    """Return the target ``compiler`` builds for with ``flags`` (its predefined macros,
    cached per compiler and flags); the scalar target when the compiler does not run."""
    defined = predefined_macros(Preprocessor(compiler, tuple(flags)))
    if not defined:
        return SCALAR_TARGET
    return replace(_target_of(set(defined)),
                   loop_vector_bytes=preferred_vector_bytes(compiler, tuple(flags)))


# gcc's tuning for recent Intel cores (Skylake-X on, Sapphire Rapids included) vectorises loops
# with 256-bit vectors though the registers hold 512 bits (``-mprefer-vector-width=256``);
# GNU C vector types of 64 bytes, as the micro-tiles use, are still compiled at full width.
# gcc says so with ``-Q --help=target``; other compilers are taken at the registers' width.
_PREFERRED_WIDTH = re.compile(r"-mprefer-vector-width=\s+(\d+)")
PREFERRED_WIDTH_SECONDS = 30


@functools.lru_cache(maxsize=16)
def preferred_vector_bytes(compiler: str, flags: tuple[str, ...]) -> int | None:
    """Return the vector bytes gcc's loop vectoriser prefers for ``flags`` (None: the
    compiler does not say, or prefers none)."""
    try:
        done = subprocess.run([compiler, *flags, "-Q", "--help=target"], capture_output=True,
                              text=True, check=False, timeout=PREFERRED_WIDTH_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _PREFERRED_WIDTH.search(done.stdout) if done.returncode == 0 else None
    return int(match.group(1)) // 8 if match else None
