"""Parallel marks: the mark that tells code generation to put an OpenMP pragma on a loop,
and the check that no marked loop carries a dependence."""

from __future__ import annotations

import islpy as isl

from tiler.transform.marks import marked_nodes

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


def parallel_loops_are_legal(schedule: isl.Schedule, deps: isl.UnionMap) -> bool:
    """Return whether no dependence is carried by a loop marked ``PARALLEL_MARK``: two
    instances in different iterations of it, under the same outer iterations, never depend.

    Decided on times: each dependence inside the marked band becomes the difference of the
    outer loops' and the marked loop's values at its two ends, which must not be zero on the
    outer loops and nonzero on the marked one."""
    for mark in marked_nodes(schedule, f"{PARALLEL_MARK}_"):
        band = mark.child(0)
        outer = band.get_prefix_schedule_union_map()
        member = isl.UnionMap.from_multi_union_pw_aff(
            band.band_get_partial_schedule().drop_dims(
                isl.dim_type.set, 1, band.band_n_member() - 1))
        inside = deps.intersect_domain(band.get_domain()).intersect_range(band.get_domain())
        if _carried(inside, outer, member):
            return False
    return True


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
