"""Tile sizes and intra-tile loop order from the data footprint and the cache hierarchy."""

from __future__ import annotations

import numpy as np

from tiler.footprint import BandShape, stride_one_scores


def point_order(shape: BandShape) -> tuple[int, ...]:
    """Return the order of the point loops: the member that walks the most references with
    stride one goes innermost (it decides vectorisation); the others keep their order."""
    scores = stride_one_scores(shape)
    innermost = int(np.argmax(scores))
    if scores[innermost] <= scores[-1]:
        innermost = shape.members - 1        # ties keep the schedule's own innermost loop
    return tuple(k for k in range(shape.members) if k != innermost) + (innermost,)
