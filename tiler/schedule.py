"""Candidate schedules: the original order as a schedule tree with permutable bands, and
isl's scheduler; the bands tiling can reach. The transformations of a chosen schedule live
in ``tiler.transform`` (tiling, register tiles, wavefronts, parallel marks, legality) and
are re-exported here."""

from __future__ import annotations

from collections.abc import Sequence

import islpy as isl

from tiler.deadline import DeadlineExceeded, collect, start
from tiler.model import Leaf, Loop, LoopTree, Scop
from tiler.transform.legality import is_legal
from tiler.transform.parallel import (
    PARALLEL_MARK,
    parallel_loops_are_legal,
    parallel_mark,
    parallel_mark_depth,
)
from tiler.transform.tiling import (
    SEPARATE_POINT_LOOPS,
    Planner,
    TiledBand,
    TilePlan,
    permute_band,
    tile_schedule,
)
from tiler.transform.wavefront import wavefront

__all__ = ["PARALLEL_MARK", "SEPARATE_POINT_LOOPS", "Planner", "TilePlan", "TiledBand",
           "is_legal", "isl_schedule", "isl_schedules", "original_schedule", "original_schedule_map",
           "parallel_loops_are_legal", "parallel_mark", "parallel_mark_depth", "permute_band",
           "tile_schedule", "tileability", "tileable_bands", "wavefront"]

# isl's scheduler is exponential in the worst case; past this many isl operations it gives up
# and the original order is used instead (a few hundred milliseconds on the examples).
SCHEDULER_MAX_OPERATIONS = 3_000_000
# ... and whatever the budget, it is stopped after this long (some of its work is not
# counted as operations): the original order is the fallback.
SCHEDULER_SECONDS = 2.0


def _statement_ids(tree: LoopTree) -> list[int]:
    if isinstance(tree, Leaf):
        return [tree.statement]
    return [s for child in tree.children for s in _statement_ids(child)]


def original_schedule_map(scop: Scop) -> isl.UnionMap:
    """Return the original execution order as a 2d+1 schedule map (statement -> time)."""
    depth = max(len(s.iterators) for s in scop.statements)
    result = isl.UnionMap.empty(scop.statements[0].domain.get_space().params())

    def visit(trees: Sequence[LoopTree], prefix: list[str], level: int) -> None:
        for position, tree in enumerate(trees):
            if isinstance(tree, Leaf):
                statement = scop.statements[tree.statement]
                time = prefix + [str(position)]
                time += ["0"] * (2 * depth + 1 - len(time))
                dims = ", ".join(f"d{k}" for k in range(level))
                relation = isl.UnionMap(f"{{ {statement.name}[{dims}] -> [{', '.join(time)}] }}")
                nonlocal result
                result = result.union(relation.intersect_domain(
                    isl.UnionSet.from_set(statement.domain)))
            else:
                value = f"d{level}" if tree.sign > 0 else f"-d{level}"
                visit(tree.children, prefix + [str(position), value], level + 1)

    visit(scop.tree, [], 0)
    return result


def _loop_schedule(scop: Scop, tree: Loop, level: int) -> isl.UnionMap:
    """Return the value of one loop's iterator (negated when it counts down) per instance."""
    result = isl.UnionMap.empty(scop.statements[0].domain.get_space().params())
    for index in _statement_ids(tree):
        statement = scop.statements[index]
        dims = ", ".join(f"d{k}" for k in range(len(statement.iterators)))
        value = f"d{level}" if tree.sign > 0 else f"-d{level}"
        result = result.union(isl.UnionMap(f"{{ {statement.name}[{dims}] -> [{value}] }}")
                              .intersect_domain(isl.UnionSet.from_set(statement.domain)))
    return result


def _distances_nonnegative(deps: isl.UnionMap, member: isl.UnionMap, zero: bool = False) -> bool:
    """Return whether every dependence goes forward (or stays, with ``zero``) along ``member``."""
    if deps.is_empty():
        return True
    deltas = deps.apply_domain(member).apply_range(member).deltas()
    bound = "d = 0" if zero else "d >= 0"
    return deltas.is_subset(isl.UnionSet(f"{{ [d] : {bound} }}").align_params(deltas.get_space()))


def _same_value(deps: isl.UnionMap, member: isl.UnionMap) -> isl.UnionMap:
    return deps.intersect(member.apply_range(member.reverse()))


def original_schedule(scop: Scop, deps: isl.UnionMap) -> isl.Schedule:
    """Return the original order as a schedule tree; perfectly nested loops whose dependences
    all go forward along each of them are merged into one permutable band."""

    def restrict(live: isl.UnionMap, trees: Sequence[LoopTree]) -> isl.UnionMap:
        domain = isl.UnionSet.empty(live.get_space())
        for tree in trees:
            for index in _statement_ids(tree):
                domain = domain.union(isl.UnionSet.from_set(scop.statements[index].domain))
        return live.intersect_domain(domain).intersect_range(domain)

    def sequence(trees: Sequence[LoopTree], live: isl.UnionMap, level: int) -> isl.Schedule:
        schedules = [node(tree, restrict(live, [tree]), level) for tree in trees]
        result = schedules[0]
        for schedule in schedules[1:]:
            result = result.sequence(schedule)
        return result

    def node(tree: LoopTree, live: isl.UnionMap, level: int) -> isl.Schedule:
        if isinstance(tree, Leaf):
            return isl.Schedule.from_domain(
                isl.UnionSet.from_set(scop.statements[tree.statement].domain))
        members, coincident, loops = [], [], [tree]
        while True:
            member = _loop_schedule(scop, loops[-1], level + len(members))
            members.append(member)
            coincident.append(_distances_nonnegative(live, member, zero=True))
            inner = loops[-1].children
            if not (len(inner) == 1 and isinstance(inner[0], Loop)):
                break
            candidate = _loop_schedule(scop, inner[0], level + len(members))
            if not _distances_nonnegative(live, candidate):
                break
            loops.append(inner[0])
        for member in members:
            live = _same_value(live, member)
        child = sequence(loops[-1].children, live, level + len(members))
        partial = isl.MultiUnionPwAff.from_union_map(members[0])
        for member in members[1:]:
            partial = partial.flat_range_product(isl.MultiUnionPwAff.from_union_map(member))
        band = child.insert_partial_schedule(partial).get_root().child(0)
        band = band.band_set_permutable(1)
        for position, flag in enumerate(coincident):
            band = band.band_member_set_coincident(position, int(flag))
        return band.get_schedule()

    return sequence(scop.tree, deps, 0)


def isl_schedule(scop: Scop, deps: isl.UnionMap, fuse: bool = True) -> isl.Schedule | None:
    """Return the schedule of isl's scheduler (Pluto-style, skewing where needed), or None
    if it fails, runs out of its operation budget or of ``SCHEDULER_SECONDS``. With
    ``fuse=False`` every strongly connected component of the dependence graph gets loops of
    its own (no fusion), which keeps reductions in deep bands when fusing them with their
    initialisation would not."""
    return isl_schedules(scop, deps, (fuse,))[0]


def isl_schedules(scop: Scop, deps: isl.UnionMap, fusions: tuple[bool, ...]
                  ) -> list[isl.Schedule | None]:
    """Return ``isl_schedule(scop, deps, fuse)`` for each of ``fusions``, computed at once
    (one child process each, all within ``SCHEDULER_SECONDS``)."""
    ctx = scop.statements[0].domain.get_ctx()
    constraints = (isl.ScheduleConstraints.on_domain(scop.domain)
                   .set_validity(deps).set_proximity(deps).set_coincidence(deps))
    previous = ctx.get_max_operations(), ctx.get_schedule_serialize_sccs()
    started = []
    try:
        for fuse in fusions:
            ctx.reset_operations()         # its own budget, whatever isl did before
            ctx.set_max_operations(SCHEDULER_MAX_OPERATIONS)
            ctx.set_schedule_serialize_sccs(0 if fuse else 1)
            # the child sees the settings as they are when it starts
            started.append(start(lambda: constraints.compute_schedule().to_str().encode()))
    finally:
        ctx.set_max_operations(previous[0])
        ctx.set_schedule_serialize_sccs(previous[1])
        ctx.reset_operations()
    return [None if not text or isinstance(text, DeadlineExceeded)
            else isl.Schedule.read_from_str(ctx, text.decode())
            for text in collect(started, SCHEDULER_SECONDS)]


def _children(node: isl.ScheduleNode) -> list[isl.ScheduleNode]:
    return [node.child(k) for k in range(node.n_children())]


def tileable_bands(schedule: isl.Schedule) -> list[isl.ScheduleNode]:
    """Return the permutable bands of two or more members, outermost first."""
    found: list[isl.ScheduleNode] = []

    def visit(node: isl.ScheduleNode) -> None:
        if (node.get_type() == isl.schedule_node_type.band and node.band_get_permutable()
                and node.band_n_member() >= 2):
            found.append(node)
        for child in _children(node):
            visit(child)

    visit(schedule.get_root())
    return found


def tileability(schedule: isl.Schedule) -> int:
    """Return how much of the schedule tiling can reach: the sum, over tileable bands, of
    members times statements."""
    return sum(band.band_n_member() * band.get_domain().n_set()
               for band in tileable_bands(schedule))


