"""Distribution of the innermost point loop over the statements of a tile: one loop per
statement where a tile's point loops would run several statements in one body and one of them
reads what another wrote a few iterations of that loop before.

A fused body can defeat the vector code the compiler makes of it: in fdtd-2d's time-tiled
band gcc's 256-bit vector code of the fused innermost loop loads ``ey[i][j-1..j+2]`` right
after storing ``ey[i][j..j+3]``, a load that store-to-load forwarding cannot serve, and the
tiled code ran 0.77 s against the source's 0.78 s; with the innermost loop split into one loop
per statement it ran 0.33 s (LARGE, gcc 12 -O3 -march=native on a Sapphire Rapids VM). A
statement that reads what another wrote in the same iteration is served by forwarding, and a
body that shares its loads gains from staying fused (gemver's A[i][j], updated and read at
once: 14.7 ms fused, 18.4 ms split), so only a read ``FORWARD_DISTANCES`` iterations behind a
write splits the loop. The caller keeps the distributed schedule only where it is legal
(``tiler.transform.legality``).
"""

from __future__ import annotations

import islpy as isl

from tiler.transform.tiling import statement_names

# The iterations of the innermost loop by which a read may follow the write of another
# statement and still meet it in the store buffer, unaligned with the vector stores: up to two
# vectors of 64 bytes of doubles.
FORWARD_DISTANCES = 16


def _statements(node: isl.ScheduleNode) -> list[isl.UnionSet] | None:
    """Return the statements run below ``node``, one set each in the order they run there
    (a sequence of filters over leaves keeps its order; below a leaf, the source's order of
    the statements' numbers), or None when there are fewer than two or more structure."""
    if node.get_type() == isl.schedule_node_type.sequence:
        if not all(node.child(k).get_type() == isl.schedule_node_type.filter
                   and node.child(k).child(0).get_type() == isl.schedule_node_type.leaf
                   for k in range(node.n_children())):
            return None
        found = [node.child(k).filter_get_filter() for k in range(node.n_children())]
    elif node.get_type() == isl.schedule_node_type.leaf:
        sets = node.get_domain().get_set_list()
        found = [isl.UnionSet.from_set(sets.get_at(k)) for k in range(sets.n_set())]
        found.sort(key=_source_position)
    else:
        return None
    return found if len(found) >= 2 else None


def _source_position(statements: isl.UnionSet) -> tuple[int, str]:
    """Return a key that orders statements as the source has them (S0, S1, ..., S10)."""
    name = statements.get_set_list().get_at(0).get_tuple_name()
    digits = name.lstrip("S")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


def _point_band(node: isl.ScheduleNode) -> bool:
    """Whether ``node`` is the band of a tile's point loops without a register tile: its
    loops are generated separately for full and partial tiles (``tiler.transform.tiling``)."""
    return (node.get_type() == isl.schedule_node_type.band and node.band_n_member() >= 1
            and node.band_member_get_ast_loop_type(node.band_n_member() - 1)
            == isl.ast_loop_type.separate)


def _distribute(band: isl.ScheduleNode, statements: list[isl.UnionSet]) -> isl.ScheduleNode:
    """Return the sequence that replaces the one-member ``band``: each of ``statements``, in
    that order, under its own copy of the loop. The node returned is at the band's place."""
    partial = band.band_get_partial_schedule()
    loop_type = band.band_member_get_ast_loop_type(0)
    below = band.delete()
    if below.get_type() == isl.schedule_node_type.sequence:
        sequence = below
    else:
        filters = isl.UnionSetList.alloc(band.get_ctx(), len(statements))
        for part in statements:
            filters = filters.add(part)
        sequence = below.insert_sequence(filters)
    for position, part in enumerate(statements):
        below = sequence.child(position).child(0)
        below = below.insert_partial_schedule(partial.intersect_domain(part))
        below = below.band_member_set_ast_loop_type(0, loop_type)
        sequence = below.parent().parent()
    return sequence


def _between_statements(flow: isl.UnionMap) -> isl.UnionMap:
    """Return the dependences of ``flow`` from one statement to another."""
    across = isl.UnionMap.empty(flow.get_space())
    relations = flow.get_map_list()
    for k in range(relations.n_map()):
        relation = relations.get_at(k)
        if relation.get_tuple_name(isl.dim_type.in_) != relation.get_tuple_name(
                isl.dim_type.out):
            across = across.add_map(relation)
    return across


def _reads_behind_a_write(band: isl.ScheduleNode, across: isl.UnionMap) -> bool:
    """Whether a statement under ``band`` reads what another wrote 1..``FORWARD_DISTANCES``
    iterations of its innermost member before, in the same iteration of every loop outside
    it (``across``: the flow dependences between statements)."""
    times = band.child(0).get_prefix_schedule_union_map()
    depth = band.child(0).get_schedule_depth()
    steps = across.apply_domain(times).apply_range(times).deltas()
    outer = " and ".join(f"t{k} = 0" for k in range(depth - 1))
    names = ", ".join(f"t{k}" for k in range(depth))
    near = isl.UnionSet(f"{{ [{names}] : {outer + ' and ' if outer else ''}"
                        f"1 <= t{depth - 1} <= {FORWARD_DISTANCES} }}")
    return not steps.intersect(near).is_empty()


def distribute_innermost(schedule: isl.Schedule, flow: isl.UnionMap
                         ) -> tuple[isl.Schedule, list[tuple[str, ...]]]:
    """Return ``schedule`` with the innermost point loop of every tile whose statements read
    what another wrote a few iterations before (``flow``: the flow dependences) split into one
    loop per statement, and the statements of each band split (sorted names)."""
    split: list[tuple[str, ...]] = []
    across = _between_statements(flow)

    def visit(node: isl.ScheduleNode) -> isl.ScheduleNode:
        statements = _statements(node.child(0)) if _point_band(node) else None
        if statements is not None and _reads_behind_a_write(node, across):
            split.append(statement_names(node.get_domain()))
            members = node.band_n_member()
            if members >= 2:
                node = node.band_split(members - 1).child(0)
            node = _distribute(node, statements)
            return node.parent() if members >= 2 else node
        for position in range(node.n_children()):
            node = visit(node.child(position)).parent()
        return node

    return visit(schedule.get_root()).get_schedule(), split
