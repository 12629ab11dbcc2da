"""Footprint: how many bytes and cache lines each array touches inside one tile of a band.

The accesses of every statement under a band are rewritten as affine functions of the band's
members (``band_shape``, with isl); the footprint of a tile of given sizes is then the
bounding box of each array's image, in elements and in cache lines (``footprint``). Boxes
are exact for the rectangular, unit-stride references of dense kernels and over-approximate
otherwise (triangles, skews), which is the safe side for a cache model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import islpy as isl
import numpy as np

from tiler.declarations import CType
from tiler.model import DEFAULT_ELEMENT_BYTES, Leaf, Scop

# A parameter whose value the file does not fix is taken to be this large: larger than any
# tile, so no size is clamped by a guess, yet finite so that extents stay numbers.
UNKNOWN_PARAMETER_VALUE = 1000

@dataclass(frozen=True)
class AccessShape:
    """One reference as seen from a band: how its subscripts move with the band members."""

    array: str
    statement: str
    is_write: bool
    element_bytes: int
    coefficients: tuple[tuple[float, ...], ...]   # [array dim][band member]
    offsets: tuple[float, ...]                    # constant term per array dim
    inner_extent: tuple[float, ...]               # extent per array dim swept by inner loops
    integer: bool = False                         # its elements are of an integer type


@dataclass(frozen=True)
class BandShape:
    """The accesses under one band, and the number of values each member takes."""

    members: int
    trip_counts: tuple[int, ...]
    accesses: tuple[AccessShape, ...]
    statements: tuple[str, ...]
    estimated: tuple[bool, ...] = ()     # per member: trip count guessed (unknown parameter)
    # per statement: its instances (``instance_count``: a triangle holds half its box)
    instances: tuple[tuple[str, float], ...] = ()
    inner_loops: tuple[str, ...] = ()    # the statements with loops of their own in the band
    skewed: bool = False                 # a member combines several loops of a statement
    # the points of the band's own space that some statement takes (``instance_count`` of
    # their images: a triangular band holds half its box of trip counts; 0: not counted)
    points: float = 0.0
    irregular: tuple[str, ...] = ()      # the statements with a subscript that is not affine


@dataclass(frozen=True)
class Footprint:
    """Distinct bytes and cache lines per array touched by one tile."""

    bytes_per_array: dict
    lines_per_array: dict
    line_bytes: int

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_per_array.values()))

    @property
    def total_lines(self) -> int:
        return int(sum(self.lines_per_array.values()))


def _map_of(union_map: isl.UnionMap, statement: str) -> isl.Map | None:
    maps = union_map.get_map_list()
    for k in range(maps.n_map()):
        candidate = maps.get_at(k)
        if candidate.get_tuple_name(isl.dim_type.in_) == statement:
            return candidate
    return None


def _affine_rows(relation: isl.Map) -> tuple[np.ndarray, np.ndarray]:
    """Return (coefficients, constants) of the first affine piece of a single-valued map."""
    n_in = relation.dim(isl.dim_type.in_)
    n_out = relation.dim(isl.dim_type.out)
    coefficients = np.zeros((n_out, n_in))
    constants = np.zeros(n_out)
    if n_out == 0:
        return coefficients, constants
    pieces = []
    isl.PwMultiAff.from_map(relation).foreach_piece(lambda _set, piece: pieces.append(piece))
    if not pieces:
        return coefficients, constants
    piece = pieces[0]
    for row in range(n_out):
        aff = piece.get_at(row)
        for column in range(n_in):
            coefficients[row, column] = _number(aff.get_coefficient_val(isl.dim_type.in_,
                                                                        column))
        constants[row] = _number(aff.get_constant_val())
    return coefficients, constants


def _number(value: isl.Val) -> float:
    """Return an isl value as a float: isl may write a subscript with ``%`` or ``/`` with
    rational coefficients (``(2i + 2j) % 7`` for even ``i`` is ``((4j - 3i) mod 14) / 2``)."""
    if value.is_int():
        return float(value.to_python())
    if value.is_rat():
        return value.get_num_si() / value.get_den_val().to_python()
    return 0.0


def fix_parameters(scop: Scop, values: dict[str, int]) -> isl.Set:
    """Return the parameter set with every parameter fixed (known value or the estimate)."""
    space = scop.domain.get_space().params()
    result = isl.Set.universe(space)
    for name in scop.parameters:
        position = space.find_dim_by_name(isl.dim_type.param, scop.isl_names[name])
        value = values.get(name, UNKNOWN_PARAMETER_VALUE)
        result = result.fix_val(isl.dim_type.param, position, isl.Val(value))
    return result


def _extent(values: isl.Set, dim: int) -> int | None:
    if values.is_empty():
        return None
    low, high = values.dim_min_val(dim), values.dim_max_val(dim)
    if not (low.is_int() and high.is_int()):
        return None
    return high.to_python() - low.to_python() + 1


def band_shape(scop: Scop, band: isl.ScheduleNode, parameters: dict[str, int],
               element_sizes: dict[str, int]) -> BandShape:
    """Return the accesses of the statements under ``band`` as functions of its members."""
    members = band.band_n_member()
    fixed = fix_parameters(scop, parameters)
    partial = band.band_get_partial_schedule_union_map()
    prefix = band.get_prefix_schedule_union_map()

    def trips(fixed_parameters: isl.Set) -> tuple[int, ...]:
        domain = band.get_domain().intersect_params(fixed_parameters)
        if domain.is_empty():
            return (1,) * members
        values = isl.Set.from_union_set(partial.intersect_domain(domain).range())
        return tuple(_extent(values, k) or 1 for k in range(members))

    trip_counts = trips(fixed)
    doubled = {name: 2 * UNKNOWN_PARAMETER_VALUE for name in scop.parameters}
    doubled.update(parameters)
    estimated = tuple(a != b for a, b in zip(trip_counts, trips(fix_parameters(scop, doubled))))
    statements = {s.name: s for s in scop.statements}
    shapes: list[AccessShape] = []
    names: list[str] = []
    counts: list[tuple[str, float]] = []
    points = 0.0
    nested: list[str] = []
    skewed = False
    sets = band.get_domain().get_set_list()
    for index in range(sets.n_set()):
        name = sets.get_at(index).get_tuple_name()
        statement = statements[name]
        names.append(name)
        band_rows, _ = _affine_rows(_map_of(partial, name))
        skewed = skewed or bool(np.any(np.count_nonzero(band_rows, axis=1) > 1))
        prefix_map = _map_of(prefix, name)
        prefix_rows = _affine_rows(prefix_map)[0] if prefix_map is not None \
            else np.zeros((0, len(statement.iterators)))
        whole = np.vstack([prefix_rows, band_rows])
        used = np.flatnonzero(np.any(whole != 0, axis=0))
        free = np.flatnonzero(~np.any(whole != 0, axis=0))
        inverse = np.linalg.pinv(whole[:, used]) if len(used) else np.zeros((0, len(whole)))
        to_band = inverse[:, len(prefix_rows):]            # d(used iterators) / d(members)
        statement_domain = statement.domain.intersect_params(fixed)
        instances = _instances(statement_domain, len(statement.iterators))
        counts.append((name, instances))
        image = isl.Set.from_union_set(isl.UnionSet.from_set(statement_domain).apply(partial))
        own_points = _counted(str(image))
        points = max(points, own_points)
        if len(free):
            nested.append(name)
        free_extents = np.array([_extent(statement_domain, int(j)) or 1 for j in free],
                                dtype=float)
        if len(free) and own_points:
            # the loops of its own run on average instances / points of the band in all, not
            # their box: nussinov's k loop, from i to j, runs a third of n on average
            box = float(np.prod(free_extents))
            free_extents *= min(1.0, instances / own_points / box) ** (1.0 / len(free))
        free_trips = np.maximum(free_extents - 1, 0)
        for access in statement.accesses:
            rows, offsets = _affine_rows(access.footprint_relation)
            moving = rows[:, used] @ to_band if len(used) else np.zeros((len(rows), members))
            inner = np.abs(rows[:, free]) @ free_trips if len(free) else np.zeros(len(rows))
            shapes.append(_access_shape(scop, access, name, np.round(moving, 6), offsets,
                                        inner, element_sizes))
    return BandShape(members, trip_counts, tuple(shapes), tuple(sorted(names)), estimated,
                     tuple(sorted(counts)), tuple(sorted(nested)), skewed, points=points)


# Points of a statement's domain tested to estimate how many of its bounding box it holds
# (a grid of at most this many; a dimension of fewer values is taken whole).
MAX_DOMAIN_SAMPLES = 32768


def instance_count(domain: isl.Set) -> float:
    """Return the number of points of a parameter-fixed set, estimated on a grid over its
    bounding box: a triangle holds half its box, a tetrahedron a sixth; a dimension that an
    equality fixes (a diagonal) is counted without. The box itself where the set has
    existential variables (strides) or other equalities, which a grid of points would miss."""
    if domain.is_empty():
        return 0.0
    dims = domain.dim(isl.dim_type.set)
    bounds = []
    for dim in range(dims):
        low, high = domain.dim_min_val(dim), domain.dim_max_val(dim)
        if not (low.is_int() and high.is_int()):
            return 1.0 if not bounds else float(np.prod([h - lo + 1 for lo, h in bounds]))
        bounds.append((low.to_python(), max(high.to_python(), low.to_python())))
    box = float(np.prod([high - low + 1 for low, high in bounds])) if bounds else 1.0
    if dims == 0 or box <= 1:
        return box
    flat = domain.project_out(isl.dim_type.param, 0, domain.dim(isl.dim_type.param))
    rows = []
    basics = flat.get_basic_sets()
    for basic in basics:
        if basic.dim(isl.dim_type.div):
            return box
        constraints = []
        for constraint in basic.get_constraints():
            row = [constraint.get_coefficient_val(isl.dim_type.set, k).to_python()
                   for k in range(dims)]
            if constraint.is_equality() and any(row):
                # a dimension the others fix (a diagonal's i = j): count without it
                unit = [k for k, value in enumerate(row) if abs(value) == 1]
                if len(basics) > 1 or not unit:
                    return box
                return instance_count(flat.project_out(isl.dim_type.set, unit[-1], 1))
            constraints.append(row + [constraint.get_constant_val().to_python()])
        rows.append(np.array(constraints, dtype=float).reshape(-1, dims + 1))
    per_dim = max(1, int(MAX_DOMAIN_SAMPLES ** (1.0 / dims)))
    axes = []
    for low, high in bounds:
        extent = high - low + 1
        axes.append(np.arange(low, high + 1, dtype=float) if extent <= per_dim
                    else low - 0.5 + (np.arange(per_dim) + 0.5) * extent / per_dim)
    points = np.stack([axis.ravel() for axis in np.meshgrid(*axes, indexing="ij")], axis=1)
    points = np.hstack([points, np.ones((len(points), 1))])
    inside = np.zeros(len(points), dtype=bool)
    for constraints in rows:
        inside |= np.all(points @ constraints.T >= -1e-9, axis=1)
    return box * float(inside.mean())


@functools.lru_cache(maxsize=4096)
def _counted(text: str) -> float:
    return instance_count(isl.Set(text))


def _instances(domain: isl.Set, iterators: int) -> float:
    """Return ``instance_count`` of a statement's domain; the same domain, seen from every
    band and schedule the pass weighs, is counted once."""
    return _counted(str(domain)) if domain.dim(isl.dim_type.set) == iterators \
        else float(np.prod([_extent(domain, k) or 1 for k in range(iterators)]))


def statement_shape(scop: Scop, statement, parameters: dict[str, int],
                    element_sizes: dict[str, int]) -> BandShape:
    """Return the accesses of ``statement`` as functions of its own loops, outermost first:
    the nest as the source writes it, seen as one band of all its loops."""
    domain = statement.domain.intersect_params(fix_parameters(scop, parameters))
    depth = len(statement.iterators)
    trip_counts = tuple(_extent(domain, k) or 1 for k in range(depth))
    shapes = []
    for access in statement.accesses:
        rows, offsets = _affine_rows(access.footprint_relation)
        shapes.append(_access_shape(scop, access, statement.name, rows, offsets,
                                    np.zeros(len(rows)), element_sizes))
    irregular = (statement.name,) if any(a.shape is not None for a in statement.accesses) else ()
    return BandShape(depth, trip_counts, tuple(shapes), (statement.name,), (),
                     ((statement.name, _instances(domain, depth)),), irregular=irregular)


def _access_shape(scop: Scop, access, statement: str, rows: np.ndarray, offsets: np.ndarray,
                  inner: np.ndarray, element_sizes: dict[str, int]) -> AccessShape:
    """Return the shape of ``access`` of ``statement``: its subscripts' ``rows`` over the
    loops it is seen in, their ``offsets``, and the span of its own loops inside them."""
    return AccessShape(access.array, statement, access.is_write,
                       element_sizes.get(access.array, DEFAULT_ELEMENT_BYTES),
                       tuple(tuple(float(v) for v in row) for row in rows),
                       tuple(float(v) for v in offsets), tuple(float(v) for v in inner),
                       _integer(scop, access.array))


def _integer(scop: Scop, array: str) -> bool:
    """Whether ``array``'s elements are declared of an integer type (unknown: no)."""
    return CType(scop.types.get(array, "")).is_integer


def loop_paths(scop: Scop) -> dict[str, tuple[int, ...]]:
    """Return, per statement, the loops of the source that enclose it, outermost first, as
    positions in the region's loop tree (two statements in the same loops have one path)."""
    paths: dict[str, tuple[int, ...]] = {}

    def walk(nodes, path: tuple[int, ...]) -> None:
        for position, node in enumerate(nodes):
            if isinstance(node, Leaf):
                paths[scop.statements[node.statement].name] = path
            else:
                walk(node.children, path + (position,))

    walk(scop.tree, ())
    return paths


def merged_shape(shapes: list[BandShape]) -> BandShape:
    """Return the ``statement_shape``s of statements in the same loops as one nest: their
    references share the loops' footprints (gesummv's two sums read x once)."""
    first = shapes[0]
    return BandShape(first.members, first.trip_counts,
                     tuple(a for shape in shapes for a in shape.accesses),
                     tuple(name for shape in shapes for name in shape.statements), (),
                     tuple(item for shape in shapes for item in shape.instances),
                     irregular=tuple(name for shape in shapes for name in shape.irregular))


# A nest whose instances fill this much of its box of trip counts is taken as rectangular
# (the estimate of ``instance_count`` is within a percent).
RECTANGULAR = 0.99


def box_fraction(shape: BandShape) -> float:
    """Return the fraction of the box of the band's trip counts that holds instances: a
    skewed band's box (a stencil's time-skewed space) is mostly empty, a triangle's half
    full, and its loads scale with the points that exist."""
    box = float(np.prod(np.array(shape.trip_counts, dtype=float)))
    if shape.points:
        return min(1.0, shape.points / box)
    if not shape.instances:
        return 1.0
    return min(1.0, max(count for _, count in shape.instances) / box)


def _groups(shape: BandShape) -> dict:
    """Group references that differ only by a constant (one box covers them all)."""
    groups: dict = {}
    for access in shape.accesses:
        key = (access.array, access.coefficients, access.inner_extent)
        groups.setdefault(key, []).append(access)
    return groups


def footprint_many(shape: BandShape, sizes: np.ndarray, line_bytes: int
                   ) -> tuple[dict, dict]:
    """Return per-array bytes and lines of one tile for each row of ``sizes`` (candidates)."""
    sizes = np.atleast_2d(np.asarray(sizes, dtype=float))
    bytes_per_array: dict = {}
    lines_per_array: dict = {}
    for (array, coefficients, inner), accesses in _groups(shape).items():
        element = accesses[0].element_bytes
        rank = len(coefficients)
        if rank == 0:
            extents = [np.ones(len(sizes))]
        else:
            matrix = np.abs(np.array(coefficients))                  # rank x members
            spread = np.ptp(np.array([a.offsets for a in accesses]), axis=0)
            extents = [sizes @ matrix[d] - matrix[d].sum() + 1 + inner[d] + spread[d]
                       for d in range(rank)]
        rows = np.prod(extents[:-1], axis=0) if rank > 1 else np.ones(len(sizes))
        run_bytes = extents[-1] * element
        # A run of bytes starting anywhere in a line touches, on average, this many lines.
        lines = rows * np.ceil((run_bytes + line_bytes - element) / line_bytes)
        bytes_per_array[array] = bytes_per_array.get(array, 0) + rows * run_bytes
        lines_per_array[array] = lines_per_array.get(array, 0) + lines
    return bytes_per_array, lines_per_array


def footprint(shape: BandShape, sizes, line_bytes: int = 64) -> Footprint:
    """Return the footprint of one tile of ``sizes`` (one per band member)."""
    by_bytes, by_lines = footprint_many(shape, np.array([sizes]), line_bytes)
    return Footprint({a: int(v[0]) for a, v in by_bytes.items()},
                     {a: int(v[0]) for a, v in by_lines.items()}, line_bytes)


def stride_one_scores(shape: BandShape) -> np.ndarray:
    """Return, per band member, how many references it walks with stride one minus how many
    it walks across rows (the member to put innermost has the highest score)."""
    scores = np.zeros(shape.members)
    for access in shape.accesses:
        if not access.coefficients:
            continue
        matrix = np.abs(np.array(access.coefficients))
        last, outer = matrix[-1], matrix[:-1].sum(axis=0) if len(matrix) > 1 \
            else np.zeros(shape.members)
        scores += ((last == 1) & (outer == 0)).astype(float)
        scores -= (outer > 0).astype(float)
    return scores
