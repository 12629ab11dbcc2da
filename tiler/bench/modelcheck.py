"""The model's check of itself: does its predicted time rank the auto-tuner's candidates the
way their measured times do? Spearman's rank correlation per kernel, over the candidates
that ran and that the model predicted (``tiler bench --model-check``)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def ranks(values: Sequence[float]) -> list[float]:
    """Return the rank of each value, 1 for the smallest; tied values share their mean rank."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Return Spearman's rank correlation of ``xs`` and ``ys`` (``None``: fewer than three
    pairs, or one side all equal)."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    covariance = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    spread = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return covariance / spread if spread > 0 else None


@dataclass(frozen=True)
class ModelCheck:
    """The tuner's candidates of one kernel: sizes, predicted ns (``None``: the model judged
    no band of it) and measured seconds (``None``: it failed)."""

    trials: tuple[tuple[tuple[int, ...], float | None, float | None], ...]

    @property
    def pairs(self) -> list[tuple[float, float]]:
        """Return (predicted, measured) of the distinct candidates with both."""
        seen: dict = {}
        for sizes, predicted, seconds in self.trials:
            if predicted is not None and seconds is not None:
                seen.setdefault(sizes, (predicted, seconds))
        return list(seen.values())

    @property
    def rho(self) -> float | None:
        pairs = self.pairs
        return spearman([p for p, _ in pairs], [s for _, s in pairs])


def median_rho(checks: Sequence[ModelCheck | None]) -> tuple[float | None, int]:
    """Return the median correlation over the kernels that have one, and how many do."""
    values = [check.rho for check in checks if check is not None and check.rho is not None]
    return (statistics.median(values) if values else None), len(values)
