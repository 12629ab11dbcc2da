"""What is declared where a region starts: the C type of every visible variable and typedef.

Read from the preprocessed text before the region (so macros, typedefs from headers and
``-D`` types are as the compiler sees them), by a scanner of declarations over tokens that
follows C's block scopes and function parameters. It only has to understand declarations: any
statement it cannot read as one is skipped to its ``;`` or block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'"
                    r"|[A-Za-z_]\w*|\d[\w.]*|\.\.\.|->|\S", re.DOTALL)

TYPE_WORDS = frozenset({"void", "char", "short", "int", "long", "float", "double", "signed",
                        "unsigned", "_Bool", "bool", "__int128", "_Complex", "_Float16",
                        "_Float32", "_Float64", "_Float128", "__fp16"})
QUALIFIERS = frozenset({"const", "volatile", "restrict", "__restrict", "__restrict__",
                        "static", "extern", "register", "auto", "inline", "__inline",
                        "__inline__", "_Thread_local", "__thread", "__extension__",
                        "_Noreturn", "_Atomic", "__const"})
_SKIPPED_CALLS = frozenset({"__attribute__", "__attribute", "__asm__", "__asm", "asm",
                            "__declspec", "_Alignas", "alignas"})
_STATEMENT_WORDS = frozenset({"return", "if", "else", "while", "do", "for", "switch", "case",
                              "default", "goto", "break", "continue", "sizeof"})


@dataclass(frozen=True)
class CType:
    """A declared type: its base words (``unsigned long``, ``double``), and how many array
    dimensions and pointer levels its declarator adds."""

    base: str
    dimensions: int = 0
    pointers: int = 0
    # Per subscript, outermost first, the extent when it is a constant (``A[2000][N]`` with
    # N a variable: (2000, None)); a pointer's subscript has none.
    extents: tuple[int | None, ...] = ()

    @property
    def is_scalar(self) -> bool:
        return self.dimensions == 0 and self.pointers == 0

    @property
    def is_unsigned(self) -> bool:
        return "unsigned" in self.base.split() or self.base == "_Bool"

    @property
    def is_integer(self) -> bool:
        words = set(self.base.split())
        return bool(words) and words <= {"char", "short", "int", "long", "signed", "unsigned",
                                         "_Bool", "__int128"}


# Typedefs of the standard headers, for a file whose headers the preprocessor cannot see (LP64).
STANDARD_TYPEDEFS = {name: CType(base) for name, base in {
    "size_t": "unsigned long", "ssize_t": "long", "ptrdiff_t": "long", "intptr_t": "long",
    "uintptr_t": "unsigned long", "int64_t": "long", "uint64_t": "unsigned long",
    "int32_t": "int", "uint32_t": "unsigned int", "int16_t": "short",
    "uint16_t": "unsigned short", "int8_t": "signed char", "uint8_t": "unsigned char"}.items()}


@dataclass(frozen=True)
class Declarations:
    """Variables (name -> type) visible at one point, innermost declaration first."""

    variables: dict[str, CType] = field(default_factory=dict)
    typedefs: dict[str, CType] = field(default_factory=lambda: dict(STANDARD_TYPEDEFS))

    def type_of(self, name: str) -> CType | None:
        return self.variables.get(name)

    def resolve(self, spelling: str) -> CType:
        """Return the type a declaration's specifiers spell (typedef names resolved)."""
        words = [w for w in spelling.replace("*", " * ").split() if w not in QUALIFIERS]
        pointers = words.count("*")
        words = [w for w in words if w != "*"]
        if len(words) == 1 and words[0] in self.typedefs:
            named = self.typedefs[words[0]]
            return CType(named.base, named.dimensions, named.pointers + pointers)
        return CType(canonical(words), 0, pointers)


def tokens(text: str) -> list[str]:
    """Return the C tokens of ``text``, without comments."""
    return [t for t in _TOKEN.findall(text) if not t.startswith(("/*", "//"))]


def canonical(words: list[str]) -> str:
    """Return the canonical spelling of a list of type words (``long int`` -> ``long``,
    ``unsigned`` -> ``unsigned int``, ``signed char`` stays)."""
    kept = [w for w in words if w not in QUALIFIERS]
    if not kept:
        return ""
    if not set(kept) <= TYPE_WORDS:
        return " ".join(kept)
    longs = kept.count("long")
    unsigned = "unsigned" in kept
    for base in ("double", "float", "char", "short", "_Bool", "bool", "__int128", "void"):
        if base in kept:
            if base == "double" and longs:
                return "long double"
            if base == "char":
                return ("unsigned char" if unsigned else
                        "signed char" if "signed" in kept else "char")
            return f"unsigned {base}" if unsigned and base in ("short", "__int128") else base
    name = {0: "int", 1: "long", 2: "long long"}.get(longs, "long long")
    return f"unsigned {name}" if unsigned else name


class _Scanner:
    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.position = 0
        self.scopes: list[dict[str, CType]] = [{}]
        self.typedefs: list[dict[str, CType]] = [dict(STANDARD_TYPEDEFS)]
        self.pending: dict[str, CType] = {}      # a function's parameters, for its body

    def typedef(self, name: str) -> CType | None:
        for scope in reversed(self.typedefs):
            if name in scope:
                return scope[name]
        return None

    def peek(self, offset: int = 0) -> str:
        index = self.position + offset
        return self.words[index] if index < len(self.words) else ""

    def skip_group(self) -> None:
        """Skip a balanced (), [] or {} group starting at the current token."""
        opening = self.peek()
        closing = {"(": ")", "[": "]", "{": "}"}[opening]
        depth = 0
        while self.position < len(self.words):
            word = self.words[self.position]
            self.position += 1
            if word == opening:
                depth += 1
            elif word == closing:
                depth -= 1
                if depth == 0:
                    return

    def run(self) -> Declarations:
        while self.position < len(self.words):
            word = self.peek()
            if word == "{":
                self.position += 1
                self.scopes.append(self.pending)
                self.typedefs.append({})
                self.pending = {}
            elif word == "}":
                self.position += 1
                if len(self.scopes) > 1:
                    self.scopes.pop()
                    self.typedefs.pop()
            elif word == ";":
                self.position += 1
            elif word == "for" and self.peek(1) == "(":
                self.position += 2          # a for's own declaration is scoped to it: skip
                self.skip_to(")", inside=True)
            else:
                self.statement()
        visible: dict[str, CType] = {}
        for scope in self.scopes:
            visible.update(scope)
        typedefs: dict[str, CType] = {}
        for scope in self.typedefs:
            typedefs.update(scope)
        return Declarations(visible, typedefs)

    def skip_to(self, end: str, inside: bool = False) -> None:
        depth = 1 if inside else 0
        while self.position < len(self.words):
            word = self.words[self.position]
            if word in "([{":
                depth += 1
            elif word in ")]}":
                depth -= 1
                if inside and depth == 0:
                    self.position += 1
                    return
                if depth < 0:
                    return
            elif word == end and depth == 0:
                self.position += 1
                return
            self.position += 1

    def specifiers(self) -> tuple[list[str], bool, CType | None] | None:
        """Read declaration specifiers; return the type words, whether it is a typedef, and
        the type a typedef name stands for (None if the base is plain words)."""
        words: list[str] = []
        is_typedef = False
        named: CType | None = None
        while True:
            word = self.peek()
            if word == "typedef":
                is_typedef = True
            elif word in TYPE_WORDS or word in QUALIFIERS:
                words.append(word)
            elif word in _SKIPPED_CALLS and self.peek(1) == "(":
                self.position += 1
                self.skip_group()
                continue
            elif word in ("struct", "union", "enum"):
                self.position += 1
                tag = self.peek() if re.match(r"[A-Za-z_]", self.peek()) else ""
                if tag:
                    self.position += 1
                if self.peek() == "{":
                    self.skip_group()
                words.append(f"{word} {tag}".strip())
                named = CType(f"{word} {tag}".strip())
                continue
            elif (named is None and not any(w in TYPE_WORDS for w in words)
                  and self.typedef(word) is not None):
                named = self.typedef(word)
            else:
                break
            self.position += 1
        if named is None and not any(w in TYPE_WORDS for w in words):
            return None
        return words, is_typedef, named

    def statement(self) -> None:
        start = self.position
        read = self.specifiers()
        if read is None or self.position == start:
            self.position = max(self.position, start)
            self.skip_statement()
            return
        words, is_typedef, named = read
        base = named.base if named is not None else canonical(words)
        while True:
            declared = self.declarator()
            if declared is None:
                self.skip_statement()
                return
            name, extents, pointers, parameters = declared
            ctype = _declared(base, named, extents, pointers)
            if name:
                (self.typedefs if is_typedef else self.scopes)[-1][name] = ctype
            if parameters is not None and self.peek() == "{":
                self.pending = parameters       # a function definition: its body follows
                return
            if self.peek() == "=":
                self.position += 1
                self.skip_to_any((",", ";"))
            while self.peek() in _SKIPPED_CALLS and self.peek(1) == "(":
                self.position += 1
                self.skip_group()
            if self.peek() == ",":
                self.position += 1
                continue
            if self.peek() == ";":
                self.position += 1
            return

    def skip_to_any(self, ends: tuple[str, ...]) -> None:
        depth = 0
        while self.position < len(self.words):
            word = self.words[self.position]
            if word in "([{":
                depth += 1
            elif word in ")]}":
                if depth == 0:
                    return
                depth -= 1
            elif word in ends and depth == 0:
                return
            self.position += 1

    def skip_statement(self) -> None:
        """Skip what is not a declaration: to its ';', or over the block it opens."""
        while self.position < len(self.words):
            word = self.peek()
            if word == ";":
                self.position += 1
                return
            if word == "{" or word == "}":
                return
            if word in "([":
                self.skip_group()
                continue
            self.position += 1

    def declarator(self) -> tuple[str, tuple[int | None, ...], int,
                                  dict[str, CType] | None] | None:
        """Read one declarator: return its name, the extent of each subscript it adds in
        subscript order (None through a pointer or for a non-constant size), its pointer
        levels and, for a function, its parameters."""
        pointers = 0
        while self.peek() in ("*",) or self.peek() in QUALIFIERS:
            pointers += self.peek() == "*"
            self.position += 1
        name = ""
        extents: list[int | None] = []
        inner_pointers = 0
        if self.peek() == "(" and self.peek(1) in ("*", "^"):
            self.position += 1
            inner = self.declarator()           # (*A)[N]: a pointer to arrays
            if inner is None or self.peek() != ")":
                return None
            self.position += 1
            name, inner_extents, inner_pointers, _ = inner
            extents = list(inner_extents)            # its pointers' subscripts included
        elif re.match(r"[A-Za-z_]", self.peek()) and self.peek() not in _STATEMENT_WORDS:
            name = self.peek()
            self.position += 1
        parameters: dict[str, CType] | None = None
        while self.peek() in ("[", "("):
            if self.peek() == "[":
                start = self.position
                self.skip_group()
                extents.append(integer_constant(self.words[start + 1:self.position - 1]))
            else:
                parameters = self.parameter_list()
        # (*A)[N] is subscripted through the pointer first; *A[N] through the array first.
        return (name, tuple(extents) + (None,) * pointers, pointers + inner_pointers,
                parameters)

    def parameter_list(self) -> dict[str, CType]:
        self.position += 1                      # '('
        found: dict[str, CType] = {}
        while self.position < len(self.words) and self.peek() != ")":
            read = self.specifiers()
            if read is None:
                self.skip_to_any((",",))
            else:
                words, _, named = read
                base = named.base if named is not None else canonical(words)
                declared = self.declarator()
                if declared is not None and declared[0]:
                    name, extents, pointers, _ = declared
                    found[name] = _declared(base, named, extents, pointers)
                self.skip_to_any((",",))
            if self.peek() == ",":
                self.position += 1
        self.position += 1                      # ')'
        return found


def _declared(base: str, named: CType | None, extents: tuple[int | None, ...],
              pointers: int) -> CType:
    """Return the type of a declarator over a base type (``named``: a typedef's)."""
    # The declarator's own subscripts come first, then the typedef's (row *R with
    # typedef double row[10]: R[k] through the pointer, then 10).
    dimensions = len(extents) - pointers
    if named is not None:
        return CType(base, named.dimensions + dimensions, named.pointers + pointers,
                     tuple(extents) + named.extents)
    return CType(base, dimensions, pointers, tuple(extents))


def integer_constant(words: list[str]) -> int | None:
    """Return the value of an integer constant expression made of literals, parentheses,
    ``+``, ``-`` and ``*`` (C's division and shifts differ from Python's: left out), or
    None."""
    pieces: list[str] = []
    for word in words:
        literal = re.fullmatch(r"(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)[lL]{0,2}", word)
        if literal:
            digits = literal.group(1)
            pieces.append(str(int(digits, 16) if digits[:2].lower() == "0x"
                              else int(digits, 8) if digits.startswith("0") else int(digits)))
        elif word in ("(", ")", "+", "-", "*"):
            pieces.append(word)
        else:
            return None
    expression = " ".join(pieces)
    if not pieces or "* *" in expression:
        return None
    try:
        value = eval(expression, {"__builtins__": {}}, {})   # digits, ( ) + - * only
    except (SyntaxError, TypeError, ValueError):
        return None
    return value if isinstance(value, int) and abs(value) < 2 ** 62 else None


def scan_declarations(text: str) -> Declarations:
    """Return the variables declared in ``text`` (preprocessed C) that are visible at its end."""
    return _Scanner(tokens(text)).run()
