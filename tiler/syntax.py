"""Parse the text of a scop region into a small syntax tree of frozen dataclasses.

The C-syntax knowledge is in ``grammar/scop.lark``; this module holds the one lark
``Transformer`` that maps grammar rules to the model below, and the translation of lark's
errors into ``TilerError`` with a location.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, v_args

from tiler.errors import TilerError


@dataclass(frozen=True)
class Span:
    """Where a piece of syntax is: 1-based line and column, and offsets into the region text."""

    line: int
    column: int
    start: int
    end: int


# ---- expressions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    text: str
    span: Span


@dataclass(frozen=True)
class Name:
    name: str
    span: Span


@dataclass(frozen=True)
class ArrayRef:
    """``name[i][j]``: an array element with one expression per subscript."""

    name: str
    indices: tuple[Expr, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Binary:
    """Arithmetic, bitwise and comparison operators, and ``&&``/``||``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Unary:
    """``-e``, ``+e``, ``!e``, ``~e``."""

    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Select:
    condition: Expr
    if_true: Expr
    if_false: Expr
    span: Span


@dataclass(frozen=True)
class Cast:
    type_name: str
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Assign:
    """``target op value`` for every assignment operator; ``a = b = e`` nests."""

    op: str
    target: Expr
    value: Expr
    span: Span


@dataclass(frozen=True)
class Increment:
    """``x++``, ``++x``, ``x--``, ``--x``."""

    op: str
    target: Expr
    prefix: bool
    span: Span


@dataclass(frozen=True)
class Unsupported:
    """A construct that is C but has no place in an affine region (``*p``, ``&x``, ``s.f``)."""

    what: str
    span: Span


Expr = (Number | Name | ArrayRef | Call | Binary | Unary | Select | Cast | Assign | Increment
        | Unsupported)


# ---- statements ----------------------------------------------------------------------------

@dataclass(frozen=True)
class For:
    iterator: str
    declared_type: str | None
    init: Expr
    condition: Expr
    step: Expr
    body: Stmt
    span: Span
    iterator_span: Span


@dataclass(frozen=True)
class If:
    condition: Expr
    then: Stmt
    otherwise: Stmt | None
    span: Span


@dataclass(frozen=True)
class Block:
    statements: tuple[Stmt, ...]
    span: Span | None


@dataclass(frozen=True)
class ExprStmt:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class UnsupportedStmt:
    what: str
    span: Span


Stmt = For | If | Block | ExprStmt | UnsupportedStmt


@dataclass(frozen=True)
class Region:
    """The parsed text of one region; ``text`` is the region behind as many empty lines as
    precede it in the file, so spans index it and give lines of the file."""

    body: Block
    text: str


# ---- parsing -------------------------------------------------------------------------------

def _span(meta_or_token) -> Span:
    return Span(meta_or_token.line, meta_or_token.column, meta_or_token.start_pos,
                meta_or_token.end_pos)


class _CastPostLexer:
    """Turn ``( IDENT )`` into one CAST token where it can only be a cast: after an operator
    or an opening bracket, and before an operand, as in ``(DATA_TYPE) x`` or ``(T)(a + b)``."""

    always_accept = ()
    _no_cast_after = frozenset({"IDENT", "NUMBER", "RPAR", "RSQB", "IF", "WHILE", "FOR", "SIZEOF",
                      "STRING"})
    _operand_start = frozenset({"IDENT", "NUMBER", "LPAR"})

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        window: list[Token] = []
        previous: Token | None = None
        for token in stream:
            window.append(token)
            while len(window) >= 4 or (window and window[0].type != "LPAR"):
                if (len(window) >= 4 and window[0].type == "LPAR" and window[1].type == "IDENT"
                        and window[2].type == "RPAR" and window[3].type in self._operand_start
                        and (previous is None or previous.type not in self._no_cast_after)):
                    first, name, last = window[:3]
                    cast = Token.new_borrow_pos("CAST", name.value, first)
                    cast.end_pos, cast.end_line, cast.end_column = (
                        last.end_pos, last.end_line, last.end_column)
                    del window[:3]
                    window.insert(0, cast)
                emitted = window.pop(0)
                previous = emitted
                yield emitted
        yield from window


def _grammar_text() -> str:
    try:
        return resources.files("tiler.grammar").joinpath("scop.lark").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # running from a source tree
        return (Path(__file__).resolve().parent.parent / "grammar" / "scop.lark").read_text()


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(_grammar_text(), parser="lalr", lexer="basic", propagate_positions=True,
                postlex=_CastPostLexer(), maybe_placeholders=True, cache=True)


@v_args(meta=True)
class _ToModel(Transformer):
    """Map each grammar rule to the model above."""

    # statements
    def start(self, meta, children):
        return Block(tuple(children), None)

    def compound(self, meta, children):
        return Block(tuple(children), _span(meta))

    def empty_stmt(self, meta, children):
        return Block((), _span(meta))

    def expr_stmt(self, meta, children):
        return ExprStmt(children[0], _span(meta))

    def for_stmt(self, meta, children):
        _keyword, (declared_type, iterator, init), condition, step, body = children
        return For(str(iterator), declared_type, init, condition, step, body, _span(meta),
                   _span(iterator))

    def for_init(self, meta, children):
        if len(children) == 3:
            return children
        return (None, *children)

    def if_stmt(self, meta, children):
        otherwise = children[4] if len(children) > 3 and children[3] is not None else None
        return If(children[1], children[2], otherwise, _span(meta))

    def while_stmt(self, meta, children):
        return UnsupportedStmt("a while loop", _span(meta))

    def goto_stmt(self, meta, children):
        return UnsupportedStmt("goto", _span(meta))

    def jump_stmt(self, meta, children):
        return UnsupportedStmt(f"'{children[0]}'", _span(meta))

    def declaration(self, meta, children):
        return UnsupportedStmt("a declaration", _span(meta))

    def labelled_stmt(self, meta, children):
        return UnsupportedStmt("a label", _span(meta))

    def declarator(self, meta, children):
        return None

    def type_name(self, meta, children):
        return " ".join(str(c) for c in children).replace(" *", "*")

    # expressions
    def assignment(self, meta, children):
        return Assign(children[1], children[0], children[2], _span(meta))

    def select(self, meta, children):
        return Select(children[0], children[1], children[2], _span(meta))

    def or_(self, meta, children):
        return Binary("||", children[0], children[1], _span(meta))

    def and_(self, meta, children):
        return Binary("&&", children[0], children[1], _span(meta))

    def binary(self, meta, children):
        return Binary(children[1], children[0], children[2], _span(meta))

    compare = binary

    def cast(self, meta, children):
        return Cast(children[0], children[1], _span(meta))

    def named_cast(self, meta, children):
        return Cast(str(children[0]), children[1], _span(meta))

    def unary_sign(self, meta, children):
        return Unary(children[0], children[1], _span(meta))

    def not_(self, meta, children):
        return Unary("!", children[0], _span(meta))

    def bit_not(self, meta, children):
        return Unary("~", children[0], _span(meta))

    def pre_increment(self, meta, children):
        return Increment(children[0], children[1], True, _span(meta))

    def post_increment(self, meta, children):
        return Increment(children[1], children[0], False, _span(meta))

    def dereference(self, meta, children):
        return Unsupported("a pointer dereference", _span(meta))

    def address_of(self, meta, children):
        return Unsupported("taking an address ('&')", _span(meta))

    def unsupported_sizeof(self, meta, children):
        return Unsupported("sizeof", _span(meta))

    def member(self, meta, children):
        return Unsupported("a struct member access", _span(meta))

    def string(self, meta, children):
        return Unsupported("a string literal", _span(meta))

    def subscript(self, meta, children):
        base, index = children
        if isinstance(base, Name):
            return ArrayRef(base.name, (index,), _span(meta), base.span)
        if isinstance(base, ArrayRef):
            return ArrayRef(base.name, base.indices + (index,), _span(meta), base.name_span)
        return Unsupported("a subscript of something that is not an array name", _span(meta))

    def call(self, meta, children):
        function, *args = children
        return Call(str(function), tuple(a for a in args if a is not None), _span(meta))

    def name(self, meta, children):
        return Name(str(children[0]), _span(children[0]))

    def number(self, meta, children):
        return Number(str(children[0]), _span(children[0]))

    # operator rules (kept tokens) become plain strings
    def _operator(self, meta, children):
        return str(children[0])

    assign_op = equality_op = relational_op = shift_op = additive_op = _operator
    multiplicative_op = bit_and_op = bit_or_op = bit_xor_op = increment_op = _operator


# The message for code nested deeper than the parser's stack allows.
NESTED_TOO_DEEPLY = "expressions or blocks nested too deeply"


def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of region"
    return f"'{token.value}'"


def parse_region(text: str, first_line: int = 1) -> Region:
    """Return the syntax tree of a region's text; lines in errors count from ``first_line``.

    Raises ``TilerError`` for text outside the C subset, located at the offending token.
    """
    # The text is parsed behind first_line - 1 empty lines, so that every position lark
    # reports is already a line of the file: nothing has to walk the tree afterwards to move
    # them (a walk that would be as deep as the deepest expression).
    padded = "\n" * (first_line - 1) + text
    try:
        body = _ToModel().transform(_parser().parse(padded))
    except lark.exceptions.UnexpectedCharacters as error:
        char = padded[error.pos_in_stream] if error.pos_in_stream < len(padded) else "?"
        raise TilerError(f"unexpected character {char!r} in a scop region",
                         error.line, error.column) from None
    except lark.exceptions.UnexpectedEOF:
        raise TilerError("the scop region ends in the middle of a statement",
                         _last_line(padded), 1) from None
    except lark.exceptions.UnexpectedToken as error:
        token = error.token
        if token.type == "$END":
            raise TilerError("the scop region ends in the middle of a statement "
                             "(unbalanced braces or parentheses?)",
                             _last_line(padded), 1) from None
        raise TilerError(f"syntax error at {_describe(token)}", token.line,
                         token.column) from None
    except RecursionError:
        raise TilerError(NESTED_TOO_DEEPLY, first_line, 1) from None
    except lark.exceptions.VisitError as error:
        # lark wraps what a transformer method raises, running out of stack included.
        if isinstance(error.orig_exc, RecursionError):
            raise TilerError(NESTED_TOO_DEEPLY, first_line, 1) from None
        raise
    return Region(body, padded)


def tokens(text: str) -> list[Token]:
    """Return the tokens of ``text`` (comments and white space dropped)."""
    return list(_parser().lex(text))


def _last_line(text: str) -> int:
    return text.count("\n") + 1


sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
