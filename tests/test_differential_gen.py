"""Differential test on generated programs: every random affine program of
``program_gen.programs()``, tiled with random sizes and with the cache model, with and
without ``parallel``, must print exactly what the original prints.

All variants of one program are built into one C file (one compile instead of one per
variant): each variant's tiled region becomes a kernel of its own, run on freshly initialised
data, and the hashes it prints are compared with those of the original region. The file is
built with ``-fopenmp`` and run with two threads, so a loop wrongly marked parallel races.

The number of programs is small by default (30, a fixed, reproducible set, for CI);
``TILER_FUZZ_EXAMPLES=2000`` runs that many random ones instead (see ``tests/FUZZING.md``).
Programs that exposed a bug are kept in ``tests/regressions/`` and run by
``test_regression_program_prints_same_output``.
"""

from __future__ import annotations

import faulthandler
import json
import os
import pickle
import re
import select
import shlex
import signal
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import islpy as isl
import pytest
from ccutil import CompileError, RunError, compile_c, describe_difference
from conftest import EXAMPLES_DIR
from hypothesis import HealthCheck, event, given, note, reject, settings
from hypothesis import strategies as st
from program_gen import Program, programs, render

from tiler.errors import TilerError
from tiler.frontend import build_scop, find_regions
from tiler.hierarchy import parse_cache_sizes
from tiler.pipeline import TileOptions, tile_source

REGRESSIONS_DIR = Path(__file__).resolve().parent / "regressions"

# Cheap builds: the programs are tiny, so compile time dominates. Contraction into fused
# multiply-adds is off, so the original and the tiled build round identically.
SEQUENTIAL_FLAGS = ("-O1", "-std=c99", "-ffp-contract=off")
FLAGS = (*SEQUENTIAL_FLAGS, "-fopenmp")
THREADS = "2"
RUN_TIMEOUT_S = 20.0
# The pass tiles most of these small programs in well under a second of processor time, and
# the examples in under two; past this it is stopped, and the test fails saying where it was.
TILE_TIMEOUT_S = 10.0
# A child that has used little processor time but has run this many times longer in wall
# time is waiting for something that will not come, and is stopped as well.
WALL_CLOCK_FACTOR = 6
# The same for the programs kept in tests/regressions/, which are smaller still.
REGRESSION_TILE_TIMEOUT_S = 5.0

# Tile sizes to draw from: 1 (that member untiled), small ones that split the short loops of
# the generated programs into many partial tiles, and one larger than every trip count.
TILE_SIZES = (1, 2, 3, 4, 5, 7, 8, 16, 1000)
# Synthetic hierarchies for the model: the tiny ones make it choose tiles smaller than the
# loops of these programs, the realistic one tiles larger than them.
CACHE_SIZES = ("1K,4K", "4K,32K,256K", "48K,1M,32M")

# Programs per run: the default is a fixed set, fast enough for CI; the environment variable
# asks for a longer random run.
CI_EXAMPLES = 30
LONG_EXAMPLES = int(os.environ.get("TILER_FUZZ_EXAMPLES", "0"))
# When set, one JSON line per program is appended to this file (what was tiled, how long).
LOG_PATH = os.environ.get("TILER_FUZZ_LOG")

FUZZ_SETTINGS = settings(
    max_examples=LONG_EXAMPLES or CI_EXAMPLES,
    derandomize=not LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    print_blob=True,
)


@dataclass(frozen=True)
class Variant:
    """One way of tiling, written as the ``tiler tile`` options that ask for it."""

    arguments: str

    @property
    def options(self) -> TileOptions:
        return options_from_arguments(self.arguments)


def options_from_arguments(arguments: str) -> TileOptions:
    """Return the ``TileOptions`` of ``tiler tile`` arguments (the subset used here)."""
    words = shlex.split(arguments)
    sizes, hierarchy, tile, parallel = None, None, True, False
    while words:
        word = words.pop(0)
        if word == "--tile-sizes":
            sizes = tuple(int(size) for size in words.pop(0).split(","))
        elif word == "--cache-sizes":
            hierarchy = parse_cache_sizes(words.pop(0))
        elif word == "--parallel":
            parallel = True
        elif word == "--no-tile":
            tile = False
        else:
            raise ValueError(f"unknown option {word!r}")
    return TileOptions(tile_sizes=sizes, hierarchy=hierarchy, tile=tile, parallel=parallel)


@st.composite
def variants(draw) -> tuple[Variant, Variant]:
    """Return two variants: random sizes and the cache model, one of them parallel."""
    sizes = draw(st.lists(st.sampled_from(TILE_SIZES), min_size=1, max_size=4))
    cache_sizes = draw(st.sampled_from(CACHE_SIZES))
    parallel_first = draw(st.booleans())
    flag = {True: " --parallel", False: ""}
    return (Variant(f"--tile-sizes {','.join(map(str, sizes))}{flag[parallel_first]}"),
            Variant(f"--cache-sizes {cache_sizes}{flag[not parallel_first]}"))


# ---- building and running ---------------------------------------------------------------------

def run_program(text: str, compiler: tuple[str, ...], flags=FLAGS) -> str:
    """Return the standard output of ``text`` built with ``flags`` and run with two threads."""
    with tempfile.TemporaryDirectory(prefix="tiler-fuzz-") as directory:
        build = compile_c(text, Path(directory), compiler, flags, name="program")
        environment = {**os.environ, "OMP_NUM_THREADS": THREADS}
        try:
            result = subprocess.run([str(build.binary)], capture_output=True, text=True,
                                    timeout=RUN_TIMEOUT_S, env=environment, check=False)
        except subprocess.TimeoutExpired:
            raise RunError(f"the program ran longer than {RUN_TIMEOUT_S} s") from None
        if result.returncode != 0:
            raise RunError(f"the program exited with status {result.returncode}\n"
                           f"{result.stderr[-2000:]}")
        return result.stdout


def variant_outputs(stdout: str) -> list[str]:
    """Split the output of a combined program into the output of each variant."""
    return re.split(r"^== variant \d+\n", stdout, flags=re.MULTILINE)[1:]


@dataclass(frozen=True)
class Tiled:
    """What the pass made of a file: its text, and (tiled, schedule, note) per region."""

    text: str
    regions: tuple[tuple[bool, str, str], ...]


class TilingTimeout(AssertionError):
    """The pass ran longer than its time limit; ``where`` is the stack it was stopped in."""

    def __init__(self, seconds: float, where: str) -> None:
        super().__init__(f"the pass used more than {seconds} s of processor time; it was "
                         f"stopped in:\n{where}")
        self.where = where


def _cpu_seconds(pid: int) -> float | None:
    """Return the processor time a process and its reaped children used (None off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(ticks) for ticks in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tile_within(text: str, options: TileOptions, seconds: float = TILE_TIMEOUT_S) -> Tiled:
    """Return what ``tile_source`` makes of ``text``, computed in a forked child so that a run
    past ``seconds`` of processor time can be stopped (isl's C code cannot be interrupted from
    Python). Processor time, not wall time, so that a busy machine does not fail the test;
    the wall clock only stops a child that waits forever.

    Raises ``TilingTimeout``, the child's ``TilerError``, or ``AssertionError`` naming any
    other exception the child raised, with its traceback."""
    with tempfile.TemporaryFile() as stack_file:
        reader, writer = os.pipe()
        child = os.fork()
        if child == 0:                                   # the child: tile, report, vanish
            try:
                os.setpgid(0, 0)       # a group of its own: its own children are stopped too
                os.close(reader)
                faulthandler.register(signal.SIGUSR1, file=stack_file, all_threads=True)
                try:
                    result = tile_source(text, "generated.c", options)
                    message = ("done", result.text, tuple((r.tiled, r.schedule, r.note)
                                                          for r in result.regions))
                except TilerError as error:
                    message = ("TilerError", error.message, error.line, error.column)
                except BaseException as error:  # noqa: BLE001 - reported to the parent
                    message = ("crash", f"{type(error).__name__}: {error}",
                               traceback.format_exc())
                with os.fdopen(writer, "wb") as stream:
                    stream.write(pickle.dumps(message))
            finally:
                os._exit(0)
        os.close(writer)
        received, wall_deadline = b"", time.monotonic() + WALL_CLOCK_FACTOR * seconds
        with os.fdopen(reader, "rb", buffering=0) as stream:
            while True:
                if select.select([stream], [], [], 0.2)[0]:
                    chunk = stream.read(1 << 16)
                    if not chunk:
                        break
                    received += chunk
                    continue
                used = _cpu_seconds(child)
                if (used if used is not None else 0.0) > seconds \
                        or time.monotonic() > wall_deadline:
                    os.kill(child, signal.SIGUSR1)       # the child writes its stack...
                    time.sleep(0.5)
                    os.killpg(child, signal.SIGKILL)     # ...and is stopped, with its children
                    os.waitpid(child, 0)
                    stack_file.seek(0)
                    raise TilingTimeout(seconds, stack_file.read().decode(errors="replace"))
        os.waitpid(child, 0)
    message = pickle.loads(received)
    if message[0] == "done":
        return Tiled(message[1], message[2])
    if message[0] == "TilerError":
        raise TilerError(*message[1:])
    raise AssertionError(f"the pass raised {message[1]}\n{message[2]}")


def tiled_region(rendered, variant: Variant) -> tuple[str, tuple[bool, str, str]]:
    """Return the region the pass makes of a generated program's region, and its report."""
    result = tile_within(rendered.text, variant.options)
    assert result.text.startswith(rendered.before) and result.text.endswith(rendered.after), \
        "the pass changed text outside the region"
    return (result.text[len(rendered.before):len(result.text) - len(rendered.after)],
            result.regions[0])


@dataclass(frozen=True)
class KnownBug:
    """A reported bug of the pass: its reproducer in tests/regressions/ (whose test is expected
    to fail until it is fixed), why, and how to recognise it in a failure of the fuzz test.
    The fuzz test sets a program that shows a known bug aside (an event in the statistics)
    and goes on looking for new ones; a fixed bug's entry must go (its test then passes
    unexpectedly, which fails the run)."""

    reproducer: str
    reason: str
    signature: str                 # a regular expression found in the failure's message


KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_bug(failure: BaseException) -> KnownBug | None:
    """Return the known bug ``failure`` shows, or None for a new failure."""
    for bug in KNOWN_BUGS:
        if re.search(bug.signature, str(failure)):
            return bug
    return None


def _log(record: dict) -> None:
    if LOG_PATH:
        with open(LOG_PATH, "a") as stream:
            stream.write(json.dumps(record) + "\n")


def compare_variants(program: Program, chosen: tuple[Variant, ...], compiler) -> None:
    """Fail unless every variant of ``program`` prints what the original prints."""
    started = time.perf_counter()
    rendered = render(program)
    note(f"program:\n{rendered.text}")
    regions, reports = [rendered.region], []
    for variant in chosen:
        region, report = tiled_region(rendered, variant)
        regions.append(region)
        reports.append(report)
        tiled, schedule, region_note = report
        event(f"{'tiled' if tiled else 'not tiled'} ({schedule})")
        if "#pragma omp" in region:
            event("a loop marked parallel")
        if "__builtin_memcpy(&tiler_acc" in region:
            event("a micro-tile in vector code")
        note(f"{variant.arguments}: {region_note}\n{region}")
    try:
        outputs = variant_outputs(run_program(rendered.combined(regions), compiler))
    except (CompileError, RunError) as error:
        # Find the variant at fault: build each one on its own.
        for variant, region in zip(chosen, regions[1:]):
            try:
                run_program(rendered.combined([region]), compiler)
            except (CompileError, RunError) as alone:
                raise AssertionError(f"{variant.arguments}: the tiled program fails:\n"
                                     f"{alone}") from None
        raise AssertionError(f"the original program fails:\n{error}") from None
    _log({"tiled": [report[0] for report in reports],
          "schedule": [report[1] for report in reports],
          "parallel": ["--parallel" in variant.arguments for variant in chosen],
          "marked_parallel": ["#pragma omp" in region for region in regions[1:]],
          "same": [output == outputs[0] for output in outputs[1:]],
          "seconds": round(time.perf_counter() - started, 3)})
    for variant, region, output in zip(chosen, regions[1:], outputs[1:]):
        if output == outputs[0]:
            continue
        difference = describe_difference(outputs[0], output)
        if "--parallel" in variant.arguments:
            sequential = variant_outputs(run_program(rendered.combined([region]), compiler,
                                                     SEQUENTIAL_FLAGS))[0]
            if sequential == outputs[0]:
                raise AssertionError(
                    f"{variant.arguments}: the tiled program prints other values than the "
                    f"original when run with {THREADS} threads, the same without OpenMP: a loop "
                    f"marked parallel carries a dependence\n{difference}")
        raise AssertionError(f"{variant.arguments}: the tiled program prints other values than "
                             f"the original\n{difference}")


@FUZZ_SETTINGS
@given(program=programs(), chosen=variants())
def test_generated_program_prints_same_output_after_tiling(program, chosen, cc):
    try:
        compare_variants(program, chosen, cc)
    except AssertionError as failure:
        bug = known_bug(failure)
        if bug is None:
            raise
        event(f"known bug: {bug.reproducer}")
        reject()


# ---- regressions --------------------------------------------------------------------------------

_DIFFERENTIAL_LINE = re.compile(r"^ \* Differential: (.*)$", re.MULTILINE)
_EXPECT_TILED = re.compile(r"^ \* Expect: tiled$", re.MULTILINE)


def _regression_params():
    known = {bug.reproducer: bug.reason for bug in KNOWN_BUGS}
    params = []
    # Programs the pass takes minutes on are kept in regressions/slow/, out of the way of
    # tests that run every program in regressions/ without a time limit.
    for path in sorted([*REGRESSIONS_DIR.glob("*.c"), *REGRESSIONS_DIR.glob("slow/*.c")]):
        name = path.relative_to(REGRESSIONS_DIR).as_posix()
        for arguments in _DIFFERENTIAL_LINE.findall(path.read_text()):
            marks = ()
            if name in known:
                marks = (pytest.mark.xfail(strict=True, reason=known[name]),)
            params.append(pytest.param(path, arguments.strip(), marks=marks,
                                       id=f"{path.stem}[{arguments.strip()}]"))
    return params


@pytest.mark.parametrize(("path", "arguments"), _regression_params())
def test_regression_program_prints_same_output(path, arguments, cc):
    """A program kept in tests/regressions/ prints the same after tiling, built with OpenMP
    and run with two threads. Each ``Differential:`` line of its header comment gives the
    options of one variant; ``Expect: tiled`` asks that the region be tiled."""
    text = path.read_text()
    # Programs in slow/ get the fuzz test's limit: the pass takes seconds on them by design.
    limit = TILE_TIMEOUT_S if path.parent.name == "slow" else REGRESSION_TILE_TIMEOUT_S
    result = tile_within(text, options_from_arguments(arguments), limit)
    if _EXPECT_TILED.search(text) and not any(tiled for tiled, _, _ in result.regions):
        pytest.fail(f"the region was not tiled: {result.regions[0][2]}")
    expected = run_program(text, cc)
    actual = run_program(result.text, cc)
    assert actual == expected, describe_difference(expected, actual)


def test_scheduler_budget_counts_only_its_own_work():
    """The schedule of a region does not depend on what isl did before in the process.

    ``isl_schedule`` once set ``max_operations`` without resetting the context's count first,
    so the frontend's work on a large region (here 1000 statements, about a second) used up
    the scheduler's budget: it failed at once and gemm, tiled next, followed another
    schedule."""
    gemm = (EXAMPLES_DIR / "gemm.c").read_text()
    options = TileOptions(tile_sizes=(32,))
    fresh = tile_source(gemm, "gemm.c", options)
    statements = "".join(f"      A{k}[i][j] = A{k}[i + 1][k] + A{k}[j][i];\n" for k in range(1000))
    large = (f"#pragma scop\nfor (i = 0; i < n; i++)\n  for (j = 0; j <= i; j++)\n"
             f"    for (k = j; k < n; k += 2) {{\n{statements}    }}\n#pragma endscop\n")
    try:
        for region in find_regions(large):
            build_scop(large[region.start:region.end], region.first_line)
        after = tile_source(gemm, "gemm.c", options)
    finally:
        isl.DEFAULT_CONTEXT.reset_operations()      # leave no debt to later tests
    assert after.regions[0].schedule == fresh.regions[0].schedule
    assert after.text == fresh.text
