"""Time the variants of a kernel in one run, interleaved, each checked against the original.

``bench_kernels(paths, settings, workdir)`` returns a ``SuiteResult``. Per kernel it builds
the original, the model's tiling (``default``), 32 everywhere (``fixed32``), the best tiling an
auto-tuner finds (``autotuned``) and, on request, clang and clang with Polly; runs each once to
compare its output with the original's; then times them round-robin, ``repeat`` rounds, the
order of each round rotated so that drift of the machine hits every variant alike. A variant
that fails to tile, build or run, or whose output differs, is reported with that status and
never timed.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from tiler.bench.programs import (
    BuildFailure,
    Kernel,
    Output,
    RunFailure,
    Toolchain,
    compare_outputs,
    compile_program,
    load_kernel,
    measure,
    output_to_compare,
    preprocessor_for,
    run_program,
)
from tiler.bench.results import (
    BUILD_ERROR,
    NOT_TILED,
    OK,
    RUN_ERROR,
    SKIPPED,
    TILE_ERROR,
    WRONG,
    KernelResult,
    SuiteResult,
    VariantResult,
)
from tiler.bench.tune import (
    EXHAUSTIVE_SIZES,
    Tuning,
    exhaustive_points,
    search_exhaustive,
    search_optuna,
)
from tiler.bench.variants import (
    FIXED_SIZE,
    POLLY_FLAGS,
    VARIANT_ORDER,
    TiledText,
    describe_tiling_error,
    tile_text,
)
from tiler.bench.modelcheck import ModelCheck
from tiler.errors import TilerError
from tiler.hierarchy import Hierarchy

# Relative difference allowed between the numbers two builds print: far above the last-bit
# changes of contracting a*b+c into a fused multiply-add, far below any wrong iteration.
DEFAULT_RELATIVE_TOLERANCE = 1e-9
# Relative difference that floating-point contraction can explain: gcc fuses a*b+c into one
# rounding in one build and not in another (vectorised tiled loops under -march=native), which
# moves printed sums by far less. A variant within it is rebuilt, with the original, with
# contraction off; it counts as correct only if the two outputs are then identical.
CONTRACTION_TOLERANCE = 1e-6
CONTRACTION_OFF = "-ffp-contract=off"
CONTRACTION_NOTE = ("differs within 1e-6 (fp contraction: gcc fuses multiply-adds differently "
                    "in the tiled code; with -ffp-contract=off the outputs are identical)")
# What each way a tuning candidate can fail says about it, for the note of a failed search.
CANDIDATE_FAILURES = {WRONG: "differed from the original's output", BUILD_ERROR: "did not build",
                      RUN_ERROR: "did not run", TILE_ERROR: "did not tile"}
# Runs per variant; medians of five are what the project reports.
DEFAULT_REPEAT = 5
# Evaluations the auto-tuner may spend per kernel.
DEFAULT_BUDGET = 20
# A run longer than this is a hang.
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class BenchSettings:
    """How to benchmark; every default stated once, here.

    Attributes:
        compiler, flags: the toolchain of every variant but clang and Polly (``-D`` problem
            sizes belong in ``flags``).
        repeat: timed runs per variant.
        autotune: ``optuna``, ``exhaustive`` or ``none``.
        budget: evaluations of the ``optuna`` search.
        exhaustive_sizes: the per-member values of the ``exhaustive`` grid.
        runs_per_trial: runs of each tuning candidate (the median is its score).
        seed: the tuner's random seed.
        polly_compiler: a clang that runs Polly; ``None`` leaves clang and Polly out.
        polly_note: why Polly is left out, when it is asked for and missing.
        hierarchy: the cache hierarchy of the model (``None``: the measured one).
        relative_tolerance: see ``DEFAULT_RELATIVE_TOLERANCE``.
        timeout_s: see ``DEFAULT_TIMEOUT_S``.
        model_check: also predict each tuning candidate's time (``tiler.bench.modelcheck``).
    """

    compiler: tuple[str, ...] = ("gcc",)
    flags: tuple[str, ...] = ("-O3", "-march=native")
    repeat: int = DEFAULT_REPEAT
    autotune: str = "optuna"
    budget: int = DEFAULT_BUDGET
    exhaustive_sizes: tuple[int, ...] = EXHAUSTIVE_SIZES
    runs_per_trial: int = 1
    seed: int = 0
    polly_compiler: tuple[str, ...] | None = None
    polly_note: str = ""
    hierarchy: Hierarchy | None = None
    relative_tolerance: float = DEFAULT_RELATIVE_TOLERANCE
    timeout_s: float = DEFAULT_TIMEOUT_S
    model_check: bool = False


class Progress(Protocol):
    """Where the bench reports what it is doing (a progress bar, a log, nothing)."""

    def expect(self, steps: int) -> None:
        """Add ``steps`` to the work still to do."""

    def advance(self, description: str, steps: int = 1) -> None:
        """Record that ``steps`` steps are done; ``description`` says what comes next."""


class NoProgress:
    """A progress report that shows nothing."""

    def expect(self, steps: int) -> None:
        pass

    def advance(self, description: str, steps: int = 1) -> None:
        pass


def variants_of(settings: BenchSettings) -> tuple[str, ...]:
    """Return the variants a run with ``settings`` measures, in report order."""
    left_out = set()
    if settings.autotune == "none":
        left_out.add("autotuned")
    if settings.polly_compiler is None and not settings.polly_note:
        left_out |= {"clang", "polly"}
    return tuple(name for name in VARIANT_ORDER if name not in left_out)


def estimated_steps(settings: BenchSettings) -> int:
    """Return the progress steps of one kernel (an exhaustive search adds its grid later)."""
    timed = len(variants_of(settings))
    tuning = settings.budget if settings.autotune == "optuna" else 0
    return timed + tuning + timed * (settings.repeat + 1)


def bench_kernels(paths: Sequence[str | Path], settings: BenchSettings, workdir: Path,
                  progress: Progress | None = None,
                  finished: Callable[[SuiteResult], None] | None = None) -> SuiteResult:
    """Return the results of every kernel of ``paths``; raise ``TilerError`` for a file that
    cannot be read. A kernel whose original fails to build or run is reported, not raised.
    ``finished`` is called with the results so far after each kernel (a long suite run then
    leaves what it measured even if it is stopped)."""
    progress = progress or NoProgress()
    kernels = [load_kernel(path) for path in paths]
    names = _unique_names(kernels)
    progress.expect(estimated_steps(settings) * len(kernels))
    results = []
    for kernel, name in zip(kernels, names):
        counted = _CountedProgress(progress)
        results.append(_KernelBench(kernel, name, settings, workdir / name, counted).run())
        counted.finish(estimated_steps(settings))
        if finished is not None:
            finished(SuiteResult(tuple(results), settings, variants_of(settings)))
    return SuiteResult(tuple(results), settings, variants_of(settings))


class _CountedProgress:
    """Passes steps on and counts them, so that a kernel that stops early (its original
    failed) or takes fewer steps than estimated still moves the bar by its whole share."""

    def __init__(self, inner: Progress) -> None:
        self.inner, self.done, self.added = inner, 0, 0

    def expect(self, steps: int) -> None:
        self.added += steps
        self.inner.expect(steps)

    def advance(self, description: str, steps: int = 1) -> None:
        self.done += steps
        self.inner.advance(description, steps)

    def finish(self, estimate: int) -> None:
        """Advance by what is left of ``estimate`` plus the steps added on the way."""
        left = estimate + self.added - self.done
        if left > 0:
            self.inner.advance("", left)
        elif left < 0:
            self.inner.expect(-left)


def _unique_names(kernels: Sequence[Kernel]) -> list[str]:
    """Return the kernels' names, with the parent directory added where two share a stem."""
    stems = [kernel.name for kernel in kernels]
    return [f"{kernel.path.resolve().parent.name}/{kernel.name}" if stems.count(kernel.name) > 1
            else kernel.name for kernel in kernels]


@dataclass
class _Program:
    """A built variant while it is being checked and timed (mutable scratch of one kernel)."""

    result: VariantResult
    binary: Path | None = None
    times: list[float] = field(default_factory=list)
    timing: str = ""
    worst_difference: float = 0.0
    tolerance: float | None = None   # set when floating-point contraction explains a difference


class _KernelBench:
    """The measurement of one kernel; ``run()`` returns its ``KernelResult``."""

    def __init__(self, kernel: Kernel, name: str, settings: BenchSettings, workdir: Path,
                 progress: Progress) -> None:
        self.kernel, self.name, self.settings = kernel, name, settings
        self.workdir, self.progress = workdir, progress
        self.toolchain = Toolchain(settings.compiler, settings.flags)
        self.reference: str = ""
        self.reference_check: str = ""
        self.trial_cache: dict[str, tuple[float | None, str]] = {}
        self.candidate_failures: list[str] = []
        self.predictions: dict[tuple[int, ...], float | None] = {}

    def run(self) -> KernelResult:
        """Build, check and time every variant."""
        variants = variants_of(self.settings)
        self.progress.advance(f"{self.name}: original")
        original = self._build("original", self.kernel.text, self.toolchain)
        if original.binary is not None:
            self._check_reference(original)
        if not original.result.ok:
            skipped = {name: VariantResult(name, SKIPPED, note="the original failed")
                       for name in variants if name != "original"}
            return KernelResult(self.name, str(self.kernel.path), self.kernel.polybench,
                                {"original": original.result, **skipped},
                                error=original.result.note)
        programs = {"original": original}
        model = self._tiled_variant("default", None, programs)
        fixed = self._tiled_variant("fixed32", (FIXED_SIZE,), programs)
        tuning = None
        if "autotuned" in variants:
            # the bands to search are those fixed sizes tile (the model may leave them alone)
            tuning = self._autotune(fixed if fixed is not None and fixed.depth else model,
                                    programs)
        if "polly" in variants:
            self._polly_variants(programs)
        for program in programs.values():
            if program.binary is not None and program is not original:
                self.progress.advance(f"{self.name}: checking {program.result.name}")
                self._check(program)
        self._time_rounds([p for p in programs.values() if p.binary is not None])
        finished = {name: self._finish(program) for name, program in programs.items()}
        ordered = {name: finished[name] for name in variants if name in finished}
        check = None
        if self.settings.model_check and tuning is not None:
            check = ModelCheck(tuple((trial.sizes, self.predictions.get(trial.sizes),
                                      trial.seconds) for trial in tuning.trials))
        return KernelResult(self.name, str(self.kernel.path), self.kernel.polybench, ordered,
                            tuning, model.model_s if model else 0.0,
                            model.pass_s if model else 0.0, model_check=check)

    # -- building -------------------------------------------------------------------------

    def _build(self, name: str, text: str, toolchain: Toolchain, **result) -> _Program:
        """Return the program of one variant, with a build error as its status if it fails."""
        described = VariantResult(name, OK, toolchain=toolchain.describe(), **result)
        try:
            binary = compile_program(text, self.kernel, toolchain, self.workdir, name,
                                     timeout_s=self.settings.timeout_s)
        except BuildFailure as failure:
            return _Program(replace(described, status=BUILD_ERROR, note=str(failure)))
        return _Program(described, binary)

    def _tiled_variant(self, name: str, sizes: tuple[int, ...] | None,
                       programs: dict[str, _Program]) -> TiledText | None:
        """Add the variant tiled with ``sizes`` (``None``: the model's) and return the tiling."""
        self.progress.advance(f"{self.name}: tiling and building {name}")
        try:
            tiled = tile_text(self.kernel.text, str(self.kernel.path), sizes,
                              self.settings.hierarchy if sizes is None else None,
                              preprocessor_for(self.kernel, self.toolchain))
        except TilerError as error:
            programs[name] = _Program(VariantResult(name, TILE_ERROR, given_sizes=sizes,
                                                    note=describe_tiling_error(error)))
            return None
        details = {"band_sizes": tiled.band_sizes, "given_sizes": sizes,
                   "choice_s": tiled.model_s if sizes is None else 0.0}
        if not tiled.tiled and sizes is not None:
            programs[name] = _Program(VariantResult(name, NOT_TILED, note="; ".join(tiled.notes),
                                                    **details))
            return tiled
        # The model's choice may be to leave every region as it is: that is what a user gets,
        # so it is timed like any other variant (its note says why).
        programs[name] = self._build(name, tiled.text, self.toolchain, **details)
        if not tiled.tiled:
            program = programs[name]
            programs[name] = _Program(replace(program.result, note="; ".join(tiled.notes)),
                                      program.binary)
        return tiled

    def _polly_variants(self, programs: dict[str, _Program]) -> None:
        """Add the original built by clang, and by clang with Polly (or why they are absent)."""
        compiler = self.settings.polly_compiler
        for name, extra in (("clang", ()), ("polly", POLLY_FLAGS)):
            self.progress.advance(f"{self.name}: building {name}")
            if compiler is None:
                programs[name] = _Program(VariantResult(name, SKIPPED,
                                                        note=self.settings.polly_note))
                continue
            toolchain = Toolchain(compiler, (*self.settings.flags, *extra))
            programs[name] = self._build(name, self.kernel.text, toolchain)

    # -- the search -------------------------------------------------------------------------

    def _autotune(self, model: TiledText | None, programs: dict[str, _Program]) -> Tuning | None:
        """Search tile sizes and add the best as ``autotuned``; return the search."""
        depth = model.depth if model is not None else 0
        if depth == 0:
            status, note = (TILE_ERROR, "the pass rejected the file") if model is None \
                else (NOT_TILED, "no band to tile; nothing to tune")
            programs["autotuned"] = _Program(VariantResult("autotuned", status, note=note))
            return None
        if self.settings.autotune == "exhaustive":
            grid = exhaustive_points(depth, self.settings.exhaustive_sizes)
            self.progress.expect(grid)
            tuning = search_exhaustive(self._evaluate, depth, self.settings.exhaustive_sizes)
        else:
            tuning = search_optuna(self._evaluate, depth, self.settings.budget,
                                   self.settings.seed)
        best = tuning.best
        if best is None:
            status, note = describe_failed_search(self.candidate_failures)
            programs["autotuned"] = _Program(VariantResult("autotuned", status,
                                                           choice_s=tuning.wall_s, note=note))
            return tuning
        self._tiled_variant("autotuned", best.sizes, programs)
        program = programs["autotuned"]
        program.result = replace(program.result, choice_s=tuning.wall_s)
        return tuning

    def _evaluate(self, sizes: tuple[int, ...]) -> float | None:
        """Return the time of the kernel tiled with ``sizes`` (``None``: failed or wrong)."""
        self.progress.advance(f"{self.name}: tuning {'x'.join(map(str, sizes))}")
        # with the model check, the hierarchy prices the candidate in the same pass (the
        # text is the same)
        try:
            tiled = tile_text(self.kernel.text, str(self.kernel.path), sizes,
                              self.settings.hierarchy if self.settings.model_check else None,
                              preprocessor_for(self.kernel, self.toolchain))
        except TilerError:
            self.candidate_failures.append(TILE_ERROR)
            return None
        text = tiled.text
        if self.settings.model_check:
            self.predictions.setdefault(sizes, tiled.predicted_ns)
        key = hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()
        if key not in self.trial_cache:
            self.trial_cache[key] = self._time_candidate(text, f"trial_{key[:12]}")
        seconds, failure = self.trial_cache[key]
        if seconds is None:
            self.candidate_failures.append(failure)
        return seconds

    def _time_candidate(self, text: str, name: str) -> tuple[float | None, str]:
        """Return the median time of a candidate, or ``None`` and the status that says why
        not. Outputs within ``CONTRACTION_TOLERANCE`` count: the chosen one is checked."""
        tolerance = max(CONTRACTION_TOLERANCE, self.settings.relative_tolerance)
        try:
            binary = compile_program(text, self.kernel, self.toolchain, self.workdir / "trials",
                                     name, timeout_s=self.settings.timeout_s)
        except BuildFailure:
            return None, BUILD_ERROR
        try:
            times = []
            for _ in range(max(1, self.settings.runs_per_trial)):
                output = run_program(binary, self.settings.timeout_s)
                if not self._matches(output, tolerance).matches:
                    return None, WRONG
                times.append(measure(output, self.kernel).seconds)
            binary.unlink(missing_ok=True)
            return statistics.median(times), OK
        except RunFailure:
            return None, RUN_ERROR

    # -- checking and timing ---------------------------------------------------------------------

    def _check_reference(self, original: _Program) -> None:
        """Run the original once (a warm-up) and keep its output as the reference."""
        try:
            self.reference = output_to_compare(run_program(original.binary,
                                                           self.settings.timeout_s), self.kernel)
            if self.kernel.polybench:
                self.reference_check = output_to_compare(self._run_check_build(original),
                                                         self.kernel, check=True)
        except (RunFailure, BuildFailure) as failure:
            original.result = replace(original.result, status=RUN_ERROR, note=str(failure))
            original.binary = None

    def _toolchain_of(self, name: str, extra: tuple[str, ...] = ()) -> Toolchain:
        """Return the toolchain variant ``name`` is built with, ``extra`` flags added."""
        compiler = self.settings.polly_compiler if name in ("clang", "polly") \
            else self.settings.compiler
        flags = (*self.settings.flags, *(POLLY_FLAGS if name == "polly" else ()), *extra)
        return Toolchain(compiler, flags)

    def _run_check_build(self, program: _Program) -> Output:
        """Return the output of ``program``'s variant built to dump its arrays (PolyBench)."""
        source = self.workdir / f"{program.result.name}.c"
        binary = compile_program(source.read_text(errors="surrogateescape"), self.kernel,
                                 self._toolchain_of(program.result.name), self.workdir / "check",
                                 program.result.name, check=True,
                                 timeout_s=self.settings.timeout_s)
        return run_program(binary, self.settings.timeout_s)

    def _matches(self, output: Output, tolerance: float | None = None):
        return compare_outputs(self.reference, output_to_compare(output, self.kernel),
                               self.settings.relative_tolerance if tolerance is None
                               else tolerance)

    def _identical_without_contraction(self, program: _Program) -> bool:
        """Return whether ``program`` and the original print the same output when both are
        built with floating-point contraction off (``False`` when the flags already have it
        off, or a build fails: then contraction explains nothing)."""
        if CONTRACTION_OFF in self.settings.flags:
            return False
        workdir = self.workdir / "contraction"
        checks = (False, True) if self.kernel.polybench else (False,)
        try:
            for check in checks:
                outputs = []
                for name in ("original", program.result.name):
                    text = (self.workdir / f"{name}.c").read_text(errors="surrogateescape")
                    binary = compile_program(text, self.kernel,
                                             self._toolchain_of(name, (CONTRACTION_OFF,)),
                                             workdir, name, check=check,
                                             timeout_s=self.settings.timeout_s)
                    outputs.append(output_to_compare(run_program(binary, self.settings.timeout_s),
                                                     self.kernel, check))
                if outputs[0] != outputs[1]:
                    return False
        except (BuildFailure, RunFailure, OSError):
            return False
        return True

    def _check(self, program: _Program) -> None:
        """Run ``program`` once (a warm-up) and compare its output with the original's."""
        try:
            comparison = self._matches(run_program(program.binary, self.settings.timeout_s))
            if comparison.matches and self.kernel.polybench:
                dump = output_to_compare(self._run_check_build(program), self.kernel, True)
                comparison = compare_outputs(self.reference_check, dump,
                                             self.settings.relative_tolerance)
        except (RunFailure, BuildFailure) as failure:
            self._drop(program, RUN_ERROR, str(failure))
            return
        program.worst_difference = comparison.max_relative_difference
        if comparison.matches:
            return
        if comparison.max_relative_difference <= CONTRACTION_TOLERANCE:
            if self._identical_without_contraction(program):
                program.tolerance = max(CONTRACTION_TOLERANCE, self.settings.relative_tolerance)
                program.result = replace(program.result, note=CONTRACTION_NOTE)
                return
            self._drop(program, WRONG, f"output differs from the original's: "
                       f"{comparison.detail} (not explained by floating-point contraction: "
                       f"it differs with {CONTRACTION_OFF} too)")
            return
        self._drop(program, WRONG, f"output differs from the original's: {comparison.detail}")

    def _drop(self, program: _Program, status: str, note: str) -> None:
        program.result = replace(program.result, status=status, note=note)
        program.binary = None
        program.times.clear()

    def _time_rounds(self, programs: list[_Program]) -> None:
        """Time every program ``repeat`` times, round-robin, each round starting one later."""
        for round_number in range(self.settings.repeat):
            shift = round_number % max(1, len(programs))
            for program in programs[shift:] + programs[:shift]:
                self.progress.advance(f"{self.name}: round {round_number + 1}/"
                                      f"{self.settings.repeat} {program.result.name}")
                if program.binary is None:
                    continue
                try:
                    output = run_program(program.binary, self.settings.timeout_s)
                except RunFailure as failure:
                    self._drop(program, RUN_ERROR, str(failure))
                    continue
                comparison = self._matches(output, program.tolerance)
                if not comparison.matches:
                    self._drop(program, WRONG, f"output differs from the original's in round "
                               f"{round_number + 1}: {comparison.detail}")
                    continue
                program.worst_difference = max(program.worst_difference,
                                               comparison.max_relative_difference)
                timed = measure(output, self.kernel)
                program.times.append(timed.seconds)
                program.timing = timed.source

    def _finish(self, program: _Program) -> VariantResult:
        return replace(program.result, times_s=tuple(program.times), timing=program.timing,
                        max_relative_difference=program.worst_difference)


def describe_failed_search(failures: Sequence[str]) -> tuple[str, str]:
    """Return the status and note of a search none of whose candidates counts, from the
    status of each failed candidate (the most common one is the search's)."""
    counts = Counter(failures)
    if not counts:
        return BUILD_ERROR, "the search evaluated no candidate"
    if set(counts) == {WRONG}:
        return WRONG, (f"all {counts[WRONG]} candidates built and ran, but every output "
                       f"differed from the original's by more than {CONTRACTION_TOLERANCE:g}")
    parts = ", ".join(f"{count} {CANDIDATE_FAILURES[status]}"
                      for status, count in counts.most_common())
    return counts.most_common(1)[0][0], f"no candidate of the search counts: {parts}"
