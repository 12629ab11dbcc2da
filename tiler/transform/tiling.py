"""Rectangular tiling of the permutable bands of a schedule: tile loops per level, point
loops in the plan's order, register tiles, parallel marks and wavefronts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import islpy as isl

from tiler.transform.panel import panel_mark
from tiler.transform.parallel import parallel_mark
from tiler.transform.register import MICRO_MARK, MicroKernel, register_tile, tile_loop_order
from tiler.transform.wavefront import wavefront

# Point loops generated separately for full and partial tiles (isl's "separate" loop type):
# full tiles then run loops with simple bounds, which compilers vectorise.
SEPARATE_POINT_LOOPS = True


def statement_names(domain: isl.UnionSet) -> tuple[str, ...]:
    """Return the names of the statements in ``domain``, sorted."""
    sets = domain.get_set_list()
    return tuple(sorted(sets.get_at(k).get_tuple_name() for k in range(sets.n_set())))


@dataclass(frozen=True)
class TilePlan:
    """How to tile one band: tile sizes per level, outermost (largest) level first, and the
    order of the point loops (a permutation of the members, outermost first)."""

    levels: tuple[tuple[int, ...], ...]
    point_order: tuple[int, ...]
    details: object = None        # what the size model reports about its choice, if it chose
    micro: MicroKernel | None = None     # the register tile of the point loops, if any
    micro_note: str = ""                 # why there is none
    verdict: object = None               # the predicted times (tiler.decide), if judged
    runner_up: tuple[str, float] | None = None   # the best plan not taken and its predicted ns


@dataclass(frozen=True)
class TiledBand:
    """What was done to one band."""

    plan: TilePlan
    statements: tuple[str, ...]
    coincident: tuple[bool, ...]
    # what ``tiler.transform.distribution`` did to the innermost point loop ("" if nothing)
    distribution: str = ""

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
                names = statement_names(node.get_domain())
                coincident = tuple(bool(node.band_member_get_coincident(k))
                                   for k in range(node.band_n_member()))
                steps = 0
                micro = plan.micro
                kept = micro is not None and micro.keeps_panels
                for number, sizes in enumerate(levels):
                    node = _tile(node, sizes)
                    last = number == len(levels) - 1
                    if kept and last:
                        node = permute_band(node, tile_loop_order(len(sizes), micro))
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
                    if kept and last:
                        kept = node.band_n_member() >= 2
                        if kept:
                            # the panels live above the vector member's tile loop, inside
                            # any parallel loop (private to the thread that runs it)
                            micro = replace(micro, panel=replace(micro.panel,
                                                                 number=len(tiled)))
                            node = node.band_split(node.band_n_member() - 1).child(0)
                            node = node.insert_mark(panel_mark(micro.panel, ctx)).child(0)
                            steps += 2
                    node = node.child(0)
                    steps += 1
                node = permute_band(node, plan.point_order)
                if SEPARATE_POINT_LOOPS and plan.micro is None:
                    for member in range(node.band_n_member()):
                        node = node.band_member_set_ast_loop_type(member,
                                                                  isl.ast_loop_type.separate)
                if micro is not None:
                    if micro.panel is not None and not kept:
                        micro = replace(micro, panel=replace(micro.panel, number=len(tiled),
                                                             row_slots=0, columns=0))
                    node = register_tile(node, micro, plan.point_order,
                                         f"{MICRO_MARK}_{len(tiled)}")
                    if micro.panel is not None and not kept:
                        # the panel lives for one tile: below every tile loop
                        node = node.insert_mark(panel_mark(micro.panel, ctx)).child(0)
                        steps += 1
                tiled.append(TiledBand(TilePlan(tuple(levels), plan.point_order, plan.details,
                                                micro, plan.micro_note, plan.verdict,
                                                plan.runner_up),
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
