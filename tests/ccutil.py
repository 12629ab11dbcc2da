"""Compile and run C programs from the tests.

The helpers know the conventions of ``examples/*.c``: a program prints ``checksum: %.17g`` on
stdout and ``kernel_time_s: %.6f`` on stderr; built with ``-DDUMP_ARRAYS`` it also prints every
output element on stdout in hexadecimal floating point (``%a``), so two builds can be compared
bit for bit. They know nothing about tiling, so the differential, fuzzing and benchmark tests
can all share them.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Flags of a build whose output must be bit-identical to another build of the same program:
# contraction into fused multiply-adds rounds differently depending on how the compiler sees
# the expressions, so it is switched off explicitly (ISO modes already default to off).
EXACT_FLAGS = ("-O2", "-std=c99", "-ffp-contract=off")
# Warnings worth seeing; a call of an undeclared function is an error, since a statement macro
# that expands to one would otherwise compile to a wrong call.
WARNING_FLAGS = ("-Wall", "-Werror=implicit-function-declaration")
# The flags of a fast build; contraction stays off so its output can still be compared.
NATIVE_FLAGS = ("-O3", "-march=native", "-std=c99", "-ffp-contract=off")
LIBRARIES = ("-lm",)
# Defined for a build whose stdout must show every output element exactly.
DUMP_DEFINES = {"DUMP_ARRAYS": 1}

# How long a test program may run before it is considered hung.
DEFAULT_TIMEOUT_S = 60.0

_CHECKSUM = re.compile(r"^checksum: (\S+)$", re.MULTILINE)
_KERNEL_TIME = re.compile(r"^kernel_time_s: (\S+)$", re.MULTILINE)
_WARNING_OPTION = re.compile(r"warning: .*\[(-W[^\]=]+)[^\]]*\]")


class CompilerMissing(RuntimeError):
    """No usable C compiler: ``$CC`` is unset and neither ``gcc`` nor ``cc`` runs."""


class CompileError(RuntimeError):
    """The compiler rejected a program; the message holds the command and its diagnostics."""


class RunError(RuntimeError):
    """A compiled program failed, hung, or printed output the conventions do not allow."""


def find_compiler() -> tuple[str, ...]:
    """Return the C compiler command: ``$CC`` split like a shell word list, else ``gcc``,
    else ``cc``. Raises ``CompilerMissing`` when none of them runs."""
    if os.environ.get("CC", "").strip():
        candidates = [tuple(shlex.split(os.environ["CC"]))]
    else:
        candidates = [("gcc",), ("cc",)]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "--version"], capture_output=True, text=True,
                               check=False)
        if probe.returncode == 0:
            return command
    tried = ", ".join(" ".join(c) for c in candidates)
    raise CompilerMissing(f"no working C compiler (tried {tried}); the tests that compile and "
                          "run C need gcc: install it or point $CC at it")


def compiler_version(compiler: Sequence[str]) -> str:
    """Return the first line of ``compiler --version``."""
    output = subprocess.run([*compiler, "--version"], capture_output=True, text=True,
                            check=False).stdout
    return output.splitlines()[0] if output else " ".join(compiler)


def define_flags(defines: Mapping[str, object] | None) -> list[str]:
    """Return ``-DNAME=value`` flags, in a stable order."""
    return [f"-D{name}={value}" for name, value in sorted((defines or {}).items())]


@dataclass(frozen=True)
class Build:
    """A compiled program and what the compiler said about it."""

    binary: Path
    command: tuple[str, ...]
    diagnostics: str

    def warning_options(self) -> set[str]:
        """Return the options named by the compiler's warnings, e.g. ``{'-Wunused-variable'}``."""
        return set(_WARNING_OPTION.findall(self.diagnostics))


def compile_c(source: str | Path, workdir: Path, compiler: Sequence[str],
              flags: Sequence[str] = EXACT_FLAGS, defines: Mapping[str, object] | None = None,
              name: str | None = None) -> Build:
    """Return the build of ``source`` (C text, or a ``Path`` to a C file) in ``workdir``.

    ``name`` names the source and binary files; by default it is derived from a hash of the
    text, flags and defines, so equal requests reuse the same files. Raises ``CompileError``.
    """
    text = source.read_text() if isinstance(source, Path) else source
    options = [*flags, *define_flags(defines)]
    if name is None:
        digest = hashlib.sha256("\0".join([text, *compiler, *options]).encode()).hexdigest()
        name = f"prog_{digest[:16]}"
    workdir.mkdir(parents=True, exist_ok=True)
    source_path = workdir / f"{name}.c"
    binary = workdir / name
    source_path.write_text(text)
    command = (*compiler, *options, str(source_path), "-o", str(binary), *LIBRARIES)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CompileError(f"compilation failed: {shlex.join(command)}\n{result.stderr}")
    return Build(binary, command, result.stderr)


@dataclass(frozen=True)
class Run:
    """The output of one run of a program."""

    stdout: str
    stderr: str
    seconds: float         # wall time of the whole process, start-up included

    @property
    def checksum(self) -> str:
        """Return the text after ``checksum:`` exactly as printed (compared as a string)."""
        return parse_checksum(self.stdout)

    @property
    def kernel_time(self) -> float:
        """Return the kernel time the program measured itself, in seconds."""
        return parse_kernel_time(self.stderr)


def parse_checksum(stdout: str) -> str:
    """Return the value of the single ``checksum:`` line of ``stdout``."""
    found = _CHECKSUM.findall(stdout)
    if len(found) != 1:
        raise RunError(f"expected one 'checksum:' line on stdout, found {len(found)}:\n{stdout}")
    return found[0]


def parse_kernel_time(stderr: str) -> float:
    """Return the value of the single ``kernel_time_s:`` line of ``stderr``."""
    found = _KERNEL_TIME.findall(stderr)
    if len(found) != 1:
        raise RunError(f"expected one 'kernel_time_s:' line on stderr, found {len(found)}:\n"
                       f"{stderr}")
    return float(found[0])


def run_binary(binary: Path, args: Sequence[str] = (),
               timeout: float = DEFAULT_TIMEOUT_S) -> Run:
    """Return the output of running ``binary``; raises ``RunError`` if it fails or hangs."""
    started = time.perf_counter()
    try:
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"{binary} ran longer than {timeout} s") from None
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RunError(f"{binary} exited with status {result.returncode}\n"
                       f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return Run(result.stdout, result.stderr, seconds)


def compile_and_run(source: str | Path, workdir: Path, compiler: Sequence[str],
                    flags: Sequence[str] = EXACT_FLAGS, defines: Mapping[str, object] | None = None,
                    timeout: float = DEFAULT_TIMEOUT_S) -> Run:
    """Return the output of one run of ``source`` built with ``flags`` and ``defines``."""
    return run_binary(compile_c(source, workdir, compiler, flags, defines).binary,
                      timeout=timeout)


def describe_difference(expected: str, actual: str, lines: int = 12) -> str:
    """Return the first ``lines`` lines of a unified diff of two outputs ('' if equal)."""
    diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), "expected",
                                "actual", n=0, lineterm="")
    head = []
    for line in diff:
        head.append(line)
        if len(head) >= lines:
            head.append("...")
            break
    return "\n".join(head)
