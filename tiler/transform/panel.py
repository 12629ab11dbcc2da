"""Packed panels: the broadcast operands of a micro-kernel, copied once into a small
contiguous buffer and re-read from it by every micro-tile along the vector member.

In ``C[i][j] += alpha * A[i][k] * B[k][j]`` with j the vector member, ``alpha * A[i][k]``
is the same for every micro-tile of one row block: the micro-kernel would compute it, from
Mr rows of A far apart in memory, Mr times per reduction step and per micro-tile, and
broadcast it through the shuffle port its multiply-adds also need. The panel holds those
values, ``panel[(k - k0) * P + p]`` for the P = (operands x Mr) values of each reduction
step, so the micro-kernel loads each as a broadcast from one contiguous stream (a load, no
shuffle) and the product is computed once per row block, not once per micro-tile.

In schedule-tree terms a mark ``PANEL_MARK`` (carrying the ``Panel``) sits above the
micro-kernel's outer band, below every tile loop: the buffer lives for one tile and is
private to the thread that runs it. Code generation declares the buffer there; the vector
code of a full micro-tile fills it when the values it holds (the row block, the reduction
range and every other fixed iterator) are not those the micro-tile needs, and reads it.
The copy is exact (each value computed as the micro-kernel computed it, same operands, same
order) and legal when nothing under the mark writes what the packed operands read
(``panels_are_legal``, checked on the final schedule).

A reference that moves along the vector member with another stride (syrk's ``A[j][k]``) has
no vector load: it is gathered into a *transposed* panel, BLIS's packed block of B. Each
column block of Nr values of the tile has a block of it, ``Nr`` contiguous values per
reduction step, filled on its first use and keyed like the broadcast panel (column block,
reduction range, other fixed iterators), so the row blocks that follow load it as vectors.
It lives on the heap, one allocation per tile.

Where the band has several tiles along the vector member, each row block's broadcast panel
is the same for all of them: the tile loops then run the vector member's tile loop innermost
and the mark sits just above it, and the tile's row blocks keep one panel each (``row_slots``,
on the heap) for all the tiles along the vector member, as BLIS packs its panel of B once
for every block of A. gemm (1200x1300x1400, tiles of 144 columns) copied each panel of
``alpha * A[i][k]`` nine times, once per tile along j.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import islpy as isl

from tiler.model import Scop
from tiler.syntax import ArrayRef, Binary, Expr, Name, Unary
from tiler.transform.marks import marked_nodes
from tiler.transform.vector_form import (
    VECTOR_ELEMENT_TYPES,
    VectorStatement,
    _children,
    _mentions,
    _same_reference,
    stride_along,
)

# The name of the mark above a micro-kernel whose broadcast operands are packed.
PANEL_MARK = "tiler_panel"
# A panel is filled once per row block and read by this many micro-tiles along the vector
# member at least; below it the copy costs about what it saves (one load, multiply and store
# per value against one broadcast computed per micro-tile).
PANEL_MIN_REUSE = 2
# The largest panel, in elements (64 KiB of doubles): it lives on the stack of the thread
# running the tile, and should stay in the first two cache levels.
PANEL_MAX_ELEMENTS = 8192
# A reference the vector code loads with stride one along the vector member (gemm's B[k][j])
# is packed per column block too when the Nr values it loads per reduction step span at
# least this many bytes (two cache lines): each step then reads lines of rows far apart.
# Measured on gemm (1200x1300x1400, Sapphire Rapids): 16 doubles a step (AVX-512) ran 84.5 ms
# unpacked, 74.5 ms packed; 8 doubles a step (AVX2 code) 118-121 ms either way.
STREAM_MIN_BYTES = 128
# The largest transposed panel (of references gathered along the vector member), in
# elements: one tile's block of them (the reduction steps times the vector extent), on the
# heap, as BLIS packs its block of B (8 MiB of doubles).
GATHERED_MAX_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Panel:
    """The packed broadcast operands of one micro-kernel: ``operands`` are the statement's
    subexpressions (invariant along the vector member, varying with the reduction member),
    ``arrays`` the names they read, ``steps`` the reduction steps the buffer holds (the
    reduction member's tile size), ``number`` the kernel's number in the region."""

    operands: tuple[Expr, ...]
    places: tuple[int, ...]          # their numbers among the broadcast operands
    target: ArrayRef                 # the written reference (its element type is the panel's)
    arrays: frozenset[str]
    steps: int
    rows: int
    number: int = -1
    # The transposed panel: references that move along the vector member with another
    # stride, copied for each micro-tile column block into ``nr`` contiguous values per
    # reduction step, in ``slots`` blocks (every column block of one tile has its own).
    gathered: tuple[ArrayRef, ...] = ()
    nr: int = 0
    slots: int = 0
    # The broadcast panels kept for all the tiles along the vector member: one per row block
    # of a tile (0: one panel, for one tile), and the vector member's values they then serve.
    row_slots: int = 0
    columns: int = 0

    @property
    def gathered_elements(self) -> int:
        return self.slots * self.steps * len(self.gathered) * self.nr

    @property
    def width(self) -> int:
        """Values per reduction step: every operand for every row of the micro-tile."""
        return len(self.operands) * self.rows

    @property
    def elements(self) -> int:
        return self.width * self.steps

    @property
    def kept_elements(self) -> int:
        return self.row_slots * self.elements


def broadcast_operands(update: Expr, vector: str) -> list[Expr]:
    """Return the maximal subexpressions of a vector statement's ``update`` that do not
    mention the ``vector`` iterator (the values the vector code broadcasts), in the order
    the vector code meets them."""
    if not _mentions(update, vector):
        return [update]
    if isinstance(update, Binary):
        return broadcast_operands(update.left, vector) + broadcast_operands(update.right,
                                                                             vector)
    if isinstance(update, Unary):
        return broadcast_operands(update.operand, vector)
    return []


def names_read(expr: Expr) -> set[str]:
    """Return the names of the arrays, scalars and iterators ``expr`` reads."""
    found = {expr.name} if isinstance(expr, ArrayRef | Name) else set()
    for child in _children(expr):
        found |= names_read(child)
    return found


def plan_panel(form: VectorStatement, vector: str, reduction: str, rows: int,
               reduction_steps: int, vector_extent: int, nr: int,
               rows_name: str | None = None, rows_extent: int = 0,
               vector_trips: int = 0) -> Panel | str:
    """Return the panel of a micro-kernel of statement ``form`` (iterators ``vector`` and
    ``reduction`` by their C names, ``rows`` rows per micro-tile, a tile of
    ``reduction_steps`` x ``vector_extent`` along those members, ``nr`` per micro-tile), or
    why it gets none. The statement's gathered references are always packed (its vector code
    needs them); its broadcast operands where that pays; and, where the tile has several row
    blocks (``rows_extent`` over ``rows``) to share them, the references it loads as vectors
    along the reduction (gemm's B[k][j]: rows far apart, copied into one contiguous block per
    column block, as BLIS packs B). Where the band has more than the tile's values along the
    vector member (``vector_trips``), the broadcast panels are kept for all of them."""
    broadcast = broadcast_operands(form.update, vector)
    places = [place for place, operand in enumerate(broadcast) if _mentions(operand, reduction)]
    operands = [broadcast[place] for place in places]
    if rows_name is not None and any(_mentions(ref, rows_name) for ref in form.gathered):
        return (f"a reference to gather along the vector member moves with '{rows_name}' "
                "too (one transposed panel per row)")
    why = ""
    if not operands:
        why = "no broadcast operand varies along the reduction"
    elif vector_extent // nr < PANEL_MIN_REUSE:
        why = (f"the tile holds {vector_extent // nr} micro-tile(s) along the vector member "
               f"(a panel pays from {PANEL_MIN_REUSE})")
    elif len(operands) * rows * reduction_steps > PANEL_MAX_ELEMENTS:
        why = (f"the panel would hold {len(operands) * rows * reduction_steps} values (at "
               f"most {PANEL_MAX_ELEMENTS})")
    streamed = []
    if rows_name is not None and rows_extent // max(1, rows) >= PANEL_MIN_REUSE and \
            nr * VECTOR_ELEMENT_TYPES[form.element_type] >= STREAM_MIN_BYTES:
        streamed = [ref for ref in _vector_loads(form.update, vector)
                    if ref.name != form.target.name and _mentions(ref, reduction)
                    and not _mentions(ref, rows_name)]
    if why:
        operands, places = [], []
        if not form.gathered and not streamed:
            return why
    arrays = set().union(*(names_read(part) for part in (*operands, *form.gathered)))
    if form.target.name in arrays:
        return f"a broadcast operand reads '{form.target.name}', which the statement writes"
    panel = None
    for gathered in (form.gathered + tuple(streamed), form.gathered):
        slots = -(-vector_extent // nr) + 1 if gathered else 0
        names = set().union(arrays, *(names_read(ref) for ref in gathered))
        panel = Panel(tuple(operands), tuple(places), form.target, frozenset(names),
                      reduction_steps, rows, gathered=gathered, nr=nr, slots=slots)
        if panel.gathered_elements <= GATHERED_MAX_ELEMENTS:
            break
    if panel.gathered_elements > GATHERED_MAX_ELEMENTS:
        return (f"the transposed panel would hold {panel.gathered_elements} values (at most "
                f"{GATHERED_MAX_ELEMENTS})")
    if not panel.operands and not panel.gathered:
        return why
    if panel.operands and rows_name is not None and rows_extent and \
            vector_trips > vector_extent:
        kept = replace(panel, row_slots=-(-rows_extent // rows) + 1, columns=vector_trips)
        if kept.kept_elements <= GATHERED_MAX_ELEMENTS:
            return kept
    return panel


def _vector_loads(expr: Expr, vector: str) -> list[ArrayRef]:
    """Return the array references of ``expr`` that move with stride one along ``vector``
    (the vector code's plain vector loads), each once."""
    found: list[ArrayRef] = []
    if isinstance(expr, ArrayRef) and stride_along(expr, vector) == "unit":
        return [expr]
    for child in _children(expr):
        for ref in _vector_loads(child, vector):
            if not any(_same_reference(ref, seen) for seen in found):
                found.append(ref)
    return found


def panel_mark(panel: Panel, ctx: isl.Context) -> isl.Id:
    """Return the mark of ``panel`` (its name carries the kernel's number)."""
    return isl.Id(f"{PANEL_MARK}_{panel.number}", user=panel, context=ctx)


def panels_are_legal(schedule: isl.Schedule, scop: Scop) -> bool:
    """Return whether no statement instance under a panel's mark writes an array or scalar
    that the panel's operands read (the panel then holds, for as long as it lives, what the
    micro-kernel would have computed)."""
    for mark in marked_nodes(schedule, PANEL_MARK):
        panel = mark.mark_get_id().get_user()
        if not isinstance(panel, Panel):
            return False
        sets = mark.get_domain().get_set_list()
        under = {sets.get_at(k).get_tuple_name() for k in range(sets.n_set())}
        if any(access.array in panel.arrays for statement in scop.statements
               if statement.name in under for access in statement.writes):
            return False
    return True
