"""The results of ``tiler bench`` as a JSON object, a table and a bar chart."""

from __future__ import annotations

import datetime
import json
import platform
from typing import TextIO

from tiler.bench.modelcheck import median_rho
from tiler.bench.programs import compiler_version
from tiler.bench.results import KernelResult, SuiteResult, VariantResult
from tiler.bench.variants import POLLY_FLAGS
from tiler.errors import TilerError

# Format of the JSON object, bumped when a key changes meaning.
JSON_FORMAT = 1
# Short forms of the statuses of variants that were not timed, for the table.
STATUS_LABELS = {"wrong": "WRONG", "tile-error": "tile err", "build-error": "build err",
                 "run-error": "run err", "not-tiled": "untiled", "skipped": "-"}


MODEL_CHECK_TITLE = ("model check: rank correlation (Spearman) of predicted and measured time "
                     "over the tuner's candidates")


def suite_to_dict(suite: SuiteResult) -> dict:
    """Return every figure of ``suite`` as a JSON-ready object."""
    settings = suite.settings
    means = suite.geometric_means()
    polly = None
    if settings.polly_compiler is not None:
        polly = {"command": list(settings.polly_compiler),
                 "version": compiler_version(settings.polly_compiler),
                 "flags": [*settings.flags, *POLLY_FLAGS]}
    hierarchy = settings.hierarchy
    return {
        "format": JSON_FORMAT,
        "tool": "tiler bench",
        "measured_at": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0).isoformat(),
        "machine": platform.node(),
        "compiler": {"command": list(settings.compiler),
                     "version": compiler_version(settings.compiler),
                     "flags": list(settings.flags)},
        "polly": polly,
        "polly_note": settings.polly_note,
        "repeat": settings.repeat,
        "autotune": {"method": settings.autotune,
                     "budget": settings.budget if settings.autotune == "optuna" else None,
                     "exhaustive_sizes": list(settings.exhaustive_sizes)
                     if settings.autotune == "exhaustive" else None,
                     "runs_per_trial": settings.runs_per_trial, "seed": settings.seed},
        "hierarchy": hierarchy.to_dict() if hierarchy is not None else None,
        "relative_tolerance": settings.relative_tolerance,
        "variants": list(suite.variants),
        "kernels": {kernel.name: kernel_to_dict(kernel) for kernel in suite.kernels},
        "geomean": {"speedup": {name: means[name][0] for name in suite.variants},
                    "kernels": {name: means[name][1] for name in suite.variants},
                    "default_vs_autotuned": means["default_vs_autotuned"][0],
                    "tuning_s": sum(kernel.tuning.wall_s for kernel in suite.kernels
                                    if kernel.tuning is not None),
                    "model_s": sum(kernel.model_s for kernel in suite.kernels)},
        "model_check": _model_check_summary(suite),
    }


def _model_check_summary(suite: SuiteResult) -> dict | None:
    if not suite.settings.model_check:
        return None
    median, kernels = median_rho([kernel.model_check for kernel in suite.kernels])
    return {"median_spearman": median, "kernels": kernels}


def model_check_rows(suite: SuiteResult) -> tuple[list[str], list[list[str]]]:
    """Return the model check's table: per kernel, the candidates compared and Spearman's
    rank correlation of predicted and measured time; the median last."""
    header = ["kernel", "candidates", "spearman"]
    rows = []
    for kernel in suite.kernels:
        check = kernel.model_check
        if check is None:
            rows.append([kernel.name, "-", "-"])
            continue
        rho = check.rho
        rows.append([kernel.name, str(len(check.pairs)), "-" if rho is None else f"{rho:+.2f}"])
    median, count = median_rho([kernel.model_check for kernel in suite.kernels])
    rows.append([f"median ({count})", "", "-" if median is None else f"{median:+.2f}"])
    return header, rows


def kernel_to_dict(kernel: KernelResult) -> dict:
    """Return one kernel's figures as a JSON-ready object."""
    tuning = kernel.tuning
    search = None
    if tuning is not None:
        best = tuning.best
        search = {"method": tuning.method, "library": tuning.library,
                  "evaluations": len(tuning.trials),
                  "failed": sum(1 for trial in tuning.trials if trial.seconds is None),
                  "best_sizes": list(best.sizes) if best else None,
                  "best_trial_s": best.seconds if best else None,
                  "trials": [{"sizes": list(trial.sizes), "seconds": trial.seconds}
                             for trial in tuning.trials]}
    return {"file": kernel.path, "polybench": kernel.polybench, "error": kernel.error or None,
            "variants": {name: variant_to_dict(variant, kernel)
                         for name, variant in kernel.variants.items()},
            "tuning_s": tuning.wall_s if tuning is not None else None,
            "tuning": search,
            "model_s": kernel.model_s, "pass_s": kernel.pass_s,
            "default_vs_autotuned": kernel.default_vs_autotuned(),
            "model_check": None if kernel.model_check is None else {
                "spearman": kernel.model_check.rho,
                "candidates": len(kernel.model_check.pairs),
                "trials": [{"sizes": list(sizes), "predicted_ns": predicted, "seconds": seconds}
                           for sizes, predicted, seconds in kernel.model_check.trials]}}


def variant_to_dict(variant: VariantResult, kernel: KernelResult) -> dict:
    """Return one variant's figures as a JSON-ready object."""
    return {"median_s": variant.median_s, **variant.spread(), "times_s": list(variant.times_s),
            "ok": variant.ok, "status": variant.status,
            "speedup": kernel.speedup(variant.name),
            "speedup_range": kernel.speedup_range(variant.name),
            "speedup_of_fastest_runs": kernel.speedup_of_fastest_runs(variant.name),
            "tile_sizes": [list(sizes) for sizes in variant.band_sizes],
            "given_sizes": list(variant.given_sizes) if variant.given_sizes else None,
            "choice_s": variant.choice_s, "timing": variant.timing,
            "max_relative_difference": variant.max_relative_difference,
            "toolchain": variant.toolchain, "note": variant.note}


def write_json(suite: SuiteResult, path: str) -> None:
    """Write ``suite_to_dict(suite)`` to ``path``."""
    from tiler.output import write_atomically
    try:
        write_atomically(path, json.dumps(suite_to_dict(suite), indent=2) + "\n")
    except OSError as error:
        raise TilerError(f"cannot write the results: {error.strerror}", filename=path) from None


# -- the table ---------------------------------------------------------------------------------

def table_rows(suite: SuiteResult) -> tuple[list[str], list[list[str]]]:
    """Return the header and the rows of the summary table (geometric means last)."""
    tuned = "autotuned" in suite.variants
    header = ["kernel", "original"] + [f"{name}" for name in suite.variants[1:]]
    if tuned:
        header += ["tuning", "default/tuned"]
    rows = []
    for kernel in suite.kernels:
        original = kernel.variants["original"]
        row = [kernel.name, _seconds_cell(original)]
        row += [_speedup_cell(kernel, kernel.variants.get(name)) for name in suite.variants[1:]]
        if tuned:
            row.append(f"{_duration(kernel.tuning.wall_s)}/{len(kernel.tuning.trials)}"
                       if kernel.tuning else "-")
            ratio = kernel.default_vs_autotuned()
            row.append(f"{ratio:.2f}" if ratio else "-")
        rows.append(row)
    means = suite.geometric_means()
    row = ["geomean", ""] + [f"{means[name][0]:.2f}x" if means[name][0] else "-"
                             for name in suite.variants[1:]]
    if tuned:
        total = sum(kernel.tuning.wall_s for kernel in suite.kernels if kernel.tuning)
        ratio = means["default_vs_autotuned"][0]
        row += [_duration(total), f"{ratio:.2f}" if ratio else "-"]
    rows.append(row)
    return header, rows


def sizes_rows(suite: SuiteResult) -> tuple[list[str], list[list[str]]]:
    """Return the header and rows of the tile sizes each approach chose, per kernel."""
    tuned = "autotuned" in suite.variants
    header = ["kernel", "default (model)", "model time"] + \
        (["autotuned best"] if tuned else []) + ["fixed32"]
    rows = []
    for kernel in suite.kernels:
        row = [kernel.name, _bands(kernel.variants.get("default")),
               f"{kernel.model_s * 1000:.1f} ms"]
        if tuned:
            row.append(_bands(kernel.variants.get("autotuned")))
        rows.append(row + [_bands(kernel.variants.get("fixed32"))])
    return header, rows


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Return a plain-text table with left-aligned first and right-aligned other columns."""
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
    lines = []
    for index, row in enumerate([header, *rows]):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width)
                                             for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def describe_suite(suite: SuiteResult) -> str:
    """Return the whole plain-text report: settings, speedups, sizes and notes."""
    header, rows = table_rows(suite)
    size_header, size_rows = sizes_rows(suite)
    parts = [settings_line(suite), "",
             "speedup over the original (median of runs; original: median seconds ±half range)",
             format_table(header, rows), "", "tile sizes per band",
             format_table(size_header, size_rows)]
    if suite.settings.model_check:
        parts += ["", MODEL_CHECK_TITLE, format_table(*model_check_rows(suite))]
    notes = problem_notes(suite)
    if notes:
        parts += ["", *notes]
    return "\n".join(parts)


def print_report(suite: SuiteResult, stream: TextIO) -> None:
    """Print the report: with rich's tables on a terminal, as plain text otherwise."""
    try:
        if not stream.isatty():
            raise ImportError
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(describe_suite(suite), file=stream)
        return
    tables = (("speedup over the original", table_rows(suite)),
              ("tile sizes per band", sizes_rows(suite))) + (
        ((MODEL_CHECK_TITLE, model_check_rows(suite)),) if suite.settings.model_check else ())
    # never squeeze a column: a table wider than the terminal wraps, as plain text would
    natural = max(len(format_table(header, rows).splitlines()[0]) + 3 * len(header) + 4
                  for _, (header, rows) in tables)
    console = Console(file=stream)
    console = Console(file=stream, width=max(console.width, natural))
    console.print(settings_line(suite), highlight=False)
    for title, (header, rows) in tables:
        table = Table(title=title)
        for index, name in enumerate(header):
            table.add_column(name, justify="left" if index == 0 else "right", no_wrap=True)
        geomean_last = title.startswith("speedup") or title == MODEL_CHECK_TITLE
        for index, row in enumerate(rows):
            table.add_row(*row, end_section=geomean_last and index == len(rows) - 2)
        console.print(table)
    for note in problem_notes(suite):
        console.print(note, highlight=False, markup=False)


def settings_line(suite: SuiteResult) -> str:
    """Return one line naming the compiler, flags, caches, runs and tuner."""
    settings = suite.settings
    hierarchy = settings.hierarchy
    caches = ", ".join(f"L{level.level} {_size(level.size_bytes)}" for level in hierarchy.levels) \
        if hierarchy is not None else "measured"
    tuner = {"optuna": f"optuna, {settings.budget} evaluations",
             "exhaustive": f"exhaustive over {','.join(map(str, settings.exhaustive_sizes))}",
             "none": "none"}[settings.autotune]
    polly = " ".join(settings.polly_compiler) if settings.polly_compiler else \
        (settings.polly_note or "not asked")
    return (f"{' '.join(settings.compiler)} {' '.join(settings.flags)}; caches {caches}; "
            f"{settings.repeat} runs per variant; tuner: {tuner}; Polly: {polly}")


def problem_notes(suite: SuiteResult) -> list[str]:
    """Return a line per variant that was not timed, saying why, and per timed variant
    with a note (an output that differs only by floating-point contraction)."""
    notes = []
    for kernel in suite.kernels:
        for variant in kernel.variants.values():
            if variant.note and variant.status != "skipped":
                first = variant.note.splitlines()[0][:300]
                notes.append(f"{kernel.name} {variant.name}: {variant.status}: {first}")
    for kernel in suite.kernels:
        if any(variant.median_s == 0 for variant in kernel.variants.values()):
            notes.append(f"{kernel.name}: a time of 0 s is below the program's timer "
                         "resolution; no ratio is given (make the problem larger)")
    skipped = {variant.note for kernel in suite.kernels for variant in kernel.variants.values()
               if variant.status == "skipped" and variant.note}
    notes += [f"skipped: {note}" for note in sorted(skipped)]
    return notes


def _seconds_cell(variant: VariantResult) -> str:
    if variant.median_s is None:
        return STATUS_LABELS.get(variant.status, variant.status)
    spread = variant.spread()
    if variant.median_s <= 0:
        return "0 s"
    half_range = (spread["max_s"] - spread["min_s"]) / 2 / variant.median_s * 100
    return f"{variant.median_s:.3f} s ±{half_range:.0f}%"


def _speedup_cell(kernel: KernelResult, variant: VariantResult | None) -> str:
    if variant is None:
        return "-"
    speedup = kernel.speedup(variant.name)
    if speedup is None:
        return STATUS_LABELS.get(variant.status, variant.status)
    return f"{speedup:.2f}x"


def _bands(variant: VariantResult | None) -> str:
    if variant is None or not variant.band_sizes:
        return "-" if variant is None or variant.ok else STATUS_LABELS.get(variant.status, "-")
    return " ".join("x".join(map(str, sizes)) for sizes in variant.band_sizes)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


def _size(size: int) -> str:
    return f"{size / 1024:.0f}K" if size < 1 << 20 else f"{size / (1 << 20):.1f}M"


# -- the plot ----------------------------------------------------------------------------------

def plot_suite(suite: SuiteResult, path: str) -> None:
    """Draw the speedups per kernel and the time each approach took to choose its sizes."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TilerError("--plot needs matplotlib: pip install 'tiler[plot]'") from None
    variants = [name for name in suite.variants if name != "original"]
    labels = [kernel.name for kernel in suite.kernels] + ["geomean"]
    means = suite.geometric_means()
    figure, (bars, costs) = plt.subplots(1, 2, figsize=(max(8, 1.1 * len(labels) + 4), 4.8),
                                         gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / max(1, len(variants))
    for index, name in enumerate(variants):
        values = [kernel.speedup(name) or 0.0 for kernel in suite.kernels]
        ranges = [kernel.speedup_range(name) or (value, value)
                  for kernel, value in zip(suite.kernels, values)]
        values.append(means[name][0] or 0.0)
        ranges.append((values[-1], values[-1]))
        errors = [[value - low for value, (low, _) in zip(values, ranges)],
                  [high - value for value, (_, high) in zip(values, ranges)]]
        positions = [k + (index - (len(variants) - 1) / 2) * width for k in range(len(labels))]
        bars.bar(positions, values, width, label=name, color=f"C{index}", yerr=errors,
                 error_kw={"elinewidth": 0.8, "capsize": 1.5})
    bars.axhline(1.0, color="black", linewidth=0.8)
    bars.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    bars.set_ylabel("speedup over the original (median)")
    bars.set_title("speedup; whiskers: slowest..fastest run; 0: wrong, failed or not timed",
                   fontsize=10)
    bars.legend(fontsize=8)
    choosing = {"model\n(default)": sum(kernel.model_s for kernel in suite.kernels)}
    if any(kernel.tuning is not None for kernel in suite.kernels):
        choosing["search\n(autotuned)"] = sum(kernel.tuning.wall_s for kernel in suite.kernels
                                              if kernel.tuning is not None)
    costs.bar(list(choosing), [max(value, 1e-4) for value in choosing.values()],
              color=["C0", "C2"][:len(choosing)])
    for position, value in enumerate(choosing.values()):
        costs.annotate(_duration(value), (position, max(value, 1e-4)), ha="center",
                       va="bottom", fontsize=8)
    costs.set_yscale("log")
    costs.set_ylabel("seconds to choose tile sizes (all kernels)")
    costs.set_title("cost of the choice")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise TilerError(f"cannot write the plot: {error.strerror}", filename=path) from None
    finally:
        plt.close(figure)
