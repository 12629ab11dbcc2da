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
