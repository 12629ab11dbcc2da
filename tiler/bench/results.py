"""What ``tiler bench`` measured: per variant, per kernel and for a whole suite."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tiler.bench.modelcheck import ModelCheck
from tiler.bench.tune import Tuning
from tiler.bench.variants import VARIANT_ORDER

if TYPE_CHECKING:
    from tiler.bench.harness import BenchSettings

# Statuses of a variant; only ``ok`` ones are timed and enter ratios.
OK, WRONG, TILE_ERROR, BUILD_ERROR, RUN_ERROR, NOT_TILED, SKIPPED = (
    "ok", "wrong", "tile-error", "build-error", "run-error", "not-tiled", "skipped")


@dataclass(frozen=True)
class VariantResult:
    """One variant of one kernel: its status, its times and what was chosen for it.

    Attributes:
        status: ``ok`` or why it was not timed (``wrong``, ``tile-error``, ``build-error``,
            ``run-error``, ``not-tiled``: the pass tiled nothing, ``skipped``).
        times_s: the timed runs, in order.
        timing: what was timed: ``kernel`` (the program's own kernel timer), ``polybench``
            (its ``POLYBENCH_TIME`` line) or ``wall`` (the whole process).
        band_sizes: the tile sizes of every tiled band.
        given_sizes: the sizes handed to the pass (``None``: the model chose).
        choice_s: the time it took to choose the sizes (the model, or the whole search).
        toolchain: the compile command prefix.
        max_relative_difference: the largest relative difference of a printed number.
    """

    name: str
    status: str
    times_s: tuple[float, ...] = ()
    timing: str = ""
    band_sizes: tuple[tuple[int, ...], ...] = ()
    given_sizes: tuple[int, ...] | None = None
    choice_s: float = 0.0
    toolchain: str = ""
    max_relative_difference: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        """Whether the variant built, ran and printed the original's output."""
        return self.status == OK

    @property
    def median_s(self) -> float | None:
        """Return the median time, or ``None`` when the variant was not timed."""
        return statistics.median(self.times_s) if self.ok and self.times_s else None

    def spread(self) -> dict[str, float | None]:
        """Return the minimum, quartiles and maximum of the times (``None`` if not timed)."""
        if not self.ok or not self.times_s:
            return {"min_s": None, "q1_s": None, "q3_s": None, "max_s": None}
        ordered = sorted(self.times_s)
        low, high = (statistics.quantiles(ordered, n=4, method="inclusive")[::2]
                     if len(ordered) > 1 else (ordered[0], ordered[0]))
        return {"min_s": ordered[0], "q1_s": low, "q3_s": high, "max_s": ordered[-1]}


@dataclass(frozen=True)
class KernelResult:
    """Every variant of one kernel, the search behind ``autotuned`` and the model's time."""

    name: str
    path: str
    polybench: bool
    variants: dict[str, VariantResult]
    tuning: Tuning | None = None
    model_s: float = 0.0
    pass_s: float = 0.0
    error: str = ""
    model_check: ModelCheck | None = None

    def speedup(self, variant: str) -> float | None:
        """Return the original's median over ``variant``'s (``None`` if either is missing)."""
        base = self.variants.get("original")
        other = self.variants.get(variant)
        if base is None or other is None or base.median_s is None or other.median_s is None:
            return None
        if base.median_s <= 0 or other.median_s <= 0:
            return None         # below the timer's resolution
        return base.median_s / other.median_s

    def speedup_range(self, variant: str) -> tuple[float, float] | None:
        """Return the lowest and highest speedup the runs allow: the original's median over
        ``variant``'s slowest and fastest run (``None`` where ``speedup`` is)."""
        if self.speedup(variant) is None:
            return None
        base, times = self.variants["original"].median_s, self.variants[variant].times_s
        return base / max(times), base / min(times) if min(times) > 0 else math.inf

    def speedup_of_fastest_runs(self, variant: str) -> float | None:
        """Return the original's fastest run over ``variant``'s fastest: interference from
        other work only adds time, so on a busy machine this is the steadier ratio."""
        base, other = self.variants.get("original"), self.variants.get(variant)
        if self.speedup(variant) is None or min(other.times_s) <= 0:
            return None
        return min(base.times_s) / min(other.times_s)

    def default_vs_autotuned(self) -> float | None:
        """Return the model's speedup over the tuner's: 1 means the model matched the tuner,
        below 1 the tuner found faster sizes."""
        default, tuned = self.speedup("default"), self.speedup("autotuned")
        return default / tuned if default and tuned else None


@dataclass(frozen=True)
class SuiteResult:
    """The kernels of one bench run and the settings they were measured with."""

    kernels: tuple[KernelResult, ...]
    settings: BenchSettings
    variants: tuple[str, ...] = field(default=VARIANT_ORDER)

    def geometric_means(self) -> dict[str, tuple[float | None, int]]:
        """Return per variant the geometric mean of its speedups and over how many kernels."""
        means = {}
        for variant in self.variants:
            values = [kernel.speedup(variant) for kernel in self.kernels]
            means[variant] = (geometric_mean([v for v in values if v]),
                              sum(1 for v in values if v))
        ratios = [kernel.default_vs_autotuned() for kernel in self.kernels]
        means["default_vs_autotuned"] = (geometric_mean([r for r in ratios if r]),
                                         sum(1 for r in ratios if r))
        return means


def geometric_mean(values: Sequence[float]) -> float | None:
    """Return the geometric mean of positive ``values`` (``None`` for none)."""
    if not values:
        return None
    return math.exp(sum(math.log(value) for value in values) / len(values))
