"""Tile sizes and intra-tile loop order from the data footprint and the cache hierarchy.

The model, per band. The point loops run in ``point_order`` (the stride-one loop innermost).
Two working sets of a tile decide where its loads are served from:

* the *slab*, the data touched while the outermost point loop does one iteration. The next
  iteration touches it again, so its lines are re-read ``size - 1`` times per tile, from
  the smallest cache level whose budget holds the slab;
* the *tile*, all the data of one tile. Each of its lines is loaded once per tile, from the
  level beyond the smallest level whose budget holds the tile (consecutive tiles share
  data through that level), and at best from L3.

The cost of a candidate is the expected time of those loads per iteration, each line
weighted by the measured latency of the level it comes from. The model takes the cheapest
candidate: a latency-weighted count, not a fixed fraction of one cache, so a slab that
cannot fit L1 without starving the tile is let out into L2 when that is cheaper.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass

import islpy as isl
import numpy as np

from tiler.footprint import BandShape, band_shape, fix_parameters, footprint_many, stride_one_scores
from tiler.hierarchy import Hierarchy
from tiler.model import Scop

# Fraction of a level a working set may fill and still count as held by it. Half: the rest
# holds the data in flight outside the working set (the next slab or tile, the stack),
# absorbs the conflict misses of a set-associative cache, and leaves room for the other
# core of a shared level; the measured sizes already stop where misses start.
LEVEL_FRACTION = 0.5
# Whether to add a tile of tiles sized for the last level (see ``last_level_sizes``). Off:
# measured on the examples (3 interleaved runs, gcc -O3 -march=native), the extra level cost
# 10-25% on gemm, two_mm, lu, covariance and syrk and gained 10-35% only on the two
# time-skewed stencils; L2-sized tiles already stream from the last level. (A band with a
# micro-kernel has its last-level extent from ``micro_kernel_sizes`` instead.)
LAST_LEVEL_TILES = False
# Latencies used when the hierarchy gives none (sizes from --cache-sizes): typical of a
# current x86 core, in nanoseconds, per level and for memory.
DEFAULT_LATENCY_NS = (1.0, 4.0, 15.0)
DEFAULT_MEMORY_LATENCY_NS = 80.0
# Sizes tried for each member; powers of two and their 1.5x neighbours cover the useful range
# with few points. The stride-one member only takes multiples of a cache line (below).
CANDIDATE_SIZES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# Past this many candidate combinations the search drops the 1.5x neighbours.
MAX_COMBINATIONS = 200_000
# Bytes of the widest vector register (AVX-512); the stride-one size is a multiple of it
# and of the cache line, so that the vectorised inner loop has no remainder inside a tile.
VECTOR_BYTES = 64
# The stride-one loop runs over at least this many bytes (16 lines) when the trip count
# allows: a hardware stream prefetcher needs a few lines to lock on, so short rows pay a
# miss at the start of each; and the vectorised loop needs trips to amortise its prologue.
MIN_STRIDE_ONE_BYTES = 1024
# ... and at most this many bytes when the innermost loop writes a row that it also reads
# at a fixed place (Floyd-Warshall's path[i][k]): compilers vectorise such a loop behind a
# run-time overlap check that fails for the tile holding that place, so short tiles keep
# the scalar fallback to one tile in many.
MAX_OVERLAPPING_STRIDE_ONE_BYTES = 256


def point_order(shape: BandShape, line_bytes: int = 64) -> tuple[int, ...]:
    """Return the order of the point loops: innermost goes the member whose iterations touch
    the fewest new cache lines (``innermost_lines``), among equals the one that walks the most
    references with stride one (it decides vectorisation), then the schedule's own innermost;
    the others keep their order."""
    lines = innermost_lines(shape, line_bytes)
    scores = stride_one_scores(shape)
    innermost = min(range(shape.members),
                    key=lambda k: (round(lines[k], 9), -scores[k], k != shape.members - 1))
    return tuple(k for k in range(shape.members) if k != innermost) + (innermost,)


def innermost_lines(shape: BandShape, line_bytes: int = 64) -> np.ndarray:
    """Return, per member, the cache lines the band's references move to per iteration when
    that member is the innermost loop: none for a reference it leaves in place (kept in a
    register or hoisted), a fraction of a line for one it walks along the last subscript,
    a whole line for one it walks across rows. A reference written several times in a
    statement (``A[i][j]`` read and written) counts once."""
    lines = np.zeros(shape.members)
    seen = set()
    for access in shape.accesses:
        key = (access.statement, access.array, access.coefficients, access.offsets)
        if not access.coefficients or key in seen:
            continue
        seen.add(key)
        matrix = np.abs(np.array(access.coefficients))
        outer = matrix[:-1].sum(axis=0) if len(matrix) > 1 else np.zeros(shape.members)
        along = np.minimum(1.0, matrix[-1] * access.element_bytes / line_bytes)
        lines += np.where(outer > 0, 1.0, along)
    return lines


def _deepest_bands(schedule: isl.Schedule) -> dict[str, isl.ScheduleNode]:
    """Return, per statement, the innermost band node above it."""
    deepest: dict[str, tuple[int, isl.ScheduleNode]] = {}

    def visit(node: isl.ScheduleNode) -> None:
        if node.get_type() == isl.schedule_node_type.band:
            sets = node.get_domain().get_set_list()
            for k in range(sets.n_set()):
                name = sets.get_at(k).get_tuple_name()
                if name not in deepest or deepest[name][0] < node.get_tree_depth():
                    deepest[name] = (node.get_tree_depth(), node)
        for k in range(node.n_children()):
            visit(node.child(k))

    visit(schedule.get_root())
    return {name: node for name, (_, node) in deepest.items()}


def innermost_stride_score(scop: Scop, schedule: isl.Schedule) -> float:
    """Return how well the innermost loops of ``schedule`` walk memory: the stride-one score
    (see ``stride_one_scores``) of each statement's innermost loop, weighted by the
    statement's share of all instances. The innermost loop is the last point loop of the
    statement's innermost band after reordering when that band will be tiled, and the
    band's last member otherwise."""
    total = 0.0
    shapes: dict[int, tuple[BandShape, int]] = {}
    fixed = fix_parameters(scop, {})
    weights = {s.name: _volume(s.domain.intersect_params(fixed)) for s in scop.statements}
    everything = sum(weights.values()) or 1.0
    weights = {name: weight / everything for name, weight in weights.items()}
    for name, band in _deepest_bands(schedule).items():
        shape, innermost = shapes.get(id(band), (None, 0))
        if shape is None:
            shape = band_shape(scop, band, {}, {})
            tiled = band.band_get_permutable() and band.band_n_member() >= 2
            innermost = point_order(shape)[-1] if tiled else shape.members - 1
            shapes[id(band)] = (shape, innermost)
        own = BandShape(shape.members, shape.trip_counts,
                        tuple(a for a in shape.accesses if a.statement == name), (name,))
        total += weights[name] * float(stride_one_scores(own)[innermost])
    return total


def _volume(domain: isl.Set) -> float:
    """Return the volume of the bounding box of a parameter-free set (its size, roughly)."""
    volume = 1.0
    for dim in range(domain.dim(isl.dim_type.set)):
        low, high = domain.dim_min_val(dim), domain.dim_max_val(dim)
        if low.is_int() and high.is_int():
            volume *= max(high.to_python() - low.to_python() + 1, 1)
    return volume


@dataclass(frozen=True)
class SizeChoice:
    """The sizes chosen for one band and the figures behind the choice."""

    sizes: tuple[int, ...]
    point_order: tuple[int, ...]
    slab_bytes: int
    tile_bytes: int
    slab_level: int                 # cache level holding the slab (0: none, memory)
    tile_level: int                 # cache level holding the tile (0: none, memory)
    lines_per_iteration: float
    nanoseconds_per_iteration: float
    footprint_bytes: dict
    seconds: float
    outer_sizes: tuple[int, ...] | None = None   # a tile of tiles for the last level, if any


def last_level_sizes(shape: BandShape, sizes: tuple[int, ...], hierarchy: Hierarchy
                     ) -> tuple[int, ...] | None:
    """Return sizes of a tile of tiles whose footprint fits the last level's budget and that
    loads the fewest lines from memory per iteration (multiples of ``sizes``), or None when
    no such tile is smaller than the band (the level would add loops and nothing else)."""
    if len(hierarchy.levels) < 3:
        return None
    budget = hierarchy.levels[-1].size_bytes * LEVEL_FRACTION
    line = hierarchy.line_bytes
    per_member = []
    guessed = shape.estimated or (False,) * shape.members
    for size, trips, guess in zip(sizes, shape.trip_counts, guessed):
        multiples = [size * 2 ** k for k in range(12) if size * 2 ** k < trips]
        per_member.append(multiples if guess and multiples else multiples + [max(trips, size)])
    grid = np.array(list(itertools.product(*per_member)), dtype=float)
    if len(grid) > MAX_COMBINATIONS:
        return None
    _, lines = footprint_many(shape, grid, line)
    total = sum(lines.values())
    fits = total * line <= budget
    if not fits.any():
        return None
    traffic = np.where(fits, total / np.prod(grid, axis=1), np.inf)
    near = traffic <= traffic.min() * 1.02
    best = grid[np.flatnonzero(near)[np.argmax(np.prod(grid[near], axis=1))]]
    whole = all(b >= t for b, t in zip(best, shape.trip_counts))
    return None if whole else tuple(int(v) for v in best)


def _overlapping_row(shape: BandShape, innermost: int) -> bool:
    """Return whether some statement writes an array along the innermost member and reads
    the same array at a place that does not move with it, on the same row."""
    for write in (a for a in shape.accesses if a.is_write and a.coefficients):
        for read in shape.accesses:
            if (read.is_write or read.array != write.array or read.statement != write.statement
                    or not read.coefficients):
                continue
            moves = read.coefficients[-1][innermost] != 0
            if write.coefficients[-1][innermost] != 0 and not moves \
                    and read.coefficients[:-1] == write.coefficients[:-1]:
                return True
    return False


def _candidates(shape: BandShape, order: tuple[int, ...], element: int, line_bytes: int,
                dense: bool, innermost_limit: int | None = None) -> list[list[int]]:
    base = CANDIDATE_SIZES if dense else tuple(s for s in CANDIDATE_SIZES if s & (s - 1) == 0)
    step = max(1, max(line_bytes, VECTOR_BYTES) // element)
    result = []
    for member, trips in enumerate(shape.trip_counts):
        # A guessed trip count (unknown parameter) is no size to tile with: only the sizes
        # below it are tried, so the tile does not grow with the guess.
        guessed = bool(shape.estimated) and shape.estimated[member]
        values = [s for s in base if s < trips]
        if member == order[-1] and shape.members > 1:
            low = MIN_STRIDE_ONE_BYTES // element
            high = base[-1]
            if _overlapping_row(shape, member):
                low, high = step, MAX_OVERLAPPING_STRIDE_ONE_BYTES // element
            if innermost_limit is not None:
                # a chain of dependent operations along it: short runs, side by side
                # (rounded up to a size tried: a limit of 30 doubles tries 32)
                low, high = step, min(high, next(
                    (s for s in base if s % step == 0 and s >= innermost_limit), base[-1]))
            values = [s for s in values if s % step == 0 and low <= s <= high]
            if trips <= high and not guessed:
                values.append(trips)
            elif not values:
                values = [min(high, trips)]
        elif not guessed or not values:
            values.append(min(trips, base[-1]))
        result.append(sorted(set(values)))
    return result


def sizing_hierarchy(hierarchy: Hierarchy) -> Hierarchy:
    """Return the hierarchy the sizes are chosen for: each measured level at the low end of
    the interval the probe gives it (the hierarchy itself where there are no intervals).

    A candidate's modelled cost can only fall as a level grows, so the choice for the low end
    is the one whose worst case over the interval is best; and a level that moves within its
    interval, as it does between two probe runs on a loaded machine, does not move the sizes.
    """
    return hierarchy_at(hierarchy, "low")


def hierarchy_at(hierarchy: Hierarchy, end: str) -> Hierarchy:
    """Return the hierarchy with each measured level at the ``low`` or ``high`` end of its
    interval (itself where there are none, or where the ends would not nest)."""
    key = "size_low_bytes" if end == "low" else "size_high_bytes"
    levels = tuple(dataclasses.replace(level, size_bytes=getattr(level, key))
                   if getattr(level, key) else level for level in hierarchy.levels)
    if any(outer.size_bytes <= inner.size_bytes for inner, outer in itertools.pairwise(levels)):
        return hierarchy
    return dataclasses.replace(hierarchy, levels=levels)


def level_budgets_and_latencies(hierarchy: Hierarchy) -> tuple[np.ndarray, np.ndarray]:
    """Return the budgets (bytes a working set may take) of each level and the latencies
    of each level followed by memory."""
    if not hierarchy.levels:
        raise ValueError("a hierarchy without cache levels")
    budgets = np.array([level.size_bytes * LEVEL_FRACTION for level in hierarchy.levels])
    latencies = [level.latency_ns if level.latency_ns else
                 DEFAULT_LATENCY_NS[min(k, len(DEFAULT_LATENCY_NS) - 1)]
                 for k, level in enumerate(hierarchy.levels)]
    latencies.append(hierarchy.memory_latency_ns or DEFAULT_MEMORY_LATENCY_NS)
    return budgets, np.array(latencies)


def _holding_level(working_set: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Return, per candidate, the index of the first level holding it (len: none does)."""
    return np.searchsorted(budgets, working_set, side="left")


def _level_number(index: int, hierarchy: Hierarchy) -> int:
    """Return the cache level number of a level index (0 for memory)."""
    return hierarchy.levels[index].level if index < len(hierarchy.levels) else 0


def choose_tile_sizes(shape: BandShape, hierarchy: Hierarchy,
                      only: tuple[int, ...] | None = None,
                      innermost_limit: int | None = None) -> SizeChoice:
    """Return the tile sizes of a band that make its loads cheapest (see the module doc).

    ``only`` evaluates one given candidate instead of searching (to compare choices);
    ``innermost_limit`` bounds the innermost point loop (``tiler.decide.chain_limit``).
    """
    started = time.perf_counter()
    line = hierarchy.line_bytes
    order = point_order(shape, line)
    elements = [a.element_bytes for a in shape.accesses] or [8]
    element = min(elements)
    per_member = _candidates(shape, order, element, line, True, innermost_limit)
    if np.prod([len(v) for v in per_member], dtype=float) > MAX_COMBINATIONS:
        per_member = _candidates(shape, order, element, line, False, innermost_limit)
    grid = np.array(list(itertools.product(*per_member)) if only is None else [only],
                    dtype=float)

    _, tile_lines = footprint_many(shape, grid, line)
    tile_bytes = sum(tile_lines.values()) * line
    slab = grid.copy()
    slab[:, order[0]] = 1
    _, slab_lines = footprint_many(shape, slab, line)
    slab_bytes = sum(slab_lines.values()) * line

    iterations = np.prod(grid, axis=1)
    tile_total = sum(tile_lines.values())
    traffic = tile_total / iterations
    rereads = (grid[:, order[0]] - 1) * sum(slab_lines.values()) / iterations
    budgets, latencies = level_budgets_and_latencies(sizing_hierarchy(hierarchy))
    slab_level = _holding_level(slab_bytes, budgets)
    tile_level = _holding_level(tile_bytes, budgets)
    # Where a tile's lines come from: the level beyond the one holding the tile, and never
    # nearer than L2: consecutive tiles do not share their data through L1 (the next tile's
    # lines arrive while this one's are still there), and streams are prefetched anyway.
    source = np.minimum(np.maximum(tile_level, 1) + 1, len(budgets))
    cost = traffic * latencies[source] + rereads * latencies[slab_level]
    short = _short_rows(shape, grid, order[-1])
    if only is None and not short.all():
        cost = np.where(short, np.inf, cost)
    # the cheapest; among near-equals (within 2%) the largest tile, fewer tile loops
    near = cost <= cost.min() * 1.02
    best = int(np.flatnonzero(near)[np.argmax(iterations[near])])
    by_array, _ = footprint_many(shape, grid[best:best + 1], line)
    return SizeChoice(tuple(int(s) for s in grid[best]), order, int(slab_bytes[best]),
                      int(tile_bytes[best]), _level_number(slab_level[best], hierarchy),
                      _level_number(tile_level[best], hierarchy), float(traffic[best]),
                      float(cost[best]),
                      {array: int(value[0]) for array, value in by_array.items()},
                      time.perf_counter() - started,
                      last_level_sizes(shape, tuple(int(v) for v in grid[best]), hierarchy)
                      if only is None and LAST_LEVEL_TILES else None)


# The streams a core's L2 prefetcher follows at once (32 on Intel cores since Sandy Bridge,
# one per 4 KiB page). A tile that walks more rows than this in runs shorter than a page
# loses them between its visits to a row: measured on this machine, floyd-warshall's rows of
# 64 ints and lu's of 32 doubles ran 1.2-1.3x faster 32 rows a tile than 384 or 1024.
PREFETCH_STREAMS = 32


def _short_rows(shape: BandShape, grid: np.ndarray, innermost: int) -> np.ndarray:
    """Return, per candidate, whether its tile walks more than ``PREFETCH_STREAMS`` rows of
    a reference in runs shorter than ``MIN_STRIDE_ONE_BYTES`` (a run of the innermost
    member, cut short by a chain or an overlapping row)."""
    result = np.zeros(len(grid), dtype=bool)
    for access in shape.accesses:
        rows = access.coefficients
        if len(rows) < 2 or not rows[-1][innermost] or any(row[innermost] for row in rows[:-1]):
            continue
        run = grid[:, innermost] * abs(rows[-1][innermost]) * access.element_bytes
        count = np.ones(len(grid))
        for row in rows[:-1]:
            count *= 1.0 + (grid - 1.0) @ np.abs(np.array(row))
        result |= (run < MIN_STRIDE_ONE_BYTES) & (count > PREFETCH_STREAMS)
    return result


# Sizes of one member evaluated at once around a micro-tile (every multiple of the step up
# to the trip count below this many; footprint_many takes them in one array operation).
MAX_MICRO_SIZES = 8192


def _largest_fitting(shape: BandShape, sizes: list[int], member: int, step: int,
                     budget: float, line: int) -> int:
    """Return the largest multiple of ``step`` (at most the trip count, at least ``step``)
    for ``member`` whose tile, with the other members at ``sizes``, fits ``budget`` bytes."""
    trips = shape.trip_counts[member]
    values = sorted({v for v in (step * k for k in range(1, 1 + max(1, trips // step)))
                     if v <= max(trips, step)} | {min(trips, step)})
    if len(values) > MAX_MICRO_SIZES:     # a geometric sample of a long range is enough
        values = sorted({values[min(len(values) - 1, int(1.01 ** k))] for k in range(1000)}
                        | {values[0], values[-1]})
    grid = np.array([[value if k == member else sizes[k] for k in range(shape.members)]
                     for value in values], dtype=float)
    _, lines = footprint_many(shape, grid, line)
    fits = (np.zeros(len(values)) + sum(lines.values())) * line <= budget   # none: all fit
    fitting = [v for v, ok in zip(values, fits) if ok]
    return int(fitting[-1]) if fitting else int(values[0])


def _invariant_along(shape: BandShape, member: int) -> BandShape:
    """Return ``shape`` with only the references that ``member`` leaves in place."""
    kept = tuple(a for a in shape.accesses
                 if a.coefficients and not any(row[member] for row in a.coefficients))
    return BandShape(shape.members, shape.trip_counts, kept, shape.statements, shape.estimated)


def micro_kernel_sizes(shape: BandShape, sizes: tuple[int, ...], rows: int | None,
                       vector: int, reduction: int, mr: int, nr: int,
                       hierarchy: Hierarchy) -> tuple[int, ...]:
    """Return the tile sizes of a band with an Mr x Nr micro-tile, level by level from the
    footprint (BLIS's analytical rules through the footprint of any band). Inside a tile the
    micro-tiles run rows outer, vector inner, so: the reduction extent is the largest whose
    panel reused across the micro-tiles of one row (the references the vector member leaves
    in place: gemm's Mr x kc panel of A) fits L1; the vector member's extent the largest
    whose block reused across rows of micro-tiles (the references the rows member leaves in
    place: gemm's kc x nc block of B) fits L2; the rows extent the largest whose whole tile
    fits the last level. Members outside the micro-tile keep ``sizes``. Levels are taken at
    the low end of their measured interval (``sizing_hierarchy``)."""
    hierarchy = sizing_hierarchy(hierarchy)
    budgets = [level.size_bytes * LEVEL_FRACTION for level in hierarchy.levels]
    line = hierarchy.line_bytes
    current = list(sizes)
    current[reduction] = 1
    current[vector] = nr
    if rows is not None:
        current[rows] = mr
    current[reduction] = _largest_fitting(_invariant_along(shape, vector), current, reduction,
                                          1, budgets[0], line)
    if len(budgets) > 1:
        reused = _invariant_along(shape, rows) if rows is not None else shape
        current[vector] = _largest_fitting(reused, current, vector, nr, budgets[1], line)
    if rows is not None and len(budgets) > 2:
        current[rows] = _largest_fitting(shape, current, rows, mr, budgets[-1], line)
    return tuple(current)
