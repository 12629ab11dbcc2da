"""Register tiles: the point loops of a tiled band become an Mr x Nr micro-tile of
accumulators kept in registers across the innermost reduction loop (unroll-and-jam).

Which members play which part comes from the accesses, not from a kernel's name: the
*reduction* member leaves every written reference in place, the *vector* member walks
every written reference with stride one along its last subscript, the *rows* member moves
the written references along another subscript (so two micro-tile points never write one
element). In schedule-tree terms the point band ``(..., m, ..., r, ..., v)`` becomes

    band (other members..., Mr*floor(m/Mr), Nr*floor(v/Nr))     permutable
      mark MICRO_MARK (a ``MicroKernel``)
        band (r)
          band (m, v)                                             unrolled, or vector code

which is a tiling of the point band with sizes (Mr, 1, Nr) followed by a permutation of its
tile loops: legal in a permutable band, and checked again on the final schedule like every
other. Vector code (see ``tiler.microkernel``) also runs the micro-tile's points of one
reduction step at once and keeps the accumulators in registers across the reduction loop;
``micro_kernels_are_legal`` checks what that relies on: no point of a micro-tile reads what
another wrote or writes what another writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl

from tiler.footprint import RECTANGULAR, BandShape, box_fraction
from tiler.model import Scop
from tiler.target import Target
from tiler.transform.marks import marked_nodes
from tiler.transform.panel import Panel, plan_panel
from tiler.transform.vector_form import VectorStatement, _mentions, c_text, vector_form

# The name of the mark above a micro-kernel's reduction band; the mark's id carries the
# ``MicroKernel``.
MICRO_MARK = "tiler_micro"
# Vectors of the vector member per micro-tile row: two, so that each broadcast of the rows
# operand feeds two independent multiply-adds (the 4x8 double micro-tile of two AVX2
# vectors ran at 19.7 GFLOP/s on the development machine, against 12 left to gcc).
VECTORS_PER_ROW = 2
# ... and three on a target of 32 vector registers (AVX-512) when the band is rectangular:
# 8 x 3 accumulators, three loads and a broadcast fit, and each broadcast feeds three
# multiply-adds (gemm 7% and 2mm 4% faster than 8 x 2 vectors on a Sapphire Rapids core;
# on trmm's triangle 20% slower, so triangles keep two).
WIDE_VECTORS_PER_ROW = 3
WIDE_REGISTERS = 32
# Whether a band whose statements have no vector form still gets a micro-tile, as plain C
# unrolled by isl. Off: isl's unrolling of an 8x16 micro-tile over gemm's two statements
# took 5.8 s of AST generation (the deadline is 6 s), and gcc vectorises the plain point
# loops of such bands already.
PLAIN_MICRO_TILES = False
# At most this many rows: beyond 8 the accumulators of one micro-tile outgrow what the
# loads of one reduction step can hide, and remainder tiles grow.
MAX_ROWS = 8


@dataclass(frozen=True)
class MicroKernel:
    """A register tile of one band. Members are numbered as in the band before tiling;
    ``rows`` is None when no member can be the rows member (Mr = 1)."""

    rows: int | None
    vector: int
    reduction: int
    mr: int
    nr: int
    lanes: int                       # elements per vector (1: no vector unit)
    statement: str | None            # the one statement of vector code, if any
    vector_statement: VectorStatement | None
    iterators: tuple[tuple[int, int] | None, ...] = ()   # per (rows, vector, reduction): the
    #                                  statement iterator it is and its sign, for vector code
    why_not_vectorised: str = ""
    unroll: bool = True              # plain unrolled code (isl unroll) for the micro-tile
    panel: Panel | None = None       # the broadcast operands packed (tiler.transform.panel)
    panel_note: str = ""             # why they are not
    # the sizes leave micro-tiles short of Nr columns at the edges of the band or its tiles
    # (vector code for them where their operands are packed: tiler.microkernel)
    edges: bool = False

    @property
    def keeps_panels(self) -> bool:
        """Whether its broadcast panels are kept across the tiles along the vector member."""
        return self.panel is not None and self.panel.row_slots > 0

    @property
    def vectorised(self) -> bool:
        """Whether vector code is emitted for full micro-tiles."""
        return self.vector_statement is not None

    def describe(self) -> str:
        """Return one line for ``--report``."""
        rows = "none" if self.rows is None else str(self.rows)
        text = (f"micro-tile {self.mr}x{self.nr} (rows member {rows}, vector member "
                f"{self.vector}, reduction member {self.reduction}), vector of {self.lanes}")
        if self.vectorised:
            text += ": GNU C vector code for full micro-tiles"
            panel = self.panel
            if panel is not None and panel.operands:
                operands = ", ".join(c_text(operand, {}) for operand in panel.operands)
                kept = (f", {panel.row_slots} kept for all the tiles along member "
                        f"{self.vector}") if panel.row_slots else ""
                text += (f"; broadcast operands packed ({operands}: a panel of "
                         f"{panel.steps} x {panel.width} values per row block{kept})")
            elif self.panel_note:
                text += f"; no packed panel ({self.panel_note})"
            if panel is not None and panel.gathered:
                gathered = ", ".join(c_text(ref, {}) for ref in panel.gathered)
                text += (f"; vector operands packed per column block "
                         f"({gathered}: {panel.steps} x {panel.nr} values per column block)")
            return text
        return text + f": plain unrolled code ({self.why_not_vectorised})"


def _column(access, member: int) -> tuple[float, ...]:
    return tuple(row[member] for row in access.coefficients)


def micro_tile_members(shape: BandShape, point_order: tuple[int, ...]
                       ) -> tuple[int | None, int, int] | str:
    """Return the (rows, vector, reduction) members of a band from its accesses, or why
    there are none. Among several candidates the one innermost in ``point_order`` wins."""
    writes = [a for a in shape.accesses if a.is_write]
    if not writes:
        return "the band writes nothing"
    if any(not a.coefficients for a in writes):
        return "a scalar is written in the band"
    by_depth = list(reversed(point_order))

    def all_writes(test) -> list[int]:
        return [k for k in by_depth if all(test(_column(a, k)) for a in writes)]

    reductions = all_writes(lambda column: not any(column))
    if not reductions:
        return "no member leaves the written references in place (no reduction member)"
    reduction = reductions[0]
    vectors = [k for k in all_writes(lambda c: c[-1] == 1 and not any(c[:-1])) if k != reduction]
    if not vectors:
        return "no member walks the written references with stride one"
    vector = vectors[0]
    rows = [k for k in all_writes(lambda c: c[-1] == 0 and any(c[:-1]))
            if k not in (reduction, vector)]
    return (rows[0] if rows else None), vector, reduction


def micro_tile_shape(target: Target, element_bytes: int,
                     override: tuple[int, int] | None = None, rectangular: bool = False,
                     extent: int | None = None) -> tuple[int, int, int]:
    """Return (Mr, Nr, lanes) for ``target``: Nr is ``VECTORS_PER_ROW`` vectors (or
    ``WIDE_VECTORS_PER_ROW`` for a ``rectangular`` band on a target of ``WIDE_REGISTERS``,
    unless the tile's ``extent`` along the vector member, where it is fixed, holds more
    whole micro-tiles of the narrower one: a tile of 32 doubles is two 16s, not 24 and a
    remainder), Mr the rows whose accumulators fit the registers beside one row's loads and
    one broadcast."""
    lanes = target.lanes(element_bytes)
    if override is not None:
        return override[0], override[1], lanes
    vectors = WIDE_VECTORS_PER_ROW if rectangular and \
        target.vector_registers >= WIDE_REGISTERS else VECTORS_PER_ROW
    if extent is not None and vectors != VECTORS_PER_ROW:
        def covered(count: int) -> int:
            return extent // (count * lanes) * count * lanes
        if covered(VECTORS_PER_ROW) > covered(vectors):
            vectors = VECTORS_PER_ROW
    rows = (target.vector_registers - vectors - 1) // vectors
    return max(1, min(MAX_ROWS, rows)), vectors * lanes, lanes


def _member_maps(band: isl.ScheduleNode) -> list[isl.UnionMap]:
    partial = band.band_get_partial_schedule()
    return [isl.UnionMap.from_union_pw_aff(partial.get_at(k))
            for k in range(band.band_n_member())]


def member_iterator(band: isl.ScheduleNode, member: int, statement) -> tuple[int, int] | None:
    """Return (iterator index, sign) when band member ``member`` is, for ``statement``,
    plus or minus one of its iterators; None otherwise."""
    relation = _member_maps(band)[member].intersect_domain(
        isl.UnionSet.from_set(statement.domain))
    dims = ", ".join(f"d{k}" for k in range(len(statement.iterators)))
    for index in range(len(statement.iterators)):
        for sign in (1, -1):
            value = f"d{index}" if sign > 0 else f"-d{index}"
            candidate = isl.UnionMap(f"{{ {statement.name}[{dims}] -> [{value}] }}")
            candidate = candidate.align_params(relation.get_space()).intersect_domain(
                isl.UnionSet.from_set(statement.domain))
            if candidate.is_equal(relation.align_params(candidate.get_space())):
                return index, sign
    return None


def tile_loop_order(members: int, micro: MicroKernel | None) -> list[int]:
    """Return the order of a band's tile loops, outermost first: its members', except that
    the vector member's runs innermost where the micro-kernel keeps its panels across the
    tiles along it (``MicroKernel.keeps_panels``; the panels live just above that loop)."""
    order = list(range(members))
    if micro is None or not micro.keeps_panels:
        return order
    return [member for member in order if member != micro.vector] + [micro.vector]


def plan_micro_kernel(scop: Scop, band: isl.ScheduleNode, shape: BandShape,
                      sizes: tuple[int, ...], point_order: tuple[int, ...], target: Target,
                      override: tuple[int, int] | None = None, pack: bool = True,
                      fit_sizes: bool = True) -> MicroKernel | str:
    """Return the register tile of a band to be tiled with ``sizes`` (point loops in
    ``point_order``), or why it gets none; with ``pack``, its broadcast operands are packed
    where that pays (``tiler.transform.panel``). With ``fit_sizes`` the micro-tile fits the
    sizes (see ``micro_tile_shape``); without, the sizes are to be chosen around it."""
    members = micro_tile_members(shape, point_order)
    if isinstance(members, str):
        return members
    rows, vector, reduction = members
    writes = [a for a in shape.accesses if a.is_write]
    element = min(a.element_bytes for a in writes)
    rectangular = box_fraction(shape) >= RECTANGULAR
    extent = [min(size, trips) for size, trips in zip(sizes, shape.trip_counts)]
    mr, nr, lanes = micro_tile_shape(target, element, override, rectangular,
                                     extent[vector] if fit_sizes else None)
    mr = 1 if rows is None else max(1, min(mr, extent[rows]))
    nr = max(1, min(nr, extent[vector]))
    if mr * nr == 1:
        return "the tile is one point wide along the micro-tile's members"
    names = shape.statements
    statement = next(s for s in scop.statements if s.name == names[0]) if len(names) == 1 \
        else None
    trip = int(shape.trip_counts[vector])
    kernel = MicroKernel(None if mr == 1 else rows, vector, reduction, mr, nr, lanes, None,
                         None, edges=trip % nr != 0 or extent[vector] % nr != 0)
    why = _why_not_vector(kernel, statement, band, scop.types, nr, lanes, pack)
    if isinstance(why, str):
        if not PLAIN_MICRO_TILES:
            return f"no vector code ({why}), and plain micro-tiles are off"
        return _replace(kernel, why_not_vectorised=why)
    vector_statement, iterators = why
    kernel = _replace(kernel, statement=statement.name, vector_statement=vector_statement,
                      iterators=iterators, unroll=False)
    if not pack:
        return kernel
    rows_name = statement.iterators[iterators[0][0]] if iterators[0] is not None else None
    panel = plan_panel(vector_statement, statement.iterators[iterators[1][0]],
                       statement.iterators[iterators[2][0]], kernel.mr, extent[reduction],
                       extent[vector], nr, rows_name,
                       extent[rows] if rows is not None and kernel.rows is not None else 0,
                       int(shape.trip_counts[vector]))
    if isinstance(panel, str):
        if vector_statement.gathered:       # its vector code needs the transposed panel
            names = ", ".join(ref.name for ref in vector_statement.gathered)
            return f"no vector code ({panel}; {names} would be gathered), and plain " \
                "micro-tiles are off"
        return _replace(kernel, panel_note=panel)
    return _replace(kernel, panel=panel)


def _replace(kernel: MicroKernel, **changes) -> MicroKernel:
    from dataclasses import replace
    return replace(kernel, **changes)


def _why_not_vector(kernel: MicroKernel, statement, band: isl.ScheduleNode, declared: dict,
                    nr: int, lanes: int, gather: bool = False):
    """Return (vector form, iterators) of the band's statement, or why it has none."""
    if lanes == 1:
        return "the target has no vector unit"
    if nr % lanes:
        return f"the tile is narrower than a vector along the vector member ({nr} < {lanes})"
    if statement is None:
        return "several statements in the band"
    roles = (kernel.rows, kernel.vector, kernel.reduction)
    iterators = tuple(None if member is None else member_iterator(band, member, statement)
                      for member in roles)
    if any(found is None for member, found in zip(roles, iterators) if member is not None):
        return "a micro-tile member is not one loop of the statement"
    if iterators[1][1] != 1:
        return "the vector member counts down"
    vector_name = statement.iterators[iterators[1][0]]
    names = {a.array for a in statement.accesses} | _names(statement.body)
    types = {name: declared[name] for name in names - set(statement.iterators)
             if name in declared}
    form = vector_form(statement.body, vector_name, types, set(statement.iterators), gather)
    if isinstance(form, str):
        return form
    once = [ref for ref in form.gathered if _read_once(ref, band, statement)]
    if once:
        return (f"{c_text(once[0], {})} would be gathered into a transposed panel but is read "
                "once in the band (no copy pays for itself)")
    return form, iterators


def _read_once(ref, band: isl.ScheduleNode, statement) -> bool:
    """Whether the reference moves with every member of ``band`` (each of its elements is
    read by one instance: atax's A[i][j] under i and j, not syrk's A[j][k] under i)."""
    for member in range(band.band_n_member()):
        found = member_iterator(band, member, statement)
        if found is None or not _mentions(ref, statement.iterators[found[0]]):
            return False
    return True


def _names(body: str) -> set[str]:
    from tiler.codegen import identifiers
    return identifiers(body)


def register_tile(node: isl.ScheduleNode, kernel: MicroKernel, point_order: tuple[int, ...],
                  mark_name: str) -> isl.ScheduleNode:
    """Return the point band ``node`` (members in ``point_order``) replaced by the bands of
    ``kernel``'s micro-tile (see the module doc); the returned node is the outer band, at
    the place of ``node``."""
    position = {member: point_order.index(member) for member in point_order}
    partial = node.band_get_partial_schedule()
    coincident = [bool(node.band_member_get_coincident(k)) for k in range(node.band_n_member())]
    inner = [kernel.rows, kernel.vector] if kernel.rows is not None else [kernel.vector]
    steps = [kernel.mr, kernel.nr] if kernel.rows is not None else [kernel.nr]
    others = [m for m in point_order if m not in inner and m != kernel.reduction]
    ctx = node.get_ctx()

    def band_of(parts: list[isl.UnionPwAff]) -> isl.MultiUnionPwAff:
        space = isl.Space.set_alloc(ctx, 0, len(parts))
        space = space.align_params(partial.get_space())
        members = isl.UnionPwAffList.alloc(ctx, len(parts))
        for part in parts:
            members = members.add(part)
        return isl.MultiUnionPwAff.from_union_pw_aff_list(space, members)

    outer_parts = [partial.get_at(position[m]) for m in others]
    for member, step in zip(inner, steps):
        value = partial.get_at(position[member])
        outer_parts.append(value.scale_down_val(isl.Val(step)).floor()
                           .scale_val(isl.Val(step)))
    node = node.delete()
    node = node.insert_partial_schedule(band_of([partial.get_at(position[m]) for m in inner]))
    if kernel.unroll:
        for k in range(len(inner)):
            node = node.band_member_set_ast_loop_type(k, isl.ast_loop_type.unroll)
    node = node.insert_partial_schedule(band_of([partial.get_at(position[kernel.reduction])]))
    node = node.insert_mark(isl.Id(mark_name, user=kernel, context=ctx))
    node = node.insert_partial_schedule(band_of(outer_parts)).band_set_permutable(1)
    for k, member in enumerate(others + inner):
        node = node.band_member_set_coincident(k, int(coincident[position[member]]))
    return node


def micro_kernels_are_legal(schedule: isl.Schedule, deps: isl.UnionMap) -> bool:
    """Return whether none of ``deps`` joins two different points of one micro-tile (equal
    values of every loop above the micro-kernel, different values of its rows and vector
    members), for every micro-kernel with vector code: its points then run in any order,
    and at once. The vector code reads during the reduction steps and stores each point's
    value after them, so a point may read what another will write (anti dependences are
    left out of ``deps``) but not what another wrote (flow) or writes too (output)."""
    for mark in marked_nodes(schedule, MICRO_MARK):
        kernel = mark.mark_get_id().get_user()
        if isinstance(kernel, MicroKernel) and kernel.vectorised and _points_depend(mark, deps):
            return False
    return True


def _points_depend(mark: isl.ScheduleNode, deps: isl.UnionMap) -> bool:
    """Return whether a dependence under ``mark`` joins two instances with the same outer
    loop values and different micro-tile points."""
    domain = mark.get_domain()
    inside = deps.intersect_domain(domain).intersect_range(domain)
    if inside.is_empty():
        return False
    outer = mark.get_prefix_schedule_union_map()
    points = mark.child(0).child(0).band_get_partial_schedule_union_map()
    same_outer = inside.intersect(outer.apply_range(outer.reverse()))
    return not same_outer.subtract(points.apply_range(points.reverse())).is_empty()
