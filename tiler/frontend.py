"""Frontend: find the ``#pragma scop`` regions of a C file and build their polyhedral model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import islpy as isl

from tiler.affine import AffineScope, affine, affine_condition
from tiler.declarations import Declarations
from tiler.errors import TilerError
from tiler.model import DEFAULT_ELEMENT_BYTES, Access, Leaf, Loop, LoopTree, Scop, Statement
from tiler.syntax import (
    NESTED_TOO_DEEPLY,
    ArrayRef,
    Assign,
    Binary,
    Block,
    Call,
    Cast,
    ExprStmt,
    For,
    If,
    Increment,
    Name,
    Number,
    Select,
    Span,
    Stmt,
    Unary,
    Unsupported,
    UnsupportedStmt,
    parse_region,
    tokens,
)

_PRAGMA = re.compile(r"^[ \t]*#[ \t]*pragma[ \t]+(scop|endscop)\b[^\n]*$", re.MULTILINE)

# Names isl's parser reserves; C names that collide are renamed inside isl objects.
_ISL_KEYWORDS = {"and", "or", "not", "exists", "mod", "floor", "ceil", "min", "max", "true",
                 "false", "infty", "NaN", "implies", "xor", "domain", "range", "rat", "cond"}
_WIDER_TYPES = ["int", "long", "long long"]

# Limits that keep the model small enough to build in well under a second: isl's work grows
# with the cube of the number of dimensions (400 nested loops took a minute, an access with
# 3000 subscripts five). C itself only promises 12 array declarators and 127 nested blocks.
MAX_LOOP_DEPTH = 32
MAX_SUBSCRIPTS = 32
# isl takes machine integers for strides; constants are capped likewise in tiler/affine.py.
MAX_STEP = 2 ** 62


@dataclass(frozen=True)
class RegionText:
    """The place of one region in the file: ``start``..``end`` is the text between the pragma
    lines (each line of it complete), ``first_line`` the line number where it starts."""

    start: int
    end: int
    first_line: int
    indent: str


def find_regions(text: str) -> list[RegionText]:
    """Return the scop regions of ``text`` in order; unmatched pragmas are errors."""
    regions: list[RegionText] = []
    open_match = None
    for match in _PRAGMA.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match.group(1) == "scop":
            if open_match is not None:
                raise TilerError("'#pragma scop' inside another scop region", line, 1)
            open_match = match
            continue
        if open_match is None:
            raise TilerError("'#pragma endscop' without a matching '#pragma scop'", line, 1)
        start = open_match.end() + 1 if open_match.end() < len(text) else open_match.end()
        first_line = text.count("\n", 0, start) + 1
        body_lines = [line for line in text[start:match.start()].splitlines() if line.strip()]
        indent = re.match(r"[ \t]*", body_lines[0] if body_lines else "").group(0)
        regions.append(RegionText(min(start, match.start()), match.start(), first_line, indent))
        open_match = None
    if open_match is not None:
        line = text.count("\n", 0, open_match.start()) + 1
        raise TilerError("'#pragma scop' without a matching '#pragma endscop'", line, 1)
    return regions


@dataclass(frozen=True)
class RegionContext:
    """What the code around a region tells its model: the declarations visible where it
    starts, known values of its parameters, and ``sizeof`` of the basic types."""

    declarations: Declarations = field(default_factory=Declarations)
    parameter_values: dict[str, int] = field(default_factory=dict)
    type_sizes: dict[str, int] = field(default_factory=dict)


def build_scop(text: str, first_line: int = 1,
               context: RegionContext = RegionContext()) -> Scop | None:
    """Return the polyhedral model of a region's text, or None if it has no statement."""
    region = parse_region(text, first_line)
    try:
        return _ScopBuilder(region.text, context).build(region.body)
    except RecursionError:
        raise TilerError(NESTED_TOO_DEEPLY, first_line, 1) from None


def _isl_safe(name: str) -> bool:
    return name.isascii() and name not in _ISL_KEYWORDS and not name.startswith("_tiler")


class _ScopBuilder:
    """Walks the syntax tree twice: once to learn which names are written, once to build."""

    def __init__(self, text: str, context: RegionContext = RegionContext()) -> None:
        self.text = text
        self.context = context
        self.loops: dict[str, For] = {}          # iterator -> its first loop
        self.assigned: set[str] = set()
        self.iterator_names: set[str] = set()
        self.parameters: list[str] = []
        self.isl_names: dict[str, str] = {}
        self.ranks: dict[str, tuple[int, Span]] = {}
        self.statements: list[Statement] = []
        self.arrays: dict[str, Span] = {}        # subscripted names, where first seen
        self.functions: list[str] = []           # called names, in order of first use
        self.names: set[str] = set()             # every plain name the region mentions

    # ---- pass 1: names ------------------------------------------------------------------
    def _collect(self, stmt: Stmt) -> None:
        if isinstance(stmt, UnsupportedStmt):
            raise TilerError(f"{stmt.what} is not allowed in a scop region",
                             stmt.span.line, stmt.span.column)
        if isinstance(stmt, Block):
            for child in stmt.statements:
                self._collect(child)
        elif isinstance(stmt, For):
            self.iterator_names.add(stmt.iterator)
            self.loops.setdefault(stmt.iterator, stmt)
            self._collect(stmt.body)
        elif isinstance(stmt, If):
            self._collect(stmt.then)
            if stmt.otherwise is not None:
                self._collect(stmt.otherwise)
        elif isinstance(stmt, ExprStmt):
            nodes = list(_expressions(stmt.expr))
            for node in nodes:
                if isinstance(node, Unsupported):
                    raise TilerError(f"{node.what} is not allowed in a scop region",
                                     node.span.line, node.span.column)
            for node in nodes:
                if isinstance(node, (Assign, Increment)) and isinstance(node.target, Name):
                    self.assigned.add(node.target.name)
                elif isinstance(node, (Assign, Increment)) and not isinstance(node.target,
                                                                              ArrayRef):
                    raise TilerError("assignment to something that is not a variable or an "
                                     "array element", node.span.line, node.span.column)

    def _check_names(self, stmt: Stmt) -> None:
        """Check that each name is either an array, always subscripted, or a scalar, an
        iterator or a parameter, never subscripted. C allows ``i[A]`` for ``A[i]`` and passing
        ``A`` whole to a function; both would hide accesses to ``A`` from the model."""
        roots = list(_expression_roots(stmt))
        for root in roots:
            for node in _expressions(root):
                if isinstance(node, Call) and node.function not in self.functions:
                    self.functions.append(node.function)
                if isinstance(node, Name):
                    self.names.add(node.name)
                if isinstance(node, ArrayRef):
                    if len(node.indices) > MAX_SUBSCRIPTS:
                        raise TilerError(f"'{node.name}' has {len(node.indices)} subscripts "
                                         f"(at most {MAX_SUBSCRIPTS} are supported)",
                                         node.name_span.line, node.name_span.column)
                    self.arrays.setdefault(node.name, node.name_span)
        for loop in _loops(stmt):
            if loop.iterator in self.arrays:
                seen = self.arrays[loop.iterator]
                raise TilerError(f"loop iterator '{loop.iterator}' is subscripted like an "
                                 f"array at line {seen.line}", seen.line, seen.column)
        for root in roots:
            for node in _expressions(root):
                if isinstance(node, Name) and node.name in self.arrays:
                    seen = self.arrays[node.name]
                    raise TilerError(f"array '{node.name}' (subscripted at line {seen.line}) "
                                     "is used without subscripts", node.span.line,
                                     node.span.column)

    def _collect_parameters(self, stmt: Stmt, enclosing: tuple[str, ...]) -> None:
        def note(expr) -> None:
            for node in _expressions(expr, into_subscripts=True):
                if (isinstance(node, Name) and node.name not in enclosing
                        and node.name not in self.assigned
                        and node.name not in self.iterator_names
                        and node.name not in self.parameters):
                    self.parameters.append(node.name)

        if isinstance(stmt, Block):
            for child in stmt.statements:
                self._collect_parameters(child, enclosing)
        elif isinstance(stmt, For):
            note(stmt.init)
            inner = enclosing + (stmt.iterator,)
            note(stmt.condition)
            self._collect_parameters(stmt.body, inner)
        elif isinstance(stmt, If):
            note(stmt.condition)
            self._collect_parameters(stmt.then, enclosing)
            if stmt.otherwise is not None:
                self._collect_parameters(stmt.otherwise, enclosing)
        elif isinstance(stmt, ExprStmt):
            for node in _expressions(stmt.expr):
                if isinstance(node, ArrayRef):
                    for index in node.indices:
                        note(index)

    # ---- pass 2: model ------------------------------------------------------------------
    def build(self, body: Block) -> Scop | None:
        self._collect(body)
        self._check_names(body)
        self._collect_parameters(body, ())
        for name in self.parameters:
            self._isl_name(name)
        tree = self._walk(body, [])
        if not self.statements:
            return None
        return Scop(tuple(self.parameters), tuple(self.statements), tuple(tree),
                    dict(self.isl_names), self._iterator_type(), self._element_bytes(),
                    self._parameter_values(), tuple(self.functions), self._declared_types())

    def _declared_types(self) -> dict[str, str]:
        """Return the declared base type (``double``, ``unsigned int``) of every name the
        region uses whose declaration the pass can see: arrays (their elements), scalars,
        parameters."""
        names = set(self.arrays) | set(self.assigned) | set(self.parameters) | self.names
        for statement in self.statements:
            names |= {access.array for access in statement.accesses}
        found = {}
        for name in names:
            declared = self.context.declarations.type_of(name)
            if declared is not None:
                found[name] = declared.base
        return found

    def _parameter_values(self) -> dict[str, int]:
        """Return the parameters' values the context gives, and for the others the value that
        makes a subscript reach the last element of an array of constant extent (``i < n``
        subscripting ``double A[2000][2000]``: n = 2000), the smallest such. Only the cost
        model reads them; the code is correct for every value."""
        values = {name: value for name, value in self.context.parameter_values.items()
                  if name in self.parameters}
        inferred: dict[str, int] = {}
        for statement in self.statements:
            for access in statement.accesses:
                declared = self.context.declarations.type_of(access.array)
                if declared is None or access.rank == 0 or access.shape is not None:
                    continue
                image = access.relation.range()
                for dim, extent in enumerate(declared.extents[:access.rank]):
                    if extent is None:
                        continue
                    for name, offset in _parameter_offsets(image.dim_max(dim)):
                        if name not in (self.isl_names.get(v, v) for v in values):
                            value = extent - 1 - offset
                            inferred[name] = min(inferred.get(name, value), value)
        c_name = {inner: name for name, inner in self.isl_names.items()}
        for name, value in inferred.items():
            values.setdefault(c_name.get(name, name), value) if value > 0 else None
        return values

    def _iterator_type(self) -> str:
        """Return the C type of the generated iterators and hoisted bounds: the widest of the
        user's iterators (declared in the region or anywhere visible before it) and integer
        parameters. An unsigned iterator is refused: C computes it modulo 2^N, which the
        model does not (``i - 1`` at ``i == 0``, ``n - 1`` at ``n == 0``)."""
        types = set()
        for name, loop in self.loops.items():
            declared = (self.context.declarations.resolve(loop.declared_type)
                        if loop.declared_type else self.context.declarations.type_of(name))
            if declared is None:
                continue
            if declared.is_unsigned:
                raise TilerError(f"loop iterator '{name}' has the unsigned type "
                                 f"'{declared.base}': its wrap-around is not modelled (use a "
                                 "signed type such as long)", loop.iterator_span.line,
                                 loop.iterator_span.column)
            types.add(declared.base)
        for name in self.parameters:
            declared = self.context.declarations.type_of(name)
            if declared is not None and declared.is_scalar and declared.is_integer:
                types.add(declared.base.replace("unsigned ", ""))
        widest = max((_WIDER_TYPES.index(t) for t in types if t in _WIDER_TYPES), default=0)
        return _WIDER_TYPES[widest]

    def _element_bytes(self) -> dict[str, int]:
        """Return the element size of every array and scalar the region accesses, from its
        declaration (``DEFAULT_ELEMENT_BYTES`` for one the pass cannot see)."""
        sizes = self.context.type_sizes
        found = {}
        for statement in self.statements:
            for access in statement.accesses:
                declared = self.context.declarations.type_of(access.array)
                base = declared.base if declared is not None else ""
                base = base.replace("unsigned ", "").replace("signed char", "char")
                found[access.array] = sizes.get(base, DEFAULT_ELEMENT_BYTES)
        return found

    def _isl_name(self, name: str) -> str:
        if name not in self.isl_names:
            self.isl_names[name] = name if _isl_safe(name) else f"_tiler{len(self.isl_names)}"
        return self.isl_names[name]

    def _space(self, iterators: tuple[str, ...], tuple_name: str) -> isl.Space:
        params = ", ".join(self.isl_names[p] for p in self.parameters)
        dims = ", ".join(f"_tiler_i{k}" if not _isl_safe(it) else it
                         for k, it in enumerate(iterators))
        return isl.Set(f"[{params}] -> {{ {tuple_name}[{dims}] }}").get_space()

    def _scope(self, iterators: tuple[str, ...], name: str = "S") -> AffineScope:
        return AffineScope(self._space(iterators, name), iterators, tuple(self.parameters),
                           frozenset(self.assigned), self.text)

    def _walk(self, stmt: Stmt, path: list) -> list[LoopTree]:
        """Return the loop trees of ``stmt``; ``path`` holds the enclosing loops and conditions
        as (kind, node, polarity) triples."""
        if isinstance(stmt, Block):
            return [tree for child in stmt.statements for tree in self._walk(child, path)]
        if isinstance(stmt, For):
            iterators = _iterators(path)
            if stmt.iterator in iterators:
                raise TilerError(f"loop iterator '{stmt.iterator}' reused by an inner loop",
                                 stmt.iterator_span.line, stmt.iterator_span.column)
            if len(iterators) >= MAX_LOOP_DEPTH:
                raise TilerError(f"loops nested more than {MAX_LOOP_DEPTH} deep",
                                 stmt.span.line, stmt.span.column)
            sign = self._check_loop(stmt, iterators)
            children = self._walk(stmt.body, path + [("loop", stmt, sign)])
            return [Loop(stmt.iterator, sign, tuple(children))] if children else []
        if isinstance(stmt, If):
            trees = self._walk(stmt.then, path + [("if", stmt, True)])
            if stmt.otherwise is not None:
                trees += self._walk(stmt.otherwise, path + [("if", stmt, False)])
            return trees
        if isinstance(stmt, ExprStmt):
            statement = self._statement(stmt, path)
            if statement.domain.is_empty():
                return []          # it never runs, for any parameter value: nothing to place
            self.statements.append(statement)
            return [Leaf(len(self.statements) - 1)]
        raise TilerError("unsupported statement", 1, 1)

    def _loop_sets(self, loop: For, sign: int, scope: AffineScope) -> tuple[isl.Set, isl.Set]:
        """Return the values of the loop iterator (last dim of the scope) from the start on,
        and those the loop runs over (from the start, on its stride, while the condition
        holds)."""
        iterator = isl.PwAff.var_on_domain(isl.LocalSpace.from_space(scope.space),
                                           isl.dim_type.set, len(scope.iterators) - 1)
        outer = AffineScope(scope.space, scope.iterators[:-1] + ("\0",), scope.parameters,
                            scope.assigned, scope.text)
        start = affine(loop.init, outer, "loop bound")
        condition = affine_condition(loop.condition, scope, "loop condition")
        past_start = iterator.ge_set(start) if sign > 0 else iterator.le_set(start)
        values = past_start
        stride = abs(self._step(loop))
        if stride > 1:
            offset = iterator.sub(start) if sign > 0 else start.sub(iterator)
            zero = offset.sub(offset)
            values = values.intersect(offset.mod_val(isl.Val(stride)).eq_set(zero))
        return past_start, values.intersect(condition)

    def _check_loop(self, loop: For, enclosing: tuple[str, ...]) -> int:
        """Return the loop's direction (+1/-1) after checking that it runs over an interval."""
        if loop.iterator in self.assigned:
            raise TilerError(f"loop iterator '{loop.iterator}' is assigned inside the region",
                             loop.iterator_span.line, loop.iterator_span.column)
        step = self._step(loop)
        sign = 1 if step > 0 else -1
        scope = self._scope(enclosing + (loop.iterator,))
        past_start, values = self._loop_sets(loop, sign, scope)
        # C stops at the first value where the condition fails: the domain is the set of
        # values from the start while the condition holds, which equals "start..condition"
        # only if the condition, once false, stays false. Check that it is a bound.
        space = scope.space
        n = space.dim(isl.dim_type.set)
        shift = isl.MultiAff.identity(space.map_from_set())
        step_aff = isl.Aff.var_on_domain(isl.LocalSpace.from_space(space), isl.dim_type.set,
                                         n - 1).add_constant_val(isl.Val(step))
        shift = shift.set_aff(n - 1, step_aff)
        next_inside = values.preimage_multi_aff(shift)   # v such that v + step is in values
        if not next_inside.intersect(past_start).is_subset(values):
            raise TilerError(
                f"loop condition '{scope.quote(loop.condition.span)}' is not a bound on "
                f"'{loop.iterator}' (the loop would not run over an interval)",
                loop.condition.span.line, loop.condition.span.column)
        return sign

    @staticmethod
    def _step(loop: For) -> int:
        step = loop.step
        bad = TilerError(f"unsupported loop increment for '{loop.iterator}' (use ++, --, += c "
                         "or -= c with a constant c)", step.span.line, step.span.column)
        if isinstance(step, Increment) and isinstance(step.target, Name) \
                and step.target.name == loop.iterator:
            return 1 if step.op == "++" else -1
        if isinstance(step, Assign) and isinstance(step.target, Name) \
                and step.target.name == loop.iterator:
            amount = step.value
            if step.op == "=" and isinstance(amount, Binary) and amount.op in "+-" \
                    and isinstance(amount.left, Name) and amount.left.name == loop.iterator:
                op, amount = amount.op + "=", amount.right
            else:
                op = step.op
            if op in ("+=", "-=") and isinstance(amount, Number) and amount.text.isdigit() \
                    and 0 < int(amount.text) < MAX_STEP:
                return int(amount.text) if op == "+=" else -int(amount.text)
        raise bad

    def _statement(self, stmt: ExprStmt, path: list) -> Statement:
        name = f"S{len(self.statements)}"
        iterators = _iterators(path)
        scope = self._scope(iterators, name)
        domain = isl.Set.universe(scope.space)
        depth = 0
        for kind, node, polarity in path:
            if kind == "loop":
                depth += 1
                prefix = self._scope(iterators[:depth], name)
                values = self._loop_sets(node, polarity, prefix)[1]
            else:
                prefix = self._scope(iterators[:depth], name)
                values = affine_condition(node.condition, prefix, "condition")
                if not polarity:
                    values = values.complement()
            extra = len(iterators) - depth
            domain = domain.intersect(values.add_dims(isl.dim_type.set, extra)
                                      .set_tuple_name(name))
        domain = domain.coalesce()
        if not domain.is_bounded():
            self._fail_unbounded(domain, path)
        accesses = tuple(self._accesses(stmt, scope, domain))
        return Statement(name, iterators, domain, accesses, self._body_text(stmt, iterators),
                         stmt.span.line, stmt.span.column)

    def _fail_unbounded(self, domain: isl.Set, path: list) -> None:
        """Raise the error for a statement whose domain is unbounded, at the first loop whose
        iterator has no lower or no upper bound (``for (i = 0; n; i++)``, or an unsigned
        iterator counting down to its wrap-around: ``for (i = n - 1; i < n; i--)``)."""
        loops = [node for kind, node, _ in path if kind == "loop"]
        for position, loop in enumerate(loops):
            try:
                domain.dim_min(position)
                domain.dim_max(position)
            except isl.Error:
                span = loop.condition.span
                condition = " ".join(self.text[span.start:span.end].split())
                raise TilerError(f"loop condition '{condition}' does not bound "
                                 f"'{loop.iterator}': the loop may never end (an unsigned "
                                 "iterator that wraps around is not modelled)",
                                 span.line, span.column) from None
        raise TilerError("the statement may run infinitely often", path[-1][1].span.line,
                         path[-1][1].span.column)

    def _accesses(self, stmt: ExprStmt, scope: AffineScope, domain: isl.Set):
        for node, is_write, conditional in _references(stmt.expr):
            if isinstance(node, Name):
                if node.name in self.iterator_names and node.name not in scope.iterators:
                    raise TilerError(f"'{node.name}' is read outside the loop it counts",
                                     node.span.line, node.span.column)
                if node.name not in self.assigned or node.name in scope.iterators:
                    continue       # read-only scalars and parameters carry no dependence
                rank, indices = 0, ()
            else:
                rank, indices = len(node.indices), node.indices
            span = node.name_span if isinstance(node, ArrayRef) else node.span
            known = self.ranks.setdefault(node.name, (rank, span))
            if known[0] != rank:
                raise TilerError(f"'{node.name}' is used with {rank} subscripts here and with "
                                 f"{known[0]} at line {known[1].line}", span.line, span.column)
            relation = isl.Map.from_domain_and_range(
                domain, isl.Set(f"{{ {self._isl_name(node.name)}[] }}").align_params(
                    domain.get_space()))
            shape = None
            if indices:
                relation, shape = self._subscripts(node, indices, is_write, scope, domain)
            yield Access(node.name, relation, is_write, rank, shape, conditional)

    def _subscripts(self, node: ArrayRef, indices, is_write: bool, scope: AffineScope,
                    domain: isl.Set) -> tuple[isl.Map, isl.Map | None]:
        """Return the access relation of ``node`` and, when a subscript is not affine, its
        stand-in for the cache model (see ``Access.shape``). Only reads may have such
        subscripts: a read that may touch any element is a safe over-approximation for
        dependences, a write is not (it would need to be a may-write that kills nothing, and
        the element it changes is unknown to the code that checks legality)."""
        exact, stand_in = [], []
        approximated = False
        for index in indices:
            try:
                value = isl.Map.from_pw_aff(affine(index, scope, "subscript"))
            except TilerError:
                if is_write:
                    raise
                value = None
            if value is not None:
                exact.append(value)
                stand_in.append(value)
                continue
            approximated = True
            zero = isl.Map.from_pw_aff(isl.PwAff.zero_on_domain(
                isl.LocalSpace.from_space(scope.space)))
            exact.append(zero.drop_constraints_involving_dims(isl.dim_type.out, 0, 1))
            mentioned = {n.name for n in _expressions(index)
                         if isinstance(n, Name) and n.name in scope.iterators}
            positions = [k for k, name in enumerate(scope.iterators) if name in mentioned]
            stand_in += [isl.Map.from_pw_aff(isl.PwAff.var_on_domain(
                isl.LocalSpace.from_space(scope.space), isl.dim_type.set, k))
                for k in positions] or [zero]

        def product(maps: list[isl.Map]) -> isl.Map:
            result = maps[0]
            for value in maps[1:]:
                result = result.flat_range_product(value)
            result = result.set_tuple_name(isl.dim_type.out, self._isl_name(node.name))
            return result.intersect_domain(domain)

        return product(exact), (product(stand_in) if approximated else None)

    def _body_text(self, stmt: ExprStmt, iterators: tuple[str, ...]) -> str:
        """Return the statement as one line of C, iterators written ``(i)``, without ';'."""
        span = stmt.span
        source = self.text[span.start:span.end]
        parts: list[str] = []
        previous_end = 0
        for token in tokens(source):
            gap = source[previous_end:token.start_pos]
            if parts:
                parts.append(gap if gap.strip() == "" and "\n" not in gap else " ")
            piece = source[token.start_pos:token.end_pos]
            parts.append(f"({piece})" if token.type == "IDENT" and piece in iterators
                         else piece)
            previous_end = token.end_pos
        text = "".join(parts).rstrip()
        return text[:-1].rstrip() if text.endswith(";") else text


def _parameter_offsets(maximum: isl.PwAff) -> list[tuple[str, int]]:
    """Return (parameter, c) when ``maximum`` is one affine piece ``parameter + c``."""
    pieces = maximum.get_pieces()
    if len(pieces) != 1:
        return []
    aff = pieces[0][1]
    if aff.dim(isl.dim_type.div) or not aff.get_denominator_val().is_one():
        return []
    found = [(aff.get_dim_name(isl.dim_type.param, k), aff.get_coefficient_val(
        isl.dim_type.param, k)) for k in range(aff.dim(isl.dim_type.param))]
    moving = [(name, value) for name, value in found if not value.is_zero()]
    if any(aff.get_coefficient_val(isl.dim_type.in_, k).to_python() != 0
           for k in range(aff.dim(isl.dim_type.in_))):
        return []
    if len(moving) != 1 or not moving[0][1].is_one():
        return []
    return [(moving[0][0], aff.get_constant_val().to_python())]


def _expression_roots(stmt: Stmt):
    """Yield every expression of a statement tree: loop headers, conditions, statements."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, Block):
            stack.extend(reversed(node.statements))
        elif isinstance(node, For):
            yield from (node.init, node.condition, node.step)
            stack.append(node.body)
        elif isinstance(node, If):
            yield node.condition
            stack.extend(child for child in (node.otherwise, node.then) if child is not None)
        elif isinstance(node, ExprStmt):
            yield node.expr


def _loops(stmt: Stmt):
    """Yield every loop of a statement tree."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, Block):
            stack.extend(node.statements)
        elif isinstance(node, For):
            yield node
            stack.append(node.body)
        elif isinstance(node, If):
            stack.extend(child for child in (node.then, node.otherwise) if child is not None)


def _iterators(path: list) -> tuple[str, ...]:
    return tuple(node.iterator for kind, node, _ in path if kind == "loop")


def _children(node):
    if isinstance(node, ArrayRef):
        return node.indices
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, (Unary, Cast)):
        return (node.operand,)
    if isinstance(node, Select):
        return (node.condition, node.if_true, node.if_false)
    if isinstance(node, Assign):
        return (node.target, node.value)
    if isinstance(node, Increment):
        return (node.target,)
    return ()


def _expressions(expr, into_subscripts: bool = True):
    """Yield ``expr`` and every sub-expression, parents first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ArrayRef) and not into_subscripts:
            continue
        stack.extend(reversed(_children(node)))


def _references(expr):
    """Yield (ArrayRef or Name, is_write, conditional) for every memory reference of an
    expression; ``conditional``: it sits in a branch of ``?:`` or the right operand of ``&&``
    or ``||``, so it may not happen in every instance of the statement."""
    stack = [(expr, False)]
    while stack:
        node, conditional = stack.pop()
        if isinstance(node, (Assign, Increment)):
            target = node.target
            yield target, True, conditional
            if isinstance(node, Increment) or node.op != "=":
                yield target, False, conditional
            if isinstance(target, ArrayRef):
                stack.extend((index, conditional) for index in target.indices)
            if isinstance(node, Assign):
                stack.append((node.value, conditional))
            continue
        if isinstance(node, (ArrayRef, Name)):
            yield node, False, conditional
        if isinstance(node, Call):
            stack.extend((arg, conditional) for arg in node.args)
            continue
        if isinstance(node, Select):
            stack += [(node.condition, conditional), (node.if_true, True),
                      (node.if_false, True)]
            continue
        if isinstance(node, Binary) and node.op in ("&&", "||"):
            stack += [(node.left, conditional), (node.right, True)]
            continue
        stack.extend((child, conditional) for child in _children(node))
