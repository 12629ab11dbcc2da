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

Other processes only ever add latency, so a working set's latency is a low quantile of its
samples, taken in interleaved sweeps over all sizes (a burst of load spoils one sample at
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

import numpy as np

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

# --- measurement --------------------------------------------------------------------------------

# Transparent huge pages are 2 MiB on x86-64 and on AArch64 with 4 KiB base pages.
HUGE_PAGE_BYTES = 2 << 20
# Used when sysfs does not say how large the last level is.
DEFAULT_LAST_LEVEL_BYTES = 32 << 20
# Never map more than this fraction of the available memory for the buffer.
MEMORY_FRACTION = 0.25
# Lines read in cycle order before timing, beyond one last level's worth. Linking the cycle leaves
# the caches holding its lines in random order; only once the last level holds the lines just
# before the chase's start, in cycle order, does the chase see its steady state (where a cycle
# larger than a cache with LRU-like replacement misses on every load). Working sets smaller than
# that are read in full.
WARM_STEPS = 1 << 16
# Chase steps before timing, once the build has warmed the caches.
CHASE_WARM_STEPS = 1 << 12
# The latency of a working set is this quantile of its samples: interference only adds latency,
# so the low end is the machine's own; the minimum alone would follow one lucky sample.
LOW_QUANTILE = 0.2
# The standard error of a quantile q of n samples of spread sigma is sigma * sqrt(q (1 - q) / n)
# over the normal density at q: for q = 0.2, 1.43 sigma / sqrt(n).
LOW_QUANTILE_ERROR_FACTOR = math.sqrt(LOW_QUANTILE * (1 - LOW_QUANTILE)) / 0.2800
# A sample spread (robust sigma of ln latency) assumed at the least for the error of a point
# with few samples, whose spread is not yet known: a quiet machine's.
MIN_SAMPLE_SPREAD = 0.01
# Time kept at the end of the budget for the analysis and the bandwidth sweep, in seconds (they
# take 0.1-0.3 s on a quiet 2-core machine, 0.5-1 s at a load of 7-11 on its two cores).
ANALYSIS_RESERVE_S = 1.0
# Starting Python and importing tiler takes 0.5 s on a quiet machine, 2.5 s at a load of 10;
# a process older than this did something else first, and the probe's budget starts later.
STARTUP_AT_MOST_S = 4.0
# Fewer sizes than this (the time was up before the first sweep ended) make no curve.
MIN_CURVE_POINTS = 8
# Tries of a sample until one is not interrupted by a context switch (chase and triangle). One
# retry only: at a load of 10 on two cores each interrupted try waits out other processes' time
# slices (~20 ms), and the low quantile over visits discards slowed samples anyway.
SAMPLE_ATTEMPTS = 2
# A visit of a size that takes longer than this (seconds; the warm-up past the last level, 0.1-0.3
# s) is repeated only while its estimate is uncertain; cheaper ones get ``min_rounds`` visits
# whatever their spread, since the samples of one visit may share one burst of load.
EXPENSIVE_VISIT_S = 0.05
COMPILER_FLAGS = ("-O2",)


@dataclass(frozen=True)
class ProbeSettings:
    """How carefully to sweep, and the time it may take: the quick probe or the full one."""

    points_per_octave: int
    min_bytes: int
    last_level_factor: int       # sweep up to this many times the nominal last-level size
    min_max_bytes: int
    max_max_bytes: int
    min_rounds: int              # interleaved sweeps over every size before adapting
    samples_per_visit: int       # timed samples after each warm-up of a size
    sample_ns: float             # time of one timed sample
    triangle_rounds: int         # sweeps that also time the triangular walk
    target_error: float          # standard error of ln latency at which a size is done
    bandwidth_samples: int       # timed streaming reads per working set
    budget_s: float              # the whole probe ends within this many seconds
    max_visits: int              # visits of one size at most (the work is bounded, not only time)


# Quick: 57 sizes from 4 KiB to 64 MiB, three sweeps (~0.6 s each on a quiet machine), then
# re-measuring, all within 5 s of the process's start (the command's budget is 6 s). Full: twice
# the sizes, to 128 MiB, four sweeps, then re-measuring to 28.5 s of the 30 s.
QUICK = ProbeSettings(4, 4 << 10, 2, 64 << 20, 256 << 20, 3, 3, 0.3e6, 2, 0.01, 3, 5.0, 8)
FULL = ProbeSettings(8, 4 << 10, 4, 128 << 20, 1 << 30, 4, 3, 0.6e6, 2, 0.005, 5, 28.5, 24)
# When sysfs's last level is this many times what the curve shows, the process sees a share of
# it (a virtual machine, or other cores using the chip): said so in the report.
NOMINAL_MUCH_LARGER = 1.5


@dataclass(frozen=True)
class ProbeResult:
    """A probe's hierarchy with the curves it was read from.

    Attributes:
        hierarchy: the measured levels (what the tiler uses), with sysfs's nominal ones beside.
        sizes: the working sets swept, in bytes.
        chase_ns: the low quantile (``LOW_QUANTILE``) of the chase's samples at each size.
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
                                      ctypes.POINTER(ctypes.c_double),
                                      ctypes.POINTER(ctypes.c_long)]
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


def low_quantile(samples: list[float] | tuple[float, ...]) -> float:
    """Return the ``LOW_QUANTILE`` of the samples."""
    return float(np.quantile(samples, LOW_QUANTILE))


def low_quantile_error(samples: list[float] | tuple[float, ...]) -> float:
    """Return the standard error of ln of the samples' low quantile (robust spread of ln;
    infinite without samples)."""
    if not len(samples):
        return math.inf
    logs = np.log(np.asarray(samples, dtype=float))
    spread = 1.4826 * float(np.median(np.abs(logs - np.median(logs)))) if len(logs) >= 3 else 0.0
    return LOW_QUANTILE_ERROR_FACTOR * max(spread, MIN_SAMPLE_SPREAD) / math.sqrt(len(logs))


class _Sweep:
    """The timed samples of both walks over one buffer, gathered visit by visit."""

    def __init__(self, kernels: ctypes.CDLL, buffer: int, sizes: list[int], line_bytes: int,
                 settings: ProbeSettings, last_level_bytes: int) -> None:
        self.kernels, self.buffer, self.sizes = kernels, buffer, sizes
        self.line_bytes, self.settings = line_bytes, settings
        self.warm_steps = last_level_bytes // line_bytes + WARM_STEPS
        self.chase: list[list[float]] = [[] for _ in sizes]
        self.triangle: list[list[float]] = [[] for _ in sizes]
        self.visits = 0
        self.disturbed = 0
        self.visit_seconds = [0.0] * len(sizes)
        count = settings.samples_per_visit
        self._out, self._switched = (ctypes.c_double * count)(), (ctypes.c_long * count)()

    def visit(self, index: int, triangle: bool) -> None:
        """Time ``samples_per_visit`` chase samples at sizes[index] on a freshly shuffled cycle
        (and one sample of the triangular walk when ``triangle``)."""
        lines = self.sizes[index] // self.line_bytes
        self.visits += 1
        seed = (index * 0x9E3779B97F4A7C15 + self.visits) % (1 << 64)
        if self.kernels.chase_build(self.buffer, lines, self.line_bytes, seed,
                                    self.warm_steps):
            raise TilerError("out of memory building the latency probe's cycle")
        steps = int(min(max(self.settings.sample_ns / self._guess(self.chase, index), 4096),
                        1 << 24))
        count = self.settings.samples_per_visit
        # The build left the caches as the chase's steady state would; a short chase warm-up
        # settles what the timer and the loop themselves disturb.
        warm = min(lines, CHASE_WARM_STEPS)
        started = time.monotonic()
        # Only a working set the caches can hold is walked again after an interruption: past
        # the last level every load misses anyway.
        self.kernels.chase_samples(self.buffer, warm, steps, count,
                                   lines if lines <= self.warm_steps else 0, SAMPLE_ATTEMPTS,
                                   self._out, self._switched)
        self.visit_seconds[index] = time.monotonic() - started
        self.chase[index].extend(self._out[k] for k in range(count))
        self.disturbed += sum(1 for k in range(count) if self._switched[k])
        if triangle:
            rows = int(min(max(self.settings.sample_ns
                               / (self._guess(self.triangle, index) * lines), 1), 1 << 20))
            switches = ctypes.c_long()
            # No warm-up to repeat here, so a sample another process interrupted is retaken.
            for _ in range(SAMPLE_ATTEMPTS):
                latency = self.kernels.triangle_time(self.buffer, lines, self.line_bytes, rows,
                                                     ctypes.byref(switches))
                if switches.value == 0:
                    break
            self.triangle[index].append(latency)

    @staticmethod
    def _guess(samples: list[list[float]], index: int) -> float:
        """Return the latency expected at a point: its own, else the nearest smaller size's."""
        for earlier in range(index, -1, -1):
            if samples[earlier]:
                return max(float(np.median(samples[earlier])), 0.1)
        return 1.0

    def errors(self) -> list[float]:
        """Return the standard error of ln of each size's low quantile."""
        return [low_quantile_error(samples) for samples in self.chase]


def _measure(sweep: _Sweep, settings: ProbeSettings, deadline: float, hard_deadline: float,
             last_level_bytes: int, progress: Callable[[float], None] | None) -> None:
    """Visit the sizes in the order that keeps a curve readable whenever time runs out.

    First every fourth size and the largest (past ``deadline`` only while ``hard_deadline``
    allows: a curve needs them all); then, while time lasts, the other sizes up to half the
    nominal last level (past it a visit costs 0.1-0.3 s of warm-up); then ascending sweeps over
    the sizes visited
    fewer than ``min_rounds`` times that are cheap to visit and those whose estimate is
    uncertain (``max_visits`` at most), with the remaining large sizes after the first such
    sweep. On a machine so loaded that time is up early, the curve has fewer points, not a
    later end.
    """
    count = len(sweep.sizes)
    cheap = [size <= last_level_bytes // 2 for size in sweep.sizes]
    forced = sorted(set(range(0, count, 4)) | {count - 1})
    visits = [0] * count

    def visit_all(indices: list[int], until: float) -> bool:
        for index in indices:
            if time.monotonic() >= until:
                return False
            sweep.visit(index, triangle=visits[index] < settings.triangle_rounds)
            visits[index] += 1
            if progress:
                progress(time.monotonic())
        return True

    if not visit_all(forced, hard_deadline):
        return
    if not visit_all([i for i in range(count) if cheap[i] and not visits[i]], deadline):
        return
    for sweep_number in range(1 << 20):
        errors = sweep.errors()
        wanted = [i for i in range(count) if 0 < visits[i] < settings.max_visits and (
            errors[i] > settings.target_error
            or (visits[i] < settings.min_rounds and sweep.visit_seconds[i] <= EXPENSIVE_VISIT_S))]
        if sweep_number == 0:
            wanted += [i for i in range(count) if not visits[i]]
        if not wanted or not visit_all(wanted, deadline):
            return


def _bandwidths(kernels: ctypes.CDLL, buffer: int, length: int, levels: tuple[CacheLevel, ...],
                settings: ProbeSettings) -> tuple[list[float | None], float | None]:
    """Return the streaming bandwidth (bytes/ns) inside each level and from memory.

    The working set of L1 is half of it; of a later level the geometric mean of the level
    inside it (at its interval's high end) and its own interval's low end, so that the level
    inside cannot hold it and this one can; memory's is the whole buffer.
    """
    sets: list[int] = []
    for number, level in enumerate(levels):
        if number == 0:
            size = level.size_bytes // 2
        else:
            inner = levels[number - 1]
            size = int(math.sqrt((inner.size_high_bytes or inner.size_bytes)
                                 * (level.size_low_bytes or level.size_bytes)))
        sets.append(max(size // 64 * 64, 4096))
    sets.append(length // 64 * 64)
    measured: list[float | None] = []
    switches = ctypes.c_long()
    for size in sets:
        # One pass of memory is long enough to time; small sets are read many times over.
        passes = max(1, int(settings.sample_ns * 8 // size))
        times = [kernels.stream_time(buffer, size, passes, ctypes.byref(switches))
                 for _ in range(settings.bandwidth_samples)]
        best = low_quantile(times)
        measured.append(round(size * passes / best, 2) if best > 0 else None)
    return measured[:-1], measured[-1]


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
        sweep = _Sweep(kernels, buffer, sizes, line_bytes, settings, last_level_bytes)
        end = started + settings.budget_s
        _measure(sweep, settings, end - ANALYSIS_RESERVE_S, end - ANALYSIS_RESERVE_S / 2,
                 last_level_bytes, progress)
        measured = [i for i, samples in enumerate(sweep.chase) if samples]
        sizes = [sizes[i] for i in measured]
        samples = [sweep.chase[i] for i in measured]
        triangle_samples = [sweep.triangle[i] for i in measured]
        chase = [low_quantile(values) for values in samples]
        errors = [low_quantile_error(values) for values in samples]
        if len(sizes) >= MIN_CURVE_POINTS:
            analysis = analyse_with_intervals(sizes, chase, errors, line_bytes=line_bytes,
                                              max_levels=len(nominal) or None)
        else:
            analysis = CurveAnalysis((), None, (), (
                (f"the time was up after {len(sizes)} sizes: the machine is too busy to read a "
                f"curve"),), 0.0)
        level_bandwidths, memory_bandwidth = _bandwidths(kernels, buffer, length,
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
                       tuple(errors), tuple(last_level_notes(hierarchy)), _load_average())


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
