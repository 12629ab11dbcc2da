"""Tile sizes and intra-tile loop order from the data footprint and the cache hierarchy.

The model, per band: the point loops run in ``point_order`` (stride-one loop innermost).
Two working sets of a tile must stay in cache for its reuse to pay off:

* the *slab*, the data touched while the outermost point loop does one iteration: it is
  reused by every iteration of that loop, so it must fit a fraction of L1;
* the *tile*, all the data of one tile: it is reused across the tile's iterations and loaded
  once from memory or the last level, so it must fit a fraction of L2 (the level below the
  last when there are more than two).

Among the sizes that satisfy both, the model takes the one that loads the fewest cache lines
per iteration (tile lines / tile iterations), which is the traffic from the outer level.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from tiler.footprint import BandShape, footprint_many, stride_one_scores
from tiler.hierarchy import Hierarchy

# Fraction of L1 the slab may fill: the rest holds the data in flight outside the slab (the
# streams of the next slab, the stack) and absorbs conflict misses of a set-associative cache.
L1_FRACTION = 0.5
# Fraction of the tile's level it may fill: two tiles' data meet while one ends and the next
# starts, and an L2 shared with the other core or inclusive of L1 holds less than its size.
TILE_FRACTION = 0.5
# Sizes tried for each member; powers of two and their 1.5x neighbours cover the useful range
# with few points. The stride-one member only takes multiples of a cache line (below).
CANDIDATE_SIZES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# Past this many candidate combinations the search drops the 1.5x neighbours.
MAX_COMBINATIONS = 200_000
# Bytes of the widest vector register (AVX-512); the stride-one size is a multiple of it
# and of the cache line, so that the vectorised inner loop has no remainder inside a tile.
VECTOR_BYTES = 64


def point_order(shape: BandShape) -> tuple[int, ...]:
    """Return the order of the point loops: the member that walks the most references with
    stride one goes innermost (it decides vectorisation); the others keep their order."""
    scores = stride_one_scores(shape)
    innermost = int(np.argmax(scores))
    if scores[innermost] <= scores[-1]:
        innermost = shape.members - 1        # ties keep the schedule's own innermost loop
    return tuple(k for k in range(shape.members) if k != innermost) + (innermost,)


@dataclass(frozen=True)
class SizeChoice:
    """The sizes chosen for one band and the figures behind the choice."""

    sizes: tuple[int, ...]
    point_order: tuple[int, ...]
    slab_bytes: int
    tile_bytes: int
    slab_level: int
    tile_level: int
    lines_per_iteration: float
    footprint_bytes: dict
    seconds: float


def _candidates(shape: BandShape, order: tuple[int, ...], element: int, line_bytes: int,
                dense: bool) -> list[list[int]]:
    base = CANDIDATE_SIZES if dense else tuple(s for s in CANDIDATE_SIZES if s & (s - 1) == 0)
    step = max(1, max(line_bytes, VECTOR_BYTES) // element)
    result = []
    for member, trips in enumerate(shape.trip_counts):
        values = [s for s in base if s < trips]
        if member == order[-1] and shape.members > 1:
            values = [s for s in values if s % step == 0]
        values.append(trips if trips <= base[-1] else base[-1])
        result.append(sorted(set(values)))
    return result


def _budgets(hierarchy: Hierarchy) -> list[tuple[int, int, int, int]]:
    """Return (slab bytes, slab level, tile bytes, tile level) budgets, preferred first: the
    slab in L1 and the tile in L2; failing that, the tile alone in L2; then in the last level.
    """
    levels = hierarchy.levels
    if not levels:
        raise ValueError("a hierarchy without cache levels")
    first, tile, last = levels[0], levels[min(1, len(levels) - 1)], levels[-1]
    slab = (int(first.size_bytes * L1_FRACTION), first.level)
    return [slab + (int(tile.size_bytes * TILE_FRACTION), tile.level),
            (np.inf, 0, int(tile.size_bytes * TILE_FRACTION), tile.level),
            (np.inf, 0, int(last.size_bytes * TILE_FRACTION), last.level)]


def choose_tile_sizes(shape: BandShape, hierarchy: Hierarchy) -> SizeChoice:
    """Return the tile sizes of a band whose slab fits L1 and whose tile fits L2."""
    started = time.perf_counter()
    order = point_order(shape)
    line = hierarchy.line_bytes
    elements = [a.element_bytes for a in shape.accesses] or [8]
    element = min(elements)
    per_member = _candidates(shape, order, element, line, dense=True)
    if np.prod([len(v) for v in per_member], dtype=float) > MAX_COMBINATIONS:
        per_member = _candidates(shape, order, element, line, dense=False)
    grid = np.array(list(itertools.product(*per_member)), dtype=float)

    _, tile_lines = footprint_many(shape, grid, line)
    tile_bytes = sum(tile_lines.values()) * line
    slab = grid.copy()
    slab[:, order[0]] = 1
    _, slab_lines = footprint_many(shape, slab, line)
    slab_bytes = sum(slab_lines.values()) * line

    iterations = np.prod(grid, axis=1)
    traffic = sum(tile_lines.values()) / iterations
    for slab_budget, slab_level, tile_budget, tile_level in _budgets(hierarchy):
        fits = (slab_bytes <= slab_budget) & (tile_bytes <= tile_budget)
        if fits.any():
            # fewest lines per iteration; among near-equals (within 2%) the largest tile
            score = np.where(fits, traffic, np.inf)
            near = fits & (score <= score.min() * 1.02)
            best = int(np.flatnonzero(near)[np.argmax(iterations[near])])
            break
    else:                                   # nothing fits anywhere: the smallest working set
        best = int(np.argmin(tile_bytes))
        slab_level = tile_level = 0
    by_array, _ = footprint_many(shape, grid[best:best + 1], line)
    return SizeChoice(tuple(int(s) for s in grid[best]), order, int(slab_bytes[best]),
                      int(tile_bytes[best]), slab_level, tile_level, float(traffic[best]),
                      {array: int(value[0]) for array, value in by_array.items()},
                      time.perf_counter() - started)
