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

Other processes only ever add latency, so a visit of a working set counts its fastest sample;
and where the pages of a working set lie decides how much of a physically indexed cache it can
use, so each visit walks another part of the buffer and the working set's latency is the median
over its visits. Visits are interleaved over all sizes (a burst of load spoils one sample at
several sizes rather than every sample at one). After a few sweeps the sizes whose estimate is
still uncertain are measured again while the time budget lasts; the whole probe, analysis
included, ends within it, loaded or not. Last, a streaming read inside each level and from
memory gives the bandwidths.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tiler.curve import (  # noqa: F401
    CurveAnalysis,
    analyse_curve,
    analyse_with_intervals,
    detect_levels,
)
from tiler.errors import TilerError
from tiler.hierarchy import CacheLevel, Hierarchy, cpu_name, now_iso, sysfs_levels, sysfs_line_bytes
from tiler.measurements import Measurements, measurements_of
from tiler.native import build_shared_library
from tiler.sweep import (  # noqa: F401
    FULL,
    MIN_SAMPLE_SPREAD,
    QUICK,
    REFINE_POINTS,
    SAMPLE_ATTEMPTS,
    ProbeSettings,
    Sweep,
    layout_median,
    layout_median_error,
    low_quantile,
    low_quantile_error,
    measure,
    stream_bandwidths,
    sweep_sizes,
)

# --- measurement --------------------------------------------------------------------------------

# Transparent huge pages are 2 MiB on x86-64 and on AArch64 with 4 KiB base pages.
HUGE_PAGE_BYTES = 2 << 20
# Used when sysfs does not say how large the last level is.
DEFAULT_LAST_LEVEL_BYTES = 32 << 20
# Time kept at the end of the budget for the analysis and the bandwidth sweep, in seconds (they
# take 0.1-0.3 s on a quiet 2-core machine, 0.5-1 s at a load of 7-11 on its two cores).
ANALYSIS_RESERVE_S = 1.0
# Starting Python and importing tiler takes 0.5 s on a quiet machine, 2.5 s at a load of 10;
# a process older than this did something else first, and the probe's budget starts later.
STARTUP_AT_MOST_S = 4.0
# Fewer sizes than this (the time was up before the first sweep ended) make no curve.
MIN_CURVE_POINTS = 8
COMPILER_FLAGS = ("-O2",)


# When sysfs's last level is this many times what the curve shows, the process sees a share of
# it (a virtual machine, or other cores using the chip): said so in the report.
NOMINAL_MUCH_LARGER = 1.5


@dataclass(frozen=True)
class ProbeResult:
    """A probe's hierarchy with the curves it was read from.

    Attributes:
        hierarchy: the measured levels (what the tiler uses), with sysfs's nominal ones beside.
        sizes: the working sets swept, in bytes.
        chase_ns: the chase's latency at each size: over the visits (each in another part of the
            buffer), the median of each visit's least sample (``layout_median``).
        triangle_ns: the low quantile of the triangular walk's samples at each size.
        chase_samples: every timed sample of the chase at each size.
        triangle_levels: the levels the triangular walk alone would give, for comparison.
        quick: whether this was the quick probe.
        seconds: wall time of the probe.
        huge_page_fraction: the share of the buffer the kernel backed with huge pages.
        warnings: doubts about the result, for the user.
        chase_log_error: standard error of ln(chase_ns) at each size.
        notes: facts worth telling (the last level as the process sees it).
        load_average: the system's one-minute load average when the probe ended.
        chase_visit_lows: each visit's least sample at each size, in visit order.
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
    chase_log_error: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()
    load_average: float | None = None
    chase_visit_lows: tuple[tuple[float, ...], ...] = ()

    def measurements(self) -> Measurements:
        """Return the chase curve as measurements to cache and merge."""
        errors = self.chase_log_error or (MIN_SAMPLE_SPREAD,) * len(self.sizes)
        return measurements_of(self.sizes, self.chase_ns, errors,
                               [len(samples) for samples in self.chase_samples])


# --- the C kernels ------------------------------------------------------------------------------

def _probe_source() -> bytes:
    """Return the text of the C kernels: the repository's beside this package (a checkout,
    whichever tiler is installed), else the installed package data."""
    beside = Path(__file__).resolve().parent.parent / "probes" / "latency.c"
    if beside.exists():
        return beside.read_bytes()
    from importlib.resources import files
    return files("tiler.probes").joinpath("latency.c").read_bytes()


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
    library.chase_build.restype = ctypes.c_int
    library.chase_build.argtypes = [pointer, size, size, ctypes.c_uint64, size]
    library.chase_samples.argtypes = [pointer, size, size, size, size, ctypes.c_int,
                                      ctypes.c_long, ctypes.POINTER(ctypes.c_double),
                                      ctypes.POINTER(ctypes.c_long)]
    library.probe_switches.restype = ctypes.c_long
    library.stream_time.restype = ctypes.c_double
    library.stream_time.argtypes = [pointer, size, size, ctypes.POINTER(ctypes.c_long)]
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


# --- the probe ----------------------------------------------------------------------------------

def run_probe(quick: bool = True, progress: Callable[[float], None] | None = None,
              started: float | None = None) -> ProbeResult:
    """Return the hierarchy measured on this machine, with its latency curves.

    The probe ends within ``budget_s`` of its settings counted from ``started`` (a
    ``time.monotonic()`` value, default now), loaded or not; ``progress`` is called with the
    monotonic time after every visit of a size (for a progress bar).
    """
    settings = QUICK if quick else FULL
    started = time.monotonic() if started is None else started
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
        sweep = Sweep(kernels, buffer, length, sizes, line_bytes, settings, last_level_bytes)
        end = started + settings.budget_s
        measure(sweep, settings, end - ANALYSIS_RESERVE_S, end - ANALYSIS_RESERVE_S / 2,
                last_level_bytes, progress, len(nominal) or None)
        measured = [i for i, samples in enumerate(sweep.chase) if samples]
        sizes = [sweep.sizes[i] for i in measured]
        samples = [sweep.chase[i] for i in measured]
        visit_lows = [sweep.visit_lows[i] for i in measured]
        triangle_samples = [sweep.triangle[i] for i in measured]
        chase = [sweep.latency(i) for i in measured]
        errors = [layout_median_error(lows) for lows in visit_lows]
        if len(sizes) >= MIN_CURVE_POINTS:
            analysis = analyse_with_intervals(sizes, chase, errors, line_bytes=line_bytes,
                                              max_levels=len(nominal) or None)
        else:
            analysis = CurveAnalysis((), None, (), (
                (f"the time was up after {len(sizes)} sizes: the machine is too busy to read a "
                f"curve"),), 0.0)
        level_bandwidths, memory_bandwidth = stream_bandwidths(kernels, buffer, length,
                                                         analysis.levels, settings)
    finally:
        kernels.probe_free(buffer, length)

    if sweep.disturbed > sweep.visits * settings.samples_per_visit // 4:
        warnings.append(f"{sweep.disturbed} of {sweep.visits * settings.samples_per_visit} "
                        f"samples were interrupted by other processes: the machine is busy")
    if huge < 0.9:
        why = "the kernel took the advice but had none free" if advised.value else \
            "transparent huge pages are off or unsupported"
        warnings.append(f"only {huge:.0%} of the probe buffer is in huge pages ({why}): TLB "
                        f"misses may show up as an extra cache level")
    uncertain = [i for i, error in enumerate(errors) if error > 3 * settings.target_error]
    if len(uncertain) > len(sizes) // 5:
        warnings.append(f"{len(uncertain)} of {len(sizes)} sizes are still uncertain by more "
                        f"than {3 * settings.target_error:.0%} when the time was up: another "
                        f"process is probably using the caches (see each level's interval)")
    warnings.extend(analysis.warnings)
    levels = tuple(dataclasses.replace(level, bandwidth_bytes_per_ns=bandwidth)
                   for level, bandwidth in zip(analysis.levels, level_bandwidths))
    triangle = [low_quantile(values) if values else float("nan")
                for values in triangle_samples]
    triangle_levels = detect_levels(sizes, triangle, line_bytes=line_bytes) \
        if len(sizes) >= MIN_CURVE_POINTS and all(map(math.isfinite, triangle)) else []
    hierarchy = Hierarchy(line_bytes, levels, analysis.memory_latency_ns, "probe",
                          cpu_name(), now_iso(), huge >= 0.9, tuple(nominal),
                          memory_bandwidth, analysis.confidence)
    return ProbeResult(hierarchy, tuple(sizes), tuple(chase), tuple(triangle),
                       tuple(tuple(values) for values in samples), tuple(triangle_levels),
                       quick, time.monotonic() - started, huge, tuple(warnings),
                       tuple(errors), tuple(last_level_notes(hierarchy)), _load_average(),
                       tuple(tuple(lows) for lows in visit_lows))


def last_level_notes(hierarchy: Hierarchy) -> list[str]:
    """Return a note when sysfs's last level is much larger than what the process sees."""
    if not hierarchy.levels or not hierarchy.nominal_levels:
        return []
    measured, nominal = hierarchy.levels[-1], hierarchy.nominal_levels[-1]
    if measured.level != nominal.level or \
            nominal.size_bytes < NOMINAL_MUCH_LARGER * measured.size_bytes:
        return []
    return [(f"L{measured.level} is {format_size(nominal.size_bytes)} by sysfs, but this process "
            f"sees about {format_size(measured.size_bytes)} of it (a virtual machine or other "
            f"cores share the chip): the tiler uses the measured size")]


def process_started() -> float:
    """Return the ``time.monotonic()`` value the command's budget counts from: when this
    process started (the budget includes starting Python and importing), unless that was more
    than ``STARTUP_AT_MOST_S`` ago (the probe called from a longer-running program), or the
    system does not say: then now."""
    now = time.monotonic()
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])          # field 22, start time in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - age if 0 <= age <= STARTUP_AT_MOST_S else now


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def format_size(size: int) -> str:
    """Return a size in bytes as a short human figure: 46 KiB, 1.5 MiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{size} B"
