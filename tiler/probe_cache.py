"""What the cache keeps of the probe's runs: merged measurements, never a less certain verdict.

The cache file holds the hierarchy the tiler uses and, beside it, the probe's record: the
merged measurements (``tiler.measurements``) and a line per run (when, which probe, how long,
the load, the levels it found). A new run is merged into the measurements and the merged curve
read again; the merge is kept when it is at least as certain as the cached result, and a run
less certain than the cached result otherwise leaves the cache as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tiler.curve import analyse_with_intervals
from tiler.errors import TilerError
from tiler.hierarchy import Hierarchy, load_cached_record, save_cached
from tiler.measurements import Measurements, merge_measurements
from tiler.probe import ProbeResult

# Runs listed in the record; older ones are dropped (their measurements stay merged).
RUNS_KEPT = 20


@dataclass(frozen=True)
class Remembered:
    """What the cache holds after a run, and why.

    Attributes:
        hierarchy: the hierarchy the tiler will use from now on.
        outcome: ``new`` (nothing usable was cached), ``merged``, ``replaced`` (this run alone
            was more certain than the cache and the merge) or ``kept`` (neither the run nor
            the merge was as certain as the cache).
        runs: how many runs the cached record lists.
        path: the cache file, ``None`` when it could not be written or nothing was written.
    """

    hierarchy: Hierarchy
    outcome: str
    runs: int
    path: Path | None


def run_entry(result: ProbeResult) -> dict:
    """Return the record's line for one run."""
    return {"measured_at": result.hierarchy.measured_at, "quick": result.quick,
            "seconds": round(result.seconds, 2), "load_average": result.load_average,
            "confidence": result.hierarchy.confidence,
            "levels": [level.size_bytes for level in result.hierarchy.levels]}


def cached_measurements(record: dict) -> Measurements | None:
    """Return the measurements of a cached record, ``None`` when it has none usable."""
    try:
        return Measurements.from_dict(record["measurements"]) if "measurements" in record \
            else None
    except TilerError:
        return None


def reanalysed(measurements: Measurements, like: Hierarchy) -> Hierarchy:
    """Return the hierarchy merged ``measurements`` give, with ``like``'s other fields (the
    bandwidths of its levels by number, nominal levels, processor, time)."""
    analysis = analyse_with_intervals(measurements.sizes, measurements.latency_ns,
                                      measurements.log_error, line_bytes=like.line_bytes,
                                      max_levels=len(like.nominal_levels) or None)
    bandwidth = {level.level: level.bandwidth_bytes_per_ns for level in like.levels}
    levels = tuple(dataclasses.replace(level, bandwidth_bytes_per_ns=bandwidth.get(level.level))
                   for level in analysis.levels)
    return dataclasses.replace(like, levels=levels, memory_latency_ns=analysis.memory_latency_ns,
                               confidence=analysis.confidence)


def choose(cached: tuple[Hierarchy, Measurements] | None, new: tuple[Hierarchy, Measurements]
           ) -> tuple[str, Hierarchy, Measurements]:
    """Return what to cache: the outcome's name, the hierarchy and its measurements.

    The merge rule: both runs' measurements are merged and read again, and the merge is cached
    when it is at least as certain as the cached result; otherwise the run alone replaces the
    cache only when it is more certain than the cached result (the cached runs saw another
    state of the machine), and a run less certain than the cached result leaves the cache as
    it is: a noisy run never replaces a surer result.
    """
    hierarchy, measurements = new
    if cached is None or cached[0].confidence is None:
        return "new", hierarchy, measurements
    old_hierarchy, old_measurements = cached
    merged_measurements = merge_measurements(old_measurements, measurements)
    merged = reanalysed(merged_measurements, hierarchy)
    if merged.levels and (merged.confidence or 0.0) >= old_hierarchy.confidence:
        return "merged", merged, merged_measurements
    if (hierarchy.confidence or 0.0) > old_hierarchy.confidence:
        return "replaced", hierarchy, measurements
    return "kept", old_hierarchy, old_measurements


def remember(result: ProbeResult, fresh: bool = False) -> Remembered:
    """Merge a run into the cache (``fresh``: start over) and return what the cache holds.

    A run without any level is never cached.
    """
    loaded = None if fresh else load_cached_record()
    cached = None
    runs: list[dict] = []
    if loaded is not None:
        old_hierarchy, record = loaded
        old_measurements = cached_measurements(record)
        if old_measurements is not None and old_hierarchy.levels:
            cached = (old_hierarchy, old_measurements)
            runs = [run for run in record.get("runs", []) if isinstance(run, dict)]
    if not result.hierarchy.levels:
        if cached is not None:
            return Remembered(cached[0], "kept", len(runs), None)
        return Remembered(result.hierarchy, "kept", 0, None)
    outcome, hierarchy, measurements = choose(cached, (result.hierarchy, result.measurements()))
    if outcome == "kept":
        return Remembered(hierarchy, outcome, len(runs), None)
    runs = ([] if outcome in ("new", "replaced") else runs) + [run_entry(result)]
    runs = runs[-RUNS_KEPT:]
    record = {"measurements": measurements.to_dict(), "runs": runs}
    path = save_cached(hierarchy, record)
    return Remembered(hierarchy, outcome, len(runs), path)
