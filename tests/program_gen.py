"""Hypothesis strategies for random affine programs: complete C files, each with one
``#pragma scop`` region, free of undefined behaviour, that print a hash of every array.

A generated ``Program`` is a small tree (loops, conditions, statements) rendered to C by
``render``. Two properties make every program safe to run and compare:

- Subscripts stay in bounds by construction: each array is sized from the intervals its
  subscripts take over the iterators' ranges (interval arithmetic, with the parameters at the
  values the program passes), plus a margin on each side, and every subscript is shifted by
  that array's offset. A wrong schedule that touches the margins changes the printed hashes.
  A read may have one subscript computed from data (a gather): it is taken modulo the
  array's extent.
- No arithmetic is undefined: integer programs compute in ``unsigned`` (an ``int`` element is
  read through a cast to ``unsigned`` and stored back with a cast, which gcc defines as
  wrapping); floating programs assume IEEE 754 (overflow gives an infinity) and their hash
  maps every NaN to one value, because a NaN's payload may depend on the order the compiler
  puts the operands of ``+`` in, which tiling does not preserve.

Each array is hashed bit for bit, margins included, and printed on a line of its own, so two
builds of a program agree only if every element, in every array and scalar, is identical.
The text between the pragmas is the only part the pass may change; ``render`` returns the
pieces around it separately so that the tiled regions of several variants can be built into
one program (one compile instead of several).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

# Elements of margin around the range each subscript can take.
MARGIN = 1
# Iterator names; the last ones collide with names the code generator likes to use, so the
# renaming of generated loop iterators and statement macros is exercised too.
ITERATOR_NAMES = ("i", "j", "k", "l", "c0", "t1", "S0")
ARRAY_NAMES = ("A", "B", "C", "D")
SCALAR_NAMES = ("s", "t")
FLOATING_TYPES = ("double", "float")
INTEGER_TYPES = ("unsigned", "int")


# ---- the model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Linear:
    """``sum(coefficient * name) + constant`` over iterators and parameters."""

    terms: tuple[tuple[str, int], ...]
    constant: int = 0


@dataclass(frozen=True)
class Bound:
    """A loop bound: one linear form, ``op`` (min or max) of two, or a form divided by a
    positive constant (C division, truncating). ``spelling`` "select" writes min and max as
    ``?:``, "cast" writes a form cast to ``long``."""

    parts: tuple[Linear, ...]
    op: str = ""
    divisor: int = 1
    spelling: str = ""


@dataclass(frozen=True)
class Compare:
    left: Linear
    op: str
    right: Linear


@dataclass(frozen=True)
class Modulo:
    """``(value) % modulus == remainder`` (C remainder: negative for a negative value)."""

    value: Linear
    modulus: int
    remainder: int


@dataclass(frozen=True)
class Logic:
    op: str                      # "&&", "||", or "!" (then ``right`` is None)
    left: Condition
    right: Condition | None = None


Condition = Compare | Modulo | Logic


@dataclass(frozen=True)
class Read:
    array: str
    subscripts: tuple[Linear, ...]


@dataclass(frozen=True)
class ScalarRead:
    name: str


@dataclass(frozen=True)
class Literal:
    value: int                   # rendered as ``value`` (integer) or ``value / 4.0`` (floating)


@dataclass(frozen=True)
class IndexValue:
    """The value of an affine expression of iterators and parameters, used as data."""

    value: Linear


@dataclass(frozen=True)
class Operation:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Dampen:
    """``sqrt(fabs(x))`` in floating programs, ``x >> 1`` in integer ones."""

    operand: Expr


@dataclass(frozen=True)
class Larger:
    """``(a > b ? a : b)``."""

    left: Expr
    right: Expr


@dataclass(frozen=True)
class Gather:
    """``read`` with its subscript ``dimension`` computed from ``index`` instead: rendered
    ``(unsigned)(index) % extent``, in bounds whatever the value. In integer programs the
    index is any expression (often an element the region writes); in floating ones it is a
    product of two affine forms (a float index could be a NaN)."""

    read: Read
    dimension: int
    index: Expr | tuple[Linear, Linear]


Expr = Read | ScalarRead | Literal | IndexValue | Operation | Dampen | Larger | Gather


@dataclass(frozen=True)
class Statement:
    """``target op value``; ``also`` is a second target of a chained ``=``; ``op == "++"``
    is an increment (and ``value`` is ignored)."""

    target: Read | ScalarRead
    op: str
    value: Expr
    also: Read | ScalarRead | None = None


@dataclass(frozen=True)
class Loop:
    """Runs ``var`` from ``lower`` up to ``upper`` (``direction`` 1) or from ``upper`` down to
    ``lower`` (-1) by ``step``; ``strict``: the far bound is excluded (``<``/``>``);
    ``flipped`` writes the condition bound first (``n > i``); ``declare``: ``for (int i ...``;
    ``long_step`` spells the step ``++i`` or ``i = i + 2`` instead of ``i++`` or ``i += 2``."""

    var: str
    lower: Bound
    upper: Bound
    direction: int
    step: int
    strict: bool
    flipped: bool
    declare: bool
    body: tuple[Node, ...]
    long_step: bool = False


@dataclass(frozen=True)
class If:
    condition: Condition
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...] = ()


Node = Loop | If | Statement


@dataclass(frozen=True)
class Program:
    """A generated program: ``arrays`` maps names to (element type, rank), ``parameters`` to
    the value passed; ``macros``: parameters are ``#define``d instead of passed as arguments;
    ``min_name``/``max_name`` spell the macros used in bounds."""

    floating: bool
    arrays: tuple[tuple[str, str, int], ...]
    scalars: tuple[str, ...]
    parameters: tuple[tuple[str, int], ...]
    macros: bool
    min_name: str
    max_name: str
    body: tuple[Node, ...]


# ---- strategies -----------------------------------------------------------------------------

MAX_DEPTH = 4
# Statements per program, shrinking towards three.
STATEMENT_BUDGETS = (3, 4, 2, 5, 6, 1)
# The weights of a loop, by depth, against 2 for a statement and 1 for a condition: most nests
# are two or three deep, where tiling has most to do (deeper ones are slower to analyse).
LOOP_WEIGHTS = (8, 8, 2, 1)
# A rare choice (a scalar as the target, which orders every iteration; a chained assignment).
ONE_IN_EIGHT = (False,) * 7 + (True,)


class _Generator:
    """Draws the parts of one program; the names in scope are passed down explicitly."""

    def __init__(self, draw, floating: bool, arrays, scalars, parameters) -> None:
        self.draw = draw
        self.floating = floating
        self.arrays = arrays                  # name -> rank
        self.scalars = scalars
        self.parameters = parameters          # C names
        self.statements_left = draw(st.sampled_from(STATEMENT_BUDGETS))

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def small(self, low: int = -2, high: int = 2) -> int:
        return self.draw(st.integers(low, high))

    # -- affine pieces ---------------------------------------------------------------------
    def linear(self, scope: tuple[str, ...], with_parameters: bool = True) -> Linear:
        names = list(scope) + (list(self.parameters) if with_parameters else [])
        count = self.draw(st.integers(0, min(2, len(names))))
        chosen = self.draw(st.lists(st.sampled_from(names), min_size=count, max_size=count,
                                    unique=True)) if names else []
        terms = tuple((name, self.choice((1, -1, 2))) for name in chosen)
        return Linear(terms, self.small())

    def lower_bound(self, scope: tuple[str, ...]) -> Bound:
        kinds = ["zero", "zero", "zero", "zero", "one", "linear"]
        if scope:
            kinds += ["outer", "outer", "outer+1", "max"]
        kind = self.choice(kinds)
        if kind == "zero":
            return Bound((Linear((), 0),))
        if kind == "one":
            return Bound((Linear((), self.small(-1, 2)),))
        if kind == "outer":
            return Bound((Linear(((self.choice(scope), 1),), 0),))
        if kind == "outer+1":
            return Bound((Linear(((self.choice(scope), 1),), self.small(-2, 2)),))
        if kind == "max":
            return Bound((Linear((), 0), Linear(((self.choice(scope), 1),), self.small(-3, 0))),
                         "max", spelling=self.choice(("", "select")))
        return Bound((self.linear(scope, with_parameters=False),))

    def upper_bound(self, scope: tuple[str, ...]) -> Bound:
        parameter = self.choice(self.parameters)
        kinds = ["parameter", "parameter", "parameter", "parameter", "constant", "linear",
                 "divided"]
        if scope:
            kinds += ["outer", "outer", "band", "skewed", "skewed", "min"]
        kind = self.choice(kinds)
        if kind == "parameter":
            return Bound((Linear(((parameter, 1),), self.small(-1, 1)),),
                         spelling=self.choice(("", "", "cast")))
        if kind == "constant":
            return Bound((Linear((), self.small(1, 6)),))
        if kind == "divided":
            return Bound((Linear(((parameter, 1),), self.small(0, 3)),), "", self.choice((2, 3)))
        if kind == "outer":          # triangular: j <= i
            return Bound((Linear(((self.choice(scope), 1),), self.small(-1, 1)),))
        if kind == "band":
            return Bound((Linear(((self.choice(scope), 1),), self.small(1, 4)),))
        if kind == "skewed":         # k < i + j
            if len(scope) >= 2:
                first, second = self.draw(st.lists(st.sampled_from(scope), min_size=2,
                                                   max_size=2, unique=True))
                return Bound((Linear(((first, 1), (second, 1)), self.small(0, 1)),))
            return Bound((Linear(((scope[0], 1), (parameter, 1)), 0),))
        if kind == "min":
            return Bound((Linear(((parameter, 1),), 0),
                          Linear(((self.choice(scope), 1),), self.small(1, 3))), "min",
                         spelling=self.choice(("", "select")))
        return Bound((self.linear(scope),))

    def condition(self, scope: tuple[str, ...], depth: int = 0) -> Condition:
        kind = self.choice(["compare", "modulo", "logic"] if depth == 0 else
                           ["compare", "modulo"])
        variable = self.choice(scope)
        if kind == "compare":
            # Mostly against one other name, so the condition holds for some iterations.
            others = [name for name in scope + self.parameters if name != variable]
            right = self.linear(scope) if self.draw(st.integers(0, 3)) == 0 else \
                Linear(((self.choice(others), 1),), self.small())
            return Compare(Linear(((variable, 1),), 0),
                           self.choice(("<", "<=", ">", ">=", "==", "!=")), right)
        if kind == "modulo":
            modulus = self.choice((2, 3))
            others = [name for name in scope if name != variable]
            terms = ((variable, 1),) + (((self.choice(others), 1),)
                                        if others and self.draw(st.booleans()) else ())
            return Modulo(Linear(terms, self.small()), modulus, self.small(0, modulus - 1))
        op = self.choice(("&&", "||", "!"))
        left = self.condition(scope, depth + 1)
        return Logic(op, left, None if op == "!" else self.condition(scope, depth + 1))

    def subscripts(self, rank: int, scope: tuple[str, ...]) -> tuple[Linear, ...]:
        result = []
        for dimension in range(rank):
            kinds = ["constant"]
            if scope:
                kinds = ["same", "same", "shifted", "other", "sum", "double", "reversed",
                         "constant"]
            kind = self.choice(kinds)
            position = scope[min(dimension, len(scope) - 1)] if scope else None
            if kind == "same":          # A[i][j] in the order of the loops
                result.append(Linear(((position, 1),), 0))
            elif kind == "shifted":      # A[i-1][j+1]
                result.append(Linear(((position, 1),), self.small()))
            elif kind == "other":        # A[j][i]
                result.append(Linear(((self.choice(scope), 1),), self.small(-1, 1)))
            elif kind == "sum":          # A[i+j]
                names = self.draw(st.lists(st.sampled_from(scope), min_size=1, max_size=2,
                                           unique=True))
                result.append(Linear(tuple((name, 1) for name in names), self.small(-1, 1)))
            elif kind == "double":
                result.append(Linear(((self.choice(scope), 2),), self.small(-1, 1)))
            elif kind == "reversed":     # A[n-1-i]
                result.append(Linear(((self.choice(self.parameters), 1),
                                      (self.choice(scope), -1)), -1))
            else:
                result.append(Linear((), self.small(0, 3)))
        return tuple(result)

    def reference(self, scope: tuple[str, ...], near: Read | None = None) -> Read:
        """Return an array element; near a target, often the same array at a nearby place
        (a uniform dependence) or transposed (a non-uniform one)."""
        if near is not None and self.draw(st.booleans()):
            kind = self.choice(("offset", "transposed", "same"))
            subscripts = list(near.subscripts)
            if kind == "offset":
                subscripts = [Linear(s.terms, s.constant + self.small(-1, 1))
                              for s in subscripts]
            elif kind == "transposed" and len(subscripts) >= 2:
                first, second = self.draw(st.lists(st.integers(0, len(subscripts) - 1),
                                                   min_size=2, max_size=2, unique=True))
                subscripts[first], subscripts[second] = subscripts[second], subscripts[first]
            return Read(near.array, tuple(subscripts))
        name = self.choice(sorted(self.arrays))
        return Read(name, self.subscripts(self.arrays[name], scope))

    # -- statements ------------------------------------------------------------------------
    def expression(self, scope: tuple[str, ...], near: Read | None, depth: int = 0) -> Expr:
        kinds = ["read", "read", "read", "literal", "index", "gather"]
        if self.scalars:
            kinds.append("scalar")
        if depth < 2:
            kinds += ["operation", "operation", "function", "larger"]
        kind = self.choice(kinds)
        if kind == "read":
            return self.reference(scope, near)
        if kind == "gather":
            read = self.reference(scope, near)
            dimension = self.draw(st.integers(0, len(read.subscripts) - 1))
            if self.floating:
                return Gather(read, dimension, (self.linear(scope), self.linear(scope)))
            return Gather(read, dimension, self.expression(scope, near, depth + 1))
        if kind == "literal":
            return Literal(self.small(-3, 9))
        if kind == "index":
            return IndexValue(self.linear(scope))
        if kind == "scalar":
            return ScalarRead(self.choice(self.scalars))
        if kind == "function":
            return Dampen(self.expression(scope, near, depth + 1))
        if kind == "larger":
            return Larger(self.expression(scope, near, depth + 1),
                          self.expression(scope, near, depth + 1))
        operators = ("+", "-", "*", "/") if self.floating else ("+", "-", "*", "^", "%", "/")
        op = self.choice(operators)
        left = self.expression(scope, near, depth + 1)
        if op in ("/", "%"):            # by a nonzero constant only
            return Operation(op, left, Literal(self.small(1, 7)))
        return Operation(op, left, self.expression(scope, near, depth + 1))

    def statement(self, scope: tuple[str, ...]) -> Statement:
        self.statements_left -= 1
        target: Read | ScalarRead
        if self.scalars and self.choice(ONE_IN_EIGHT):
            target = ScalarRead(self.choice(self.scalars))
            near = None
        else:
            target = near = self.reference(scope)
        op = self.choice(("=", "=", "+=", "-=", "*=", "++"))
        if op == "++" and not self.floating:
            op = "+="                   # an int element could overflow
        value = self.expression(scope, near)
        also = None
        if op == "=" and self.choice(ONE_IN_EIGHT):
            also = self.reference(scope)
        return Statement(target, op, value, also)

    def loop(self, scope: tuple[str, ...], depth: int) -> Loop:
        var = self.choice([name for name in ITERATOR_NAMES if name not in scope])
        lower = self.lower_bound(scope)
        upper = self.upper_bound(scope)
        direction = self.choice((1, 1, -1))
        step = self.choice((1, 1, 1, 2, 3))
        strict, flipped, declare, long_step = (self.draw(st.booleans()) for _ in range(4))
        body = self.body(scope + (var,), depth + 1)
        return Loop(var, lower, upper, direction, step, strict, flipped, declare, body,
                    long_step)

    def body(self, scope: tuple[str, ...], depth: int) -> tuple[Node, ...]:
        """Return one to three nodes holding at least one statement (the budget allowing)."""
        nodes: list[Node] = []
        wanted = self.choice((1, 2, 1, 3))
        while len(nodes) < wanted and self.statements_left > 0:
            kinds = ["statement", "statement"]
            if depth < MAX_DEPTH:
                kinds += ["loop"] * LOOP_WEIGHTS[depth]
            if scope:
                kinds.append("if")
            kind = self.choice(kinds) if depth or nodes else "loop"   # a nest comes first
            if kind == "statement":
                nodes.append(self.statement(scope))
            elif kind == "loop":
                nodes.append(self.loop(scope, depth))
            else:
                then = self.body(scope, depth)
                otherwise = self.body(scope, depth) if self.statements_left > 0 and \
                    self.draw(st.booleans()) else ()
                nodes.append(If(self.condition(scope), then, otherwise))
        if not nodes:
            # Out of budget: one more statement keeps the enclosing loop meaningful.
            nodes.append(self.statement(scope))
        return tuple(nodes)


@st.composite
def programs(draw) -> Program:
    """Return a random ``Program``: one scop region of loop nests up to four deep."""
    floating = draw(st.booleans())
    types = FLOATING_TYPES if floating else INTEGER_TYPES
    array_count = draw(st.integers(1, len(ARRAY_NAMES)))
    arrays = tuple((name, draw(st.sampled_from(types)), draw(st.integers(1, 3)))
                   for name in ARRAY_NAMES[:array_count])
    scalars = SCALAR_NAMES[:draw(st.integers(0, len(SCALAR_NAMES)))]
    macros = draw(st.booleans())
    names = ("N", "M") if macros else ("n", "m")
    # Values that shrink towards a mid-sized one; 0 and 1 (empty and single-trip loops) are rare.
    parameters = tuple((name, draw(st.sampled_from((6, 7, 5, 8, 9, 4, 3, 2, 1, 0))))
                       for name in names)
    generator = _Generator(draw, floating, {name: rank for name, _, rank in arrays}, scalars,
                           names)
    body = generator.body((), 0)
    min_name, max_name = draw(st.sampled_from((("min", "max"), ("MIN", "MAX"))))
    return Program(floating, arrays, scalars, parameters, macros, min_name, max_name, body)


# ---- interval analysis: the range of every subscript -----------------------------------------

def _c_divide(value: int, divisor: int) -> int:
    return -((-value) // divisor) if value < 0 else value // divisor


def _interval(linear: Linear, ranges: dict[str, tuple[int, int]]) -> tuple[int, int]:
    low = high = linear.constant
    for name, coefficient in linear.terms:
        a, b = ranges[name][0] * coefficient, ranges[name][1] * coefficient
        low, high = low + min(a, b), high + max(a, b)
    return low, high


def _bound_interval(bound: Bound, ranges: dict[str, tuple[int, int]]) -> tuple[int, int]:
    parts = [_interval(part, ranges) for part in bound.parts]
    if bound.op == "min":
        return min(p[0] for p in parts), min(p[1] for p in parts)
    if bound.op == "max":
        return max(p[0] for p in parts), max(p[1] for p in parts)
    low, high = parts[0]
    return _c_divide(low, bound.divisor), _c_divide(high, bound.divisor)


def _loop_range(loop: Loop, ranges: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """Return an interval holding every value ``loop.var`` takes while the body runs."""
    lower = _bound_interval(loop.lower, ranges)
    upper = _bound_interval(loop.upper, ranges)
    if loop.direction > 0:
        low, high = lower[0], upper[1] - (1 if loop.strict else 0)
    else:
        low, high = lower[0] + (1 if loop.strict else 0), upper[1]
    return (low, max(low, high))


def subscript_ranges(program: Program) -> dict[str, list[tuple[int, int]]]:
    """Return, per array, the interval each subscript can take when the program runs."""
    found: dict[str, list[tuple[int, int]]] = {}

    def note(reference, ranges) -> None:
        if isinstance(reference, Read):
            intervals = [_interval(s, ranges) for s in reference.subscripts]
            known = found.setdefault(reference.array, intervals)
            found[reference.array] = [(min(a[0], b[0]), max(a[1], b[1]))
                                      for a, b in zip(known, intervals)]

    def expression(expr, ranges) -> None:
        note(expr, ranges)
        if isinstance(expr, Gather):
            note(expr.read, ranges)
            if not isinstance(expr.index, tuple):
                expression(expr.index, ranges)
        for child in ("left", "right", "operand"):
            if hasattr(expr, child):
                expression(getattr(expr, child), ranges)

    def visit(nodes, ranges) -> None:
        for node in nodes:
            if isinstance(node, Loop):
                visit(node.body, {**ranges, node.var: _loop_range(node, ranges)})
            elif isinstance(node, If):
                visit(node.then, ranges)
                visit(node.otherwise, ranges)
            else:
                note(node.target, ranges)
                note(node.also, ranges)
                expression(node.value, ranges)

    visit(program.body, {name: (value, value) for name, value in program.parameters})
    return found


# ---- rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    """A program's text in three pieces: everything up to and including ``#pragma scop``,
    the region, and the rest; ``prelude``/``kernel``/``main`` build multi-variant programs."""

    before: str
    region: str
    after: str
    prelude: str
    kernel_head: str               # ``static void NAME(...)\n{\n  int i, ...;\n#pragma scop\n``
    kernel_tail: str               # ``#pragma endscop\n}\n``
    call_arguments: str

    @property
    def text(self) -> str:
        return self.before + self.region + self.after

    def combined(self, regions: list[str]) -> str:
        """Return one program running the kernel once per region, each time on freshly
        initialised data, printing ``== variant K`` before the hashes of each run."""
        kernels = [self.kernel_head.replace("KERNEL", f"kernel_{k}") + region + self.kernel_tail
                   for k, region in enumerate(regions)]
        calls = "".join(f"  init();\n  kernel_{k}({self.call_arguments});\n"
                        f"  printf(\"== variant {k}\\n\");\n  print_hashes();\n"
                        for k in range(len(regions)))
        return (self.prelude + "\n".join(kernels)
                + f"\nint main(void)\n{{\n{calls}  return 0;\n}}\n")


class _Printer:
    def __init__(self, program: Program, offsets: dict[str, list[int]],
                 extents: dict[str, list[int]]) -> None:
        self.program = program
        self.offsets = offsets
        self.extents = extents
        self.types = {name: element for name, element, _ in program.arrays}
        self.uses_min = self.uses_max = False

    def linear(self, linear: Linear, shift: int = 0) -> str:
        text = ""
        for name, coefficient in linear.terms:
            magnitude = abs(coefficient)
            term = name if magnitude == 1 else f"{magnitude} * {name}"
            if not text:
                text = term if coefficient > 0 else f"-{term}"
            else:
                text += f" + {term}" if coefficient > 0 else f" - {term}"
        constant = linear.constant + shift
        if not text:
            return str(constant)
        if constant:
            text += f" + {constant}" if constant > 0 else f" - {-constant}"
        return text

    def bound(self, bound: Bound) -> str:
        if bound.op and bound.spelling == "select":
            first, second = (self.linear(part) for part in bound.parts)
            compare = "<" if bound.op == "min" else ">"
            return f"({first} {compare} {second} ? {first} : {second})"
        if bound.spelling == "cast":
            return f"(long)({self.linear(bound.parts[0])})"
        if bound.op:
            if bound.op == "min":
                self.uses_min = True
            else:
                self.uses_max = True
            name = self.program.min_name if bound.op == "min" else self.program.max_name
            return f"{name}({', '.join(self.linear(p) for p in bound.parts)})"
        if bound.divisor > 1:
            return f"({self.linear(bound.parts[0])}) / {bound.divisor}"
        return self.linear(bound.parts[0])

    def condition(self, condition: Condition) -> str:
        if isinstance(condition, Compare):
            return f"{self.linear(condition.left)} {condition.op} {self.linear(condition.right)}"
        if isinstance(condition, Modulo):
            return f"({self.linear(condition.value)}) % {condition.modulus} == " \
                   f"{condition.remainder}"
        if condition.op == "!":
            return f"!({self.condition(condition.left)})"
        return f"({self.condition(condition.left)}) {condition.op} " \
               f"({self.condition(condition.right)})"

    def reference(self, reference: Read | ScalarRead) -> str:
        if isinstance(reference, ScalarRead):
            return reference.name
        subscripts = "".join(f"[{self.linear(s, shift)}]"
                             for s, shift in zip(reference.subscripts,
                                                 self.offsets[reference.array]))
        return reference.array + subscripts

    def expression(self, expr: Expr) -> str:
        floating = self.program.floating
        if isinstance(expr, Read):
            text = self.reference(expr)
            return text if floating or self.types[expr.array] == "unsigned" \
                else f"(unsigned){text}"
        if isinstance(expr, ScalarRead):
            return expr.name
        if isinstance(expr, Gather):
            return self.gather(expr)
        if isinstance(expr, Literal):
            if floating:
                return f"{expr.value / 4.0!r}"
            return f"{expr.value % 97}u"
        if isinstance(expr, IndexValue):
            cast = "(double)" if floating else "(unsigned)"
            return f"{cast}({self.linear(expr.value)})"
        if isinstance(expr, Operation):
            return f"({self.expression(expr.left)} {expr.op} {self.expression(expr.right)})"
        if isinstance(expr, Dampen):
            if floating:
                return f"sqrt(fabs({self.expression(expr.operand)}))"
            return f"({self.expression(expr.operand)} >> 1)"
        left, right = self.expression(expr.left), self.expression(expr.right)
        return f"({left} > {right} ? {left} : {right})"

    def gather(self, gather: Gather) -> str:
        read = gather.read
        if isinstance(gather.index, tuple):
            first, second = (self.linear(part) for part in gather.index)
            index = f"(unsigned)(({first}) * ({second}))"
        else:
            index = f"(unsigned)({self.expression(gather.index)})"
        subscripts = []
        for dimension, (linear, shift) in enumerate(zip(read.subscripts,
                                                        self.offsets[read.array])):
            if dimension == gather.dimension:
                subscripts.append(f"[{index} % {self.extents[read.array][dimension]}u]")
            else:
                subscripts.append(f"[{self.linear(linear, shift)}]")
        text = read.array + "".join(subscripts)
        if self.program.floating or self.types[read.array] == "unsigned":
            return text
        return f"(unsigned){text}"

    def statement(self, statement: Statement, pad: str) -> list[str]:
        target = self.reference(statement.target)
        if statement.op == "++":
            return [f"{pad}{target}++;"]
        value = self.expression(statement.value)
        if statement.also is not None:
            value = f"{self.reference(statement.also)} = {self._stored(statement.also, value)}"
        return [f"{pad}{target} {statement.op} {self._stored(statement.target, value)};"]

    def _stored(self, target: Read | ScalarRead, value: str) -> str:
        if isinstance(target, Read) and self.types[target.array] == "int":
            return f"(int)({value})"
        return value

    def nodes(self, nodes: tuple[Node, ...], depth: int) -> list[str]:
        pad = "  " * depth
        lines: list[str] = []
        for node in nodes:
            if isinstance(node, Statement):
                lines += self.statement(node, pad)
            elif isinstance(node, If):
                lines.append(f"{pad}if ({self.condition(node.condition)}) {{")
                lines += self.nodes(node.then, depth + 1)
                if node.otherwise:
                    lines.append(f"{pad}}} else {{")
                    lines += self.nodes(node.otherwise, depth + 1)
                lines.append(f"{pad}}}")
            else:
                lines += self.loop(node, depth)
        return lines

    def loop(self, loop: Loop, depth: int) -> list[str]:
        pad, var = "  " * depth, loop.var
        if loop.direction > 0:
            start, end = self.bound(loop.lower), self.bound(loop.upper)
            compare = "<" if loop.strict else "<="
            step = f"{var}++" if loop.step == 1 else f"{var} += {loop.step}"
            if loop.long_step:
                step = f"++{var}" if loop.step == 1 else f"{var} = {var} + {loop.step}"
        else:
            start, end = self.bound(loop.upper), self.bound(loop.lower)
            compare = ">" if loop.strict else ">="
            step = f"{var}--" if loop.step == 1 else f"{var} -= {loop.step}"
            if loop.long_step:
                step = f"--{var}" if loop.step == 1 else f"{var} = {var} - {loop.step}"
        if loop.flipped:
            mirrored = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[compare]
            condition = f"{end} {mirrored} {var}"
        else:
            condition = f"{var} {compare} {end}"
        init = f"int {var} = {start}" if loop.declare else f"{var} = {start}"
        return ([f"{pad}for ({init}; {condition}; {step}) {{"]
                + self.nodes(loop.body, depth + 1) + [f"{pad}}}"])


def _array_loops(name: str, extents: list[int], body: str) -> str:
    """Return nested loops over every element of an array (indices q0, q1, ...)."""
    text = body
    for dimension in reversed(range(len(extents))):
        text = f"for (q{dimension} = 0; q{dimension} < {extents[dimension]}; " \
               f"q{dimension}++) {text}"
    return text


def render(program: Program) -> Rendered:
    """Return the C text of ``program``, split around its region."""
    ranges = subscript_ranges(program)
    used = [(name, element, rank) for name, element, rank in program.arrays if name in ranges]
    offsets = {name: [MARGIN - low for low, _ in ranges[name]] for name, _, _ in used}
    extents = {name: [high - low + 1 + 2 * MARGIN for low, high in ranges[name]]
               for name, _, _ in used}
    printer = _Printer(program, offsets, extents)
    region_lines = printer.nodes(program.body, 1)
    region = "\n".join(region_lines) + "\n"

    lines = ["#include <math.h>", "#include <stdio.h>", "#include <string.h>", ""]
    if program.macros:
        lines += [f"#define {name} {value}" for name, value in program.parameters]
    if printer.uses_min:
        lines.append(f"#define {program.min_name}(x, y) ((x) < (y) ? (x) : (y))")
    if printer.uses_max:
        lines.append(f"#define {program.max_name}(x, y) ((x) > (y) ? (x) : (y))")
    lines.append("")
    scalar_type = "double" if program.floating else "unsigned"
    for name, element, _ in used:
        lines.append(f"static {element} {name}{''.join(f'[{e}]' for e in extents[name])};")
    for name in program.scalars:
        lines.append(f"static {scalar_type} {name};")
    lines += ["", "static unsigned long long mix(unsigned long long h, unsigned long long v)",
              "{", "  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);",
              "  return h * 0x100000001b3ULL;", "}", "",
              "static unsigned long long bits_of(double x)", "{",
              "  unsigned long long bits;", "  if (x != x)", "    return 0x7ff8dead;",
              "  memcpy(&bits, &x, sizeof bits);", "  return bits;", "}", ""]
    counter = "q0, q1, q2"
    init = ["static void init(void)", "{", f"  int {counter};", "  unsigned long long q = 0;"]
    hashes = ["static void print_hashes(void)", "{", f"  int {counter};",
              "  unsigned long long h, all = 0;"]
    for name, element, rank in used:
        element_at = name + "".join(f"[q{d}]" for d in range(rank))
        if element in FLOATING_TYPES:
            value = f"({element})((double)((q * 37 + 11) % 101) / 50.0 - 1.0)"
            bits = f"bits_of({element_at})"
        elif element == "unsigned":
            value = "(unsigned)(q * 2654435761u + 12345u)"
            bits = f"(unsigned){element_at}"
        else:
            value = "(int)((q * 37 + 11) % 201) - 100"
            bits = f"(unsigned){element_at}"
        init.append("  " + _array_loops(name, extents[name],
                                        f"{{ {element_at} = {value}; q++; }}"))
        hashes += ["  h = 0;", "  " + _array_loops(name, extents[name], f"h = mix(h, {bits});"),
                   f"  printf(\"{name} %016llx\\n\", h);", "  all = mix(all, h);"]
    for number, name in enumerate(program.scalars):
        if program.floating:
            init.append(f"  {name} = {0.25 * (number + 1)!r};")
            hashes.append(f"  h = bits_of({name});")
        else:
            init.append(f"  {name} = {3 * number + 1}u;")
            hashes.append(f"  h = {name};")
        hashes += [f"  printf(\"{name} %016llx\\n\", h);", "  all = mix(all, h);"]
    init += ["  (void)q;", "}", ""]
    hashes += ["  printf(\"checksum: %016llx\\n\", all);", "}", ""]
    prelude = "\n".join(lines + init + hashes)

    if program.macros:
        signature, arguments = "void", ""
    else:
        signature = ", ".join(f"int {name}" for name, _ in program.parameters)
        arguments = ", ".join(str(value) for _, value in program.parameters)
    iterators = ", ".join(name for name in ITERATOR_NAMES)
    head = (f"static void KERNEL({signature})\n{{\n  int {iterators};\n"
            "#pragma scop\n")
    tail = "#pragma endscop\n}\n"
    main = (f"\nint main(void)\n{{\n  init();\n  kernel({arguments});\n  print_hashes();\n"
            "  return 0;\n}\n")
    before = prelude + head.replace("KERNEL", "kernel")
    return Rendered(before, region, tail + main, prelude, head, tail, arguments)
