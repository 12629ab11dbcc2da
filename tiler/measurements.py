"""What the probe learned, size by size, and how two runs' measurements are merged.

The cache of ``tiler probe`` keeps these rather than one verdict: per working set, the low
quantile of the chase's samples (interference only ever adds latency, so the low end of the
samples is the machine's own latency), its standard error, and how many samples it rests on.
A new run is merged into them, so the cached curve grows more certain with every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tiler.errors import TilerError

# Standard error (of ln latency) assumed at the least for one size, however many samples: the
# clock, frequency changes and the page layout move even a perfectly quiet point by ~0.5%, and
# an overconfident point would make every later run look "less certain" than the cache.
MIN_STANDARD_ERROR = 0.005
# Two estimates of one size further apart than this many standard errors did not see the same
# machine: one of them was slowed by another process, and as interference only adds latency
# the lower one is kept. Closer estimates are averaged, weighted by their precision.
DISAGREEMENT_SIGMAS = 3.0


@dataclass(frozen=True)
class Measurements:
    """The chase latency per working set: low quantile, its standard error, sample count.

    Attributes:
        sizes: working sets in bytes, strictly increasing.
        latency_ns: the samples' low quantile at each size.
        log_error: standard error of ln(latency_ns) at each size.
        samples: how many samples each estimate rests on.
    """

    sizes: tuple[int, ...]
    latency_ns: tuple[float, ...]
    log_error: tuple[float, ...]
    samples: tuple[int, ...]

    def __post_init__(self) -> None:
        count = len(self.sizes)
        if not (len(self.latency_ns) == len(self.log_error) == len(self.samples) == count):
            raise TilerError("measurements need one latency, error and count per size")
        if any(b <= a for a, b in zip(self.sizes, self.sizes[1:])):
            raise TilerError("the sizes of measurements must increase strictly")
        if any(not (value > 0 and math.isfinite(value)) for value in self.latency_ns):
            raise TilerError("measured latencies must be positive numbers")

    def to_dict(self) -> dict:
        """Return the JSON object of these measurements."""
        return {"sizes": list(self.sizes), "latency_ns": [round(v, 5) for v in self.latency_ns],
                "log_error": [round(v, 6) for v in self.log_error],
                "samples": list(self.samples)}

    @staticmethod
    def from_dict(data: object) -> Measurements:
        """Return the measurements a JSON object describes; raise ``TilerError`` if malformed."""
        if not isinstance(data, dict):
            raise TilerError("measurements must be a JSON object")
        try:
            return Measurements(tuple(int(v) for v in data["sizes"]),
                                tuple(float(v) for v in data["latency_ns"]),
                                tuple(float(v) for v in data["log_error"]),
                                tuple(int(v) for v in data["samples"]))
        except (KeyError, TypeError, ValueError) as error:
            raise TilerError(f"malformed measurements: {error}") from None


def measurements_of(sizes: Sequence[int], latency_ns: Sequence[float],
                    log_error: Sequence[float], samples: Sequence[int]) -> Measurements:
    """Return measurements with every standard error raised to ``MIN_STANDARD_ERROR``."""
    return Measurements(tuple(int(s) for s in sizes), tuple(float(v) for v in latency_ns),
                        tuple(max(float(e), MIN_STANDARD_ERROR) for e in log_error),
                        tuple(int(n) for n in samples))


def merge_measurements(old: Measurements, new: Measurements) -> Measurements:
    """Return the measurements of both runs: per size, their precision-weighted mean in log
    space, or the lower one where they disagree by more than ``DISAGREEMENT_SIGMAS``; a size
    measured by one run only is kept as it is."""
    table: dict[int, tuple[float, float, int]] = {}
    for measured in (old, new):
        for size, latency, error, count in zip(measured.sizes, measured.latency_ns,
                                               measured.log_error, measured.samples):
            here = (math.log(latency), max(error, MIN_STANDARD_ERROR), count)
            table[size] = here if size not in table else _merge_point(table[size], here)
    sizes = sorted(table)
    return Measurements(tuple(sizes), tuple(math.exp(table[s][0]) for s in sizes),
                        tuple(table[s][1] for s in sizes), tuple(table[s][2] for s in sizes))


def _merge_point(a: tuple[float, float, int], b: tuple[float, float, int]
                 ) -> tuple[float, float, int]:
    (ya, ea, na), (yb, eb, nb) = a, b
    if abs(ya - yb) > DISAGREEMENT_SIGMAS * math.hypot(ea, eb):
        return a if ya < yb else b
    wa, wb = 1 / ea ** 2, 1 / eb ** 2
    return ((wa * ya + wb * yb) / (wa + wb), max(MIN_STANDARD_ERROR, 1 / math.sqrt(wa + wb)),
            na + nb)
