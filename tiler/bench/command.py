"""``tiler bench``: its options and the command, a thin layer over ``bench_kernels``."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from tiler.arguments import (
    add_hierarchy_arguments,
    hierarchy_from_arguments,
    positive_int,
    size_list,
)
from tiler.bench.harness import (
    DEFAULT_BUDGET,
    DEFAULT_RELATIVE_TOLERANCE,
    DEFAULT_REPEAT,
    DEFAULT_TIMEOUT_S,
    BenchSettings,
    bench_kernels,
)
from tiler.bench.programs import require_compiler
from tiler.bench.report import plot_suite, print_report, write_json
from tiler.bench.tune import EXHAUSTIVE_SIZES, import_optuna
from tiler.bench.variants import find_polly
from tiler.errors import TilerError

DEFAULT_CFLAGS = "-O3 -march=native"
# In a log (stderr not a terminal) a progress line is printed at most every this many percent.
LOG_EVERY_PERCENT = 5


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tiler bench`` to ``parser`` (the subcommand's own parser)."""
    parser.add_argument("files", nargs="*", metavar="FILE.c", help="the kernels to benchmark")
    parser.add_argument("--suite", metavar="DIR",
                        help="every .c file with a '#pragma scop' under DIR (a PolyBench tree "
                        "works: utilities/polybench.c is compiled alongside); geometric means")
    parser.add_argument("--cc", default="gcc", metavar="CC",
                        help="the C compiler of every variant but Polly (default: gcc)")
    parser.add_argument("--cflags", default=DEFAULT_CFLAGS, metavar="FLAGS",
                        help=f"compiler flags, -D problem sizes included (default: "
                        f"'{DEFAULT_CFLAGS}'; a single flag needs the = form: --cflags=-O2)")
    parser.add_argument("--sizes", metavar="N=4000,M=3000", type=_define_list, default=(),
                        help="problem-size macros, added to the flags as -DN=4000 -DM=3000")
    parser.add_argument("--repeat", type=positive_int, default=DEFAULT_REPEAT, metavar="R",
                        help=f"timed runs per variant (default: {DEFAULT_REPEAT})")
    parser.add_argument("--autotune", choices=("optuna", "exhaustive", "none"),
                        default="optuna",
                        help="the search behind the autotuned variant (default: optuna)")
    parser.add_argument("--autotune-budget", type=positive_int, default=DEFAULT_BUDGET,
                        metavar="N", help=f"evaluations of the optuna search per kernel "
                        f"(default: {DEFAULT_BUDGET})")
    parser.add_argument("--exhaustive-sizes", type=size_list, default=EXHAUSTIVE_SIZES,
                        metavar="16,32,64", help="per-member sizes of the exhaustive grid "
                        f"(default: {','.join(map(str, EXHAUSTIVE_SIZES))})")
    parser.add_argument("--runs-per-trial", type=positive_int, default=1, metavar="R",
                        help="runs of each tuning candidate, scored by their median (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="the tuner's random seed")
    parser.add_argument("--model-check", action="store_true",
                        help="rank the tuner's candidates by the model's predicted time and "
                        "print the rank correlation (Spearman) with the measured time")
    parser.add_argument("--polly", action="store_true",
                        help="add the original built by clang, and by clang -mllvm -polly")
    parser.add_argument("--polly-cc", metavar="CLANG",
                        help="the clang to use for --polly (default: the first of clang-19 .. "
                        "clang that accepts -mllvm -polly)")
    add_hierarchy_arguments(parser)
    parser.add_argument("--json", metavar="OUT.json", help="write every figure as JSON")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="draw the speedups and the time to choose the sizes")
    parser.add_argument("--rtol", type=float, default=DEFAULT_RELATIVE_TOLERANCE,
                        help="relative difference allowed between printed numbers (default: "
                        f"{DEFAULT_RELATIVE_TOLERANCE:g})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help=f"a run longer than this fails (default: {DEFAULT_TIMEOUT_S:g} s)")
    parser.add_argument("--keep-builds", metavar="DIR",
                        help="build in DIR and keep the sources and binaries there")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run_bench_command(args: argparse.Namespace) -> int:
    """``tiler bench``: measure, print the table, write the JSON and the plot; return 0."""
    paths = kernel_paths(args.files, args.suite)
    settings = settings_from_arguments(args)
    progress = None if args.quiet else make_progress()
    # The JSON is rewritten after every kernel, so a stopped run keeps what it measured.
    finished = (lambda partial: write_json(partial, args.json)) if args.json else None
    try:
        if args.keep_builds:
            suite = bench_kernels(paths, settings, Path(args.keep_builds), progress, finished)
        else:
            with tempfile.TemporaryDirectory(prefix="tiler-bench-") as workdir:
                suite = bench_kernels(paths, settings, Path(workdir), progress, finished)
    finally:
        if progress is not None:
            progress.close()
    print_report(suite, sys.stdout)
    if args.json:
        write_json(suite, args.json)
    if args.plot:
        plot_suite(suite, args.plot)
    return 0


def settings_from_arguments(args: argparse.Namespace) -> BenchSettings:
    """Return the settings the options ask for; raise ``TilerError`` for what is missing."""
    from tiler.hierarchy import default_hierarchy

    compiler = tuple(shlex.split(args.cc))
    require_compiler(compiler)
    if args.autotune == "optuna":
        import_optuna()
    if args.model_check and args.autotune == "none":
        raise TilerError("--model-check ranks the auto-tuner's candidates: it needs "
                         "--autotune optuna or exhaustive")
    hierarchy = hierarchy_from_arguments(args) or default_hierarchy()
    polly_compiler, polly_note = None, ""
    if args.polly:
        found = find_polly([args.polly_cc] if args.polly_cc else None)
        polly_compiler, polly_note = found.compiler, found.note
        if polly_compiler is None:
            print(f"tiler bench: note: Polly left out: {polly_note}", file=sys.stderr)
    flags = (*shlex.split(args.cflags), *(f"-D{name}={value}" for name, value in args.sizes))
    return BenchSettings(compiler=compiler, flags=flags, repeat=args.repeat,
                         autotune=args.autotune, budget=args.autotune_budget,
                         exhaustive_sizes=args.exhaustive_sizes,
                         runs_per_trial=args.runs_per_trial, seed=args.seed,
                         polly_compiler=polly_compiler, polly_note=polly_note,
                         hierarchy=hierarchy, relative_tolerance=args.rtol,
                         timeout_s=args.timeout, model_check=args.model_check)


def kernel_paths(files: list[str], suite: str | None) -> list[Path]:
    """Return the kernels to measure: ``files``, then the scop files under ``suite``."""
    paths = [Path(name) for name in files]
    for path in paths:
        if not path.is_file():
            raise TilerError("no such file", filename=str(path))
    if suite is not None:
        paths += suite_files(Path(suite))
    if not paths:
        raise TilerError("nothing to benchmark: name FILE.c or --suite DIR")
    return paths


def suite_files(directory: Path) -> list[Path]:
    """Return the C files under ``directory`` that hold a ``#pragma scop`` region, sorted;
    PolyBench's ``utilities/`` and the pass's own ``*.tiled.c`` outputs are left out."""
    if not directory.is_dir():
        raise TilerError("no such directory", filename=str(directory))
    found = []
    for path in sorted(directory.rglob("*.c")):
        if "utilities" in path.relative_to(directory).parts or path.name.endswith(".tiled.c"):
            continue
        if "#pragma scop" in path.read_text(errors="replace"):
            found.append(path)
    if not found:
        raise TilerError("no C file with a '#pragma scop' region", filename=str(directory))
    return found


def _define_list(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in text.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals or not name.isidentifier() or not value.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE[,NAME=VALUE…], not '{text}'")
        pairs.append((name, value.strip()))
    return tuple(pairs)


class _LogProgress:
    """Progress as lines on stderr, for a log rather than a terminal: one when a phase of a
    kernel starts (building, tuning, checking, timing) and one every few percent."""

    def __init__(self) -> None:
        self.total, self.done, self.printed, self.phase = 0, 0, -LOG_EVERY_PERCENT, ""

    def expect(self, steps: int) -> None:
        self.total += steps

    def advance(self, description: str, steps: int = 1) -> None:
        self.done += steps
        percent = 100 * self.done // max(1, self.total)
        phase = " ".join(description.split()[:2])       # e.g. 'gemm: tuning'
        if description and (phase != self.phase or percent >= self.printed + LOG_EVERY_PERCENT):
            print(f"[{percent:3d}%] {description}", file=sys.stderr, flush=True)
            self.printed, self.phase = percent, phase

    def close(self) -> None:
        pass


class _RichProgress:
    """A progress bar on stderr drawn by rich."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task("tiler bench", total=0)
        self.bar.start()

    def expect(self, steps: int) -> None:
        total = self.bar.tasks[0].total or 0
        self.bar.update(self.task, total=total + steps)

    def advance(self, description: str, steps: int = 1) -> None:
        self.bar.update(self.task, advance=steps, **({"description": description}
                                                      if description else {}))

    def close(self) -> None:
        self.bar.stop()


def make_progress() -> _LogProgress | _RichProgress:
    """Return a progress bar when stderr is a terminal and rich is installed, else a log."""
    if sys.stderr.isatty():
        try:
            return _RichProgress()
        except ImportError:
            pass
    return _LogProgress()
