"""Dependences: every pair of statement instances whose order the transformation must keep."""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl

from tiler.model import Scop


@dataclass(frozen=True)
class Deps:
    """Memory-based flow, anti and output dependences of a scop (instance -> later instance)."""

    flow: isl.UnionMap
    anti: isl.UnionMap
    output: isl.UnionMap

    @property
    def all(self) -> isl.UnionMap:
        return self.flow.union(self.anti).union(self.output).coalesce()


@dataclass(frozen=True)
class LiveRanges:
    """The values of one scalar temporary: ``flow`` maps each write to the reads of the value
    it wrote (exact, value-based), ``writes`` are all its writes. A schedule keeps every read
    reading the same value when each write still runs before its reads and no other write of
    the scalar runs in between."""

    scalar: str
    flow: isl.UnionMap
    writes: isl.UnionSet


@dataclass(frozen=True)
class RelaxedDeps:
    """Dependences with the scalar temporaries' reuse of one memory cell left out: what must
    hold besides ``deps`` is that the ``live_ranges`` do not overlap (``live_ranges_intact``).
    A loop carrying a live range cannot run in parallel (the scalar is shared), so parallel
    loops are still checked against the memory-based dependences."""

    deps: isl.UnionMap
    live_ranges: tuple[LiveRanges, ...]


def _may_dependences(sinks: isl.UnionMap, sources: isl.UnionMap,
                     schedule: isl.UnionMap) -> isl.UnionMap:
    info = isl.UnionAccessInfo.from_sink(sinks).set_may_source(sources)
    flow = info.set_schedule_map(schedule).compute_flow()
    return flow.get_may_dependence()


def compute_dependences(scop: Scop, original_schedule: isl.UnionMap) -> Deps:
    """Return the dependences of ``scop`` under its original execution order.

    All sources are may-sources, so no write kills another: the dependences are memory-based,
    which is what a reordering must respect when no array is renamed or expanded.
    """
    reads = scop.access_union(writes=False)
    writes = scop.access_union(writes=True)
    return Deps(flow=_may_dependences(reads, writes, original_schedule),
                anti=_may_dependences(writes, reads, original_schedule),
                output=_may_dependences(writes, writes, original_schedule))


def privatisable_scalars(scop: Scop) -> tuple[str, ...]:
    """Return the scalars written in the region whose every write certainly happens when its
    statement runs (none behind ``?:``, ``&&`` or ``||``)."""
    written, conditional = set(), set()
    for statement in scop.statements:
        for access in statement.accesses:
            if access.rank == 0 and access.is_write:
                written.add(access.array)
                if access.conditional:
                    conditional.add(access.array)
    return tuple(sorted(written - conditional))


def relax_scalar_dependences(scop: Scop, original_schedule: isl.UnionMap
                             ) -> RelaxedDeps | None:
    """Return the dependences with the scalar temporaries' anti and output dependences
    narrowed to what their values need, or None when the region has no such scalar.

    For a scalar ``t``, kept are: the exact flow from each write to the reads of its value;
    the order of a read of the value ``t`` had before the region (no write before it) against
    every write; and the order of every write against the last one (the value ``t`` keeps
    after the region). Everything else about ``t`` is its live ranges, which a schedule must
    not let overlap."""
    scalars = privatisable_scalars(scop)
    if not scalars:
        return None
    reads, writes = scop.access_union(writes=False), scop.access_union(writes=True)
    cells = {name: isl.UnionSet(f"{{ {scop.isl_names.get(name, name)}[] }}") for name in scalars}
    kept_reads, kept_writes = reads, writes
    for cell in cells.values():
        kept_reads = kept_reads.subtract_range(cell)
        kept_writes = kept_writes.subtract_range(cell)
    deps = (_may_dependences(kept_reads, kept_writes, original_schedule)
            .union(_may_dependences(kept_writes, kept_reads, original_schedule))
            .union(_may_dependences(kept_writes, kept_writes, original_schedule)))
    ranges = []
    for name, cell in cells.items():
        scalar_reads = reads.intersect_range(cell)
        scalar_writes = writes.intersect_range(cell)
        info = isl.UnionAccessInfo.from_sink(scalar_reads).set_must_source(scalar_writes)
        flow = info.set_schedule_map(original_schedule).compute_flow()
        values = flow.get_must_dependence()
        live_in = flow.get_may_no_source().domain()
        write_instances = scalar_writes.domain()
        anti = _may_dependences(scalar_writes, scalar_reads, original_schedule)
        output = _may_dependences(scalar_writes, scalar_writes, original_schedule)
        last = write_instances.subtract(output.domain())
        deps = (deps.union(values).union(anti.intersect_domain(live_in))
                .union(output.intersect_range(last)))
        ranges.append(LiveRanges(name, values, write_instances))
    return RelaxedDeps(deps.coalesce(), tuple(ranges))


def live_ranges_intact(schedule_map: isl.UnionMap, ranges: tuple[LiveRanges, ...]) -> bool:
    """Return whether, under ``schedule_map``, no write of a scalar runs after a write of it
    and before a read of that write's value (every read still reads the value it read).

    Decided on times: each live range becomes the pair of times of its write and its read,
    and no write of the scalar may have a time strictly between. (On instances, with the
    schedule's whole order, isl took minutes on some strided nests.)"""
    for live in ranges:
        if live.flow.is_empty():
            continue
        spans = live.flow.apply_domain(schedule_map).apply_range(schedule_map).get_map_list()
        write_times = live.writes.apply(schedule_map)
        for k in range(spans.n_map()):
            span = spans.get_at(k)
            space = span.get_space()
            if not space.domain().is_equal(space.range()):
                return _live_ranges_intact_on_instances(schedule_map, live)
            earlier = isl.Map.lex_lt(space.domain())
            writes = write_times.extract_set(space.domain())
            between = earlier.intersect_range(writes).apply_range(earlier)
            if not between.intersect(span).is_empty():
                return False
    return True


def _live_ranges_intact_on_instances(schedule_map: isl.UnionMap, live: LiveRanges) -> bool:
    """``live_ranges_intact`` for one scalar, on statement instances (any schedule shape)."""
    before = schedule_map.lex_lt_union_map(schedule_map)
    after_source = before.intersect_domain(live.flow.domain()).intersect_range(live.writes)
    before_sink = before.intersect_domain(live.writes).intersect_range(live.flow.range())
    return after_source.apply_range(before_sink).intersect(live.flow).is_empty()
