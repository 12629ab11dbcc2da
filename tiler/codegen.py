"""Code generation: a schedule tree becomes C loops through ``isl.AstBuild``; statements are
emitted as calls of function-like macros whose parameters are parenthesised in the body."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field, replace

import islpy as isl

from tiler.deadline import run_with_deadline
from tiler.microkernel import (
    CODE_ANNOTATION,
    KernelCode,
    KernelNames,
    edge_loads_packed,
    kernel_code,
    kernel_relations,
    panel_allocations,
    panel_declarations,
    panel_fits,
    panel_release,
    vector_lines,
)
from tiler.model import Scop
from tiler.transform.panel import PANEL_MARK, Panel
from tiler.transform.parallel import parallel_mark_depth
from tiler.transform.register import MICRO_MARK

HELPER_DEFINITIONS = {
    "floord": "#define {name}(n, d) (((n) < 0) ? -((-(n) + (d) - 1) / (d)) : (n) / (d))",
    "min": "#define {name}(x, y) ((x) < (y) ? (x) : (y))",
    "max": "#define {name}(x, y) ((x) > (y) ? (x) : (y))",
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(text: str) -> set[str]:
    """Return every identifier-like word of a C text (used to avoid name collisions)."""
    return set(_IDENTIFIER.findall(text))


def fresh_prefix(candidates: list[str], taken: set[str]) -> str:
    """Return the first prefix ``p`` among ``candidates``, then ``last_1_``, ``last_2_``, ...
    (``last`` the last candidate), such that no ``p<digits>`` is among ``taken``. There always
    is one: a name rules out at most one of the numbered prefixes."""
    ruled_out = {name[:end] for name in taken
                 for end in range(len(name.rstrip("0123456789")), len(name))}
    numbered = (f"{candidates[-1]}_{number}_" for number in itertools.count(1))
    return next(prefix for prefix in itertools.chain(candidates, numbered)
                if prefix not in ruled_out)


def fresh_name(candidates: list[str], taken: set[str]) -> str:
    """Return the first name among ``candidates``, then ``last_1``, ``last_2``, ..., that is not
    in ``taken``."""
    numbered = (f"{candidates[-1]}_{number}" for number in itertools.count(1))
    return next(name for name in itertools.chain(candidates, numbered) if name not in taken)


# isl AST operations printed as C binary operators: the symbol and its precedence.
_BINARY = {
    isl.ast_expr_op_type.and_: ("&&", 5), isl.ast_expr_op_type.and_then: ("&&", 5),
    isl.ast_expr_op_type.or_: ("||", 4), isl.ast_expr_op_type.or_else: ("||", 4),
    isl.ast_expr_op_type.eq: ("==", 9), isl.ast_expr_op_type.le: ("<=", 10),
    isl.ast_expr_op_type.lt: ("<", 10), isl.ast_expr_op_type.ge: (">=", 10),
    isl.ast_expr_op_type.gt: (">", 10), isl.ast_expr_op_type.add: ("+", 12),
    isl.ast_expr_op_type.sub: ("-", 12), isl.ast_expr_op_type.mul: ("*", 13),
    isl.ast_expr_op_type.div: ("/", 13), isl.ast_expr_op_type.pdiv_q: ("/", 13),
    isl.ast_expr_op_type.pdiv_r: ("%", 13), isl.ast_expr_op_type.zdiv_r: ("%", 13),
}


@dataclass
class _Printer:
    """Prints an isl AST as C; records which helper macros the text uses."""

    names: dict[str, str]                 # isl id name -> C text
    helpers: dict[str, str]               # helper ("floord", "min", "max") -> macro name
    iterator_type: str
    taken: set[str] = field(default_factory=set)      # names the file uses already
    loop_prefix: str = "c"                             # generated iterators are c0, c1, ...
    indent_unit: str = "  "
    used_helpers: set[str] = field(default_factory=set)
    statement_iterators: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kernel_names: KernelNames | None = None
    vector_kernels: int = 0                            # micro-tiles given vector code
    # while printing a micro-kernel's generic code for part of its steps: (the reduction
    # loop's iterator, its lowest and highest value, None: as it is), how many loops were
    # clipped, and whether one could not be (a single step, or a step other than 1)
    clip: tuple[str, str | None, str | None] | None = None
    clipped: int = 0
    unclipped: bool = False

    # ---- expressions ------------------------------------------------------------------

    def expr(self, node: isl.AstExpr) -> tuple[str, int]:
        """Return C text for ``node`` and its precedence (higher binds tighter)."""
        kind = node.get_type()
        if kind == isl.ast_expr_type.int:
            value = node.get_val().to_python()
            return str(value), (16 if value >= 0 else 14)
        if kind == isl.ast_expr_type.id:
            name = node.get_id().get_name()
            return self.names.get(name, name), 16
        op = node.get_op_type()
        args = [node.get_op_arg(k) for k in range(node.get_op_n_arg())]
        if op in _BINARY:
            symbol, prec = _BINARY[op]
            left = self.wrap(args[0], prec)
            right = self.wrap(args[1], prec + 1)
            return f"{left} {symbol} {right}", prec
        if op == isl.ast_expr_op_type.minus:
            return f"-{self.wrap(args[0], 15)}", 14
        if op in (isl.ast_expr_op_type.min, isl.ast_expr_op_type.max):
            helper = "min" if op == isl.ast_expr_op_type.min else "max"
            self.used_helpers.add(helper)
            text = self.expr(args[0])[0]
            for arg in args[1:]:
                text = f"{self.helpers[helper]}({text}, {self.expr(arg)[0]})"
            return text, 16
        if op == isl.ast_expr_op_type.fdiv_q:
            self.used_helpers.add("floord")
            return f"{self.helpers['floord']}({self.expr(args[0])[0]}, {self.expr(args[1])[0]})", 16
        if op in (isl.ast_expr_op_type.cond, isl.ast_expr_op_type.select):
            return (f"{self.wrap(args[0], 4)} ? {self.wrap(args[1], 3)} : "
                    f"{self.wrap(args[2], 3)}"), 3
        if op == isl.ast_expr_op_type.call:
            function = self.expr(args[0])[0]
            return f"{function}({', '.join(self.expr(a)[0] for a in args[1:])})", 16
        raise NotImplementedError(f"isl AST operation {op}")

    def _bound(self, condition: isl.AstExpr, iterator: str, init: str,
               hoist: bool = True) -> tuple[str, str]:
        """Return the declarations and the condition of a for loop. An upper bound that is
        an expression (``c3 <= min(N - 1, c1 + 31)``) is computed once into a variable of
        its own: GCC does not vectorise a loop whose bound it must re-evaluate."""
        text = self.expr(condition)[0]
        if not hoist or condition.get_type() != isl.ast_expr_type.op or condition.get_op_type() not in (
                isl.ast_expr_op_type.le, isl.ast_expr_op_type.lt):
            return f"{iterator} = {init}", text
        left, right = condition.get_op_arg(0), condition.get_op_arg(1)
        bound = self.expr(right)[0]
        end = f"{iterator}_end"
        simple = right.get_type() != isl.ast_expr_type.op
        if (simple or self.expr(left)[0] != iterator or end in self.taken
                or re.search(rf"\b{re.escape(iterator)}\b", bound)):
            return f"{iterator} = {init}", text
        symbol = "<=" if condition.get_op_type() == isl.ast_expr_op_type.le else "<"
        return f"{iterator} = {init}, {end} = {bound}", f"{iterator} {symbol} {end}"

    def wrap(self, node: isl.AstExpr, needed: int) -> str:
        text, prec = self.expr(node)
        return text if prec >= needed else f"({text})"

    # ---- statements -------------------------------------------------------------------
    def node(self, node: isl.AstNode, depth: int, parallel: str | None = None) -> list[str]:
        """Return the lines of ``node``; ``parallel`` names the iterator of the loop a
        parallel mark above it is about: only a loop with that iterator gets the pragma (isl
        emits no loop for a member with a single value, and the mark must not fall through
        to the next loop, which may carry a dependence)."""
        pad = self.indent_unit * depth
        kind = node.get_type()
        if kind == isl.ast_node_type.block:
            children = node.block_get_children()
            return [line for k in range(children.n_ast_node())
                    for line in self.node(children.get_at(k), depth, parallel)]
        if kind == isl.ast_node_type.mark and \
                node.mark_get_id().get_name().startswith(MICRO_MARK):
            return self.micro_kernel(node, depth, parallel)
        if kind == isl.ast_node_type.mark and \
                node.mark_get_id().get_name().startswith(PANEL_MARK):
            return self.panel(node, depth, parallel)
        if kind == isl.ast_node_type.mark:
            depth_of_loop = parallel_mark_depth(node.mark_get_id().get_name())
            parallel = None if depth_of_loop is None else f"{self.loop_prefix}{depth_of_loop}"
            return self.node(node.mark_get_node(), depth, parallel)
        if kind == isl.ast_node_type.user:
            return [f"{pad}{self.expr(node.user_get_expr())[0]};"]
        if kind == isl.ast_node_type.if_:
            lines = [f"{pad}if ({self.expr(node.if_get_cond())[0]}) {{"]
            lines += self.node(node.if_get_then_node(), depth + 1, parallel)
            if node.if_has_else_node():
                lines.append(f"{pad}}} else {{")
                lines += self.node(node.if_get_else_node(), depth + 1, parallel)
            return lines + [f"{pad}}}"]
        if kind == isl.ast_node_type.for_:
            iterator = self.expr(node.for_get_iterator())[0]
            init = self.expr(node.for_get_init())[0]
            body = node.for_get_body()
            if node.for_is_degenerate():
                if self.clip is not None and self.clip[0] == iterator:
                    self.unclipped = True      # one step, no loop to clip
                declaration = f"{pad}{self.indent_unit}{self.iterator_type} {iterator} = {init};"
                return [f"{pad}{{", declaration, *self.node(body, depth + 1), f"{pad}}}"]
            increment = self.expr(node.for_get_inc())[0]
            step = f"{iterator}++" if increment == "1" else f"{iterator} += {increment}"
            marked = parallel == iterator
            # OpenMP takes one variable in the init-statement of a parallel loop
            declarations, condition = self._bound(node.for_get_cond(), iterator, init,
                                                  hoist=not marked)
            if self.clip is not None and self.clip[0] == iterator:
                if increment != "1":
                    self.unclipped = True
                _, low, high = self.clip
                if low is not None:
                    declarations = (f"{iterator} = ({init}) > {low} ? ({init}) : {low}"
                                    + declarations[len(f"{iterator} = {init}"):])
                if high is not None:
                    condition = f"{condition} && {iterator} <= {high}"
                self.clipped += 1
            lines = [f"{pad}#pragma omp parallel for"] if marked else []
            lines.append(f"{pad}for ({self.iterator_type} {declarations}; {condition}; "
                         f"{step}) {{")
            return lines + self.node(body, depth + 1) + [f"{pad}}}"]
        raise NotImplementedError(f"isl AST node {kind}")

    def condition(self, node: isl.AstExpr) -> str:
        """Return a condition with every operand of ``||`` parenthesised (compilers warn
        about ``a && b || c``)."""
        if node.get_type() == isl.ast_expr_type.op and node.get_op_type() in (
                isl.ast_expr_op_type.or_, isl.ast_expr_op_type.or_else,
                isl.ast_expr_op_type.and_, isl.ast_expr_op_type.and_then):
            symbol = "||" if node.get_op_type() in (isl.ast_expr_op_type.or_,
                                                    isl.ast_expr_op_type.or_else) else "&&"
            return f" {symbol} ".join(f"({self.condition(node.get_op_arg(k))})"
                                      for k in range(node.get_op_n_arg()))
        return self.expr(node)[0]

    def micro_kernel(self, node: isl.AstNode, depth: int, parallel: str | None) -> list[str]:
        """Return the lines of a micro-kernel: vector code for full micro-tiles under
        ``#if defined(__GNUC__)``; for micro-tiles full over an interval of their reduction
        steps (a triangular band's diagonal), the generic code clipped to the steps before
        it, vector code over it, the generic code clipped to the steps after it; the
        generic code for the others."""
        generic = self.node(node.mark_get_node(), depth, parallel)
        try:
            code = node.get_annotation().get_user()
        except isl.Error:          # no annotation: no vector code for this occurrence
            code = None
        if not isinstance(code, KernelCode) or self.kernel_names is None:
            return generic
        panel = code.kernel.panel
        if panel is not None and panel.gathered and not panel_fits(code):
            return generic            # its vector code needs the transposed panel
        pad = self.indent_unit * depth
        inner_pad = pad + self.indent_unit
        loop = f"{self.loop_prefix}{code.depth}"
        branches = []
        if code.full is not None:
            branches.append((self._guarded(code, self.condition(code.full)),
                             self._vector(code, pad, loop)))
        if code.middle is not None:
            where, first, last = code.middle
            middle = replace(code, lower=first, upper=last)
            before = self._clipped(node, depth + 1, parallel, loop, None,
                                   f"({self.expr(first)[0]}) - 1")
            after = self._clipped(node, depth + 1, parallel, loop,
                                  f"({self.expr(last)[0]}) + 1", None)
            if before is not None and after is not None:
                vector = self._vector(middle, inner_pad, loop)
                branches.append((self._guarded(middle, self.condition(where)),
                                 [*before, f"{inner_pad}{{", *vector, f"{inner_pad}}}", *after]))
        if not branches:
            return generic
        self.vector_kernels += 1
        lines = ["#if defined(__GNUC__)"]
        for condition, body in branches:
            lines += [f"{pad}if ({condition}) {{", *body, f"{pad}}} else"]
        inner = [self.indent_unit + line for line in generic]
        return lines + ["#endif", f"{pad}{{", *inner, f"{pad}}}"]

    def _vector(self, code: KernelCode, pad: str, loop: str) -> list[str]:
        """Return the vector code of ``code`` over its steps ``lower`` .. ``upper``."""
        return vector_lines(code, self.statement_iterators[code.kernel.statement],
                            lambda e: self.expr(e)[0], self.iterator_type, loop,
                            self.kernel_names, pad, self.indent_unit)

    def _guarded(self, code: KernelCode, condition: str) -> str:
        """Return ``condition`` and, with a panel, that its steps fit the panel (they do:
        one tile's; a guard all the same)."""
        if not panel_fits(code):
            return condition
        panel = code.kernel.panel
        steps = f"({self.expr(code.upper)[0]}) - ({self.expr(code.lower)[0]})"
        allocated = "".join(f" && {name}"
                            for name in panel_allocations(panel, self.kernel_names))
        return f"({condition}) && {steps} < {panel.steps}{allocated}"

    def _clipped(self, node: isl.AstNode, depth: int, parallel: str | None, loop: str,
                 low: str | None, high: str | None) -> list[str] | None:
        """Return the generic code of a micro-kernel with its reduction loop ``loop``
        clipped to ``low`` .. ``high`` (None: that end as it is), or None when the generic
        code has no such loop to clip (isl emitted it otherwise)."""
        self.clip, self.clipped, self.unclipped = (loop, low, high), 0, False
        try:
            lines = self.node(node.mark_get_node(), depth, parallel)
        finally:
            self.clip = None
        return lines if self.clipped and not self.unclipped else None

    def panel(self, node: isl.AstNode, depth: int, parallel: str | None) -> list[str]:
        """Return the lines of the tile a packed panel lives in: the panel's declarations
        (GNU C) in a block around the tile's code."""
        panel = node.mark_get_id().get_user()
        if not isinstance(panel, Panel) or self.kernel_names is None:
            return self.node(node.mark_get_node(), depth, parallel)
        pad = self.indent_unit * depth
        declarations = panel_declarations(panel, self.kernel_names, pad + self.indent_unit)
        release = panel_release(panel, self.kernel_names, pad + self.indent_unit)
        return [f"{pad}{{", "#if defined(__GNUC__)", *declarations, "#endif",
                *self.node(node.mark_get_node(), depth + 1, parallel),
                *(["#if defined(__GNUC__)", *release, "#endif"] if release else []), f"{pad}}}"]


@dataclass(frozen=True)
class GeneratedCode:
    """C text for a region: definitions (helper and statement macros), loops, and undefs."""

    text: str
    helpers_used: frozenset[str]


def generate_with_deadline(scop: Scop, schedule: isl.Schedule, taken_names: set[str],
                           indent: str, seconds: float) -> GeneratedCode:
    """Return ``generate(...)`` computed in a child process killed after ``seconds`` (raises
    ``DeadlineExceeded``): isl's AST generation is not bounded by its operation budget and
    takes minutes on some tiled nests of strided loops."""
    def compute() -> bytes:
        code = generate(scop, schedule, taken_names, indent)
        # JSON escapes the surrogates that stand for bytes of the file that are not UTF-8.
        return json.dumps([code.text, sorted(code.helpers_used)]).encode()

    data = run_with_deadline(compute, seconds)
    if data is None:
        # The child failed: compute here to raise its error in this process.
        return generate(scop, schedule, taken_names, indent)
    text, helpers = json.loads(data)
    return GeneratedCode(text, frozenset(helpers))


def generate(scop: Scop, schedule: isl.Schedule, taken_names: set[str],
             indent: str = "") -> GeneratedCode:
    """Return the C code of ``schedule`` for ``scop``, avoiding every name in ``taken_names``
    (the identifiers of the whole file) for iterators and macros."""
    ctx = schedule.get_ctx()
    taken = set(taken_names)
    loop_prefix = fresh_prefix(["c", "t", "tile_c", "tiler_c"], taken)
    statement_prefix = fresh_prefix(["S", "tiler_S"], taken)
    helpers = {helper: fresh_name([helper, f"tiler_{helper}"], taken)
               for helper in HELPER_DEFINITIONS}

    depth = _schedule_depth(schedule)
    build = isl.AstBuild.from_context(isl.Set.universe(scop.domain.get_space().params()))
    iterator_ids = isl.IdList.alloc(ctx, depth)
    for k in range(depth):
        iterator_ids = iterator_ids.add(isl.Id(f"{loop_prefix}{k}", context=ctx))
    build = build.set_iterators(iterator_ids)
    relations = kernel_relations(schedule)
    iterators = {statement.name: statement.iterators for statement in scop.statements}

    def annotate(node: isl.AstNode, at: isl.AstBuild) -> isl.AstNode:
        found = relations.get(node.mark_get_id().get_name())
        try:
            # edge code only where the sizes leave edges: it costs registers in the loop of
            # full micro-tiles (gcc spilled an accumulator of covariance's micro-kernel)
            code = kernel_code(found, at, found.kernel.edges and edge_loads_packed(
                found.kernel, iterators[found.kernel.statement])) if found is not None else None
        except isl.Error:          # a form the vector code does not handle: generic code
            code = None
        if code is None:
            return node
        keep.append(code)
        return node.set_annotation(isl.Id(CODE_ANNOTATION, user=code, context=ctx))

    keep: list[KernelCode] = []
    if relations:
        build = build.set_after_each_mark(annotate)
        build = build[0] if isinstance(build, tuple) else build   # islpy: (build, handle)
    tree = build.node_from_schedule(schedule)

    names = {inner: c for c, inner in scop.isl_names.items()}
    names.update({s.name: statement_prefix + s.name[1:] for s in scop.statements})
    printer = _Printer(names, helpers, scop.iterator_type, taken, loop_prefix,
                       statement_iterators=iterators,
                       kernel_names=KernelNames(*(_fresh_name(base, taken) for base in
                                                  ("tiler_vector", "tiler_acc",
                                                   "tiler_load", "tiler_panel"))))
    body = printer.node(tree, 0)

    lines: list[str] = []
    for helper in sorted(printer.used_helpers):
        name = helpers[helper]
        lines += [f"#ifndef {name}", HELPER_DEFINITIONS[helper].format(name=name), "#endif"]
    for statement in scop.statements:
        macro = names[statement.name]
        lines.append(f"#define {macro}({', '.join(statement.iterators)}) {statement.body}")
    if printer.vector_kernels:
        load = printer.kernel_names.load
        # an unaligned vector load, as an expression (GNU C statement expression)
        definition = (f"#define {load}(address) ({{ {printer.kernel_names.vector_type} "
                      f"{load}_value; __builtin_memcpy(&{load}_value, (address), "
                      f"sizeof {load}_value); {load}_value; }})")
        lines += ["#if defined(__GNUC__)", definition, "#endif"]
    lines += [indent + line for line in body]
    if printer.vector_kernels:
        lines += ["#if defined(__GNUC__)", f"#undef {printer.kernel_names.load}", "#endif"]
    lines += [f"#undef {names[s.name]}" for s in scop.statements]
    return GeneratedCode("\n".join(lines) + "\n", frozenset(printer.used_helpers))


def _fresh_name(base: str, taken: set[str]) -> str:
    """Return ``base``, or ``base`` with a number, that is not among ``taken``."""
    name, number = base, 0
    while name in taken or any(t.startswith(name) for t in taken):
        number += 1
        name = f"{base}{number}"
    return name


def _schedule_depth(schedule: isl.Schedule) -> int:
    """Return the largest number of schedule dimensions on any path (loops to name)."""
    def visit(node: isl.ScheduleNode) -> int:
        own = node.band_n_member() if node.get_type() == isl.schedule_node_type.band else 0
        return own + max((visit(node.child(k)) for k in range(node.n_children())), default=0)
    return visit(schedule.get_root()) + 1
