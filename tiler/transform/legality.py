"""Legality of a final schedule: every dependence runs forward in time."""

from __future__ import annotations

import islpy as isl


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
