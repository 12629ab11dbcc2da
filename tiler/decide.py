"""Whether tiling a band pays: the predicted time of the band tiled, against the source's own
loop nests of its statements left as they are.

The time of a nest is the larger of two figures, as in a roofline: the memory time and the
core time.

Memory time. The loads are counted with footprints, per loop of the nest as it runs (tile
loops, then point loops; or the statement's own loops untiled). One execution of a loop - all
its iterations, the loops inside included - touches a footprint of distinct cache lines. For
a cache of capacity C, the outermost loop whose execution fits in C loads each of its lines
once per execution, from the next level out: ``misses(C) = executions(loop) * lines(loop)``,
the fewest over the loops that fit. A level's misses are loads from the level beyond it, each
priced at the streaming bandwidth the probe measured there (or, unmeasured, at its latency
over the loads a core keeps in flight for a stream).

Core time. Each statement instance issues its memory references that move with the innermost
loop (the others stay in registers) and one operation per operand it combines; the core issues
them at the rate of the probe's streaming read inside L1, divided by the vector width where
the innermost loop vectorises: every moving reference walks it with stride one, it carries no
dependence that a vector would break, and it is not a floating-point reduction (which the
compiler keeps in source order). A reduction that is not vectorised is a chain of dependent
multiply-adds, one link per product added in each instance, each about as long as a load that
hits L1 (4-5 cycles on current cores); one whose operands walk the loop with stride one is
vectorised in order by gcc (a fold-left), a chain of plain additions, half that; a chain of
integers (a running maximum) is of one-cycle operations, a quarter of it. Register
tiles (``tiler.transform.register``) keep Mr x Nr accumulators in flight and load each
operand once per row or per vector of the micro-tile; to that come the copies into their
panels, the code around each micro-tile (its accumulators loaded and stored), and the points
a tile leaves outside whole micro-tiles, which run as plain point loops.

A nest without reuse (a matrix-vector product: the matrix is read once whatever the order)
costs the same tiled and untiled, and the loop overhead of tiles makes it slower in practice:
it is tiled only when the prediction is faster by ``TILING_MARGIN``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from tiler.footprint import (RECTANGULAR, UNKNOWN_PARAMETER_VALUE, BandShape, box_fraction,
                             footprint_many)
from tiler.hierarchy import Hierarchy
from tiler.tilesize import hierarchy_at, level_budgets_and_latencies
from tiler.transform.register import MicroKernel, tile_loop_order

# Tiling must be predicted this much faster than leaving the band alone: tile loops, shorter
# inner loops and broken prefetch streams cost 5-30% on nests without reuse (measured on the
# matrix-vector kernels and 1-D stencils, where every tiler lost against the original).
TILING_MARGIN = 1.25
# Loads a core keeps in flight for a prefetched stream: without a measured bandwidth, a line
# from a level costs its latency divided by this (Zen 3 and recent Intel cores track 20-24 L1
# misses; streams reach 10-16).
LINES_IN_FLIGHT = 12.0
# The fraction of a level that a working set may fill and still be served by it, as a time
# is predicted: a sweep over a set that fits hits with LRU replacement, conflict misses take
# the rest. (The size model leaves more room, ``tiler.tilesize.LEVEL_FRACTION``: a tile it
# picks must fit with the next one in flight.)
HELD_FRACTION = 0.9
# A floating-point addition takes about this fraction of an L1 hit (2-3 cycles against 4-5):
# the link of a reduction the compiler vectorises in order, where the chain is of additions
# only (a reduction of products kept scalar is a chain of multiply-adds, an L1 hit each).
# Measured: a dependent chain of additions ran at 0.57 ns a link on a core with a 1.22 ns L1.
ADDITION_FRACTION = 0.5
# The probe's streaming read inside L1 is of 16-byte vectors: its bandwidth over this is the
# loads the core issues per ns.
PROBE_LOAD_BYTES = 16
# An integer addition or comparison takes one cycle, about this fraction of an L1 hit: the
# link of a chain whose accumulators are integers (nussinov's running maximum).
INTEGER_FRACTION = 0.25
# Scalar code spends issue slots on its own address arithmetic and loop control, which vector
# code shares out over its lanes: it issues its references at this fraction of the rate (the
# suite's time-tiled stencils, scalar, ran at 0.4 of it on an AVX-512 core).
SCALAR_ISSUE_FRACTION = 0.5
# The instructions around each micro-tile besides its accumulators' loads and stores: the test
# for a whole micro-tile, the panels' keys and slot, the pointers into them (about 50 in
# gcc's code for gemm's 8 x 24 micro-tile).
MICRO_TILE_OPERATIONS = 50.0
# Without a measured L1 bandwidth: the loads issued per L1 latency (3 a cycle, 4-5 cycles).
LOADS_PER_L1_LATENCY = 12.0
# The instructions a core keeps in flight past a stalled chain of dependent operations (its
# reorder buffer holds 256 on Zen 3, 512 on Golden Cove, less what the chain itself holds).
# Fitted on the suite's trisolv and seidel-2d on a Golden Cove core: a chain of n instances
# ran 1 + window / n times faster than one that never ends, for n from 8 to 256.
REORDER_WINDOW = 256.0


@dataclass(frozen=True)
class Code:
    """What the core runs for a plan: the band member innermost in the code, the bytes of a
    vector register (the element size gives the lanes), the register tile, if any, and the
    loops around each instance as (member, trip count), outermost first (the point loops of
    a tile; empty: unknown, no chains overlap), and whether each statement runs the innermost
    loop on its own (``tiler.transform.distribution``: a write of another statement then
    carries nothing along it)."""

    innermost: int
    vector_bytes: int = 8
    micro: MicroKernel | None = None
    loops: tuple[tuple[int, float], ...] = ()
    split: bool = False


@dataclass(frozen=True)
class Verdict:
    """The predicted time of a band tiled and of its statements as the source has them, and
    whether to tile it."""

    tiled_ns: float
    untiled_ns: float
    worth_tiling: bool
    reason: str

    @property
    def speedup(self) -> float:
        return self.untiled_ns / self.tiled_ns if self.tiled_ns > 0 else float("inf")


def _line_costs(hierarchy: Hierarchy) -> tuple[np.ndarray, np.ndarray]:
    """Return the bytes each level holds of a working set and the cost (ns) of
    one streamed line from each level and from memory (last entry)."""
    _, latencies = level_budgets_and_latencies(hierarchy)
    budgets = np.array([level.size_bytes * HELD_FRACTION for level in hierarchy.levels])
    bandwidths = [level.bandwidth_bytes_per_ns for level in hierarchy.levels]
    bandwidths.append(hierarchy.memory_bandwidth_bytes_per_ns)
    cost = np.array([hierarchy.line_bytes / bandwidth if bandwidth else latency / LINES_IN_FLIGHT
                     for bandwidth, latency in zip(bandwidths, latencies)])
    return budgets, cost


def issue_rate(hierarchy: Hierarchy) -> float:
    """Return the memory operations (and, on as many ports, arithmetic operations) the core
    issues per ns."""
    l1 = hierarchy.levels[0] if hierarchy.levels else None
    if l1 is not None and l1.bandwidth_bytes_per_ns:
        return l1.bandwidth_bytes_per_ns / PROBE_LOAD_BYTES
    return LOADS_PER_L1_LATENCY / _link_ns(hierarchy)


def _link_ns(hierarchy: Hierarchy) -> float:
    """Return the time of one dependent floating-point operation, an L1 hit's (see the
    module doc; unmeasured, the size model's default)."""
    return float(level_budgets_and_latencies(hierarchy)[1][0])


def _loops(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...]
           ) -> list[tuple[str, int, float]]:
    """Return the loops of the band tiled with ``sizes`` (a size as large as the trip count:
    no tile loop), outermost first, as (kind, member, trip count, on average)."""
    trips = shape.trip_counts
    tiles = [-(-trips[m] // sizes[m]) for m in range(shape.members)]
    loops = [("tile", m, tiles[m]) for m in range(shape.members) if sizes[m] < trips[m]]
    # a point loop runs the average of its tiles (267 in tiles of 264: 133.5, not 264)
    return loops + [("point", m, trips[m] / tiles[m]) for m in order]


def _micro_loops(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...],
                 micro: MicroKernel) -> list[tuple[str, int, float]]:
    """Return the loops of the band tiled with ``sizes`` and a register tile inside: the
    tile loops, the point loops of the members outside the micro-kernel, the blocks of Mr
    rows and Nr columns, the reduction, then the Mr x Nr points held in registers."""
    loops = _loops(shape, sizes, order)
    order = tile_loop_order(shape.members, micro)
    outer = sorted((loop for loop in loops if loop[0] == "tile"),
                   key=lambda loop: order.index(loop[1]))
    points = {member: trip for kind, member, trip in loops if kind == "point"}
    rows = micro.rows
    blocks = {member: block for member, block in ((rows, micro.mr), (micro.vector, micro.nr))
              if member is not None}
    inside = (micro.reduction, *blocks)
    outer += [("point", m, points[m]) for m in order if m not in inside]
    outer += [("block", m, max(1.0, points[m] / block)) for m, block in blocks.items()]
    outer.append(("point", micro.reduction, points[micro.reduction]))
    return outer + [("register", m, float(min(block, points[m]))) for m, block in blocks.items()]


def predicted_ns(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...],
                 hierarchy: Hierarchy, micro: MicroKernel | None = None) -> float:
    """Return the predicted memory time (ns) of the whole band run in tiles of ``sizes``
    with the point loops in ``order`` and the register tile ``micro``, if any (see the
    module doc)."""
    line = hierarchy.line_bytes
    trips = np.array(shape.trip_counts, dtype=float)
    sizes = tuple(int(min(size, trip)) for size, trip in zip(sizes, shape.trip_counts))
    loops = _loops(shape, sizes, order) if micro is None \
        else _micro_loops(shape, sizes, order, micro)
    extents, executions = [], []
    for depth in range(len(loops) + 1):
        inside = loops[depth:]
        extent = np.ones(shape.members)
        for kind, member, trip in inside:
            if kind == "tile":
                extent[member] = trips[member]
            elif kind == "block":      # its blocks times the rows (or columns) of one
                extent[member] = max(extent[member], trip * next(
                    t for k, m, t in inside if k == "register" and m == member))
            else:
                extent[member] = max(extent[member], trip)
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
        fits = np.flatnonzero(footprint[1:] * line <= budget)
        # (a level too small for one iteration misses every line of every iteration)
        depth = int(fits[np.argmin(loads[:-1][fits])]) if len(fits) else len(loads) - 1
        total += float(loads[depth]) * cost[level + 1]
    return total * box_fraction(shape)


def _references(shape: BandShape, statement: str) -> list:
    """Return the distinct references of ``statement`` (a repeated one is loaded once)."""
    seen: dict = {}
    for access in shape.accesses:
        if access.statement == statement:
            seen.setdefault((access.array, access.coefficients, access.offsets,
                             access.is_write), access)
    return list(seen.values())


def _moves(access, member: int | None) -> bool:
    return member is not None and any(row[member] for row in access.coefficients)


def _stride_one(access, member: int) -> bool:
    rows = access.coefficients
    return bool(rows) and abs(rows[-1][member]) == 1 and not any(row[member] for row in rows[:-1])


def vectorises(shape: BandShape, statement: str, member: int, split: bool = False) -> bool:
    """Whether the compiler can vectorise ``statement`` along ``member`` innermost: every
    reference that moves with it walks it with stride one, no write stays in place (a
    reduction, kept in order without -ffast-math), and no read takes an element a write of
    the band made in an earlier iteration (with ``split``, a write of the statement itself:
    the others run loops of their own)."""
    references = _references(shape, statement)
    moving = [a for a in references if _moves(a, member)]
    if not moving or any(not _stride_one(a, member) for a in moving):
        return False
    if any(a.is_write and not _moves(a, member) for a in references):
        return False
    writes = [a for a in shape.accesses if a.is_write and _moves(a, member)
              and (not split or a.statement == statement)]
    for read in (a for a in references if not a.is_write):
        for write in writes:
            if write.array != read.array or write.coefficients != read.coefficients \
                    or write.offsets[:-1] != read.offsets[:-1]:
                continue
            behind = (read.offsets[-1] - write.offsets[-1]) * write.coefficients[-1][member]
            if behind < 0:
                return False
    return True


def _element_bytes(references) -> int:
    writes = [a for a in references if a.is_write]
    return (writes or references)[0].element_bytes if references else 8


def _operations(references) -> float:
    """Return the arithmetic operations of one instance: one per operand that combines into
    the value written (``C += alpha * A * B``: A and B, a multiply and a multiply-add); the
    written reference read back is the accumulator, not an operand."""
    written = {(a.array, a.coefficients, a.offsets) for a in references if a.is_write}
    return float(sum(1 for a in references if not a.is_write
                     and (a.array, a.coefficients, a.offsets) not in written))


def _packing_per_instance(micro: MicroKernel, loops: tuple[tuple[int, float], ...],
                          rate: float) -> float:
    """Return the core time of the copies into the micro-kernel's panels, shared out over the
    instances that read them: the packed broadcast operands are copied once per row block of
    a tile and read by its whole row (gemm's alpha * A[i][k]: one copy per column of the
    tile, or of the band where the panels are kept across its tiles), the gathered vector
    operands once per tile and read by all its rows (B[k][j]: one copy per row of the tile).
    Each copied value is a load and a store, the broadcast ones scalar (they are gathered
    across rows), the gathered ones a vector copy along a row."""
    panel = micro.panel
    if panel is None or not loops:
        return 0.0
    trips = dict(loops)
    columns = max(trips.get(micro.vector, 1.0), float(panel.columns))
    rows = trips.get(micro.rows, 1.0) if micro.rows is not None else 1.0
    broadcast = len(panel.operands) / columns * 2.0 / (rate * SCALAR_ISSUE_FRACTION)
    gathered = len(panel.gathered) / rows * 2.0 / (rate * max(1, micro.lanes))
    return broadcast + gathered


def _in_whole_blocks(trip: int, size: int, block: int) -> float:
    """Return the fraction of a member's ``trip`` values that fall in blocks of ``block``
    (aligned on multiples of it, as ``tiler.transform.register`` cuts them) lying whole in
    a tile of ``size`` (tiles on multiples of ``size``): 1 when the size is a multiple of the
    block and the trip of the size; 0.89 for tiles of 152 in blocks of 24."""
    size = max(1, min(size, trip))
    starts = np.arange(0, trip, size)
    ends = np.minimum(starts + size, trip)
    first = -(-starts // block) * block
    whole = np.maximum(0, (ends - first) // block) * block
    return float(whole.sum()) / trip if trip else 1.0


def _full_micro_fraction(shape: BandShape, micro: MicroKernel,
                         loops: tuple[tuple[int, float], ...]) -> float:
    """Return the fraction of the band's instances inside whole micro-tiles, for the tile
    sizes that ``loops`` (see ``Code``) give (empty: all)."""
    if not loops:
        return 1.0
    sizes = dict(loops)
    fraction = 1.0
    for member, block in ((micro.rows, micro.mr), (micro.vector, micro.nr)):
        if member is not None and member in sizes:
            fraction *= _in_whole_blocks(int(shape.trip_counts[member]),
                                         int(round(sizes[member])), block)
    return fraction


def _micro_per_instance(references, micro: MicroKernel, rate: float, link: float,
                        loops: tuple[tuple[int, float], ...] = ()) -> float:
    """Return the core time of one instance of the register tile's statement, in the point
    ``loops`` of its tile (see ``Code``; empty: the copies into panels are not counted)."""
    lanes = micro.lanes if micro.vectorised else 1
    loads = 0.0
    for access in references:
        if not _moves(access, micro.reduction):
            continue                                  # an accumulator, in registers
        if _moves(access, micro.vector):
            loads += (1.0 if _moves(access, micro.rows) else 1.0 / micro.mr) / lanes
        elif _moves(access, micro.rows):
            loads += 1.0 / micro.nr                   # one broadcast per row
        else:
            loads += 1.0 / (micro.mr * micro.nr)
    operations = _operations(references) / lanes
    steps = dict(loops).get(micro.reduction, 0.0)
    # around each run of the reduction: the accumulators loaded and stored, and the code that
    # tests for a whole micro-tile and finds its panels
    around = (2.0 * micro.mr * micro.nr / lanes + MICRO_TILE_OPERATIONS) \
        / (micro.mr * micro.nr * steps) / rate if steps else 0.0
    return max(max(loads, operations) / rate, link / (micro.mr * micro.nr)) + around \
        + _packing_per_instance(micro, loops, rate)


@dataclass(frozen=True)
class _Instance:
    """The core figures of one instance with a given member innermost: the time to issue it,
    the time of the dependent operations it adds to a chain (0: none), the instances the
    core runs ahead past a stalled chain, and which members carry the chain on."""

    issue_ns: float
    chain_ns: float
    window: float
    continues: Callable[[int], bool]


def _instance(shape: BandShape, statement: str, member: int, vector_bytes: int,
              rate: float, link: float, split: bool = False) -> _Instance:
    references = _references(shape, statement)
    lanes = max(1, vector_bytes // _element_bytes(references)) \
        if vectorises(shape, statement, member, split) else 1
    moving = sum(1 for a in references if _moves(a, member))
    operations = _operations(references)
    held = [a for a in references if a.is_write and not _moves(a, member)]
    links = 0.0
    continues: Callable[[int], bool] = lambda m: m == member      # noqa: E731
    if held and moving:
        # each product of two operands is one addition into the accumulator (C += A * B:
        # one link; syr2k's C += A * B + B * A: two)
        links = max(1.0, operations / 2)
        if _folds(references, held, member):
            # gcc vectorises the loads and products and adds them into the accumulator one
            # by one, in source order: a chain of plain additions, no multiply-add in it
            lanes = max(1, vector_bytes // _element_bytes(references))
            link *= ADDITION_FRACTION
        if all(a.integer for a in held):
            link *= INTEGER_FRACTION
        # the chain runs on through every loop, innermost first, that leaves it in place
        continues = lambda m: not any(_moves(a, m) for a in held)     # noqa: E731
    elif _recurrence(references, member):
        # each instance combines what the one before it wrote: every operation is a link
        links = max(1.0, operations)
        if all(a.integer for a in references if a.is_write):
            link *= INTEGER_FRACTION
    issue = rate if lanes > 1 else rate * SCALAR_ISSUE_FRACTION
    # The core runs ahead past a stalled chain by the instructions its reorder window holds:
    # a chain that starts within that many instances runs beside the one before it.
    window = REORDER_WINDOW / ((moving + operations + 1) / lanes + links)
    return _Instance(max(moving, operations) / lanes / issue, links * link, window, continues)


def _loops_of(trips, order: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """Return the loops of ``Code``: the members in ``order``, each with its trip count."""
    return tuple((member, float(trips[member])) for member in order)


def _per_instance(shape: BandShape, statement: str, member: int, vector_bytes: int,
                  rate: float, link: float, loops: tuple[tuple[int, float], ...] = (),
                  split: bool = False) -> tuple[float, float]:
    """Return the core time of one instance of ``statement`` with ``member`` innermost,
    inside ``loops`` and with ``split`` (see ``Code``): the time to issue it, and the time of
    the links it adds to its chain, overlapped with the chains before and after it (0: no
    chain)."""
    figures = _instance(shape, statement, member, vector_bytes, rate, link, split)
    chain = figures.chain_ns
    length = _chain_length(loops, figures.continues) if chain else 0.0
    if length:
        chain /= 1.0 + figures.window / length
    return figures.issue_ns, chain


def chain_limit(shape: BandShape, member: int, hierarchy: Hierarchy, vector_bytes: int,
                split: bool = False) -> int | None:
    """Return the longest run of ``member`` innermost at which the band's chains of dependent
    operations along it, run beside each other, no longer hold the core back (None: no
    statement chains along it). Past it, a longer innermost loop leaves the core waiting on
    the chain: trisolv's reduction, seidel-2d's sweep. ``split``: as in ``Code``."""
    rate, link = issue_rate(hierarchy), _link_ns(hierarchy)
    limits = []
    for statement, _ in _major(shape).instances:
        if statement in shape.inner_loops:
            continue          # its chains run along loops of its own, inside the band
        figures = _instance(shape, statement, member, vector_bytes, rate, link, split)
        if figures.chain_ns > figures.issue_ns > 0:
            limits.append(figures.window / (figures.chain_ns / figures.issue_ns - 1.0))
    return max(1, int(min(limits))) if limits else None


def _chain_length(loops: tuple[tuple[int, float], ...], continues: Callable[[int], bool]
                  ) -> float:
    """Return the instances one chain runs through: the product of the trip counts of the
    innermost of ``loops`` and of the loops around it whose member ``continues`` the chain
    (0: the loops are not known)."""
    length = 0.0
    for depth, (member, trip) in enumerate(reversed(loops)):
        if depth and not continues(member):
            break
        length = max(length, 1.0) * trip
    return length


def _recurrence(references, member: int) -> bool:
    """Whether an instance reads, on the row it writes, the element an earlier iteration of
    ``member`` wrote (a Gauss-Seidel sweep's left neighbour, a prefix sum's last value)."""
    for write in (a for a in references if a.is_write and _moves(a, member)):
        for read in references:
            if read.is_write or read.array != write.array \
                    or read.coefficients != write.coefficients \
                    or read.offsets[:-1] != write.offsets[:-1]:
                continue
            if (read.offsets[-1] - write.offsets[-1]) * write.coefficients[-1][member] < 0:
                return True
    return False


def _folds(references, held, member: int) -> bool:
    """Whether the compiler vectorises a reduction along ``member`` in order (a fold-left):
    every reference that moves walks it with stride one, and none is of an accumulator's
    array (which the compiler could not tell apart from the accumulator)."""
    moving = [a for a in references if _moves(a, member)]
    accumulators = {a.array for a in held}
    return all(_stride_one(a, member) and a.array not in accumulators for a in moving)


def core_ns(shape: BandShape, code: Code, hierarchy: Hierarchy,
            sources: dict | None = None) -> float:
    """Return the predicted core time (ns) of the band's statements run as ``code`` says.
    A statement with loops of its own inside the band runs them as ``sources`` (statement ->
    its ``statement_shape``) has them, innermost last."""
    return sum(core_parts(shape, code, hierarchy, sources))


def nest_ns(memory: float, core: tuple[float, float]) -> float:
    """Return the time of a nest from its memory time and its ``core_parts``: the larger of
    the memory time and the core time (the issue time and the waits on chains), as in a
    roofline. (Where the chain holds the core back, it holds back the loads behind it too:
    trisolv's reduction ran at 1.0 ns an instance with its data in L2, 2.0 ns from memory,
    about the sum of the two. Summed, though, the prediction sent the matrix-vector kernels
    into tiles of short runs that ran 1.4-2.5x slower than the source: their chains of
    additions hide under the memory time.)"""
    issue, wait = core
    return max(memory, issue + wait)


def core_parts(shape: BandShape, code: Code, hierarchy: Hierarchy,
               sources: dict | None = None) -> tuple[float, float]:
    """Return the core time of ``core_ns`` in two parts: the time to issue the instances,
    and the time the core waits on chains of dependent operations beyond it. Statements of
    as many instances run in the same loops: their instructions share the issue slots and
    their chains run side by side (gesummv's two sums: the longer chain is the wait)."""
    rate, link = issue_rate(hierarchy), _link_ns(hierarchy)
    groups: dict = {}          # key -> (instances, issue time, longest chain) of one instance
    for statement, instances in shape.instances:
        if code.micro is not None and code.micro.statement in (None, statement) \
                and (code.micro.vectorised or code.micro.unroll):
            full = _full_micro_fraction(shape, code.micro, code.loops)
            micro = _micro_per_instance(_references(shape, statement), code.micro, rate,
                                        link, code.loops)
            if full < 1.0:
                # the points outside whole micro-tiles run the point loops, vector innermost
                rest = sum(_per_instance(shape, statement, code.micro.vector, code.vector_bytes,
                                         rate, link, ()))
                micro = full * micro + (1.0 - full) * rest
            each = (micro, 0.0)
            key: object = statement
        elif sources is not None and statement in sources \
                and statement in shape.inner_loops:
            own = sources[statement]
            order = compiled_order(own)
            each = _per_instance(own, statement, order[-1], code.vector_bytes, rate, link,
                                 _loops_of(own.trip_counts, order))
            key = statement                     # in loops of its own
        else:
            each = _per_instance(shape, statement, code.innermost, code.vector_bytes, rate,
                                 link, code.loops, code.split)
            key = round(instances)
        _, issue_each, chain_each = groups.get(key, (0.0, 0.0, 0.0))
        groups[key] = (instances, issue_each + each[0], max(chain_each, each[1]))
    issue = sum(count * each for count, each, _ in groups.values())
    wait = sum(count * max(0.0, chain - each) for count, each, chain in groups.values())
    return issue, wait


def compiled_order(own: BandShape) -> tuple[int, ...]:
    """Return the order in which the compiler's vector code runs a statement's own loops
    (``own``: its ``statement_shape``): the source's, except that a reduction innermost is
    swapped with the loop outside it when that loop vectorises the statement, its
    subscripts are all affine and its loops' bounds do not depend on each other (gcc -O3
    vectorises such an outer loop: doitgen's; not nussinov's triangle)."""
    order = tuple(range(own.members))
    if own.members < 2 or own.irregular or box_fraction(own) < RECTANGULAR:
        return order
    statement = own.statements[0]
    inner, outer = order[-1], order[-2]
    reduction = any(a.is_write and not _moves(a, inner) for a in own.accesses)
    if reduction and not vectorises(own, statement, inner) and vectorises(own, statement, outer):
        return order[:-2] + (inner, outer)
    return order


def source_ns(sources: dict, hierarchy: Hierarchy, vector_bytes: int) -> float:
    """Return the predicted time (ns) of each statement's own nest as the compiled source
    runs it, one after another (``sources``: statement -> its ``statement_shape``, or the
    ``merged_shape`` of the statements in its loops)."""
    total = 0.0
    for own in {id(own): own for own in sources.values()}.values():
        # the outer-loop vector code still walks memory in the source's order
        memory = predicted_ns(own, own.trip_counts, tuple(range(own.members)), hierarchy)
        order = compiled_order(own)
        core = core_parts(own, Code(order[-1], vector_bytes,
                                    loops=_loops_of(own.trip_counts, order)), hierarchy)
        total += nest_ns(memory, core)
    return total


def judging_hierarchy(hierarchy: Hierarchy) -> Hierarchy:
    """Return the hierarchy a decision is made for: each measured level at the high end of
    its interval. The tiles fit at the low end (``tiler.tilesize.sizing_hierarchy``); the
    source's own working sets are given the benefit of the doubt, so that a level moving
    within its interval does not move the decision, and the doubt favours leaving a nest
    as it is."""
    return hierarchy_at(hierarchy, "high")


# A statement with fewer instances than this fraction of the band's largest one (a
# factorisation's diagonal step beside its update) is left out of the judgement.
MINOR_FRACTION = 0.01


def _major(shape: BandShape) -> BandShape:
    """Return ``shape`` without the statements that take a negligible share of its instances."""
    if not shape.instances:
        return shape
    most = max(count for _, count in shape.instances)
    kept = {name for name, count in shape.instances if count >= MINOR_FRACTION * most}
    if len(kept) == len(shape.instances):
        return shape
    return replace(shape, accesses=tuple(a for a in shape.accesses if a.statement in kept),
                   statements=tuple(name for name in shape.statements if name in kept),
                   instances=tuple(item for item in shape.instances if item[0] in kept),
                   inner_loops=tuple(name for name in shape.inner_loops if name in kept))


def judge(shape: BandShape, sizes: tuple[int, ...], order: tuple[int, ...],
          hierarchy: Hierarchy, code: Code | None = None, sources: dict | None = None
          ) -> Verdict:
    """Return whether the band is worth tiling with ``sizes``, point ``order`` and ``code``
    (default: plain point loops, no vector unit) rather than left as the source has its
    statements (``sources``: statement -> ``statement_shape``; default: the band's own
    members untiled, in member order)."""
    members = tuple(range(shape.members))
    code = code or Code(order[-1])
    if not code.loops:
        code = replace(code, loops=_loops_of(np.minimum(sizes, shape.trip_counts), order))
    hierarchy = judging_hierarchy(hierarchy)
    shape = _major(shape)
    if sources is not None:
        sources = {name: own for name, own in sources.items() if name in shape.statements}
    if sources is not None and any(not float(value).is_integer() for access in shape.accesses
                                   for row in access.coefficients for value in row):
        # A statement of fewer loops spread over the band's members (a triangular
        # factorisation's diagonal step) moves its references by fractions of a member: their
        # boxes are too rough to weigh against the source's own nests.
        return Verdict(0.0, 0.0, True, "references move by fractions of the band's members: "
                       "tiled on the size model alone")
    micro = code.micro if code.micro is not None and (
        code.micro.vectorised or code.micro.unroll) else None
    tiled = nest_ns(predicted_ns(shape, sizes, order, hierarchy, micro),
                    core_parts(shape, code, hierarchy, sources))
    if sources is not None:
        untiled = source_ns(sources, hierarchy, code.vector_bytes)
    else:
        untiled = nest_ns(predicted_ns(shape, shape.trip_counts, members, hierarchy),
                          core_parts(shape, Code(members[-1], code.vector_bytes,
                                                 loops=_loops_of(shape.trip_counts, members)),
                                     hierarchy))
    worth = bool(untiled >= TILING_MARGIN * tiled)
    ratio = untiled / tiled if tiled > 0 else float("inf")
    reason = (f"predicted {ratio:.2f}x faster tiled ({tiled / 1e6:.3g} ms against "
              f"{untiled / 1e6:.3g} ms as the source has it)")
    if not worth:
        reason = (f"tiling is predicted {ratio:.2f}x the speed of the nest as it is "
                  f"({tiled / 1e6:.3g} ms against {untiled / 1e6:.3g} ms; it must be "
                  f"{TILING_MARGIN:g}x to pay for the tile loops)")
    if any(shape.estimated):
        reason += f" (a size the file does not fix taken as {UNKNOWN_PARAMETER_VALUE})"
    return Verdict(tiled, untiled, worth, reason)
