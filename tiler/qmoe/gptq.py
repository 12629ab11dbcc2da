"""GPTQ onto the QMoE ternary grid: columns quantised in order, each one's error fed forward.

For a weight matrix W (rows x columns) whose inputs x have the Hessian H = 2 X X^T of the
squared output error ||W x - Q x||^2, GPTQ (Frantar et al., arXiv 2210.17323) quantises one
column at a time and moves the remaining columns to absorb its error: with U the upper
Cholesky factor of H^-1 (H^-1 = U^T U), quantising column j to q_j costs
(w_j - q_j)^2 / U_jj^2 and the optimal correction of the columns after j is
W[:, j:] -= ((w_j - q_j) / U_jj) U[j, j:]. Corrections are applied lazily: inside a block of
``BLOCK_COLUMNS`` columns at once per column, to the columns after the block once per block.

The grid has RTN's form (``tiler.qmoe.format.quantise_ternary``): each row's {lo, 0, hi}, bf16,
rounding to the nearest of the three, and each row ends with as many zeros as RTN gives it, so
the code rate and the file format are RTN's. Only the grid's scale differs (searched per row,
see ``GRID_SEARCH_PASSES``) and which weight gets which value. Columns are taken in order of
decreasing Hessian diagonal (the inputs of largest energy first, while the most columns remain
to absorb their error).
"""

from __future__ import annotations

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.dictionary import DEFAULT_ZERO_FRACTION, frozen
from tiler.qmoe.format import TernaryMatrix, bf16_bits, bf16_values, quantise_ternary

# GPTQ's dampening: this share of the mean Hessian diagonal is added to the diagonal, so H is
# safely invertible when calibration tokens are fewer than columns or inputs are collinear
# (the paper's 1 %).
DAMPENING = 0.01
# Columns per lazy-update block: the paper's 128 (the later columns are updated once a block).
BLOCK_COLUMNS = 128
# The grid scale search. GPTQ's feedback moves weights away from 0, so on RTN's grid it rounds
# far fewer of them to 0 (68 % instead of 88.5 % on the synthetic experts) and the code grows;
# a larger grid restores the sparsity. The scale per row, relative to RTN's grid, lies in
# [1, MAX_GRID_SCALE] (short rows under outlier inputs need up to 10) and starts at
# INITIAL_GRID_SCALE (Switch-shaped synthetic experts need 2-3); each pass halves the bracket
# on a log scale, 9 passes to within 1 %. A row's zero count is not quite monotonic in the
# scale, so each row keeps the pass closest to its target.
INITIAL_GRID_SCALE = 2.0
MAX_GRID_SCALE = 16.0
GRID_SEARCH_PASSES = 9


def input_hessian(inputs: np.ndarray) -> np.ndarray:
    """Return float64[K, K], H = 2 X^T X of ``inputs`` (float[n, K], one input vector a row)."""
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2:
        raise TilerError(f"calibration inputs of shape {list(inputs.shape)}, expected [n, K]")
    return 2.0 * inputs.T @ inputs


def gptq_ternary(matrix: np.ndarray, hessian: np.ndarray,
                 zero_fraction: float = DEFAULT_ZERO_FRACTION,
                 dampening: float = DAMPENING,
                 block_columns: int = BLOCK_COLUMNS) -> TernaryMatrix:
    """Return ``matrix`` quantised to a ternary grid per row by GPTQ under ``hessian``, each row
    with as many zeros as round-to-nearest gives it.

    Rows do not interact in GPTQ (a row's error is fed back to its own later columns only), so
    each row's grid scale is searched on its own: ``GRID_SEARCH_PASSES`` passes over all rows,
    bisecting per row, and each row keeps the pass whose zero count came closest to RTN's.

    Args:
        matrix: float[R, K], rows are output rows.
        hessian: float[K, K], 2 X^T X of the inputs the matrix multiplies (``input_hessian``).
        zero_fraction: the share of zeros per row, as for ``quantise_ternary``.
        dampening: share of the mean diagonal added to it.
        block_columns: columns per lazy-update block.
    """
    rtn = quantise_ternary(matrix, zero_fraction)
    weights = np.asarray(matrix, dtype=np.float64)
    rows, columns = weights.shape
    hessian = np.asarray(hessian, dtype=np.float64)
    order, upper = _ordered_factor(hessian, columns, dampening)
    ordered = weights[:, order]
    base_lo = bf16_values(rtn.lo_bits).astype(np.float64)
    base_hi = bf16_values(rtn.hi_bits).astype(np.float64)
    target = np.count_nonzero(rtn.digits == 0, axis=1)
    low, high = np.full(rows, 1.0), np.full(rows, MAX_GRID_SCALE)
    scale = np.full(rows, INITIAL_GRID_SCALE)
    best_miss = np.full(rows, columns + 1)
    digits = np.zeros((rows, columns), dtype=np.int8)
    lo_bits, hi_bits = rtn.lo_bits.copy(), rtn.hi_bits.copy()
    for _ in range(GRID_SEARCH_PASSES):
        pass_lo, pass_hi = bf16_bits(base_lo * scale), bf16_bits(base_hi * scale)
        found = _quantise_columns(ordered, upper, bf16_values(pass_lo).astype(np.float64),
                                  bf16_values(pass_hi).astype(np.float64), block_columns)
        zeros = np.count_nonzero(found == 0, axis=1)
        better = np.abs(zeros - target) < best_miss
        best_miss[better] = np.abs(zeros - target)[better]
        digits[better], lo_bits[better], hi_bits[better] = found[better], pass_lo[better], \
            pass_hi[better]
        # A larger grid rounds more weights to 0.
        too_dense = zeros < target
        low = np.where(too_dense, scale, low)
        high = np.where(too_dense, high, scale)
        scale = np.sqrt(low * high)
    restored = np.empty_like(digits)
    restored[:, order] = digits
    found = TernaryMatrix(restored, lo_bits, hi_bits)
    # Where the inputs give GPTQ nothing to exploit (near-isotropic), its larger grid can cost
    # more than it gains: such a row keeps RTN's values, by the loss GPTQ minimises.
    worse = _row_losses(weights, found, hessian) > _row_losses(weights, rtn, hessian)
    restored[worse], lo_bits[worse], hi_bits[worse] = rtn.digits[worse], rtn.lo_bits[worse], \
        rtn.hi_bits[worse]
    return TernaryMatrix(frozen(restored), frozen(lo_bits), frozen(hi_bits))


def _row_losses(weights: np.ndarray, ternary: TernaryMatrix, hessian: np.ndarray) -> np.ndarray:
    """Return each row's (w - q)^T H (w - q): its squared output error over the calibration
    inputs whose Hessian is ``hessian``."""
    error = weights - ternary.values().astype(np.float64)
    return np.einsum("rk,rk->r", error @ hessian, error)


def _ordered_factor(hessian: np.ndarray, columns: int,
                    dampening: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the column order (decreasing Hessian diagonal) and the upper Cholesky factor of
    the dampened, reordered Hessian's inverse."""
    if hessian.shape != (columns, columns) or not np.isfinite(hessian).all():
        raise TilerError(f"Hessian of shape {list(hessian.shape)} for {columns} columns")
    hessian = hessian.copy()
    # An input that is always 0 leaves its column free: rounded as RTN does, nothing fed back.
    dead = np.flatnonzero(np.diag(hessian) <= 0)
    hessian[dead, dead] = 1.0
    order = np.argsort(-np.diag(hessian), kind="stable")
    hessian = hessian[np.ix_(order, order)]
    hessian[np.diag_indices(columns)] += dampening * float(np.mean(np.diag(hessian)))
    return order, _inverse_cholesky_upper(hessian)


def _quantise_columns(weights: np.ndarray, upper: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      block_columns: int) -> np.ndarray:
    """Return int8 digits of ``weights`` (columns in quantisation order) by GPTQ with the
    inverse Hessian's upper factor ``upper`` onto each row's {lo, 0, hi}."""
    weights = weights.copy()
    rows, columns = weights.shape
    digits = np.zeros((rows, columns), dtype=np.int8)
    for begin in range(0, columns, block_columns):
        end = min(begin + block_columns, columns)
        block = weights[:, begin:end]
        errors = np.zeros_like(block)
        for j in range(end - begin):
            column = block[:, j]
            digit = _nearest_digits(column, lo, hi)
            quantised = np.where(digit > 0, hi, np.where(digit < 0, lo, 0.0))
            digits[:, begin + j] = digit
            error = (column - quantised) / upper[begin + j, begin + j]
            block[:, j + 1:] -= np.outer(error, upper[begin + j, begin + j + 1:end])
            errors[:, j] = error
        weights[:, end:] -= errors @ upper[begin:end, end:]
    return digits


def _nearest_digits(column: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Return each row's digit (-1, 0, 1) of the grid value nearest to its weight (the RTN rule
    of ``quantise_ternary``: a row whose hi (lo) is 0 maps its positive (negative) weights to
    0)."""
    positive = (column > hi / 2) & (hi > 0)
    negative = (column < lo / 2) & (lo < 0)
    return positive.astype(np.int8) - negative.astype(np.int8)


def _inverse_cholesky_upper(hessian: np.ndarray) -> np.ndarray:
    """Return U upper triangular with U^T U = hessian^-1."""
    try:
        # With J the reversal, chol(J H J) = M gives H = V V^T for the upper V = J M J, so
        # H^-1 = (V^-1)^T V^-1 and U = V^-1 = J M^-1 J: one factorisation, one inverse.
        lower = np.linalg.cholesky(hessian[::-1, ::-1])
        upper = np.linalg.inv(lower)[::-1, ::-1]
    except np.linalg.LinAlgError:
        raise TilerError("the calibration Hessian is not positive definite even after "
                         "dampening (are the calibration tokens finite?)") from None
    return np.ascontiguousarray(upper)
