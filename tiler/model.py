"""The polyhedral model of one scop region: statements with isl domains and accesses."""

from __future__ import annotations

from dataclasses import dataclass, field

import islpy as isl

# The element size of an array whose declaration the pass cannot see (double's).
DEFAULT_ELEMENT_BYTES = 8


@dataclass(frozen=True)
class Access:
    """One array (or scalar) reference of a statement."""

    array: str                 # the name in the C source
    relation: isl.Map          # statement instance -> array element
    is_write: bool
    rank: int                  # number of subscripts (0 for a scalar)
    # For a read whose subscripts are not all affine (``x[idx[i]][j]``), ``relation`` lets each
    # such subscript take any value, and ``shape`` is the single-valued stand-in the cache model
    # reads: one dimension per loop iterator the subscript mentions (``x[i][j]``), i.e. at most
    # one distinct element per value of the data the subscript depends on.
    shape: isl.Map | None = None
    # In a branch of ``?:`` or behind ``&&``/``||``: a write that may not happen.
    conditional: bool = False

    @property
    def footprint_relation(self) -> isl.Map:
        """The single-valued relation the cache model reads (``shape`` or ``relation``)."""
        return self.relation if self.shape is None else self.shape


@dataclass(frozen=True)
class Statement:
    """One expression statement of the region."""

    name: str                          # S0, S1, ... (also the isl tuple name)
    iterators: tuple[str, ...]         # enclosing loop iterators, outermost first (C names)
    domain: isl.Set                    # [params] -> { S[i, j] : ... }
    accesses: tuple[Access, ...]
    body: str                          # C text, iterators written as ``(i)``, no trailing ';'
    line: int
    column: int

    @property
    def reads(self) -> tuple[Access, ...]:
        return tuple(a for a in self.accesses if not a.is_write)

    @property
    def writes(self) -> tuple[Access, ...]:
        return tuple(a for a in self.accesses if a.is_write)


@dataclass(frozen=True)
class Loop:
    """A loop of the original program: ``sign`` is +1 counting up, -1 counting down."""

    iterator: str
    sign: int
    children: tuple[LoopTree, ...]


@dataclass(frozen=True)
class Leaf:
    statement: int       # index into Scop.statements


LoopTree = Loop | Leaf


@dataclass(frozen=True)
class Scop:
    """A region in the polyhedral model; ``tree`` gives the original execution order."""

    parameters: tuple[str, ...]        # C names, in order of first use
    statements: tuple[Statement, ...]
    tree: tuple[LoopTree, ...]         # the top-level sequence
    isl_names: dict                    # C name -> name used inside isl objects
    iterator_type: str                 # C type for generated iterators
    element_bytes: dict = field(default_factory=dict)      # array -> sizeof its element
    parameter_values: dict = field(default_factory=dict)   # parameter -> value, where known
    functions: tuple[str, ...] = ()    # names called in the region (pure functions to it)
    types: dict = field(default_factory=dict)   # name -> declared base type, where seen

    @property
    def domain(self) -> isl.UnionSet:
        result = isl.UnionSet.empty(self.statements[0].domain.get_space().params())
        for statement in self.statements:
            result = result.union(isl.UnionSet.from_set(statement.domain))
        return result

    def access_union(self, writes: bool) -> isl.UnionMap:
        """Return every read (or write) access of the region as one union map."""
        result = isl.UnionMap.empty(self.statements[0].domain.get_space().params())
        for statement in self.statements:
            for access in statement.accesses:
                if access.is_write == writes:
                    result = result.union(isl.UnionMap.from_map(access.relation))
        return result

    def c_name(self, isl_name: str) -> str:
        """Return the C spelling of a name used inside isl objects."""
        for c_name, inner in self.isl_names.items():
            if inner == isl_name:
                return c_name
        return isl_name
