"""Read cache levels off a latency-vs-working-set curve (the detector of ``tiler probe``).

Pure functions over numbers: the curve is cut into the pieces of its best piecewise-linear fit
in log-latency against log-size; the flat pieces are the plateaus of the cache levels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tiler.errors import TilerError
from tiler.hierarchy import CacheLevel

# A plateau must stay flat over at least this span, so a pause in a rise is not a cache level.
MIN_PLATEAU_OCTAVES = 0.75
# Sizes are rounded to whole lines, so a span on the grid may fall short of its nominal octaves.
GRID_SLACK_OCTAVES = 0.05
# Slope of ln(latency) per octave of working set under which a piece counts as flat. Past a
# capacity C a randomly replaced cache misses a fraction 1 - C/W, a tail whose slope falls under
# 0.2 beyond about 5 C, where the latency is within 25% of the next level's.
FLAT_SLOPE = 0.2
# ... or under this, where the curve shows fewer plateaus than the system lists levels (and
# memory): beside a process streaming through 64 MiB on the other core of a Sapphire Rapids
# VM, the L3 climbed 0.21 per octave from 6 to 19 MiB (51 to 76 ns, memory at 170 ns) in one
# run of twenty, and 0.15-0.2 in the others. Far from a rise (1 to 3 per octave), and still
# well below memory.
CONTENDED_FLAT_SLOPE = 0.35
# Cost of one more piece, in units of noise variance times ln(points): the BIC-like choice that
# keeps pure noise from cutting a plateau, while every real step of a few sigmas is still cut.
SEGMENT_PENALTY = 4.0
# Consecutive plateaus closer than this latency ratio are one level: each level of a real
# hierarchy is at least 2.5 times slower than the one inside it, noise and miss tails give less.
MIN_STEP_RATIO = 1.5
# A level's size is the working set at which the latency has gone this fraction of the way to
# the next level's: a 5% miss rate, the point where the data stops fitting (but see
# ``_level_end`` for a plateau that creeps).
MISS_FRACTION = 0.05
# ... or where it has risen by this factor, whichever comes first: a quarter more on every load
# means the working set no longer fits, and without a cap a level missing in between (an L3
# that a neighbour streaming through memory keeps empty) would put L2's end halfway up the
# rise to memory.
MAX_RISE = 1.25
# ... but never less than this many noise standard deviations above the plateau.
NOISE_MARGIN_SIGMAS = 3.0
# Relative noise assumed at the least, so a very clean curve is not cut at every wiggle.
SIGMA_FLOOR = 0.01
# Latency cannot fall as the working set grows, and interference only ever adds to it: no
# point's true latency exceeds what was measured at any larger size. Each point is lowered to
# the least measured within this many octaves above it, which removes runs of slowed points
# that a running median cannot (under load, five of a dozen points on the L3 plateau), while
# half an octave keeps the downward pull of the noise on a plateau to about one sigma.
ENVELOPE_OCTAVES = 0.5
# Curves drawn at random from the points' standard errors, to see how far each level moves with
# the noise: 40 give the 10%-90% interval to within a grid step, in ~0.1 s for the full sweep.
REPLICATES = 40
# A replicate's level within this many octaves of an estimated level is that level.
MATCH_OCTAVES = 1.0
# A replicate confirms a level when it puts it within this fraction of the estimate: the
# stability the tile sizes need.
CONFIRM_FRACTION = 0.15
# A step, as against a creep, is a rise of ``KNEE_RISE`` within ``KNEE_OCTAVES`` (see
# ``_level_end``): a creep of 0.1-0.2 per octave adds 5-10% there. A quarter is not enough: on
# the Sapphire Rapids VM a run's L2 creep rose by 28% within 0.4 octaves at 0.9 MiB and was
# flat again up to its step.
KNEE_OCTAVES = 0.5
KNEE_RISE = 1.5
# The interval of a level: these quantiles of its size over the replicates.
INTERVAL_QUANTILES = (0.1, 0.9)


@dataclass(frozen=True)
class CurveAnalysis:
    """What a latency curve shows: the cache levels, the memory latency and any doubts."""

    levels: tuple[CacheLevel, ...]
    memory_latency_ns: float | None
    plateaus: tuple[tuple[int, int, float], ...]   # (first index, last index, latency ns)
    warnings: tuple[str, ...]
    confidence: float | None = None                # see ``analyse_with_intervals``


def detect_levels(sizes: Sequence[int], latencies: Sequence[float], *, line_bytes: int = 64,
                  noise: float | None = None) -> list[CacheLevel]:
    """Return the cache levels a latency-vs-working-set curve shows (see ``analyse_curve``)."""
    return list(analyse_curve(sizes, latencies, line_bytes=line_bytes, noise=noise).levels)


def analyse_curve(sizes: Sequence[int], latencies: Sequence[float], *, line_bytes: int = 64,
                  noise: float | None = None, max_levels: int | None = None) -> CurveAnalysis:
    """Return the levels, memory latency and plateaus of a latency curve.

    The curve is read in log-latency against log-size, cut into the pieces of its best
    piecewise-linear fit; pieces flatter than ``FLAT_SLOPE`` and spanning ``MIN_PLATEAU_OCTAVES``
    are plateaus, and neighbours less than ``MIN_STEP_RATIO`` apart are merged (a miss tail
    approaching its level). Every plateau followed by a higher one is a cache level,
    of the size at which the latency has risen ``MISS_FRACTION`` of the way to the next; the
    last plateau is memory unless the curve still rises after it.

    Args:
        sizes: working sets in bytes, strictly increasing.
        latencies: the latency per load at each size, in ns (medians of repeats).
        line_bytes: sizes of levels are rounded down to whole lines.
        noise: relative noise of a point (standard deviation of ln latency); estimated from the
            curve when ``None``.
        max_levels: the most levels the machine has (sysfs's count); past it, the smallest
            step in latency is not a level (see ``_fewer_levels``).
    """
    x = np.log2(np.asarray(sizes, dtype=float))
    raw = np.asarray(latencies, dtype=float)
    if x.ndim != 1 or x.shape != raw.shape:
        raise TilerError("a latency curve needs one latency per size")
    if len(x) < 4:
        raise TilerError(f"a latency curve needs at least 4 points, not {len(x)}")
    if not np.all(np.diff(x) > 0):
        raise TilerError("the sizes of a latency curve must increase strictly")
    if not np.all(np.isfinite(raw)) or np.any(raw <= 0):
        raise TilerError("latencies must be positive numbers")
    measured = np.log(raw)
    y = _lower_envelope(x, measured, ENVELOPE_OCTAVES)
    # Other processes only ever slow a sample down, in bursts that can spoil two neighbouring
    # points; a running median of five removes what the envelope left and keeps steps and ramps
    # where they are.
    smooth = _running_median(y, 5)
    # The curve's own scatter (robust to its steps) or the repeats' spread, whichever is larger.
    scatter = 1.4826 * float(np.median(np.abs(np.diff(y)))) / math.sqrt(2)
    sigma = max(SIGMA_FLOOR, scatter, noise or 0.0)
    warnings: list[str] = []

    # A plateau's latency is the median of what was measured on it: the envelope, pulled down
    # by the noise, would understate it.
    segments = _segments(x, smooth, sigma)
    plateaus = _merge_plateaus(_plateau_pieces(x, segments, FLAT_SLOPE), measured)
    if max_levels is not None and len(plateaus) < max_levels + 1:
        # Fewer plateaus than the system's levels and memory: a level that other processes
        # keep partly empty climbs all along its span (see ``CONTENDED_FLAT_SLOPE``).
        contended = _merge_plateaus(_plateau_pieces(x, segments, CONTENDED_FLAT_SLOPE),
                                    measured)
        if len(contended) > len(plateaus):
            plateaus = contended
    if len(plateaus) < 2:
        warnings.append("no step found in the latency curve: "
                        + ("it is flat" if plateaus else "it never settles on a plateau"))
        return CurveAnalysis((), None, tuple((a, b, float(np.exp(lat))) for a, b, lat in plateaus),
                             tuple(warnings))

    # The curve still rising after its last plateau: that plateau was a cache, not memory.
    tail_top = float(smooth[plateaus[-1][1]:].max())
    memory_latency: float | None = float(np.exp(plateaus[-1][2]))
    # One upper latency per cache plateau: zipped with them, the last plateau is memory unless
    # the tail rises.
    uppers = [plateau[2] for plateau in plateaus[1:]]
    if tail_top - plateaus[-1][2] >= math.log(MIN_STEP_RATIO):
        uppers.append(tail_top)
        memory_latency = None
        warnings.append("the latency was still rising at the largest working set: the last "
                        "level's size is a lower bound and the memory latency is unknown")

    levels: list[CacheLevel] = []
    ends = [plateau[0] for plateau in plateaus[1:]] + [len(x) - 1]
    next_levels = _next_level_latencies(plateaus, uppers, measured, max_levels, memory_latency)
    for plateau, upper_y, next_y, end in zip(plateaus, uppers, next_levels, ends):
        level_y = plateau[2]
        size = _level_end(x, smooth, plateau, end, upper_y, next_y, sigma)
        size = int(size) // line_bytes * line_bytes
        if levels and size <= levels[-1].size_bytes:
            warnings.append(f"dropped a level at {size} bytes that is not larger than the one "
                            f"inside it")
            continue
        levels.append(CacheLevel(len(levels) + 1, size, round(float(np.exp(level_y)), 3)))
    if max_levels is not None and len(levels) > max_levels:
        warnings.append(f"the curve shows {len(levels)} levels where the system lists "
                        f"{max_levels}: the smallest steps in latency are taken for noise")
        levels = _fewer_levels(levels, max_levels, memory_latency)
    return CurveAnalysis(tuple(levels),
                         None if memory_latency is None else round(memory_latency, 3),
                         tuple((int(a), int(b), float(np.exp(lat))) for a, b, lat in plateaus),
                         tuple(warnings))


def _fewer_levels(levels: list[CacheLevel], count: int, memory_latency: float | None
                  ) -> list[CacheLevel]:
    """Return ``count`` of the levels: while there are more, the smallest step in latency
    (memory's latency is the last step's top) is taken for noise. The two levels of a step
    between them are one, which ends where the outer one does, at its latency: the Sapphire
    Rapids VM's L3 showed 37-40 ns up to 5 MiB and 50-60 ns up to 31 MiB, a third of memory's
    170 ns, in one run of six (the inner end would have put L3 at 4.7 MiB, not 35). Of the
    step to memory, the level below it goes (a partly available last level's tail, not a
    cache)."""
    groups = _level_groups([level.latency_ns or 0.0 for level in levels], count, memory_latency)
    return [dataclasses.replace(levels[group[-1]], level=number) for number, group in
            enumerate(groups, start=1)]


def _level_groups(latencies: Sequence[float], count: int, memory_latency: float | None
                  ) -> list[list[int]]:
    """Return the indices of the levels that ``_fewer_levels`` keeps, each first in a group with
    the outer levels it took for noise; a level dropped as the tail below memory is in none."""
    groups = [[index] for index in range(len(latencies))]
    while len(groups) > max(count, 1):
        tops = [latencies[group[0]] for group in groups[1:]]
        tops.append(memory_latency if memory_latency is not None else math.inf)
        steps = [top / (latencies[group[0]] or 1.0) for group, top in zip(groups, tops)]
        smallest = int(np.argmin(steps))
        if smallest + 1 < len(groups):
            groups[smallest] += groups.pop(smallest + 1)
        else:
            del groups[smallest]
    return groups


def _lower_envelope(x: np.ndarray, y: np.ndarray, octaves: float) -> np.ndarray:
    """Return each point lowered to the least value within ``octaves`` above it (x in octaves)."""
    ends = np.searchsorted(x, x + octaves + 1e-9, side="right")
    return np.array([y[i:end].min() for i, end in enumerate(ends)])


def _running_median(y: np.ndarray, width: int) -> np.ndarray:
    """Return the median of each point and its neighbours, ``width`` points wide.

    At the ends the window keeps its width and slides inwards, so a burst in the last points is
    outvoted as anywhere else.
    """
    width = min(width, len(y))
    starts = np.clip(np.arange(len(y)) - width // 2, 0, len(y) - width)
    return np.array([np.median(y[start:start + width]) for start in starts])


def _segments(x: np.ndarray, y: np.ndarray, sigma: float) -> list[tuple[int, int, float]]:
    """Return (first, last, slope) of each piece of the least-squares piecewise-linear fit.

    Optimal partitioning: a piece costs its squared residual about its own line plus a penalty
    that grows with the noise, so a piece ends only where the curve bends or jumps by more than
    the noise explains. Lines rather than constants let a plateau drift slowly and stay whole.
    """
    count = len(y)
    penalty = SEGMENT_PENALTY * sigma ** 2 * math.log(count)
    sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (x, y, x * x, x * y, y * y)]
    best = np.zeros(count + 1)
    start_of = np.zeros(count + 1, dtype=int)
    for end in range(1, count + 1):
        starts = np.arange(end)
        n = (end - starts).astype(float)
        sx, sy, sxx, sxy, syy = (total[end] - total[starts] for total in sums)
        var_x = sxx - sx * sx / n
        cov = sxy - sx * sy / n
        var_y = np.maximum(syy - sy * sy / n, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            residual = np.where(var_x > 1e-12, var_y - cov * cov / var_x, 0.0)
        total_cost = best[starts] + np.maximum(residual, 0.0) + penalty
        start_of[end] = int(np.argmin(total_cost))
        best[end] = total_cost[start_of[end]]
    pieces, end = [], count
    while end > 0:
        first = int(start_of[end])
        slope = float(np.polyfit(x[first:end], y[first:end], 1)[0]) if end - first > 1 else 0.0
        pieces.append((first, end - 1, slope))
        end = first
    return pieces[::-1]


def _plateau_pieces(x: np.ndarray, pieces: list[tuple[int, int, float]], flat_slope: float
                    ) -> list[tuple[int, int]]:
    """Return the pieces flatter than ``flat_slope`` and long enough to be plateaus rather than
    parts of a rise."""
    return [(first, last) for first, last, slope in pieces
            if x[last] - x[first] >= MIN_PLATEAU_OCTAVES - GRID_SLACK_OCTAVES
            and abs(slope) < flat_slope]


def _merge_plateaus(runs: list[tuple[int, int]], y: np.ndarray
                    ) -> list[tuple[int, int, float]]:
    """Return the flat runs as (first, last, median ln latency), joining those close in latency.

    Latency cannot fall as the working set grows, and interference only ever slows a sample, so
    a plateau well above the one after it was a long burst of load and is dropped.
    """
    plateaus: list[tuple[int, int, float]] = []
    members: list[list[tuple[int, int]]] = []
    step = math.log(MIN_STEP_RATIO)
    for first, last in runs:
        level = float(np.median(y[first:last + 1]))
        while plateaus and plateaus[-1][2] - level >= step:
            plateaus.pop()
            members.pop()
        if plateaus and abs(level - plateaus[-1][2]) < step:
            members[-1].append((first, last))
            points = np.concatenate([y[a:b + 1] for a, b in members[-1]])
            plateaus[-1] = (plateaus[-1][0], last, float(np.median(points)))
        else:
            plateaus.append((first, last, level))
            members.append([(first, last)])
    return plateaus


def _miss_point(level_y: float, upper_y: float) -> float:
    """Return the ln latency ``MISS_FRACTION`` of the way from ln latency level_y to upper_y."""
    level, upper = math.exp(level_y), math.exp(upper_y)
    return math.log(level + MISS_FRACTION * (upper - level))


def _threshold(level_y: float, upper_y: float, sigma: float) -> float:
    """Return the ln latency at which a level of ln latency level_y has ended on the way to
    upper_y: ``MISS_FRACTION`` of the way, at most ``MAX_RISE``, at least the noise margin."""
    return max(level_y + NOISE_MARGIN_SIGMAS * sigma,
               min(_miss_point(level_y, upper_y), level_y + math.log(MAX_RISE)))


def _next_level_latencies(plateaus: list[tuple[int, int, float]], uppers: list[float],
                          y: np.ndarray, max_levels: int | None,
                          memory_latency: float | None) -> list[float]:
    """Return for each cache plateau the ln latency of the level after it: ``uppers`` (the next
    plateau's median), or the median over the next plateau and those that ``_fewer_levels``
    will join to it (an L3 that a virtual machine sees in two pieces, 35 then 56 ns, is one
    level of about 50 ns)."""
    cache_count = len(uppers)
    if max_levels is None or cache_count <= max_levels:
        return list(uppers)
    groups = _level_groups([math.exp(plateau[2]) for plateau in plateaus[:cache_count]],
                           max_levels, memory_latency)
    joined = {group[0]: group for group in groups if len(group) > 1}
    result = list(uppers)
    for index in range(cache_count - 1):
        if index + 1 in joined:
            points = np.concatenate([y[plateaus[member][0]:plateaus[member][1] + 1]
                                     for member in joined[index + 1]])
            result[index] = float(np.median(points))
    return result


def _level_end(x: np.ndarray, y: np.ndarray, plateau: tuple[int, int, float], end: int,
               upper_y: float, next_level_y: float, sigma: float) -> float:
    """Return the size (bytes) at which a level ends on the way from its plateau to upper_y.

    The level ends where the curve has risen ``_threshold`` over the plateau's median, unless
    the plateau creeps. On a 2-vCPU Sapphire Rapids VM the L2 plateau creeps from 4.3 ns at
    384 KiB to 5.9 ns at 1.5 MiB (alike with 4 KiB and 2 MiB guest pages: the reach of a
    first-level TLB over the host's small pages, it seems) before its step to 30 ns at
    1.3-2 MiB; a rise of a quarter over the median ended L2 on the creep, anywhere in
    0.7-1.3 MiB over ten runs, where 2% of noise moved it by a third. So the curve is followed
    past that crossing to its step (``_step_size``), and when the creep before the step stays
    under ``MISS_FRACTION`` of the way from the median to the next level (``next_level_y``),
    the rise is counted from where the creep got to, ``KNEE_OCTAVES`` before the step. A creep
    past that may be the level's misses (on an AMD EPYC VM the L2 plateau's miss tail climbs
    27% before its step, a tenth of the way to L3), and the level ends on the median's
    threshold, the inner and safe side.
    """
    first, _last, level_y = plateau
    inner = _crossing_size(x, y, first, end, _threshold(level_y, upper_y, sigma))
    step = _step_size(x, y, math.log2(inner), end, sigma)
    if step is None:
        return inner
    creep_y = float(np.interp(math.log2(step) - KNEE_OCTAVES, x, y))
    creep_is_misses = creep_y >= _miss_point(level_y, next_level_y)
    if creep_is_misses or creep_y <= level_y:
        return inner
    return max(inner, _crossing_size(x, y, first, end, _threshold(creep_y, upper_y, sigma)))


def _step_size(x: np.ndarray, y: np.ndarray, start: float, end: int, sigma: float
               ) -> float | None:
    """Return the first size (bytes) from 2**start on where the curve has risen by
    ``KNEE_RISE`` (and the noise margin) within the last ``KNEE_OCTAVES``: a step, not a creep;
    None if the curve has no such step before index ``end``."""
    least = max(math.log(KNEE_RISE), NOISE_MARGIN_SIGMAS * sigma)

    def rise(at: float) -> float:
        return float(np.interp(at, x, y) - np.interp(at - KNEE_OCTAVES, x, y))

    points = [start] + [float(value) for value in x[:end + 1] if value > start]
    for before, after in zip(points, points[1:]):
        low, high = rise(before), rise(after)
        if high >= least:
            if low >= least:
                return 2.0 ** before
            return 2.0 ** (before + (least - low) / (high - low) * (after - before))
    return None


def _crossing_size(x: np.ndarray, y: np.ndarray, first: int, end: int, threshold: float
                   ) -> float:
    """Return the size (bytes) where the curve rises to the ln latency ``threshold``.

    The crossing is the last one before index ``end`` (where the next plateau starts): scanning
    back from there, a burst of interference inside the plateau cannot end the level early.
    """
    j = min(end, len(x) - 1)
    while j < len(x) - 1 and y[j] <= threshold:
        j += 1
    if y[j] <= threshold:
        return 2.0 ** x[j]
    while j > first and y[j - 1] > threshold:
        j -= 1
    if j == first:
        return 2.0 ** x[first]
    fraction = (threshold - y[j - 1]) / (y[j] - y[j - 1])
    return 2.0 ** (x[j - 1] + fraction * (x[j] - x[j - 1]))


def analyse_with_intervals(sizes: Sequence[int], latencies: Sequence[float],
                           log_errors: Sequence[float], *, line_bytes: int = 64,
                           max_levels: int | None = None, seed: int = 0) -> CurveAnalysis:
    """Return the analysis of a curve whose levels carry an interval and a confidence.

    Each point's latency is uncertain by its standard error (of ln latency); ``REPLICATES``
    curves drawn from those errors are analysed like the curve itself. A level's interval is
    the ``INTERVAL_QUANTILES`` of its size over the replicates (matched within
    ``MATCH_OCTAVES``), widened to hold the estimate; its confidence is the share of replicates
    that find it within ``CONFIRM_FRACTION`` of the estimate. The whole curve's confidence is
    the least of its levels', times the share of replicates that find as many levels (0 without
    any level). The replicates are seeded: the same curve always gets the same intervals.
    """
    errors = np.asarray(log_errors, dtype=float)
    if errors.shape != (len(sizes),) or not np.all(np.isfinite(errors)) or np.any(errors < 0):
        raise TilerError("a latency curve needs one non-negative standard error per size")
    noise = float(np.median(errors))
    analysis = analyse_curve(sizes, latencies, line_bytes=line_bytes, noise=noise,
                             max_levels=max_levels)
    if not analysis.levels:
        return dataclasses.replace(analysis, confidence=0.0)
    rng = np.random.default_rng(seed)
    base = np.log(np.asarray(latencies, dtype=float))
    found: list[list[int]] = []
    for _ in range(REPLICATES):
        drawn = np.exp(base + errors * rng.standard_normal(len(base)))
        found.append([level.size_bytes for level in
                      analyse_curve(sizes, drawn, line_bytes=line_bytes, noise=noise,
                                    max_levels=max_levels).levels])
    same_count = sum(len(replica) == len(analysis.levels) for replica in found) / REPLICATES
    levels = []
    for level in analysis.levels:
        matched = [_nearest(level.size_bytes, replica) for replica in found]
        matched = [size for size in matched if size is not None]
        confirmed = sum(abs(size / level.size_bytes - 1) <= CONFIRM_FRACTION
                        for size in matched) / REPLICATES
        low, high = (np.quantile(matched, INTERVAL_QUANTILES) if matched
                     else (level.size_bytes, level.size_bytes))
        low = min(int(low) // line_bytes * line_bytes, level.size_bytes)
        high = max(-(-int(high) // line_bytes) * line_bytes, level.size_bytes)
        levels.append(dataclasses.replace(level, size_low_bytes=low, size_high_bytes=high,
                                          confidence=round(confirmed, 3)))
    confidence = min(level.confidence for level in levels) * same_count
    if max_levels:
        # The system lists more levels than the curve shows: one is missing or two merged.
        confidence *= min(1.0, len(levels) / max_levels)
    return dataclasses.replace(analysis, levels=tuple(levels), confidence=round(confidence, 3))


def _nearest(size: int, candidates: Sequence[int]) -> int | None:
    """Return the candidate nearest ``size`` in octaves, if one is within ``MATCH_OCTAVES``."""
    if not candidates:
        return None
    best = min(candidates, key=lambda other: abs(math.log2(other / size)))
    return best if abs(math.log2(best / size)) <= MATCH_OCTAVES else None
