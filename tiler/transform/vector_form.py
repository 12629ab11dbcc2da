"""Whether a statement can run as GNU C vector code along one iterator, and in what form:
``X[...] op= e`` or ``X[...] = X[...] op e`` whose ``e`` is built from ``+ - * /`` of array
references (stride one along the vector iterator, or invariant along it) and scalars."""

from __future__ import annotations

from dataclasses import dataclass

from tiler.syntax import (
    ArrayRef,
    Assign,
    Binary,
    Call,
    Cast,
    Expr,
    ExprStmt,
    Name,
    Number,
    Select,
    Unary,
    parse_region,
)

# The element types vector code is emitted for, and the rank of every type a scalar
# operand may have in C's usual arithmetic conversions (a scalar of a higher rank than the
# vector's element would make C compute in that type, which the vector code cannot).
VECTOR_ELEMENT_TYPES = {"double": 8, "float": 4}
_RANK = {"char": 0, "short": 0, "int": 0, "long": 0, "long long": 0, "unsigned": 0,
         "unsigned int": 0, "unsigned long": 0, "unsigned char": 0, "unsigned short": 0,
         "signed char": 0, "unsigned long long": 0, "_Bool": 0,
         "size_t": 0, "int64_t": 0, "int32_t": 0, "int16_t": 0, "int8_t": 0, "uint64_t": 0,
         "uint32_t": 0, "uint16_t": 0, "uint8_t": 0, "float": 1, "double": 2}
_ELEMENT_RANK = {"float": 1, "double": 2}
_ARITHMETIC = {"+", "-", "*", "/"}


@dataclass(frozen=True)
class VectorStatement:
    """A statement in vector form: ``target`` is the accumulator (the written element),
    ``update`` the new value with the accumulator's own references in it."""

    target: ArrayRef
    update: Expr              # the value assigned: X op e, or the right-hand side of X = ...
    element_type: str
    # references that move along the vector iterator other than with stride one (syrk's
    # A[j][k]): vector code reads them from a transposed panel (tiler.transform.panel)
    gathered: tuple[ArrayRef, ...] = ()


def statement_expression(body: str) -> Expr | None:
    """Return the syntax tree of a statement body (the text the model keeps)."""
    statements = parse_region(body + ";").body.statements
    if len(statements) != 1 or not isinstance(statements[0], ExprStmt):
        return None
    return statements[0].expr


def _linear(expr: Expr) -> dict[str, int] | None:
    """Return an affine expression as coefficients per name ('' for the constant), None
    when it is not written as a sum of integer multiples of names."""
    if isinstance(expr, Number):
        return {"": int(expr.text)} if expr.text.isdigit() else None
    if isinstance(expr, Name):
        return {expr.name: 1}
    if isinstance(expr, Unary) and expr.op in "+-":
        inner = _linear(expr.operand)
        sign = -1 if expr.op == "-" else 1
        return None if inner is None else {k: sign * v for k, v in inner.items()}
    if isinstance(expr, Binary) and expr.op in ("+", "-"):
        left, right = _linear(expr.left), _linear(expr.right)
        if left is None or right is None:
            return None
        sign = 1 if expr.op == "+" else -1
        result = dict(left)
        for key, value in right.items():
            result[key] = result.get(key, 0) + sign * value
        return result
    if isinstance(expr, Binary) and expr.op == "*":
        left, right = _linear(expr.left), _linear(expr.right)
        if left is None or right is None:
            return None
        for constant, other in ((left, right), (right, left)):
            if set(constant) <= {""}:
                factor = constant.get("", 0)
                return {k: factor * v for k, v in other.items()}
        return None
    return None


def _mentions(expr: Expr, name: str) -> bool:
    if isinstance(expr, Name):
        return expr.name == name
    return any(_mentions(child, name) for child in _children(expr))


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, ArrayRef):
        return expr.indices
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, Unary | Cast):
        return (expr.operand,)
    if isinstance(expr, Select):
        return (expr.condition, expr.if_true, expr.if_false)
    if isinstance(expr, Assign):
        return (expr.target, expr.value)
    return ()


def stride_along(ref: ArrayRef, iterator: str) -> str | None:
    """Return how ``ref`` moves along ``iterator``: 'invariant', 'unit' (stride one in the
    last subscript only), or None (any other way, or subscripts that are not affine)."""
    forms = [_linear(index) for index in ref.indices]
    if any(form is None for form in forms):
        return "invariant" if not any(_mentions(i, iterator) for i in ref.indices) else None
    coefficients = [form.get(iterator, 0) for form in forms]
    if not any(coefficients):
        return "invariant"
    if coefficients[-1] == 1 and not any(coefficients[:-1]):
        return "unit"
    return None


def _same_reference(a: ArrayRef, b: ArrayRef) -> bool:
    return a.name == b.name and [_linear(i) for i in a.indices] == \
        [_linear(i) for i in b.indices] and None not in [_linear(i) for i in a.indices]


def _scalar_rank(expr: Expr, types: dict[str, str], iterators: set[str]) -> int | None:
    """Return the arithmetic rank of a scalar expression's C type, None when unknown."""
    if isinstance(expr, Number):
        text = expr.text.lower()
        if text.endswith("f") and not text.startswith("0x"):
            return _RANK["float"]
        if any(c in text for c in ".e") and not text.startswith("0x"):
            return None if text.endswith("l") else _RANK["double"]
        return 0
    if isinstance(expr, Name):
        if expr.name in iterators:
            return 0
        return _RANK.get(types.get(expr.name, ""))
    if isinstance(expr, ArrayRef):
        return _RANK.get(types.get(expr.name, ""))
    if isinstance(expr, Cast):
        return _RANK.get(expr.type_name)
    if isinstance(expr, Unary) and expr.op in "+-":
        return _scalar_rank(expr.operand, types, iterators)
    if isinstance(expr, Binary) and expr.op in _ARITHMETIC:
        left = _scalar_rank(expr.left, types, iterators)
        right = _scalar_rank(expr.right, types, iterators)
        return None if left is None or right is None else max(left, right)
    return None


def vector_form(body: str, vector: str, types: dict[str, str], iterators: set[str],
                gather: bool = False) -> VectorStatement | str:
    """Return the vector form of a statement along the iterator ``vector``, or why it has
    none. ``types`` are the declared types of arrays and scalars. With ``gather``, a
    reference of another array that moves along ``vector`` with another affine stride is
    an operand too, listed in ``gathered`` (it must be packed to be loaded as a vector)."""
    expr = statement_expression(body)
    if not isinstance(expr, Assign) or not isinstance(expr.target, ArrayRef):
        return "the statement is not an assignment to an array element"
    target = expr.target
    element = types.get(target.name)
    if element not in VECTOR_ELEMENT_TYPES:
        return f"'{target.name}' is not an array of float or double"
    if stride_along(target, vector) != "unit":
        return f"'{target.name}' is not written with stride one along '{vector}'"
    if expr.op == "=":
        update = expr.value
    elif expr.op[:-1] in _ARITHMETIC and len(expr.op) == 2:
        update = Binary(expr.op[:-1], target, expr.value, expr.span)
    else:
        return f"operator '{expr.op}' has no vector form"
    gathered: list[ArrayRef] = [] if gather else None
    problem = _vector_operands(update, target, vector, element, types, iterators, gathered)
    if problem:
        return problem
    if not _reads_target(update, target):
        return "the statement does not read the element it writes (no accumulator)"
    return VectorStatement(target, update, element, tuple(gathered or ()))


def _reads_target(expr: Expr, target: ArrayRef) -> bool:
    if isinstance(expr, ArrayRef) and _same_reference(expr, target):
        return True
    return any(_reads_target(child, target) for child in _children(expr))


def _vector_operands(expr: Expr, target: ArrayRef, vector: str, element: str,
                     types: dict[str, str], iterators: set[str],
                     gathered: list[ArrayRef] | None = None) -> str | None:
    """Return why ``expr`` has no vector form along ``vector`` (None: it has one); references
    to gather are added to ``gathered`` (None: none may be)."""
    if not _varies(expr, vector):
        rank = _scalar_rank(expr, types, iterators)
        if rank is None:
            return "a scalar operand of unknown or unsupported type"
        if rank > _ELEMENT_RANK[element]:
            return f"a scalar operand of a wider type than {element}"
        return None
    if isinstance(expr, ArrayRef):
        # (the written array read at another element: whether another point of the
        # micro-tile wrote it first is for the dependences to say, micro_kernels_are_legal)
        if stride_along(expr, vector) != "unit":
            if gathered is None or expr.name == target.name or \
                    any(_linear(index) is None for index in expr.indices):
                return f"'{expr.name}' is not read with stride one along '{vector}'"
            if types.get(expr.name) != element:
                return f"'{expr.name}' is not an array of {element}"
            if not any(_same_reference(expr, seen) for seen in gathered):
                gathered.append(expr)
            return None
        if types.get(expr.name) != element:
            return f"'{expr.name}' is not an array of {element}"
        return None
    if isinstance(expr, Binary) and expr.op in _ARITHMETIC:
        return (_vector_operands(expr.left, target, vector, element, types, iterators,
                                 gathered)
                or _vector_operands(expr.right, target, vector, element, types, iterators,
                                    gathered))
    if isinstance(expr, Unary) and expr.op in "+-":
        return _vector_operands(expr.operand, target, vector, element, types, iterators,
                                gathered)
    return "an operation other than + - * / along the vector member"


def _varies(expr: Expr, vector: str) -> bool:
    """Return whether ``expr`` takes other values along ``vector``."""
    return _mentions(expr, vector)


def c_text(expr: Expr, substitute: dict[str, str]) -> str:
    """Return ``expr`` as C text (fully parenthesised), with the names of ``substitute``
    replaced by their text."""
    if isinstance(expr, Number):
        return expr.text
    if isinstance(expr, Name):
        return f"({substitute[expr.name]})" if expr.name in substitute else expr.name
    if isinstance(expr, ArrayRef):
        return expr.name + "".join(f"[{c_text(i, substitute)}]" for i in expr.indices)
    if isinstance(expr, Call):
        return f"{expr.function}({', '.join(c_text(a, substitute) for a in expr.args)})"
    if isinstance(expr, Binary):
        return f"({c_text(expr.left, substitute)} {expr.op} {c_text(expr.right, substitute)})"
    if isinstance(expr, Unary):
        return f"({expr.op}{c_text(expr.operand, substitute)})"
    if isinstance(expr, Cast):
        return f"(({expr.type_name}) {c_text(expr.operand, substitute)})"
    if isinstance(expr, Select):
        return (f"({c_text(expr.condition, substitute)} ? {c_text(expr.if_true, substitute)}"
                f" : {c_text(expr.if_false, substitute)})")
    raise ValueError(f"no C text for {type(expr).__name__}")
