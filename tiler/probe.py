"""Measure the cache hierarchy from a latency-vs-working-set curve (``tiler probe``).

The average latency of a load is timed while the working set grows from a few KiB to well past
the last-level cache; a level ends where the latency rises to the next plateau. Two walks are
timed by the C kernels in ``probes/latency.c``:

- a dependent pointer chase around one random cycle through the working set's lines (Sattolo's
  shuffle, as lmbench's lat_mem_rd). The next address is the loaded value, so no prefetcher can
  run ahead and no two misses overlap: each plateau is a true load-to-use latency. The levels
  are detected on this curve.
- the rows of the triangular loop nest ``for i: for j in 0..i: touch line j`` (the walk of
  "Latency Based Tiling", arXiv 2510.15912), with loads made dependent but addresses ascending.
  It is kept as a comparison: where hardware prefetchers follow ascending addresses it stays
  flat through every level (it does on current x86 parts), which shows what the chase defeats.

The buffer is backed by 2 MiB transparent huge pages where the kernel allows it, so TLB misses
do not show up as an extra cache level (4 KiB pages with a 2048-entry TLB cover only 8 MiB).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiler.curve import SIGMA_FLOOR, CurveAnalysis, analyse_curve, detect_levels  # noqa: F401
from tiler.errors import TilerError
from tiler.hierarchy import (
    CacheLevel,
    Hierarchy,
    cpu_name,
    now_iso,
    save_cached,
    sysfs_levels,
    sysfs_line_bytes,
)
from tiler.native import build_shared_library

# --- measurement --------------------------------------------------------------------------------

# Transparent huge pages are 2 MiB on x86-64 and on AArch64 with 4 KiB base pages.
HUGE_PAGE_BYTES = 2 << 20
# Used when sysfs does not say how large the last level is.
DEFAULT_LAST_LEVEL_BYTES = 32 << 20
# Never map more than this fraction of the available memory for the buffer.
MEMORY_FRACTION = 0.25
# Untimed chase steps before timing, beyond one last level's worth of lines. The shuffle leaves
# the caches holding the buffer in address order, which the cycle reuses at random; only after
# the last level has been refilled in cycle order does the chase see its steady state (where a
# cycle larger than a cache with LRU-like replacement misses on every load). Working sets smaller
# than that are walked once round in full.
WARM_STEPS = 1 << 16
# A point whose samples spread by more than this (interquartile range over median) is measured
# again.
NOISY_SPREAD = 0.10
# Points this close to a plateau's end fix where its level ends, and are worth measuring again.
EDGE_POINTS = 2
# A sample during which the thread was switched out timed someone else too: it is taken again,
# this many times at most.
SAMPLE_ATTEMPTS = 4
COMPILER_FLAGS = ("-O2",)


@dataclass(frozen=True)
class ProbeSettings:
    """How carefully to sweep: the quick probe (< 10 s) or the full one."""

    points_per_octave: int
    min_bytes: int
    last_level_factor: int       # sweep up to this many times the nominal last-level size
    min_max_bytes: int
    max_max_bytes: int
    repeats: int                 # interleaved sweeps over every size
    sample_ns: float             # time of one timed sample
    extra_rounds: int            # re-measurements of noisy points, at most
    budget_s: float              # no re-measurement is started past this time


QUICK = ProbeSettings(4, 4 << 10, 4, 64 << 20, 512 << 20, 3, 1.0e6, 2, 6.0)
FULL = ProbeSettings(8, 4 << 10, 8, 128 << 20, 1 << 30, 5, 3.0e6, 2, 40.0)


@dataclass(frozen=True)
class ProbeResult:
    """A probe's hierarchy with the curves it was read from.

    Attributes:
        hierarchy: the measured levels (what the tiler uses), with sysfs's nominal ones beside.
        sizes: the working sets swept, in bytes.
        chase_ns, triangle_ns: median latency per load of each walk at each size.
        chase_samples: every timed sample of the chase at each size.
        triangle_levels: the levels the triangular walk alone would give, for comparison.
        quick: whether this was the quick probe.
        seconds: wall time of the probe.
        huge_page_fraction: the share of the buffer the kernel backed with huge pages.
        warnings: doubts about the result, for the user.
    """

    hierarchy: Hierarchy
    sizes: tuple[int, ...]
    chase_ns: tuple[float, ...]
    triangle_ns: tuple[float, ...]
    chase_samples: tuple[tuple[float, ...], ...]
    triangle_levels: tuple[CacheLevel, ...]
    quick: bool
    seconds: float
    huge_page_fraction: float
    warnings: tuple[str, ...]


# --- the C kernels ------------------------------------------------------------------------------

def _probe_source() -> bytes:
    """Return the text of the C kernels: the installed package data, else the repository's."""
    try:
        from importlib.resources import files
        return files("tiler.probes").joinpath("latency.c").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parent.parent / "probes" / "latency.c").read_bytes()


@functools.cache
def compile_kernels() -> Path:
    """Return the shared library of the probe kernels, compiled once per source and compiler."""
    return build_shared_library(_probe_source().decode(), "probes", "latency probe",
                                COMPILER_FLAGS)


@functools.cache
def _kernels() -> ctypes.CDLL:
    path = compile_kernels()
    try:
        library = ctypes.CDLL(str(path))
    except OSError as error:
        raise TilerError(f"cannot load the latency probe {path}: {error}") from None
    size, pointer = ctypes.c_size_t, ctypes.c_void_p
    library.probe_alloc.restype = pointer
    library.probe_alloc.argtypes = [size, size, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    library.probe_free.argtypes = [pointer, size]
    library.chase_build.argtypes = [pointer, size, size, ctypes.c_uint64]
    library.chase_time.restype = ctypes.c_double
    library.chase_time.argtypes = [pointer, size, size, ctypes.POINTER(ctypes.c_long)]
    library.triangle_time.restype = ctypes.c_double
    library.triangle_time.argtypes = [pointer, size, size, size, ctypes.POINTER(ctypes.c_long)]
    return library


def huge_page_fraction(address: int, length: int) -> float:
    """Return the share of [address, address + length) that /proc/self/smaps shows in huge pages."""
    huge_kib, inside = 0, False
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                head = line.split(maxsplit=1)[0]
                if "-" in head and not head.endswith(":"):
                    start, end = (int(part, 16) for part in head.split("-"))
                    inside = start < address + length and address < end
                elif inside and head == "AnonHugePages:":
                    huge_kib += int(line.split()[1])
    except (OSError, ValueError):
        return 0.0
    return min(1.0, huge_kib * 1024 / length)


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


# --- the sweep ----------------------------------------------------------------------------------

def sweep_sizes(settings: ProbeSettings, last_level_bytes: int, line_bytes: int) -> list[int]:
    """Return the working sets to time: log-spaced, whole lines, past the last level."""
    top = min(max(settings.last_level_factor * last_level_bytes, settings.min_max_bytes),
              settings.max_max_bytes)
    available = _available_memory()
    if available is not None:
        top = max(settings.min_bytes * 16, min(top, int(available * MEMORY_FRACTION)))
    steps = math.floor(math.log2(top / settings.min_bytes) * settings.points_per_octave)
    sizes = {round(settings.min_bytes * 2 ** (k / settings.points_per_octave) / line_bytes)
             * line_bytes for k in range(steps + 1)}
    return sorted(sizes)


class _Sweep:
    """The timed samples of both walks over one buffer, gathered point by point."""

    def __init__(self, kernels: ctypes.CDLL, buffer: int, sizes: list[int], line_bytes: int,
                 settings: ProbeSettings, last_level_bytes: int) -> None:
        self.kernels, self.buffer, self.sizes = kernels, buffer, sizes
        self.line_bytes, self.settings = line_bytes, settings
        self.warm_steps = last_level_bytes // line_bytes + WARM_STEPS
        self.chase: list[list[float]] = [[] for _ in sizes]
        self.triangle: list[list[float]] = [[] for _ in sizes]
        self.samples_taken = 0
        self.disturbed = 0

    def measure(self, index: int) -> None:
        """Time one sample of each walk at sizes[index], on a freshly shuffled cycle."""
        lines = self.sizes[index] // self.line_bytes
        self.samples_taken += 1
        seed = (index * 0x9E3779B97F4A7C15 + self.samples_taken) % (1 << 64)
        self.kernels.chase_build(self.buffer, lines, self.line_bytes, seed)
        steps = int(min(max(self.settings.sample_ns / self._guess(self.chase, index), 4096),
                        1 << 24))
        warm = min(lines, self.warm_steps)
        self.chase[index].append(self._undisturbed(
            lambda switches: self.kernels.chase_time(self.buffer, warm, steps, switches)))
        rows = int(min(max(self.settings.sample_ns
                           / (self._guess(self.triangle, index) * lines), 1), 1 << 20))
        self.triangle[index].append(self._undisturbed(
            lambda switches: self.kernels.triangle_time(self.buffer, lines, self.line_bytes,
                                                        rows, switches)))

    def _undisturbed(self, sample: Callable[[object], float]) -> float:
        """Return a sample during which the thread kept its core, if one comes in a few tries."""
        switches = ctypes.c_long()
        for _ in range(SAMPLE_ATTEMPTS):
            latency = sample(ctypes.byref(switches))
            if switches.value == 0:
                break
        else:
            self.disturbed += 1
        return latency

    @staticmethod
    def _guess(samples: list[list[float]], index: int) -> float:
        """Return the latency expected at a point: its own, else the nearest smaller size's."""
        for earlier in range(index, -1, -1):
            if samples[earlier]:
                return max(float(np.median(samples[earlier])), 0.1)
        return 1.0

    def noisy_points(self) -> list[int]:
        """Return the points whose chase samples spread more than NOISY_SPREAD."""
        return [i for i, samples in enumerate(self.chase) if _spread(samples) > NOISY_SPREAD]

    def noisy_points_that_matter(self) -> list[int]:
        """Return the noisy points on the plateaus of the curve so far or next to their ends.

        Points on a steep rise vary by nature (a slightly smaller share of a shared cache moves
        them a lot) and do not move the levels; measuring them again would only spend time.
        """
        medians = [float(np.median(samples)) for samples in self.chase]
        plateaus = analyse_curve(self.sizes, medians).plateaus
        near = {i for first, last, _ in plateaus
                for i in range(first - EDGE_POINTS, last + EDGE_POINTS + 1)}
        return [i for i in self.noisy_points() if i in near]


def _spread(samples: list[float]) -> float:
    if len(samples) < 3:
        return 0.0
    q25, median, q75 = np.percentile(samples, [25, 50, 75])
    return float((q75 - q25) / median)


def run_probe(quick: bool = True) -> ProbeResult:
    """Return the hierarchy measured on this machine, with its latency curves.

    The whole size range is swept ``repeats`` times, interleaved, so that a burst of load from
    elsewhere spoils one sample at several sizes rather than every sample at one; points whose
    samples still spread are measured again, up to a bound; what remains noisy is reported.
    """
    settings = QUICK if quick else FULL
    started = time.monotonic()
    kernels = _kernels()
    nominal = sysfs_levels()
    line_bytes = max(sysfs_line_bytes(), 8)
    last_level_bytes = nominal[-1].size_bytes if nominal else DEFAULT_LAST_LEVEL_BYTES
    sizes = sweep_sizes(settings, last_level_bytes, line_bytes)
    length = -(-sizes[-1] // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES
    advised = ctypes.c_int()
    buffer = kernels.probe_alloc(length, HUGE_PAGE_BYTES, 1, ctypes.byref(advised))
    if not buffer:
        raise TilerError(f"cannot map {length >> 20} MiB for the latency probe")
    warnings: list[str] = []
    try:
        huge = huge_page_fraction(buffer, length)
        sweep = _Sweep(kernels, buffer, sizes, line_bytes, settings, last_level_bytes)
        for _ in range(settings.repeats):
            for index in range(len(sizes)):
                sweep.measure(index)
        deadline = started + settings.budget_s
        for _ in range(settings.extra_rounds):
            noisy = sweep.noisy_points_that_matter()
            for _ in range(settings.repeats):
                for index in noisy:
                    if time.monotonic() < deadline:
                        sweep.measure(index)
    finally:
        kernels.probe_free(buffer, length)

    if sweep.disturbed > len(sizes):
        warnings.append(f"{sweep.disturbed} samples were interrupted by other processes even "
                        f"after {SAMPLE_ATTEMPTS} tries: the machine is busy")
    if huge < 0.9:
        why = "the kernel took the advice but had none free" if advised.value else \
            "transparent huge pages are off or unsupported"
        warnings.append(f"only {huge:.0%} of the probe buffer is in huge pages ({why}): TLB "
                        f"misses may show up as an extra cache level")
    chase = [float(np.median(samples)) for samples in sweep.chase]
    triangle = [float(np.median(samples)) for samples in sweep.triangle]
    analysis = analyse_curve(sizes, chase, line_bytes=line_bytes, noise=_noise(sweep.chase))
    # Noise on the plateaus, or on many points, is what makes the levels uncertain.
    on_plateaus = {i for first, last, _ in analysis.plateaus for i in range(first, last + 1)}
    still_noisy = sweep.noisy_points()
    if set(still_noisy) & on_plateaus or len(still_noisy) > len(sizes) // 5:
        warnings.append(f"{len(still_noisy)} of {len(sizes)} points, between "
                        f"{format_size(sizes[still_noisy[0]])} and "
                        f"{format_size(sizes[still_noisy[-1]])}, still vary by more than "
                        f"{NOISY_SPREAD:.0%} after re-measuring: another process is probably "
                        f"using the caches, and levels near those sizes are less certain")
    warnings.extend(analysis.warnings)
    triangle_levels = detect_levels(sizes, triangle, line_bytes=line_bytes)
    hierarchy = Hierarchy(line_bytes, analysis.levels, analysis.memory_latency_ns, "probe",
                          cpu_name(), now_iso(), huge >= 0.9, tuple(nominal))
    return ProbeResult(hierarchy, tuple(sizes), tuple(chase), tuple(triangle),
                       tuple(tuple(samples) for samples in sweep.chase), tuple(triangle_levels),
                       quick, time.monotonic() - started, huge, tuple(warnings))


def _noise(samples: list[list[float]]) -> float:
    """Return the typical relative noise of a median of the samples (a robust sigma of ln)."""
    spreads = [1.4826 * float(np.median(np.abs(np.log(s) - np.median(np.log(s)))))
               / math.sqrt(len(s)) for s in samples if len(s) >= 3]
    return float(np.median(spreads)) if spreads else SIGMA_FLOOR


# --- output -------------------------------------------------------------------------------------

def format_size(size: int) -> str:
    """Return a size in bytes as a short human figure: 46 KiB, 1.5 MiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{size} B"


def format_report(result: ProbeResult) -> str:
    """Return the plain-text report: measured levels beside sysfs's nominal sizes."""
    hierarchy = result.hierarchy
    pages = (f"2 MiB huge pages ({result.huge_page_fraction:.0%} of the buffer)"
             if hierarchy.huge_pages else "4 KiB pages")
    title = (f"tiler probe{' --quick' if result.quick else ''}: {result.seconds:.1f} s, "
             f"pointer chase over {format_size(result.sizes[0])} .. "
             f"{format_size(result.sizes[-1])}, {pages}")
    lines = [title, f"{'level':<8}{'measured':>12}{'latency':>11}{'sysfs nominal':>16}"]
    nominal = {level.level: level.size_bytes for level in hierarchy.nominal_levels}
    for number in range(1, max(len(hierarchy.levels), len(nominal)) + 1):
        measured = hierarchy.levels[number - 1] if number <= len(hierarchy.levels) else None
        lines.append(f"{'L' + str(number):<8}"
                     f"{format_size(measured.size_bytes) if measured else '-':>12}"
                     f"{f'{measured.latency_ns:.3g} ns' if measured else '-':>11}"
                     f"{format_size(nominal[number]) if number in nominal else '-':>16}")
    if hierarchy.memory_latency_ns is not None:
        lines.append(f"{'memory':<8}{'':>12}{f'{hierarchy.memory_latency_ns:.3g} ns':>11}")
    seen = ", ".join(f"L{level.level} {format_size(level.size_bytes)}"
                     for level in result.triangle_levels) or "none"
    lines.append(f"triangular walk (ascending, prefetchable): {min(result.triangle_ns):.3g} .. "
                 f"{max(result.triangle_ns):.3g} ns per load; levels it shows: {seen}")
    return "\n".join(lines)


def plot_curve(result: ProbeResult, path: str) -> None:
    """Draw both latency curves with the measured and nominal level sizes into ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TilerError("--plot needs matplotlib: pip install 'tiler[plot]'") from None
    figure, axes = plt.subplots(figsize=(8, 5))
    kib = np.asarray(result.sizes) / 1024
    low = [float(np.percentile(s, 25)) for s in result.chase_samples]
    high = [float(np.percentile(s, 75)) for s in result.chase_samples]
    axes.fill_between(kib, low, high, alpha=0.3, color="C0")
    axes.plot(kib, result.chase_ns, "o-", color="C0", markersize=3, label="pointer chase")
    axes.plot(kib, result.triangle_ns, "s-", color="C1", markersize=3,
              label="triangular walk (prefetchable)")
    for level in result.hierarchy.levels:
        axes.axvline(level.size_bytes / 1024, color="C2")
        axes.annotate(f"L{level.level} {format_size(level.size_bytes)}",
                      (level.size_bytes / 1024, max(result.chase_ns)), rotation=90,
                      va="top", ha="right", fontsize=8)
    for level in result.hierarchy.nominal_levels:
        axes.axvline(level.size_bytes / 1024, color="grey", linestyle="--")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("working set (KiB); dashed: nominal sizes from sysfs")
    axes.set_ylabel("latency per load (ns)")
    axes.set_title(f"{result.hierarchy.cpu}")
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as error:
        raise TilerError(f"cannot write the plot: {error.strerror}", filename=path) from None
    finally:
        plt.close(figure)


def run_probe_command(args: argparse.Namespace) -> int:
    """Run ``tiler probe``: measure, cache unless --no-cache, print the report or the JSON."""
    result = run_probe(quick=args.quick)
    for warning in result.warnings:
        print(f"tiler probe: warning: {warning}", file=sys.stderr)
    if args.plot:
        plot_curve(result, args.plot)
    cached = None
    if not args.no_cache and result.hierarchy.levels:
        cached = save_cached(result.hierarchy)
    if args.json:
        print(result.hierarchy.to_json())
    else:
        print(format_report(result))
        if cached is not None:
            print(f"cached in {cached}")
    return 0
