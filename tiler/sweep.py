"""How the probe spends its time: the settings, the visits of each working set in a budget,
the statistics of a size's samples, and the streaming-bandwidth sweep.

Other processes only ever add latency, so a visit's latency is the least of its samples; and the
pages backing a working set decide how much of a physically indexed cache it can use, so each
visit of a size walks another part of the buffer (another physical layout), and the size's
latency is the median over its visits. Visits are interleaved (a burst of load spoils one
sample at several sizes rather than every sample at one), in an order that keeps the curve
readable whenever time runs out; the sizes still uncertain are visited again while the budget
lasts, the cheap ones first.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiler.curve import analyse_curve
from tiler.errors import TilerError
from tiler.hierarchy import CacheLevel

# Never map more than this fraction of the available memory for the buffer.
MEMORY_FRACTION = 0.25
# Lines read in cycle order before timing, beyond one last level's worth. Linking the cycle leaves
# the caches holding its lines in random order; only once the last level holds the lines just
# before the chase's start, in cycle order, does the chase see its steady state (where a cycle
# larger than a cache with LRU-like replacement misses on every load). Working sets smaller than
# that are read in full.
WARM_STEPS = 1 << 16
# Chase steps before timing, once the build has warmed the caches, at the least; up to one lap
# of the cycle as long as that takes no longer than a sample. The build's reads leave a cache
# near its capacity short of the chase's steady state: on a Sapphire Rapids VM with 4096 steps
# the first sample of a visit at 1.4-2 MiB (in a 2 MiB L2) took 1.5-4 times the next two, and
# the L2's end moved with the share of first samples; one lap first, and all three agree.
CHASE_WARM_STEPS = 1 << 12
# Visits of one size walk working sets this far apart in the buffer (a multiple of the huge page,
# so that each starts a page): a physically indexed cache holds a working set only as well as
# its pages spread over the cache's sets. On a Sapphire Rapids VM (2 MiB L2 of 16 ways, guest
# huge pages over the host's 4 KiB pages) a 1.5 MiB chase ran at 6.5-13 ns depending on where
# in one buffer it lay, the same within 2% at the same place: one layout per run moved the L2's
# step between 1.1 and 1.7 MiB from run to run.
LAYOUT_ALIGN = 2 << 20
# The latency of the triangular walk and of a streaming read is this quantile of its samples:
# interference only adds latency, so the low end is the machine's own; the minimum alone would
# follow one lucky sample.
LOW_QUANTILE = 0.2
# The standard error of a quantile q of n samples of spread sigma is sigma * sqrt(q (1 - q) / n)
# over the normal density at q: for q = 0.2, 1.43 sigma / sqrt(n).
LOW_QUANTILE_ERROR_FACTOR = math.sqrt(LOW_QUANTILE * (1 - LOW_QUANTILE)) / 0.2800
# ... and of a median, sqrt(pi / 2).
MEDIAN_ERROR_FACTOR = math.sqrt(math.pi / 2)
# Fewer visits than this give their spread as a standard deviation: the median deviation of
# three layouts where two agree is nought, and a size in a level's step (7.0, 10.4 and 7.0 ns
# at 1.4 MiB on the Sapphire Rapids VM) would be taken as done.
ROBUST_SPREAD_VISITS = 5
# A sample spread (robust sigma of ln latency) assumed at the least for the error of a point
# with few samples, whose spread is not yet known: a quiet machine's.
MIN_SAMPLE_SPREAD = 0.01
# Tries of a sample until one is not interrupted by a context switch (chase and triangle). One
# retry only: at a load of 10 on two cores each interrupted try waits out other processes' time
# slices (~20 ms), and the low quantile over visits discards slowed samples anyway.
SAMPLE_ATTEMPTS = 2
# Lines walked again after an interrupted sample, at most: 8 MiB of lines, 1-2 ms at this
# machine's L3 latency; larger working sets are as much memory as cache here.
REWARM_MAX_LINES = (8 << 20) // 64
# A visit of a size that takes longer than this (seconds; the warm-up past the last level, 0.1-0.3
# s) is repeated only while its estimate is uncertain; cheaper ones get ``min_rounds`` visits
# whatever their spread, since the samples of one visit may share one burst of load.
EXPENSIVE_VISIT_S = 0.05
# Sizes added, evenly in octaves, inside the grid step where a first reading of the curve puts
# each level's end. The end is interpolated between the two sizes around it, and a step much
# sharper than the grid (a 2 MiB L2 goes from 6 to 20 ns within a tenth of an octave; the quick
# grid's step is a quarter) lands wherever the interpolation puts it; points inside the step
# place it. Only steps between cheap sizes are refined: past the last level a visit costs 0.1-0.3
# s of warm-up.
REFINE_POINTS = 3


@dataclass(frozen=True)
class ProbeSettings:
    """How carefully to sweep, and the time it may take: the quick probe or the full one."""

    points_per_octave: int
    min_bytes: int
    last_level_factor: int       # sweep up to this many times the nominal last-level size
    min_max_bytes: int
    max_max_bytes: int
    min_rounds: int              # visits of every cheap size, interleaved, before adapting
    samples_per_visit: int       # timed samples after each warm-up of a size
    sample_ns: float             # time of one timed sample
    triangle_rounds: int         # sweeps that also time the triangular walk
    target_error: float          # standard error of ln latency at which a size is done
    bandwidth_samples: int       # timed streaming reads per working set
    budget_s: float              # the whole probe ends within this many seconds
    max_visits: int              # visits of one size at most (the work is bounded, not only time)


# Quick: 57 sizes from 4 KiB to 64 MiB (65 to 256 MiB under a 480 MiB L3), three sweeps (~0.6 s
# each on a quiet machine) with ``REFINE_POINTS`` sizes added inside each level's step after the
# first, then re-measuring, all within 5 s of the process's start (the command's budget is 6 s).
# Full: twice the sizes, to 128 MiB, four sweeps, then re-measuring to 27.5 s of the 30 s (the
# analysis of 121 sizes takes up to 2 s at a load of 12).
QUICK = ProbeSettings(4, 4 << 10, 2, 64 << 20, 256 << 20, 3, 3, 0.3e6, 2, 0.01, 3, 5.0, 8)
FULL = ProbeSettings(8, 4 << 10, 4, 128 << 20, 1 << 30, 4, 3, 0.6e6, 2, 0.005, 5, 27.5, 24)

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


def layout_median(visit_lows: list[float] | tuple[float, ...]) -> float:
    """Return the median over visits (layouts) of each visit's least sample."""
    return float(np.median(visit_lows))


def layout_median_error(visit_lows: list[float] | tuple[float, ...]) -> float:
    """Return the standard error of ln of ``layout_median`` (spread of ln over the visits: a
    standard deviation below ``ROBUST_SPREAD_VISITS``, else robust; infinite without a
    visit)."""
    return _log_error(visit_lows, MEDIAN_ERROR_FACTOR, deviation_from=2,
                      robust_from=ROBUST_SPREAD_VISITS)


def low_quantile(samples: list[float] | tuple[float, ...]) -> float:
    """Return the ``LOW_QUANTILE`` of the samples."""
    return float(np.quantile(samples, LOW_QUANTILE))


def low_quantile_error(samples: list[float] | tuple[float, ...]) -> float:
    """Return the standard error of ln of the samples' low quantile (robust spread of ln;
    infinite without samples)."""
    return _log_error(samples, LOW_QUANTILE_ERROR_FACTOR, deviation_from=3, robust_from=3)


def _log_error(values: list[float] | tuple[float, ...], factor: float, *, deviation_from: int,
               robust_from: int) -> float:
    """Return ``factor`` times the spread of ln ``values`` (at least ``MIN_SAMPLE_SPREAD``)
    over the square root of their count; the spread is their median deviation from
    ``robust_from`` values on, their standard deviation from ``deviation_from`` on, else
    nought. Infinite without values."""
    if not len(values):
        return math.inf
    logs = np.log(np.asarray(values, dtype=float))
    if len(logs) >= robust_from:
        spread = 1.4826 * float(np.median(np.abs(logs - np.median(logs))))
    elif len(logs) >= deviation_from:
        spread = float(np.std(logs, ddof=1))
    else:
        spread = 0.0
    return factor * max(spread, MIN_SAMPLE_SPREAD) / math.sqrt(len(logs))


class Sweep:
    """The timed samples of both walks over one buffer, gathered visit by visit."""

    def __init__(self, kernels: ctypes.CDLL, buffer: int, length: int, sizes: list[int],
                 line_bytes: int, settings: ProbeSettings, last_level_bytes: int) -> None:
        self.kernels, self.buffer, self.length, self.sizes = kernels, buffer, length, sizes
        self.line_bytes, self.settings = line_bytes, settings
        self.warm_steps = last_level_bytes // line_bytes + WARM_STEPS
        self.chase: list[list[float]] = [[] for _ in sizes]
        self.visit_lows: list[list[float]] = [[] for _ in sizes]
        self.triangle: list[list[float]] = [[] for _ in sizes]
        self.visits = 0
        self.disturbed = 0
        self.visit_seconds = [0.0] * len(sizes)
        self.visit_counts = [0] * len(sizes)
        count = settings.samples_per_visit
        self._out, self._switched = (ctypes.c_double * count)(), (ctypes.c_long * count)()

    def layout(self, index: int) -> int:
        """Return the offset in the buffer of the next visit's working set at sizes[index]: the
        first visit's at the start, later ones spread over the buffer (``LAYOUT_ALIGN``)."""
        places = (self.length - self.sizes[index]) // LAYOUT_ALIGN + 1
        if places <= 1:
            return 0
        scattered = (self.visit_counts[index] * 0x9E3779B97F4A7C15) % (1 << 64)
        return (scattered * places >> 64) * LAYOUT_ALIGN

    def visit(self, index: int, triangle: bool) -> None:
        """Time ``samples_per_visit`` chase samples at sizes[index] on a freshly shuffled cycle
        in the next layout (and one sample of the triangular walk when ``triangle``)."""
        lines = self.sizes[index] // self.line_bytes
        start = self.buffer + self.layout(index)
        self.visits += 1
        self.visit_counts[index] += 1
        seed = (index * 0x9E3779B97F4A7C15 + self.visits) % (1 << 64)
        switches = self.kernels.probe_switches()
        started = time.monotonic()
        if self.kernels.chase_build(start, lines, self.line_bytes, seed, self.warm_steps):
            raise TilerError("out of memory building the latency probe's cycle")
        steps = int(min(max(self.settings.sample_ns / self._guess(self.chase, index), 4096),
                        1 << 24))
        count = self.settings.samples_per_visit
        # The build left the caches close to the chase's steady state; a lap of the chase (at
        # most a sample's worth of loads) settles the rest, and what the timer and the loop
        # themselves disturb.
        warm = min(lines, max(CHASE_WARM_STEPS, steps))
        # Only a working set that caches hold cheaply is walked again after an interruption:
        # past that the walk costs more than the sample, and misses mostly anyway.
        self.kernels.chase_samples(start, warm, steps, count,
                                   lines if lines <= REWARM_MAX_LINES else 0, SAMPLE_ATTEMPTS,
                                   switches, self._out, self._switched)
        self.visit_seconds[index] = time.monotonic() - started
        self.chase[index].extend(self._out[k] for k in range(count))
        self.visit_lows[index].append(min(self._out[k] for k in range(count)))
        self.disturbed += sum(1 for k in range(count) if self._switched[k])
        if triangle:
            rows = int(min(max(self.settings.sample_ns
                               / (self._guess(self.triangle, index) * lines), 1), 1 << 20))
            interrupted = ctypes.c_long()
            # No warm-up to repeat here, so a sample another process interrupted is retaken.
            for _ in range(SAMPLE_ATTEMPTS):
                latency = self.kernels.triangle_time(self.buffer, lines, self.line_bytes, rows,
                                                     ctypes.byref(interrupted))
                if interrupted.value == 0:
                    break
            self.triangle[index].append(latency)

    @staticmethod
    def _guess(samples: list[list[float]], index: int) -> float:
        """Return the latency expected at a point: its own, else the nearest smaller size's."""
        for earlier in range(index, -1, -1):
            if samples[earlier]:
                return max(float(np.median(samples[earlier])), 0.1)
        return 1.0

    def latency(self, index: int) -> float:
        """Return the latency measured at sizes[index] so far (``layout_median``)."""
        return layout_median(self.visit_lows[index])

    def errors(self) -> list[float]:
        """Return the standard error of ln of each size's latency."""
        return [layout_median_error(lows) for lows in self.visit_lows]

    def add_sizes(self, sizes: list[int]) -> list[int]:
        """Add working sets to the sweep (unvisited) and return their indices; the indices of
        the others change with them."""
        new = sorted(set(sizes) - set(self.sizes))
        old = dict(zip(self.sizes, zip(self.chase, self.visit_lows, self.triangle,
                                       self.visit_seconds, self.visit_counts)))
        self.sizes[:] = sorted(set(self.sizes) | set(new))
        kept = [old.get(size, ([], [], [], 0.0, 0)) for size in self.sizes]
        self.chase, self.visit_lows, self.triangle, self.visit_seconds, self.visit_counts = (
            list(column) for column in zip(*kept))
        return [self.sizes.index(size) for size in new]


def refined_sizes(sweep: Sweep, max_levels: int | None) -> list[int]:
    """Return ``REFINE_POINTS`` sizes inside each cheap grid step where the curve measured so
    far puts a level's end (none if it shows no level yet)."""
    measured = [i for i, samples in enumerate(sweep.chase) if samples]
    if len(measured) < 8:
        return []
    sizes = [sweep.sizes[i] for i in measured]
    try:
        levels = analyse_curve(sizes, [sweep.latency(i) for i in measured],
                               line_bytes=sweep.line_bytes, max_levels=max_levels).levels
    except TilerError:
        return []
    added: list[int] = []
    for level in levels:
        above = next((k for k, size in enumerate(sizes) if size > level.size_bytes), None)
        if not above:
            continue
        low, high = sizes[above - 1], sizes[above]
        if max(sweep.visit_seconds[measured[above - 1]],
               sweep.visit_seconds[measured[above]]) > EXPENSIVE_VISIT_S:
            continue
        for k in range(1, REFINE_POINTS + 1):
            size = low * (high / low) ** (k / (REFINE_POINTS + 1))
            lines = round(size / sweep.line_bytes)
            if low < lines * sweep.line_bytes < high:
                added.append(lines * sweep.line_bytes)
    return added


def measure(sweep: Sweep, settings: ProbeSettings, deadline: float, hard_deadline: float,
             last_level_bytes: int, progress: Callable[[float], None] | None,
             max_levels: int | None = None) -> None:
    """Visit the sizes in the order that keeps a curve readable whenever time runs out.

    First every fourth size and the largest (past ``deadline`` only while ``hard_deadline``
    allows: a curve needs them all); then, while time lasts, the other sizes up to half the
    nominal last level (past it a visit costs 0.1-0.3 s of warm-up); then ascending sweeps over
    the sizes visited fewer than ``min_rounds`` times that are cheap to visit and those whose
    estimate is uncertain (``max_visits`` at most): the remaining large sizes with the first
    such sweep, then the cheap sizes until they are done, then the expensive ones. Before
    those sweeps, sizes are added inside the grid steps where the curve so far puts a level's
    end (``refined_sizes``; ``max_levels`` is sysfs's count) and visited, then with the rest.
    On a machine so loaded that time is up early, the curve has fewer points, not a later end.
    """
    count = len(sweep.sizes)

    def visit_all(indices: list[int], until: float) -> bool:
        for index in indices:
            if time.monotonic() >= until:
                return False
            sweep.visit(index, triangle=sweep.visit_counts[index] < settings.triangle_rounds)
            if progress:
                progress(time.monotonic())
        return True

    cheap = [size <= last_level_bytes // 2 for size in sweep.sizes]
    forced = sorted(set(range(0, count, 4)) | {count - 1})
    if not visit_all(forced, hard_deadline):
        return
    if not visit_all([i for i in range(count) if cheap[i] and not sweep.visit_counts[i]],
                     deadline):
        return
    if not visit_all(sweep.add_sizes(refined_sizes(sweep, max_levels)), deadline):
        return
    first = True
    while True:
        errors, visits = sweep.errors(), sweep.visit_counts
        wanted = [i for i in range(len(sweep.sizes))
                  if 0 < visits[i] < settings.max_visits and (
                      errors[i] > settings.target_error
                      or (visits[i] < settings.min_rounds
                          and sweep.visit_seconds[i] <= EXPENSIVE_VISIT_S))]
        cheap_wanted = [i for i in wanted if sweep.visit_seconds[i] <= EXPENSIVE_VISIT_S]
        if first:
            wanted = cheap_wanted + [i for i in range(len(sweep.sizes)) if not visits[i]]
            first = False
        elif cheap_wanted:
            # More layouts of the sizes around a level's step cost milliseconds; a repeat past
            # the last level costs 0.1-0.3 s, and waits until the cheap sizes are done.
            wanted = cheap_wanted
        if not wanted or not visit_all(wanted, deadline):
            return


def stream_bandwidths(kernels: ctypes.CDLL, buffer: int, length: int,
                      levels: tuple[CacheLevel, ...],
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


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None
