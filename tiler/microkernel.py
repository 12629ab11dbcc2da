"""Vector code of a micro-kernel: for a full micro-tile, the accumulators are GNU C vector
variables loaded before the reduction loop and stored after it; every reference that moves
along the vector member is a vector load, every other operand a broadcast scalar. Partial
micro-tiles, and compilers without GNU C vectors, run the generic code isl generates."""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl

from tiler.syntax import ArrayRef, Binary, Expr, Unary
from tiler.transform.panel import Panel, names_read
from tiler.transform.register import MICRO_MARK, MicroKernel
from tiler.transform.vector_form import _mentions, _same_reference, c_text, stride_along

# The type of the micro-kernel's own indices: 64-bit, so that the compiler sees the rows of
# a micro-tile at constant offsets from one base (int indices are sign-extended row by row,
# and gcc 12 kept each row's offset in a register of its own and spilled them).
INDEX_TYPE = "long"
# Name of the annotation the AST callback puts on a micro-kernel's mark node.
CODE_ANNOTATION = "tiler_micro_code"


@dataclass(frozen=True)
class KernelRelations:
    """A micro-kernel's instances in schedule terms: ``prefix`` maps its statement's
    instances to the values of the loops above the mark, ``points`` those values to the
    (reduction, [rows,] vector) values under it, ``instances`` them to the instances."""

    kernel: MicroKernel
    prefix: isl.UnionMap
    points: isl.Map
    instances: isl.Map


@dataclass(frozen=True)
class KernelCode:
    """What the vector code of one occurrence of a micro-kernel needs, as isl AST
    expressions of the loops around it."""

    kernel: MicroKernel
    full: isl.AstExpr | None        # the micro-tile is full (a box, every reduction step)
    lower: isl.AstExpr | None       # the reduction loop's bounds there
    upper: isl.AstExpr | None
    bases: tuple[isl.AstExpr, ...]  # the first value of the rows (if any) and vector members
    others: dict                    # statement iterator index -> value (fixed in the kernel)
    depth: int                      # schedule depth of the reduction loop
    # where a micro-tile is full over an interval of its steps only, and the interval's ends
    # (a triangular band's diagonal; see ``_split``)
    middle: tuple[isl.AstExpr, isl.AstExpr, isl.AstExpr] | None = None
    # with ``full`` counting micro-tiles whole but for their last columns (the band's edge
    # along the vector member), their last column (see ``vector_lines``)
    last: isl.AstExpr | None = None


def kernel_relations(schedule: isl.Schedule) -> dict[str, KernelRelations]:
    """Return the relations of every micro-kernel with vector code, by mark name."""
    found: dict[str, KernelRelations] = {}

    def visit(node: isl.ScheduleNode) -> None:
        if node.get_type() == isl.schedule_node_type.mark and \
                node.mark_get_id().get_name().startswith(MICRO_MARK):
            kernel = node.mark_get_id().get_user()
            if isinstance(kernel, MicroKernel) and kernel.vectorised:
                domain = node.get_domain()
                prefix = node.get_prefix_schedule_union_map().intersect_domain(domain)
                reduction = node.child(0)
                points = reduction.band_get_partial_schedule_union_map().flat_range_product(
                    reduction.child(0).band_get_partial_schedule_union_map())
                by_prefix = prefix.reverse()
                relation = by_prefix.apply_range(points.intersect_domain(domain))
                if relation.n_map() == 1 and by_prefix.n_map() == 1:
                    found[node.mark_get_id().get_name()] = KernelRelations(
                        kernel, prefix, isl.Map.from_union_map(relation),
                        isl.Map.from_union_map(by_prefix))
        for k in range(node.n_children()):
            visit(node.child(k))

    visit(schedule.get_root())
    return found


def _single_map(relation: isl.UnionMap) -> isl.Map | None:
    return isl.Map.from_union_map(relation) if relation.n_map() == 1 else None


def kernel_code(relations: KernelRelations, build: isl.AstBuild, edges: bool = False
                ) -> KernelCode | None:
    """Return the expressions of the vector code at one occurrence of a micro-kernel (the
    AST ``build`` at its mark), or None when its instances do not have the form it needs;
    with ``edges`` (see ``edge_loads_packed``), micro-tiles whole but for their last columns
    count as full.
    Everything is computed on the build's own schedule dimensions (isl drops some of the
    loops above the mark, e.g. one that takes a single value)."""
    kernel = relations.kernel
    # the build's schedule values -> the values of the loops above the mark
    to_prefix = _single_map(build.get_schedule().reverse().apply_range(relations.prefix))
    if to_prefix is None or not to_prefix.is_single_valued():
        return None
    points = to_prefix.apply_range(relations.points)
    points = points.reset_tuple_id(isl.dim_type.out)
    instances = to_prefix.apply_range(relations.instances)
    outer = relations.points.dim(isl.dim_type.in_)
    inner = 2 if kernel.rows is not None else 1
    if outer < inner:
        return None
    steps = points.project_out(isl.dim_type.out, 1, inner)
    lower = steps.lexmin_pw_multi_aff().get_pw_aff(0)
    upper = steps.lexmax_pw_multi_aff().get_pw_aff(0)
    base_maps = [to_prefix.project_out(isl.dim_type.out, d + 1, outer - d - 1)
                 .project_out(isl.dim_type.out, 0, d) for d in range(outer - inner, outer)]
    if not all(base.is_single_valued() for base in base_maps):
        return None
    bases = [isl.PwMultiAff.from_map(base).get_pw_aff(0) for base in base_maps]
    sizes = [kernel.mr, kernel.nr][-inner:]
    box = _box(lower, upper, bases, sizes)
    box = box.align_params(points.get_space())
    points = points.align_params(box.get_space())
    missing = box.subtract(points).domain()
    full = points.domain().subtract(missing).coalesce()
    last_column = None
    if edges:
        last = _last(points)
        edge = _edge(points, lower, upper, last, bases, sizes, full)
        if edge is not None:
            full, last_column = full.union(edge).coalesce(), last
    split = _split(steps.align_params(points.get_space()), points, bases, sizes, full)
    usable = full if split is None else full.union(split[0]).coalesce()
    if usable.is_empty():
        return None
    others = {}
    roles = {index for index, _ in (found for found in kernel.iterators if found)}
    for index in range(instances.dim(isl.dim_type.out)):
        if index in roles:
            continue
        value = instances.project_out(isl.dim_type.out, index + 1,
                                      instances.dim(isl.dim_type.out) - index - 1) \
            .project_out(isl.dim_type.out, 0, index).intersect_domain(usable)
        if not value.is_single_valued():
            return None
        others[index] = build.expr_from_pw_aff(isl.PwMultiAff.from_map(value).get_pw_aff(0))
    middle = None
    if split is not None:
        where, first, last = split
        middle = (build.expr_from_set(where), build.expr_from_pw_aff(first.gist(where)),
                  build.expr_from_pw_aff(last.gist(where)))
    if full.is_empty():
        full_expr = lower_expr = upper_expr = None
    else:
        full_expr = build.expr_from_set(full)
        lower_expr = build.expr_from_pw_aff(lower.gist(full).coalesce())
        upper_expr = build.expr_from_pw_aff(upper.gist(full).coalesce())
    return KernelCode(kernel, full_expr, lower_expr, upper_expr,
                      tuple(build.expr_from_pw_aff(base.gist(usable)) for base in bases),
                      others, outer, middle,
                      None if last_column is None or full.is_empty()
                      else build.expr_from_pw_aff(last_column.gist(full).coalesce()))


def _last(points: isl.Map) -> isl.PwAff:
    """Return the last column (vector member value) of each micro-tile."""
    along = points.project_out(isl.dim_type.out, 0, points.dim(isl.dim_type.out) - 1)
    return along.lexmax_pw_multi_aff().get_pw_aff(0)


def _edge(points: isl.Map, lower: isl.PwAff, upper: isl.PwAff, last: isl.PwAff,
          bases: list[isl.PwAff], sizes: list[int], full: isl.Set) -> isl.Set | None:
    """Return where a micro-tile that is not full has every point of its steps and rows up
    to its ``last`` column, before its Nr-th (the band's last columns: gemm's 1300 = 54 x 24
    + 4)."""
    box = _with_spans(_interval(lower, upper), bases[:-1], sizes[:-1]) \
        .flat_range_product(_interval(bases[-1], last)) \
        .reset_tuple_id(isl.dim_type.out).align_params(points.get_space())
    missing = box.subtract(points).domain()
    where = points.domain().subtract(missing).subtract(full).coalesce()
    return None if where.is_empty() else where


def edge_loads_packed(kernel: MicroKernel, statement_iterators: tuple[str, ...]) -> bool:
    """Whether the vector code of ``kernel`` reads every operand that moves along the vector
    member from its transposed panel: the code of an edge micro-tile then reads nothing past
    the last column (the panel holds zeros there, the accumulators are copied through a
    buffer), and the lanes past it compute values no store keeps."""
    panel, form = kernel.panel, kernel.vector_statement
    if panel is None or not panel.gathered or form is None:
        return False
    vector = statement_iterators[kernel.iterators[1][0]]

    def packed(expr: Expr) -> bool:
        if isinstance(expr, ArrayRef):
            return not _mentions(expr, vector) or _same_reference(expr, form.target) or \
                any(_same_reference(expr, ref) for ref in panel.gathered)
        if isinstance(expr, Binary):
            return packed(expr.left) and packed(expr.right)
        if isinstance(expr, Unary):
            return packed(expr.operand)
        return True

    return packed(form.update)


def _split(steps: isl.Map, points: isl.Map, bases: list[isl.PwAff], sizes: list[int],
           full: isl.Set) -> tuple[isl.Set, isl.PwAff, isl.PwAff] | None:
    """Return where a micro-tile that is not full is full over an interval of its reduction
    steps, and that interval's ends: (where, first, last). A triangular band's micro-tiles on
    the diagonal (``k <= i``) have every point for the steps up to their first row and some
    points after; those steps run as vector code, the others as the generic code before and
    after them (each point still takes its steps in order; points are independent)."""
    per_step = _with_spans(steps, bases, sizes).align_params(points.get_space())
    absent = per_step.subtract(points)
    absent = absent.project_out(isl.dim_type.out, 1, absent.dim(isl.dim_type.out) - 1)
    complete = steps.subtract(absent.reset_tuple_id(isl.dim_type.out)
                              .align_params(steps.get_space()))
    complete = complete.subtract_domain(full)
    if complete.is_empty():
        return None
    first = complete.lexmin_pw_multi_aff().get_pw_aff(0)
    last = complete.lexmax_pw_multi_aff().get_pw_aff(0)
    interval = _interval(first, last).reset_tuple_id(isl.dim_type.out) \
        .align_params(complete.get_space())
    holes = interval.subtract(complete).domain()
    where = complete.domain().subtract(holes).coalesce()
    if where.is_empty():
        return None
    return where, first.intersect_domain(where).coalesce(), last.intersect_domain(where).coalesce()


def _box(lower: isl.PwAff, upper: isl.PwAff, bases: list[isl.PwAff], sizes: list[int]
         ) -> isl.Map:
    """Return {B -> [k, (m,) v] : lower(B) <= k <= upper(B), base <= m, v < base + size}."""
    return _with_spans(_interval(lower, upper), bases, sizes)


def _interval(lower: isl.PwAff, upper: isl.PwAff) -> isl.Map:
    """Return {B -> [k] : lower(B) <= k <= upper(B)}."""
    line = isl.Space.set_alloc(lower.get_ctx(), 0, 1)
    return isl.Map.from_pw_aff(lower).apply_range(isl.Map.lex_le(line)).intersect(
        isl.Map.from_pw_aff(upper).apply_range(isl.Map.lex_ge(line)))


def _with_spans(steps: isl.Map, bases: list[isl.PwAff], sizes: list[int]) -> isl.Map:
    """Return {B -> [k, (m,) v] : (B -> k) in steps, base <= m, v < base + size}."""
    result = steps
    for base, size in zip(bases, sizes):
        span = isl.Map(f"{{ [b] -> [x] : b <= x < b + {size} }}", context=base.get_ctx())
        result = result.flat_range_product(isl.Map.from_pw_aff(base).apply_range(span))
    return result.reset_tuple_id(isl.dim_type.out)


@dataclass
class KernelNames:
    """Identifiers the vector code declares, chosen clear of the file's names."""

    vector_type: str
    accumulator: str
    load: str
    panel: str = "tiler_panel"

    def panel_buffer(self, panel: Panel) -> str:
        return f"{self.panel}{panel.number}"


def panel_declarations(panel: Panel, names: KernelNames, pad: str) -> list[str]:
    """Return the declarations of a panel's buffers, the keys of what they hold and whether
    they hold anything, at the start of the tile they live in: the broadcast panel on the
    stack, the transposed panel (one block per column block of the tile) on the heap."""
    buffer = names.panel_buffer(panel)
    zeros = {name: "0" for name in names_read(panel.target)}
    element = f"__typeof__({c_text(panel.target, zeros)})"
    lines = []
    if panel.operands and panel.row_slots:
        lines += [*_aligned_heap(f"{buffer}_b", element, panel.kept_elements, pad),
                  f"{pad}{INDEX_TYPE} {buffer}_bkey[{panel.row_slots}][{PANEL_KEYS}] "
                  f"__attribute__((unused)) = {{{{0}}}};",
                  f"{pad}int {buffer}_bfull[{panel.row_slots}] __attribute__((unused)) = {{0}};"]
    elif panel.operands:
        lines += [f"{pad}{element} {buffer}[{panel.elements}] "
                  f"__attribute__((aligned(64), unused));",
                  f"{pad}{INDEX_TYPE} {buffer}_key[{PANEL_KEYS}] __attribute__((unused)) = {{0}};",
                  f"{pad}int {buffer}_full __attribute__((unused)) = 0;"]
    if panel.gathered:
        # aligned to a cache line, as malloc's 16 bytes are not: a vector load of 64 bytes
        # from a 16-byte boundary spans two lines (gemm's micro-kernel: 4% of its time)
        lines += [*_aligned_heap(f"{buffer}_v", element, panel.gathered_elements, pad),
                  f"{pad}{INDEX_TYPE} {buffer}_vkey[{panel.slots}][{PANEL_KEYS}] "
                  f"__attribute__((unused)) = {{{{0}}}};",
                  f"{pad}int {buffer}_vfull[{panel.slots}] __attribute__((unused)) = {{0}};"]
    return lines


def _aligned_heap(name: str, element: str, elements: int, pad: str) -> list[str]:
    """Return the declarations of ``name``, ``elements`` values on the heap aligned to
    ``PANEL_ALIGN`` (null if the allocation failed), and of ``{name}_raw``, what to free."""
    return [f"{pad}void *{name}_raw = __builtin_malloc(sizeof ({element}) * {elements} + "
            f"{PANEL_ALIGN});",
            f"{pad}{element} *{name} = {name}_raw ? ({element} *) "
            f"(((__UINTPTR_TYPE__) {name}_raw + {PANEL_ALIGN - 1}) & "
            f"~(__UINTPTR_TYPE__) {PANEL_ALIGN - 1}) : 0;"]


def panel_allocations(panel: Panel, names: KernelNames) -> list[str]:
    """Return the pointers ``panel_declarations`` allocates on the heap."""
    buffer = names.panel_buffer(panel)
    return ([f"{buffer}_b"] if panel.operands and panel.row_slots else []) + \
        ([f"{buffer}_v"] if panel.gathered else [])


def panel_release(panel: Panel, names: KernelNames, pad: str) -> list[str]:
    """Return the lines that free what ``panel_declarations`` allocated."""
    return [f"{pad}__builtin_free({name}_raw);" for name in panel_allocations(panel, names)]


# The alignment of the heap panels, in bytes: a cache line, and the widest vector.
PANEL_ALIGN = 64


# Entries of a panel's key: the row or column block, the reduction range, the columns a
# transposed block holds, and each other iterator of the statement fixed in the micro-kernel
# (at most this many, checked when emitted).
PANEL_KEYS = 16


def panel_fits(code: KernelCode) -> bool:
    """Return whether the vector code of ``code`` can use its kernel's panel (the key has
    room for every fixed iterator)."""
    return code.kernel.panel is not None and 4 + len(code.others) <= PANEL_KEYS


def vector_lines(code: KernelCode, statement_iterators: tuple[str, ...], text_of,
                 iterator_type: str, loop_name: str, names: KernelNames, pad: str,
                 unit: str) -> list[str]:
    """Return the C lines of the vector code of one full micro-tile, or, with ``code.last``,
    of a micro-tile full up to that column (its accumulators copied in and out through a
    buffer for the columns it has, its transposed panel block zero past them). ``text_of``
    prints an isl AST expression."""
    kernel = code.kernel
    form = kernel.vector_statement
    lanes = kernel.lanes
    rows = kernel.mr if kernel.rows is not None else 1
    groups = kernel.nr // lanes
    roles = kernel.iterators
    base_rows = f"({INDEX_TYPE}) ({text_of(code.bases[0])})" if kernel.rows is not None \
        else None
    base_vector = f"({INDEX_TYPE}) ({text_of(code.bases[-1])})"
    fixed = {statement_iterators[index]: text_of(expr) for index, expr in code.others.items()}
    reduction_index, reduction_sign = roles[2]
    vector_index = roles[1][0]

    def substitution(row: int, group: int) -> dict[str, str]:
        values = dict(fixed)
        values[statement_iterators[reduction_index]] = \
            loop_name if reduction_sign > 0 else f"-{loop_name}"
        values[statement_iterators[vector_index]] = f"{base_vector} + {group * lanes}"
        if kernel.rows is not None:
            index, sign = roles[0]
            value = f"{base_rows} + {row}"
            values[statement_iterators[index]] = value if sign > 0 else f"-({value})"
        return values

    vector_name = statement_iterators[vector_index]
    accumulators = {(row, group): f"{names.accumulator}{row}_{group}"
                    for row in range(rows) for group in range(groups)}
    inner = pad + unit
    body = pad + unit * 2
    # The element type is spelled as the written array's own (``__typeof__``), not as the
    # type the declarations had when the file was tiled: a file tiled once and compiled with
    # another -D for its element type (double, then float) stays correct (lanes elements a
    # vector either way; narrower elements only leave part of the register unused).
    first = c_text(form.target, substitution(0, 0))
    lines = [(f"{inner}typedef __typeof__({first}) {names.vector_type} "
              f"__attribute__((vector_size({lanes} * sizeof({first}))));")]
    lines.append(f"{inner}{names.vector_type} "
                 + ", ".join(accumulators.values()) + ";")
    element = f"__typeof__({first})"
    target_text = {}
    edge, columns, part = f"{names.accumulator}_edge", None, f"{names.accumulator}_part"
    column = f"{loop_name}_column"

    def at_column(row: int) -> str:
        # the written element of ``row`` in the edge copies' column
        return c_text(form.target, dict(substitution(row, 0), **{
            vector_name: f"{base_vector} + {column}"}))

    if code.last is not None:
        # a micro-tile at the band's edge: its columns copied into a buffer the vector code
        # reads and writes whole, and back (element by element: a copy of a variable size
        # would be a call, and gcc then spilled accumulators in the loop)
        columns = f"{names.accumulator}_width"
        lines += [f"{inner}const {INDEX_TYPE} {columns} = ({text_of(code.last)}) - {base_vector}"
                  " + 1;",
                  f"{inner}const int {part} = {columns} < {kernel.nr};",
                  f"{inner}{element} {edge}[{rows * kernel.nr}];",
                  f"{inner}if ({part}) {{",
                  f"{body}for ({INDEX_TYPE} {column} = 0; {column} < {kernel.nr}; "
                  f"{column}++) {{"]
        for row in range(rows):
            lines.append(f"{body}{unit}{edge}[{row * kernel.nr} + {column}] = {column} < "
                         f"{columns} ? {at_column(row)} : ({element}) 0;")
        lines += [f"{body}}}", f"{inner}}}"]
    for (row, group), name in accumulators.items():
        address = "&" + c_text(form.target, substitution(row, group))
        target_text[(row, group)] = address
        if columns is not None:
            address = f"{part} ? &{edge}[{row * kernel.nr + group * lanes}] : {address}"
        lines.append(f"{inner}__builtin_memcpy(&{name}, {address}, sizeof {name});")
    packed: dict = {}
    gathered: dict = {}
    lower, upper = text_of(code.lower), text_of(code.upper)
    step = ""
    if panel_fits(code):
        panel = kernel.panel
        buffer = names.panel_buffer(panel)
        lines.append(f"{inner}const {INDEX_TYPE} {buffer}_lo = ({lower}), "
                     f"{buffer}_hi = ({upper});")
        lower, upper = f"{buffer}_lo", f"{buffer}_hi"
        others = [fixed[name] for name in sorted(fixed)]
        if panel.operands:
            key = ([base_rows] if base_rows is not None else []) + [lower, upper] + others
            array, full, keys = buffer, f"{buffer}_full", f"{buffer}_key"
            if panel.row_slots:
                # the row block's own panel among those kept across the tiles
                slot = f"{buffer}_bslot"
                lines += [f"{inner}const {INDEX_TYPE} {slot} = (({base_rows}) / {rows} % "
                          f"{panel.row_slots} + {panel.row_slots}) % {panel.row_slots};",
                          f"{inner}{element} *{buffer}_blk = {buffer}_b + {slot} * "
                          f"{panel.elements};"]
                array, full, keys = f"{buffer}_blk", f"{buffer}_bfull[{slot}]", \
                    f"{buffer}_bkey[{slot}]"
            lines += _panel_fill(panel, array, full, keys, key, (lower, upper), rows,
                                 substitution, loop_name, element, inner, unit)
            # a pointer walks the panel: gcc then needs no register for the step's offset
            lines.append(f"{inner}const {element} *{buffer}_at = {array};")
            step += f", {buffer}_at += {panel.width}"
            for number, place in enumerate(panel.places):
                for row in range(rows):
                    packed[(row, place)] = f"{buffer}_at[{number * rows + row}]"
        if panel.gathered:
            lane = f"{loop_name}_lane"

            def along(values: dict[str, str]) -> dict[str, str]:
                return dict(values, **{vector_name: f"{base_vector} + {lane}"})

            lines += _gathered_fill(panel, buffer,
                                    [base_vector, lower, upper, columns or str(panel.nr)]
                                    + others, base_vector, (lower, upper),
                                    along(substitution(0, 0)), loop_name, lane, element, inner,
                                    unit, columns)
            width = len(panel.gathered) * panel.nr
            step += f", {buffer}_vat += {width}"
            for number, ref in enumerate(panel.gathered):
                for group in range(groups):
                    gathered[(number, group)] = \
                        f"{buffer}_vat[{number * panel.nr + group * lanes}]"
    lines.append(f"{inner}for ({INDEX_TYPE} {loop_name} = {lower}, "
                 f"{loop_name}_end = {upper}; {loop_name} <= {loop_name}_end; "
                 f"{loop_name}++{step}) {{")
    for (row, group), name in accumulators.items():
        loads = {ref: gathered[(number, group)]
                 for number, ref in enumerate(kernel.panel.gathered)} if gathered else {}
        value = _vector_text(form.update, form.target, vector_name, substitution(row, group),
                             name, element, names,
                             {place: text for (r, place), text in packed.items() if r == row},
                             loads)
        lines.append(f"{body}{name} = {value};")
    lines.append(f"{inner}}}")
    stores = [f"__builtin_memcpy({target_text[(row, group)]}, &{name}, sizeof {name});"
              for (row, group), name in accumulators.items()]
    if columns is None:
        return lines + [inner + line for line in stores]
    lines.append(f"{inner}if ({part}) {{")
    for (row, group), name in accumulators.items():
        lines.append(f"{body}__builtin_memcpy(&{edge}[{row * kernel.nr + group * lanes}], "
                     f"&{name}, sizeof {name});")
    # (a loop to the width would be turned into calls to memcpy)
    lines += [f"{body}for ({INDEX_TYPE} {column} = 0; {column} < {kernel.nr}; {column}++) {{",
              f"{body}{unit}if ({column} < {columns}) {{"]
    for row in range(rows):
        lines.append(f"{body}{unit * 2}{at_column(row)} = {edge}[{row * kernel.nr} + {column}];")
    return lines + [f"{body}{unit}}}", f"{body}}}", f"{inner}}} else {{",
                    *[body + line for line in stores], f"{inner}}}"]


def _vector_text(expr: Expr, target: ArrayRef, vector: str, values: dict[str, str],
                 accumulator: str, element: str, names: KernelNames,
                 packed: dict[int, str] | None = None, gathered: dict | None = None) -> str:
    """Return the vector expression of ``expr``: the written element is the accumulator,
    references along the vector member are loads, the rest broadcast scalars; the broadcast
    operand number n (in the order ``broadcast_operands`` gives) is read as ``packed[n]``
    where given (a panel's entry)."""
    count = [0]

    def text(expr: Expr) -> str:
        if not _mentions(expr, vector):
            place, count[0] = count[0], count[0] + 1
            if packed and place in packed:
                return f"(({element}) {packed[place]})"
            return f"(({element}) {c_text(expr, values)})"
        if isinstance(expr, ArrayRef):
            if _same_reference(expr, target):
                return accumulator
            for ref, place in (gathered or {}).items():
                if _same_reference(expr, ref):
                    return f"{names.load}(&{place})"
            assert stride_along(expr, vector) == "unit"
            return f"{names.load}(&{c_text(expr, values)})"
        if isinstance(expr, Binary):
            left = text(expr.left)
            return f"({left} {expr.op} {text(expr.right)})"
        if isinstance(expr, Unary):
            return f"({expr.op}{text(expr.operand)})"
        raise ValueError("no vector form")  # vector_form accepted only the cases above

    return text(expr)


def _refill(full: str, keys: str, key: list[str], fill: list[str], pad: str, unit: str
            ) -> list[str]:
    """Return ``fill`` (lines at ``pad + unit``) run unless the buffer is ``full`` with
    ``keys`` equal to ``key`` (what its values depend on besides data the tile does not
    write), and the lines recording the new key."""
    same = " && ".join(f"{keys}[{k}] == {value}" for k, value in enumerate(key))
    return [f"{pad}if (!({full} && {same})) {{", *fill,
            *[f"{pad}{unit}{keys}[{k}] = {value};" for k, value in enumerate(key)],
            f"{pad}{unit}{full} = 1;"]


def _panel_fill(panel: Panel, buffer: str, full: str, keys: str, key: list[str],
                bounds: tuple[str, str], rows: int, substitution, loop_name: str, element: str,
                pad: str, unit: str) -> list[str]:
    """Return the lines that fill ``panel``'s ``buffer`` for the micro-tile at hand, unless
    it holds its values already (``full``, with ``keys`` equal to ``key``); ``bounds`` is the
    reduction range."""
    lower, upper = bounds
    fill = [f"{pad}{unit}for ({INDEX_TYPE} {loop_name} = {lower}; {loop_name} <= {upper}; "
            f"{loop_name}++) {{"]
    for number, operand in enumerate(panel.operands):
        for row in range(rows):
            fill.append(f"{pad}{unit * 2}{buffer}[({loop_name} - {lower}) * {panel.width} + "
                        f"{number * rows + row}] = ({element}) "
                        f"{c_text(operand, substitution(row, 0))};")
    fill.append(f"{pad}{unit}}}")
    return _refill(full, keys, key, fill, pad, unit) + [f"{pad}}}"]


def _gathered_fill(panel: Panel, buffer: str, key: list[str], base_vector: str,
                   bounds: tuple[str, str], values: dict[str, str], loop_name: str, lane: str,
                   element: str, pad: str, unit: str, columns: str | None = None
                   ) -> list[str]:
    """Return the lines that find the block of the transposed panel for the micro-tile's
    column block, fill it unless it holds its values already (``key``), and point
    ``{buffer}_vat`` at its first step; with ``columns``, only that many columns are read
    and the others are zero."""
    lower, upper = bounds
    width = len(panel.gathered) * panel.nr
    block = panel.steps * width
    slot = f"{buffer}_slot"
    fill = [f"{pad}{unit}for ({INDEX_TYPE} {loop_name} = {lower}; {loop_name} <= {upper}; "
            f"{loop_name}++, {buffer}_vat += {width}) {{",
            f"{pad}{unit * 2}for ({INDEX_TYPE} {lane} = 0; {lane} < {panel.nr}; {lane}++) {{"]
    for number, ref in enumerate(panel.gathered):
        value = f"({element}) {c_text(ref, values)}"
        if columns is not None:
            value = f"{lane} < {columns} ? {value} : ({element}) 0"
        fill.append(f"{pad}{unit * 3}{buffer}_vat[{number * panel.nr} + {lane}] = {value};")
    fill += [f"{pad}{unit * 2}}}", f"{pad}{unit}}}"]
    return [f"{pad}const {INDEX_TYPE} {slot} = (({base_vector}) / {panel.nr} % {panel.slots}"
            f" + {panel.slots}) % {panel.slots};",
            f"{pad}{element} *{buffer}_vat = {buffer}_v + {slot} * {block};",
            *_refill(f"{buffer}_vfull[{slot}]", f"{buffer}_vkey[{slot}]", key, fill, pad, unit),
            f"{pad}{unit}{buffer}_vat = {buffer}_v + {slot} * {block};", f"{pad}}}"]
