"""The marks a transformation leaves in a schedule tree (micro-kernels, panels, parallel
loops), found again by the checks that run on the final schedule."""

from __future__ import annotations

import islpy as isl


def marked_nodes(schedule: isl.Schedule, prefix: str) -> list[isl.ScheduleNode]:
    """Return the mark nodes of ``schedule`` whose name starts with ``prefix``, outermost
    first."""
    found: list[isl.ScheduleNode] = []

    def visit(node: isl.ScheduleNode) -> None:
        if node.get_type() == isl.schedule_node_type.mark and \
                node.mark_get_id().get_name().startswith(prefix):
            found.append(node)
        for k in range(node.n_children()):
            visit(node.child(k))

    visit(schedule.get_root())
    return found
