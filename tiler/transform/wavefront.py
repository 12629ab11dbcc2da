"""Wavefronts: a tile band whose tiles run in parallel along anti-diagonals."""

from __future__ import annotations

import islpy as isl


def wavefront(node: isl.ScheduleNode) -> isl.ScheduleNode:
    """Return the tile band ``node`` with its first member replaced by the wavefront: the sum
    of the first two members (tile loops are scaled: ``32 * floor(t / 32)``). In a permutable
    band every dependence goes forward or stays along each member, so the sum stays the same
    only between tiles that differ along both or neither: two tiles on one wavefront do not
    depend on each other, and the second member becomes parallel (marked coincident here,
    checked again on the final schedule). The band stays permutable. The wavefronts are
    ``s0 * T + s1 * I = const`` in tile numbers ``T, I`` for sizes ``s0, s1``, not the
    diagonals ``T + I``: isl generates the code of these in a tenth of a second where the
    diagonals took it 10-20 s on a 3-deep stencil band (32x128x256 on jacobi2d)."""
    partial = node.band_get_partial_schedule()
    members = isl.UnionPwAffList.alloc(node.get_ctx(), node.band_n_member())
    members = members.add(partial.get_at(0).add(partial.get_at(1)))
    for k in range(1, node.band_n_member()):
        members = members.add(partial.get_at(k))
    skewed = isl.MultiUnionPwAff.from_union_pw_aff_list(partial.get_space(), members)
    node = node.delete().insert_partial_schedule(skewed).band_set_permutable(1)
    return node.band_member_set_coincident(1, 1)
