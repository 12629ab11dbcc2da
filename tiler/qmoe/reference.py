"""The reference decoder: code streams back to the ternary matrix, and the dense product.

Plain numpy, written for clarity; the C kernels are checked against it.
"""

from __future__ import annotations

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.dictionary import MAX_WORD_PAIRS, Dictionary
from tiler.qmoe.format import DIGIT_TO_TERNARY, CompressedLayer, TernaryMatrix


def decode_ternary(layer: CompressedLayer, dictionary: Dictionary) -> TernaryMatrix:
    """Return the ternary matrix ``layer`` encodes; ``TilerError`` if the streams do not fit."""
    codes = layer.codes.astype(np.intp)
    if len(codes) and codes.max() >= dictionary.size:
        raise TilerError(f"code {codes.max()} beyond the dictionary of {dictionary.size} words")
    pair_count = (layer.columns + 1) // 2
    lengths = dictionary.lengths[codes]
    per_row = np.add.reduceat(lengths.astype(np.int64), layer.offsets[:-1]) \
        if layer.rows and len(codes) else np.zeros(layer.rows, dtype=np.int64)
    if len(layer.offsets) != layer.rows + 1 or (np.diff(layer.offsets) < 1).any() \
            or (per_row != pair_count).any():
        raise TilerError("the code streams do not decode to the layer's shape")
    # A word's pairs, cut to its length, laid end to end: the streams in row order.
    taken = np.arange(MAX_WORD_PAIRS)[None, :] < lengths[:, None]
    symbols = dictionary.pairs[codes][taken].reshape(layer.rows, pair_count)
    digits = np.empty((layer.rows, 2 * pair_count), dtype=np.int8)
    digits[:, 0::2] = DIGIT_TO_TERNARY[symbols // 3]
    digits[:, 1::2] = DIGIT_TO_TERNARY[symbols % 3]
    return TernaryMatrix(np.ascontiguousarray(digits[:, :layer.columns]), layer.lo_bits,
                         layer.hi_bits)


def decode_dense(layer: CompressedLayer, dictionary: Dictionary) -> np.ndarray:
    """Return the dequantised float32 matrix of ``layer``."""
    return decode_ternary(layer, dictionary).values()


def reference_product(layer: CompressedLayer, dictionary: Dictionary,
                      tokens: np.ndarray) -> np.ndarray:
    """Return ``tokens @ W.T`` for the dequantised W: float32[T, rows] for float[T, columns]
    tokens (a 1-D vector gives a 1-D result)."""
    dense = decode_dense(layer, dictionary).astype(np.float64)
    return (np.asarray(tokens, dtype=np.float64) @ dense.T).astype(np.float32)
