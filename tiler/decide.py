"""Whether tiling a band pays: the predicted memory time of the band tiled, against the same
band left as it is.

The loads are counted with footprints, per loop of the nest as it runs (tile loops, then
point loops; or the band's own loops untiled). One execution of a loop - all its iterations,
the loops inside included - touches a footprint of distinct cache lines. For a cache of
capacity C, the outermost loop whose execution fits in C loads each of its lines once per
execution, from the next level out: ``misses(C) = executions(loop) * lines(loop)``, the
fewest over the loops that fit. A level's misses are loads from the level beyond it.

Each line costs the latency of the level it comes from divided by the loads a core keeps in
flight for a stream (prefetchers overlap them), so a streamed array is priced at its
bandwidth, not as latency-bound misses. A nest without reuse (a matrix-vector product: the
matrix is read once whatever the order) costs the same tiled and untiled, and the loop
overhead of tiles makes it slower in practice: it is tiled only when the prediction is
faster by ``TILING_MARGIN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiler.footprint import BandShape, footprint_many
from tiler.hierarchy import Hierarchy
from tiler.tilesize import level_budgets_and_latencies

# Tiling must be predicted this much faster than leaving the band alone: tile loops, shorter
# inner loops and broken prefetch streams cost 5-30% on nests without reuse (measured on the
# matrix-vector kernels and 1-D stencils, where every tiler lost against the original).
TILING_MARGIN = 1.25
# Loads a core keeps in flight for a prefetched stream: a line from a level costs its latency
# divided by this (Zen 3 and recent Intel cores track 20-24 L1 misses; streams reach 10-16).
LINES_IN_FLIGHT = 12.0
@dataclass(frozen=True)
class Verdict:
    """The predicted memory time of a band tiled and untiled, and whether to tile it."""

    tiled_ns: float
    untiled_ns: float
    worth_tiling: bool
    reason: str

    @property
    def speedup(self) -> float:
        return self.untiled_ns / self.tiled_ns if self.tiled_ns > 0 else float("inf")


def _line_costs(hierarchy: Hierarchy) -> tuple[np.ndarray, np.ndarray]:
    """Return the budgets of the levels (as the size model counts them) and the cost of one
    streamed line from each level and from memory (last entry)."""
    budgets, latencies = level_budgets_and_latencies(hierarchy)
    return budgets, latencies / LINES_IN_FLIGHT


def _loops(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...]
           ) -> list[tuple[str, int, int]]:
    """Return the loops of the band tiled with ``sizes`` (a size as large as the trip count:
    no tile loop), outermost first, as (kind, member, trip count)."""
    trips = shape.trip_counts
    loops = [("tile", m, -(-trips[m] // sizes[m])) for m in range(shape.members)
             if sizes[m] < trips[m]]
    return loops + [("point", m, min(sizes[m], trips[m])) for m in order]


def predicted_ns(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...],
                 hierarchy: Hierarchy) -> float:
    """Return the predicted memory time (ns) of the whole band run in tiles of ``sizes``
    with the point loops in ``order`` (see the module doc)."""
    line = hierarchy.line_bytes
    trips = np.array(shape.trip_counts, dtype=float)
    sizes = tuple(int(min(size, trip)) for size, trip in zip(sizes, shape.trip_counts))
    loops = _loops(shape, sizes, order)
    extents, executions = [], []
    for depth in range(len(loops) + 1):
        inside = loops[depth:]
        extent = np.ones(shape.members)
        for kind, member, _ in inside:
            extent[member] = trips[member] if kind == "tile" else max(
                extent[member], sizes[member])
        extents.append(extent)
        executions.append(float(np.prod([trip for _, _, trip in loops[:depth]])))
    _, lines = footprint_many(shape, np.array(extents), line)
    footprint = sum(lines.values(), np.zeros(len(extents)))   # lines per execution, per depth
    loads = np.array(executions) * footprint
    budgets, cost = _line_costs(hierarchy)
    total = 0.0
    for level, budget in enumerate(budgets):
        # A line used again by the next iteration of a loop is still there when one
        # iteration's footprint fits (its reuse distance): loop d keeps its lines across
        # its iterations when depth d + 1 fits, and loads each once per execution.
        fits = footprint[1:] * line <= budget
        # (a level too small for one iteration misses every line of every iteration)
        total += float(loads[:-1][fits].min() if fits.any() else loads[-1]) * cost[level + 1]
    return total


def judge(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...],
          hierarchy: Hierarchy) -> Verdict:
    """Return whether the band is worth tiling with ``sizes`` and point ``order`` rather
    than left with its members in their own order, untiled."""
    members = tuple(range(shape.members))
    tiled = predicted_ns(shape, sizes, order, hierarchy)
    untiled = predicted_ns(shape, shape.trip_counts, members, hierarchy)
    if any(shape.estimated):
        return Verdict(tiled, untiled, True, "a size is unknown: tiled on the size model alone")
    worth = untiled >= TILING_MARGIN * tiled
    ratio = untiled / tiled if tiled > 0 else float("inf")
    reason = (f"predicted {ratio:.2f}x faster tiled ({tiled / 1e6:.3g} ms against "
              f"{untiled / 1e6:.3g} ms of memory time untiled)")
    if not worth:
        reason = (f"tiling is predicted {ratio:.2f}x the speed of the nest as it is "
                  f"({tiled / 1e6:.3g} ms against {untiled / 1e6:.3g} ms of memory time; "
                  f"it must be {TILING_MARGIN:g}x to pay for the tile loops)")
    return Verdict(tiled, untiled, worth, reason)
