"""Schedules: the original order as a schedule tree with permutable bands, isl's scheduler,
rectangular tiling of permutable bands, and the legality check of a final schedule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import islpy as isl

from tiler.deadline import DeadlineExceeded, run_with_deadline
from tiler.model import Leaf, Loop, LoopTree, Scop
from tiler.transform.register import MICRO_MARK, MicroKernel, register_tile

# The mark placed above a band whose first loop may run in parallel (see codegen); its name
# ends with the schedule depth of that loop, so the printer finds the loop the mark is about.
PARALLEL_MARK = "tiler_parallel"


def parallel_mark(depth: int, ctx: isl.Context) -> isl.Id:
    """Return the mark for a parallel loop at schedule depth ``depth``."""
    return isl.Id(f"{PARALLEL_MARK}_{depth}", context=ctx)


def parallel_mark_depth(name: str) -> int | None:
    """Return the schedule depth a parallel mark is about, None for any other mark."""
    prefix = f"{PARALLEL_MARK}_"
    return int(name[len(prefix):]) if name.startswith(prefix) else None

# isl's scheduler is exponential in the worst case; past this many isl operations it gives up
# and the original order is used instead (a few hundred milliseconds on the examples).
SCHEDULER_MAX_OPERATIONS = 3_000_000
# ... and whatever the budget, it is stopped after this long (some of its work is not
# counted as operations): the original order is the fallback.
SCHEDULER_SECONDS = 2.0
SEPARATE_POINT_LOOPS = True


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
    ctx = scop.statements[0].domain.get_ctx()
    constraints = (isl.ScheduleConstraints.on_domain(scop.domain)
                   .set_validity(deps).set_proximity(deps).set_coincidence(deps))
    previous = ctx.get_max_operations(), ctx.get_schedule_serialize_sccs()
    ctx.reset_operations()         # its own budget, whatever isl did before
    ctx.set_max_operations(SCHEDULER_MAX_OPERATIONS)
    ctx.set_schedule_serialize_sccs(0 if fuse else 1)
    try:
        return _with_deadline(constraints, SCHEDULER_SECONDS)
    finally:
        ctx.set_max_operations(previous[0])
        ctx.set_schedule_serialize_sccs(previous[1])
        ctx.reset_operations()


def _with_deadline(constraints: isl.ScheduleConstraints, seconds: float
                   ) -> isl.Schedule | None:
    """Return ``constraints.compute_schedule()``, computed in a child process that is killed
    after ``seconds``: isl's operation budget does not bound every part of the scheduler."""
    try:
        text = run_with_deadline(lambda: constraints.compute_schedule().to_str().encode(),
                                 seconds)
    except DeadlineExceeded:
        return None
    if not text:
        return None
    return isl.Schedule.read_from_str(constraints.get_ctx(), text.decode())


def _statement_names(domain: isl.UnionSet) -> tuple[str, ...]:
    sets = domain.get_set_list()
    return tuple(sorted(sets.get_at(k).get_tuple_name() for k in range(sets.n_set())))


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


@dataclass(frozen=True)
class TilePlan:
    """How to tile one band: tile sizes per level, outermost (largest) level first, and the
    order of the point loops (a permutation of the members, outermost first)."""

    levels: tuple[tuple[int, ...], ...]
    point_order: tuple[int, ...]
    details: object = None        # what the size model reports about its choice, if it chose
    micro: MicroKernel | None = None     # the register tile of the point loops, if any
    micro_note: str = ""                 # why there is none


@dataclass(frozen=True)
class TiledBand:
    """What was done to one band."""

    plan: TilePlan
    statements: tuple[str, ...]
    coincident: tuple[bool, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """The innermost level's sizes (the tile the point loops run over)."""
        return self.plan.levels[-1]


Planner = Callable[[isl.ScheduleNode], TilePlan]


def permute_band(node: isl.ScheduleNode, order: Sequence[int]) -> isl.ScheduleNode:
    """Return the band ``node`` with its members in ``order`` (legal for a permutable band)."""
    if list(order) == list(range(node.band_n_member())):
        return node
    partial = node.band_get_partial_schedule()
    coincident = [node.band_member_get_coincident(k) for k in order]
    members = isl.UnionPwAffList.alloc(node.get_ctx(), len(order))
    for k in order:
        members = members.add(partial.get_at(k))
    permuted = isl.MultiUnionPwAff.from_union_pw_aff_list(partial.get_space(), members)
    node = node.delete().insert_partial_schedule(permuted).band_set_permutable(1)
    for position, flag in enumerate(coincident):
        node = node.band_member_set_coincident(position, flag)
    return node


def wavefront(node: isl.ScheduleNode) -> isl.ScheduleNode:
    """Return the tile band ``node`` with its first member replaced by the wavefront: the sum
    of the first two members (tile loops are scaled: ``32 * floor(t / 32)``). In a permutable
    band every dependence goes forward or stays along each member, so the sum stays the same
    only between tiles that differ along both or neither: two tiles on one wavefront do not
    depend on each other, and the second member becomes parallel (marked coincident here,
    checked again on the final schedule). The band stays permutable. The wavefronts are
    ``s0 * T + s1 * I = const`` in tile numbers ``T, I`` for sizes ``s0, s1``, not the
    diagonals ``T + I``: isl generates the code of these in a tenth of a second where the
    diagonals took it 10-20 s on a 3-deep stencil band (32x128x256 on jacobi2d)."""
    partial = node.band_get_partial_schedule()
    members = isl.UnionPwAffList.alloc(node.get_ctx(), node.band_n_member())
    members = members.add(partial.get_at(0).add(partial.get_at(1)))
    for k in range(1, node.band_n_member()):
        members = members.add(partial.get_at(k))
    skewed = isl.MultiUnionPwAff.from_union_pw_aff_list(partial.get_space(), members)
    node = node.delete().insert_partial_schedule(skewed).band_set_permutable(1)
    return node.band_member_set_coincident(1, 1)


def _tile(node: isl.ScheduleNode, sizes: Sequence[int]) -> isl.ScheduleNode:
    values = isl.MultiVal.zero(node.band_get_space())
    for position, size in enumerate(sizes):
        values = values.set_val(position, isl.Val(int(size)))
    return node.band_tile(values)


def tile_schedule(schedule: isl.Schedule, plan_for: Planner, parallel: bool = False
                  ) -> tuple[isl.Schedule, list[TiledBand]]:
    """Return ``schedule`` with every tileable band tiled as ``plan_for(band)`` says: one
    band of tile loops per level, then the point loops in the plan's order. A plan whose
    sizes are all 1 leaves the band alone. With ``parallel``, the outermost coincident tile
    loop of each band that is not already inside a parallel loop is marked ``PARALLEL_MARK``;
    an outermost band without one (a stencil's skewed time band) runs its tiles in wavefronts
    (``wavefront``), and the loop along a wavefront is marked.
    """
    ctx = schedule.get_ctx()
    ctx.set_tile_scale_tile_loops(1)
    ctx.set_tile_shift_point_loops(0)
    tiled: list[TiledBand] = []

    def visit(node: isl.ScheduleNode, in_parallel: bool) -> isl.ScheduleNode:
        if (node.get_type() == isl.schedule_node_type.band and node.band_get_permutable()
                and node.band_n_member() >= 2):
            plan = plan_for(node)
            levels = [sizes for sizes in plan.levels if any(size > 1 for size in sizes)]
            if levels:
                names = _statement_names(node.get_domain())
                coincident = tuple(bool(node.band_member_get_coincident(k))
                                   for k in range(node.band_n_member()))
                steps = 0
                for number, sizes in enumerate(levels):
                    node = _tile(node, sizes)
                    marks = number == 0 and parallel and not in_parallel
                    # Wavefronts only for a band no loop encloses: inside a sequential loop
                    # every iteration would wait at each wavefront's barrier (Floyd-Warshall's
                    # band inside its k loop ran 2.6 times slower on two threads).
                    if marks and not any(coincident) and len(sizes) >= 2 \
                            and node.get_schedule_depth() == 0:
                        node = wavefront(node)
                    if marks and any(node.band_member_get_coincident(k)
                                     for k in range(node.band_n_member())):
                        first = [node.band_member_get_coincident(k)
                                 for k in range(node.band_n_member())].index(True)
                        if first > 0:
                            node = node.band_split(first).child(0)
                            steps += 1
                        mark = parallel_mark(node.get_schedule_depth(), ctx)
                        node = node.insert_mark(mark).child(0)
                        steps += 1
                        in_parallel = True
                    node = node.child(0)
                    steps += 1
                node = permute_band(node, plan.point_order)
                if SEPARATE_POINT_LOOPS and plan.micro is None:
                    for member in range(node.band_n_member()):
                        node = node.band_member_set_ast_loop_type(member,
                                                                  isl.ast_loop_type.separate)
                if plan.micro is not None:
                    node = register_tile(node, plan.micro, plan.point_order,
                                         f"{MICRO_MARK}_{len(tiled)}")
                tiled.append(TiledBand(TilePlan(tuple(levels), plan.point_order, plan.details,
                                                plan.micro, plan.micro_note),
                                       names, coincident))
                node = visit_children(node, in_parallel)
                for _ in range(steps):
                    node = node.parent()
                return node
        return visit_children(node, in_parallel)

    def visit_children(node: isl.ScheduleNode, in_parallel: bool) -> isl.ScheduleNode:
        for position in range(node.n_children()):
            node = visit(node.child(position), in_parallel).parent()
        return node

    return visit(schedule.get_root(), False).get_schedule(), tiled


def parallel_loops_are_legal(schedule: isl.Schedule, deps: isl.UnionMap) -> bool:
    """Return whether no dependence is carried by a loop marked ``PARALLEL_MARK``: two
    instances in different iterations of it, under the same outer iterations, never depend.

    Decided on times: each dependence inside the marked band becomes the difference of the
    outer loops' and the marked loop's values at its two ends, which must not be zero on the
    outer loops and nonzero on the marked one."""
    legal = True

    def visit(node: isl.ScheduleNode) -> None:
        nonlocal legal
        if node.get_type() == isl.schedule_node_type.mark and \
                parallel_mark_depth(node.mark_get_id().get_name()) is not None:
            band = node.child(0)
            outer = band.get_prefix_schedule_union_map()
            member = isl.UnionMap.from_multi_union_pw_aff(
                band.band_get_partial_schedule().drop_dims(
                    isl.dim_type.set, 1, band.band_n_member() - 1))
            inside = deps.intersect_domain(band.get_domain()).intersect_range(band.get_domain())
            legal = legal and not _carried(inside, outer, member)
        for k in range(node.n_children()):
            visit(node.child(k))

    visit(schedule.get_root())
    return legal


def _carried(deps: isl.UnionMap, outer: isl.UnionMap, member: isl.UnionMap) -> bool:
    """Return whether some dependence joins two instances with equal ``outer`` values and
    different ``member`` values."""
    if deps.is_empty():
        return False
    times = outer.flat_range_product(member)
    steps = deps.apply_domain(times).apply_range(times).get_map_list()
    for k in range(steps.n_map()):
        step = steps.get_at(k)
        space = step.get_space()
        if not space.domain().is_equal(space.range()):
            same_outer = deps.intersect(outer.apply_range(outer.reverse()))
            return not same_outer.subtract(member.apply_range(member.reverse())).is_empty()
        dims = step.dim(isl.dim_type.in_)
        names = [f"x{d}" for d in range(dims)]
        condition = " and ".join([f"{name} = 0" for name in names[:-1]]
                                 + [f"({names[-1]} < 0 or {names[-1]} > 0)"])
        across = isl.Set(f"{{ [{', '.join(names)}] : {condition} }}")
        differences = step.deltas()
        if not differences.intersect(across.align_params(differences.get_space())).is_empty():
            return True
    return False


def is_legal(schedule: isl.Schedule, deps: isl.UnionMap) -> bool:
    """Return whether every dependence source runs strictly before its sink: each dependence,
    mapped to the times of its two ends, goes forward lexicographically. (Checked in time
    space: isl took minutes to decide ``deps`` is a subset of the schedule's whole order on
    some wavefront schedules, and milliseconds this way.)"""
    order = schedule.get_map()
    times = deps.apply_domain(order).apply_range(order).get_map_list()
    for k in range(times.n_map()):
        relation = times.get_at(k)
        space = relation.get_space()
        if not space.domain().is_equal(space.range()):
            before = order.lex_lt_union_map(order)
            return deps.is_subset(before)
        if not relation.is_subset(isl.Map.lex_lt(space.domain())):
            return False
    return True
