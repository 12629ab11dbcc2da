"""Vector code of a micro-kernel: for a full micro-tile, the accumulators are GNU C vector
variables loaded before the reduction loop and stored after it; every reference that moves
along the vector member is a vector load, every other operand a broadcast scalar. Partial
micro-tiles, and compilers without GNU C vectors, run the generic code isl generates."""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl

from tiler.syntax import ArrayRef, Binary, Expr, Unary
from tiler.transform.register import MICRO_MARK, MicroKernel
from tiler.transform.vector_form import VECTOR_ELEMENT_TYPES, c_text, stride_along

# The type of the micro-kernel's own indices: 64-bit, so that the compiler sees the rows of
# a micro-tile at constant offsets from one base (int indices are sign-extended row by row,
# and gcc 12 kept each row's offset in a register of its own and spilled them).
INDEX_TYPE = "long"
# Name of the annotation the AST callback puts on a micro-kernel's mark node.
CODE_ANNOTATION = "tiler_micro_code"


@dataclass(frozen=True)
class KernelRelations:
    """A micro-kernel's instances in schedule terms: ``points`` maps the values of the loops
    above the mark to (reduction, [rows,] vector) values; ``instances`` maps the values of
    the loops above the mark to the statement's instances."""

    kernel: MicroKernel
    points: isl.Map
    instances: isl.Map


@dataclass(frozen=True)
class KernelCode:
    """What the vector code of one occurrence of a micro-kernel needs, as isl AST
    expressions of the loops around it."""

    kernel: MicroKernel
    full: isl.AstExpr               # the micro-tile is full (a box, every reduction step)
    lower: isl.AstExpr              # the reduction loop's bounds
    upper: isl.AstExpr
    bases: tuple[isl.AstExpr, ...]  # the first value of the rows (if any) and vector members
    others: dict                    # statement iterator index -> value (fixed in the kernel)
    depth: int                      # schedule depth of the reduction loop


def kernel_relations(schedule: isl.Schedule) -> dict[str, KernelRelations]:
    """Return the relations of every micro-kernel with vector code, by mark name."""
    found: dict[str, KernelRelations] = {}

    def visit(node: isl.ScheduleNode) -> None:
        if node.get_type() == isl.schedule_node_type.mark and \
                node.mark_get_id().get_name().startswith(MICRO_MARK):
            kernel = node.mark_get_id().get_user()
            if isinstance(kernel, MicroKernel) and kernel.vectorised:
                prefix = node.get_prefix_schedule_union_map()
                reduction = node.child(0)
                points = reduction.band_get_partial_schedule_union_map().flat_range_product(
                    reduction.child(0).band_get_partial_schedule_union_map())
                domain = node.get_domain()
                by_prefix = prefix.intersect_domain(domain).reverse()
                relation = by_prefix.apply_range(points.intersect_domain(domain))
                if relation.n_map() == 1 and by_prefix.n_map() == 1:
                    found[node.mark_get_id().get_name()] = KernelRelations(
                        kernel, isl.Map.from_union_map(relation),
                        isl.Map.from_union_map(by_prefix))
        for k in range(node.n_children()):
            visit(node.child(k))

    visit(schedule.get_root())
    return found


def _anonymous(relation: isl.Map, space: isl.Space) -> isl.Map | None:
    """Return ``relation`` with unnamed tuples and the parameters of ``space``; None when
    its domain does not have the dimensions of ``space``."""
    if relation.dim(isl.dim_type.in_) != space.dim(isl.dim_type.set):
        return None
    relation = relation.align_params(space)
    return relation.reset_tuple_id(isl.dim_type.in_).reset_tuple_id(isl.dim_type.out)


def _in_build_space(value, space: isl.Space):
    """Return a set or piecewise affine function on an unnamed flat tuple moved to the
    build's schedule ``space`` (a nest of wrapped tuples, one per band)."""
    flatten = isl.Set.universe(space).flatten_map()          # nested -> flat
    if isinstance(value, isl.Set):
        return value.align_params(space).apply(flatten.reverse())
    return value.align_params(space).pullback_pw_multi_aff(isl.PwMultiAff.from_map(flatten))


def kernel_code(relations: KernelRelations, build: isl.AstBuild) -> KernelCode | None:
    """Return the expressions of the vector code at one occurrence of a micro-kernel (the
    AST ``build`` at its mark), or None when its instances do not have the form it needs."""
    kernel = relations.kernel
    space = build.get_schedule_space()
    points = _anonymous(relations.points, space)
    instances = _anonymous(relations.instances, space)
    if points is None or instances is None:
        return None
    outer = space.dim(isl.dim_type.set)
    inner = 2 if kernel.rows is not None else 1
    if outer < inner:
        return None
    # Bounds of the reduction loop, then the box every full micro-tile fills.
    steps = points.project_out(isl.dim_type.out, 1, inner)
    lower = steps.lexmin_pw_multi_aff().get_pw_aff(0)
    upper = steps.lexmax_pw_multi_aff().get_pw_aff(0)
    box = _box(points.get_space(), lower, upper, kernel, outer)
    missing = box.subtract(points).domain()
    full = points.domain().subtract(missing).coalesce()
    if full.is_empty():
        return None
    lower, upper = lower.gist(full).coalesce(), upper.gist(full).coalesce()
    local = isl.LocalSpace.from_space(points.get_space().domain())
    bases = tuple(build.expr_from_pw_aff(_in_build_space(
        isl.PwAff.var_on_domain(local, isl.dim_type.set, d), space))
        for d in range(outer - inner, outer))
    others = {}
    roles = {index for index, _ in (found for found in kernel.iterators if found)}
    for index in range(instances.dim(isl.dim_type.out)):
        if index in roles:
            continue
        value = instances.project_out(isl.dim_type.out, index + 1,
                                      instances.dim(isl.dim_type.out) - index - 1) \
            .project_out(isl.dim_type.out, 0, index)
        if not value.is_single_valued():
            return None
        others[index] = build.expr_from_pw_aff(_in_build_space(
            isl.PwMultiAff.from_map(value.intersect_domain(full)).get_pw_aff(0), space))
    return KernelCode(kernel, build.expr_from_set(_in_build_space(full, space)),
                      build.expr_from_pw_aff(_in_build_space(lower,
                                                             space)),
                      build.expr_from_pw_aff(_in_build_space(upper,
                                                             space)),
                      bases, others, outer)


def _box(space: isl.Space, lower: isl.PwAff, upper: isl.PwAff, kernel: MicroKernel,
         outer: int) -> isl.Map:
    """Return {P -> [k, (m,) v] : lower(P) <= k <= upper(P), base <= m, v < base + size},
    the bases being the last members of P (the micro-tile's outer loops)."""
    names = [f"p{d}" for d in range(outer)]
    inner = ["m", "v"] if kernel.rows is not None else ["v"]
    sizes = [kernel.mr, kernel.nr] if kernel.rows is not None else [kernel.nr]
    bases = names[outer - len(inner):]
    conditions = [f"{base} <= {name} < {base} + {size}"
                  for base, name, size in zip(bases, inner, sizes)]
    text = f"{{ [{', '.join(names)}] -> [{', '.join(inner)}] : {' and '.join(conditions)} }}"
    points = isl.Map(text, context=space.get_ctx()).align_params(space)
    line = isl.Space.set_alloc(space.get_ctx(), 0, 1)
    steps = isl.Map.from_pw_aff(lower).apply_range(isl.Map.lex_le(line)).intersect(
        isl.Map.from_pw_aff(upper).apply_range(isl.Map.lex_ge(line)))
    steps = steps.reset_tuple_id(isl.dim_type.out)
    points = points.align_params(steps.get_space())
    return steps.flat_range_product(points.align_params(steps.get_space()))


@dataclass
class KernelNames:
    """Identifiers the vector code declares, chosen clear of the file's names."""

    vector_type: str
    accumulator: str
    load: str


def vector_lines(code: KernelCode, statement_iterators: tuple[str, ...], text_of,
                 iterator_type: str, loop_name: str, names: KernelNames, pad: str,
                 unit: str) -> list[str]:
    """Return the C lines of the vector code of one full micro-tile. ``text_of`` prints an
    isl AST expression."""
    kernel = code.kernel
    form = kernel.vector_statement
    element = form.element_type
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
    vector_bytes = lanes * VECTOR_ELEMENT_TYPES[element]
    lines = [(f"{inner}typedef {element} {names.vector_type} "
              f"__attribute__((vector_size({vector_bytes})));")]
    lines.append(f"{inner}{names.vector_type} "
                 + ", ".join(accumulators.values()) + ";")
    target_text = {}
    for (row, group), name in accumulators.items():
        address = "&" + c_text(form.target, substitution(row, group))
        target_text[(row, group)] = address
        lines.append(f"{inner}__builtin_memcpy(&{name}, {address}, sizeof {name});")
    lines.append(f"{inner}for ({INDEX_TYPE} {loop_name} = {text_of(code.lower)}, "
                 f"{loop_name}_end = {text_of(code.upper)}; {loop_name} <= {loop_name}_end; "
                 f"{loop_name}++) {{")
    for (row, group), name in accumulators.items():
        value = _vector_text(form.update, form.target, vector_name, substitution(row, group),
                             name, element, names)
        lines.append(f"{body}{name} = {value};")
    lines.append(f"{inner}}}")
    for (row, group), name in accumulators.items():
        lines.append(f"{inner}__builtin_memcpy({target_text[(row, group)]}, &{name}, "
                     f"sizeof {name});")
    return lines


def _vector_text(expr: Expr, target: ArrayRef, vector: str, values: dict[str, str],
                 accumulator: str, element: str, names: KernelNames) -> str:
    """Return the vector expression of ``expr``: the written element is the accumulator,
    references along the vector member are loads, the rest broadcast scalars."""
    from tiler.transform.vector_form import _mentions, _same_reference
    if not _mentions(expr, vector):
        return f"(({element}) {c_text(expr, values)})"
    if isinstance(expr, ArrayRef):
        if _same_reference(expr, target):
            return accumulator
        assert stride_along(expr, vector) == "unit"
        return f"{names.load}(&{c_text(expr, values)})"
    if isinstance(expr, Binary):
        left = _vector_text(expr.left, target, vector, values, accumulator, element, names)
        right = _vector_text(expr.right, target, vector, values, accumulator, element, names)
        return f"({left} {expr.op} {right})"
    if isinstance(expr, Unary):
        inner = _vector_text(expr.operand, target, vector, values, accumulator, element, names)
        return f"({expr.op}{inner})"
    raise ValueError("no vector form")  # vector_form accepted only the cases above
