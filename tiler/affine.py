"""Translate affine C expressions and conditions into isl piecewise affine functions and sets."""

from __future__ import annotations

from dataclasses import dataclass

import islpy as isl

from tiler.errors import TilerError
from tiler.syntax import ArrayRef, Binary, Call, Cast, Expr, Name, Number, Select, Span, Unary

MIN_FUNCTIONS = {"min", "MIN", "__min"}
MAX_FUNCTIONS = {"max", "MAX", "__max"}
FLOOR_DIVISIONS = {"floord", "floord_int"}
CEIL_DIVISIONS = {"ceild", "ceild_int"}
# Casts that keep the value of an affine expression (signed, at least as wide as int). A cast
# to an unsigned type makes C compute modulo 2^N (``(unsigned)(i - 3) % 8u`` is not
# ``(i - 3) % 8`` for i < 3), and a narrower one can wrap: both are not affine here.
INTEGER_CASTS = {"int", "long", "long int", "long long", "long long int", "signed",
                 "signed int", "int64_t", "int32_t", "ptrdiff_t"}


@dataclass(frozen=True)
class AffineScope:
    """The names an affine expression may use: enclosing iterators (set dims) and parameters.

    ``text`` is the region text, used to quote the offending expression in errors;
    ``assigned`` names the scalars written in the region, for a precise message.
    """

    space: isl.Space
    iterators: tuple[str, ...]
    parameters: tuple[str, ...]
    assigned: frozenset[str]
    text: str

    def quote(self, span: Span) -> str:
        return " ".join(self.text[span.start:span.end].split())

    def fail(self, message: str, span: Span) -> TilerError:
        return TilerError(message, span.line, span.column)


def _is_integer_type(name: str) -> bool:
    words = set(name.replace("_t", "").split())
    return bool(words & {"int", "long", "short", "char", "unsigned", "signed", "size",
                         "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                         "uint64"})


def _integer(text: str) -> int | None:
    """Return the value of a C integer literal (suffixes allowed), or None for a non-integer."""
    body = text.rstrip("uUlL")
    if body[:2].lower() == "0x":
        base = 16
    elif len(body) > 1 and body.startswith("0"):
        base = 8
    else:
        base = 10
    try:
        return int(body, base)
    except ValueError:
        return None


def _constant(scope: AffineScope, value: int) -> isl.PwAff:
    domain = isl.Set.universe(scope.space)
    return isl.PwAff.val_on_domain(domain, isl.Val.int_from_si(scope.space.get_ctx(), value))


def affine(expr: Expr, scope: AffineScope, role: str) -> isl.PwAff:
    """Return ``expr`` as a piecewise affine function of the scope's iterators and parameters.

    ``role`` names where the expression stands ("loop bound", "subscript") for the error
    raised when it is not affine.
    """
    local = isl.LocalSpace.from_space(scope.space)

    def not_affine(node: Expr, why: str) -> TilerError:
        return scope.fail(f"non-affine {role} '{scope.quote(node.span)}': {why}", node.span)

    def walk(node: Expr) -> isl.PwAff:
        if isinstance(node, Number):
            value = _integer(node.text)
            if value is None:
                raise not_affine(node, "not an integer constant")
            if "u" in node.text.lower().lstrip("0x"):
                raise not_affine(node, "an unsigned constant makes C compute modulo 2^N")
            if abs(value) >= 2 ** 62:
                raise not_affine(node, "constant too large")
            return _constant(scope, value)
        if isinstance(node, Name):
            if node.name in scope.iterators:
                position = len(scope.iterators) - 1 - scope.iterators[::-1].index(node.name)
                return isl.PwAff.var_on_domain(local, isl.dim_type.set, position)
            if node.name in scope.parameters:
                position = scope.parameters.index(node.name)
                return isl.PwAff.var_on_domain(local, isl.dim_type.param, position)
            if node.name in scope.assigned:
                raise not_affine(node, f"'{node.name}' is assigned inside the region")
            raise not_affine(node, f"'{node.name}' is not an enclosing loop iterator")
        if isinstance(node, Unary) and node.op in "+-":
            inner = walk(node.operand)
            return inner.neg() if node.op == "-" else inner
        if isinstance(node, Cast) and node.type_name in INTEGER_CASTS:
            return walk(node.operand)
        if isinstance(node, Cast) and _is_integer_type(node.type_name):
            raise not_affine(node, f"a cast to '{node.type_name}' (unsigned or narrower "
                             "types wrap around)")
        if isinstance(node, Binary) and node.op in ("+", "-", "*", "/", "%"):
            left, right = walk(node.left), walk(node.right)
            if node.op == "+":
                return left.add(right)
            if node.op == "-":
                return left.sub(right)
            if node.op == "*":
                if not (left.is_cst() or right.is_cst()):
                    raise not_affine(node, "product of two variables")
                return left.mul(right)
            divisor = _positive_constant(node.right, right)
            if divisor is None:
                raise not_affine(node, "division by something other than a positive constant")
            return left.tdiv_q(right) if node.op == "/" else left.tdiv_r(right)
        if isinstance(node, Call):
            return call(node)
        if isinstance(node, Select):
            condition = affine_condition(node.condition, scope, role)
            return condition.indicator_function().cond(walk(node.if_true), walk(node.if_false))
        if isinstance(node, ArrayRef):
            raise not_affine(node, f"it reads the array '{node.name}'")
        raise not_affine(node, "not an affine expression")

    def call(node: Call) -> isl.PwAff:
        name = node.function
        if name in MIN_FUNCTIONS | MAX_FUNCTIONS and len(node.args) >= 2:
            values = [walk(arg) for arg in node.args]
            result = values[0]
            for value in values[1:]:
                result = result.min(value) if name in MIN_FUNCTIONS else result.max(value)
            return result
        if name in FLOOR_DIVISIONS | CEIL_DIVISIONS and len(node.args) == 2:
            numerator, denominator = walk(node.args[0]), walk(node.args[1])
            if _positive_constant(node.args[1], denominator) is None:
                raise not_affine(node, "division by something other than a positive constant")
            quotient = numerator.div(denominator)
            return quotient.floor() if name in FLOOR_DIVISIONS else quotient.ceil()
        raise not_affine(node, f"call to '{name}'")

    return walk(expr)


def _positive_constant(node: Expr, value: isl.PwAff) -> int | None:
    if not value.is_cst():
        return None
    pieces = value.get_pieces()
    if len(pieces) != 1:
        return None
    constant = pieces[0][1].get_constant_val()
    if not constant.is_int() or constant.to_python() <= 0:
        return None
    return constant.to_python()


_COMPARISONS = {"<": "lt_set", "<=": "le_set", ">": "gt_set", ">=": "ge_set", "==": "eq_set",
                "!=": "ne_set"}


def affine_condition(expr: Expr, scope: AffineScope, role: str = "condition") -> isl.Set:
    """Return the set of points of the scope's space where the C condition ``expr`` holds."""
    if isinstance(expr, Binary) and expr.op in _COMPARISONS:
        left = affine(expr.left, scope, role)
        right = affine(expr.right, scope, role)
        return getattr(left, _COMPARISONS[expr.op])(right)
    if isinstance(expr, Binary) and expr.op == "&&":
        return affine_condition(expr.left, scope, role).intersect(
            affine_condition(expr.right, scope, role))
    if isinstance(expr, Binary) and expr.op == "||":
        return affine_condition(expr.left, scope, role).union(
            affine_condition(expr.right, scope, role))
    if isinstance(expr, Unary) and expr.op == "!":
        return affine_condition(expr.operand, scope, role).complement()
    value = affine(expr, scope, role)
    return value.ne_set(_constant(scope, 0))
