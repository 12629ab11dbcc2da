"""``tiler probe``: its options, the report, the plot and the cached result (``--show``)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tiler.errors import TilerError
from tiler.hierarchy import Hierarchy, cache_path, load_cached_record
from tiler.probe import (
    FULL,
    ProbeResult,
    format_size,
    last_level_notes,
    process_started,
    run_probe,
)


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tiler probe``."""
    parser.add_argument("--quick", action="store_true", help="a fast probe (within 6 s)")
    parser.add_argument("--json", action="store_true", help="print the hierarchy as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the latency curves")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the cached hierarchy")
    cache.add_argument("--fresh", action="store_true",
                       help="forget the cached measurements and start over")
    cache.add_argument("--show", action="store_true",
                       help="print the cached result and how it was measured; do not measure")


def _interval(level) -> str:
    if level.size_low_bytes is None or level.size_high_bytes is None:
        return "-"
    return f"{format_size(level.size_low_bytes)}-{format_size(level.size_high_bytes)}"


def format_table(hierarchy: Hierarchy) -> list[str]:
    """Return the lines of the levels table: measured size, interval, confidence, latency,
    streaming bandwidth, and sysfs's nominal size."""
    lines = [(f"{'level':<8}{'measured':>11}{'interval':>22}{'conf.':>7}{'latency':>10}"
             f"{'stream':>12}{'sysfs':>10}")]
    nominal = {level.level: level.size_bytes for level in hierarchy.nominal_levels}
    for number in range(1, max(len(hierarchy.levels), len(nominal)) + 1):
        level = hierarchy.levels[number - 1] if number <= len(hierarchy.levels) else None
        bandwidth = level.bandwidth_bytes_per_ns if level else None
        lines.append(
            f"{'L' + str(number):<8}"
            f"{format_size(level.size_bytes) if level else '-':>11}"
            f"{_interval(level) if level else '-':>22}"
            f"{f'{level.confidence:.2f}' if level and level.confidence is not None else '-':>7}"
            f"{f'{level.latency_ns:.3g} ns' if level and level.latency_ns else '-':>10}"
            f"{f'{bandwidth:.3g} B/ns' if bandwidth else '-':>12}"
            f"{format_size(nominal[number]) if number in nominal else '-':>10}")
    if hierarchy.memory_latency_ns is not None:
        bandwidth = hierarchy.memory_bandwidth_bytes_per_ns
        lines.append(f"{'memory':<8}{'':>11}{'':>22}{'':>7}"
                     f"{f'{hierarchy.memory_latency_ns:.3g} ns':>10}"
                     f"{f'{bandwidth:.3g} B/ns' if bandwidth else '-':>12}")
    return lines


def format_report(result: ProbeResult) -> str:
    """Return the plain-text report of one run: the table, the comparison walk, the notes."""
    hierarchy = result.hierarchy
    pages = (f"2 MiB huge pages ({result.huge_page_fraction:.0%} of the buffer)"
             if hierarchy.huge_pages else "4 KiB pages")
    load = f", load {result.load_average:.2f}" if result.load_average is not None else ""
    confidence = (f", confidence {hierarchy.confidence:.2f}" if hierarchy.confidence is not None
                  else "")
    lines = [(f"tiler probe{' --quick' if result.quick else ''}: {result.seconds:.1f} s{load}, "
             f"pointer chase over {format_size(result.sizes[0])} .. "
             f"{format_size(result.sizes[-1])}, {pages}{confidence}")]
    lines += format_table(hierarchy)
    triangle = [value for value in result.triangle_ns if np.isfinite(value)]
    if triangle:
        seen = ", ".join(f"L{level.level} {format_size(level.size_bytes)}"
                         for level in result.triangle_levels) or "none"
        lines.append(f"triangular walk (ascending, prefetchable): {min(triangle):.3g} .. "
                     f"{max(triangle):.3g} ns per load; levels it shows: {seen}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines)


def format_cached(hierarchy: Hierarchy, record: dict) -> str:
    """Return the report of the cached result: the table and each run it was merged from."""
    confidence = (f", confidence {hierarchy.confidence:.2f}" if hierarchy.confidence is not None
                  else "")
    lines = [(f"cached in {cache_path()}: measured {hierarchy.measured_at or 'at an unknown time'}"
             f" on {hierarchy.cpu or 'an unknown processor'}{confidence}")]
    lines += format_table(hierarchy)
    runs = record.get("runs", [])
    lines.append(f"merged from {len(runs)} run{'s' if len(runs) != 1 else ''}:" if runs else
                 "no record of the runs (written by an earlier version of tiler)")
    for run in runs:
        levels = " / ".join(format_size(size) for size in run.get("levels", []))
        load = run.get("load_average")
        run_confidence = run.get("confidence")
        lines.append(f"  {run.get('measured_at', '?')}  {'--quick' if run.get('quick') else 'full'}"
                     f"  {run.get('seconds', 0):.1f} s"
                     f"  load {load if load is not None else '?'}"
                     f"  confidence {run_confidence if run_confidence is not None else '?'}"
                     f"  levels {levels}")
    lines += [f"note: {note}" for note in last_level_notes(hierarchy)]
    return "\n".join(lines)


def _axis_label(kib: float, _position: object = None) -> str:
    return format_size(round(kib * 1024))


def plot_curve(result: ProbeResult, path: str) -> None:
    """Draw both latency curves with the measured and nominal level sizes into ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator
    except ImportError:
        raise TilerError("--plot needs matplotlib: pip install 'tiler[plot]'") from None
    figure, axes = plt.subplots(figsize=(9, 5))
    kib = np.asarray(result.sizes) / 1024
    low = [float(np.min(s)) for s in result.chase_samples]
    high = [float(np.percentile(s, 75)) for s in result.chase_samples]
    axes.fill_between(kib, low, high, alpha=0.3, color="C0",
                      label="chase samples, lowest to 75th percentile")
    axes.plot(kib, result.chase_ns, "o-", color="C0", markersize=3,
              label="pointer chase (median over layouts of each visit's fastest sample)")
    if all(np.isfinite(result.triangle_ns)):
        axes.plot(kib, result.triangle_ns, "s-", color="C1", markersize=3,
                  label="triangular walk (ascending, prefetchable)")
    top = max(max(result.chase_ns), max(high))
    for number, level in enumerate(result.hierarchy.levels):
        if level.size_low_bytes and level.size_high_bytes:
            axes.axvspan(level.size_low_bytes / 1024, level.size_high_bytes / 1024, color="C2",
                         alpha=0.15, label="measured level, its interval" if not number else None)
        axes.axvline(level.size_bytes / 1024, color="C2",
                     label=None if level.size_low_bytes or number else "measured level")
        axes.annotate(f"L{level.level} {format_size(level.size_bytes)}",
                      (level.size_bytes / 1024, top), rotation=90, va="top", ha="right",
                      fontsize=8)
    for number, level in enumerate(result.hierarchy.nominal_levels):
        axes.axvline(level.size_bytes / 1024, color="grey", linestyle="--",
                     label="nominal size (sysfs)" if not number else None)
    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_locator(LogLocator(base=4))
    axes.xaxis.set_major_formatter(FuncFormatter(_axis_label))
    axes.set_yscale("log")
    axes.set_xlabel("working set")
    axes.set_ylabel("latency per load (ns)")
    axes.set_title(f"{result.hierarchy.cpu}")
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise TilerError(f"cannot write the plot: {error.strerror}", filename=path) from None
    finally:
        plt.close(figure)


def _progress_bar(quick: bool, started: float):
    """Return a context manager and callback showing the full probe's time on stderr (a
    no-op for the quick probe and when stderr is not a terminal)."""
    import contextlib
    if quick or not sys.stderr.isatty():
        return contextlib.nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    bar = Progress(TextColumn("tiler probe"), BarColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("probe", total=FULL.budget_s)
    return bar, lambda now: bar.update(task, completed=min(now - started, FULL.budget_s))


def run_probe_command(args: argparse.Namespace) -> int:
    """Run ``tiler probe``: measure, merge into the cache unless --no-cache, print the report
    (or the JSON of the hierarchy the tiler will use); ``--show`` prints the cached result."""
    if getattr(args, "show", False):
        loaded = load_cached_record()
        if loaded is None:
            raise TilerError(f"no cached hierarchy in {cache_path()}: run 'tiler probe'")
        hierarchy, record = loaded
        print(hierarchy.to_json() if args.json else format_cached(hierarchy, record))
        return 0
    started = process_started()
    bar, progress = _progress_bar(args.quick, started)
    with bar:
        result = run_probe(quick=args.quick, progress=progress, started=started)
    for warning in result.warnings:
        print(f"tiler probe: warning: {warning}", file=sys.stderr)
    if args.plot:
        plot_curve(result, args.plot)
    used = result.hierarchy
    summary = None
    if not args.no_cache:
        from tiler.probe_cache import remember
        remembered = remember(result, fresh=getattr(args, "fresh", False))
        used = remembered.hierarchy
        summary = _cache_summary(remembered, result)
    if args.json:
        print(used.to_json())
        if summary:
            print(f"tiler probe: {summary}", file=sys.stderr)
    else:
        print(format_report(result))
        if summary:
            print(summary)
    return 0


def _cache_summary(remembered, result: ProbeResult) -> str:
    """Return one line saying what the cache now holds and why."""
    if not result.hierarchy.levels and remembered.outcome == "kept":
        return "this run found no level: the cache is unchanged"
    if remembered.outcome == "kept":
        return (f"this run (confidence {result.hierarchy.confidence:.2f}) is less certain than "
                f"the cached result (confidence {remembered.hierarchy.confidence:.2f}), and so "
                f"is their merge: the cache is unchanged; 'tiler probe --fresh' starts over")
    sizes = " / ".join(format_size(level.size_bytes) for level in remembered.hierarchy.levels)
    where = remembered.path or "nowhere (the cache could not be written)"
    if remembered.outcome == "merged":
        return (f"merged with {remembered.runs - 1} earlier run(s) into {where}: {sizes}, "
                f"confidence {remembered.hierarchy.confidence:.2f}")
    return f"cached in {where}"
