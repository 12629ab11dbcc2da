"""The QMoE sub-1-bit format: ternary quantisation, encoding and the file.

A weight matrix is quantised per output row to the grid {lo, 0, hi}; consecutive weights are
paired (9 pair symbols) and each row becomes an independent stream of 16-bit codes, each code
naming a dictionary word of 1 to 14 pairs. The dictionary is a variable-to-fixed (Tunstall) code
over the pair symbols under an i.i.d. model of the pairs, prefix-closed, so greedy longest-match
parsing always succeeds and a row may end in the middle of any word (``tiler.qmoe.dictionary``).
Row scales are bf16: every finite float32 row has a representable scale (fp16 stops at 65504),
and 8 mantissa bits are far finer than a three-level grid.

File layout (numpy ``.npz``, uncompressed, read with ``allow_pickle=False``):

======================  ===============  ====================================================
key                     dtype, shape     meaning
======================  ===============  ====================================================
``magic``               uint8[8]         ``b"QMOETERN"``
``version``             uint32[1]        ``FORMAT_VERSION``
``dictionary.parent``   uint16[D]        word i is word ``parent[i]`` followed by one pair
``dictionary.symbol``   uint8[D]         the pair appended (0..8); entry 0 is the empty word
``layer_names``         uint8[n]         UTF-8 JSON list of the layer names, in order
``layer{i}.shape``      int64[2]         rows R and columns K of layer i
``layer{i}.offsets``    uint32[R+1]      row r's codes are ``codes[offsets[r]:offsets[r+1]]``
``layer{i}.codes``      uint16[n]        the code streams of all rows, one after another
``layer{i}.lo``         uint16[R]        bf16 bits of each row's lo (<= 0)
``layer{i}.hi``         uint16[R]        bf16 bits of each row's hi (>= 0)
======================  ===============  ====================================================

Pair symbol ``3 * a + b`` holds the weights ``a, b`` as digits 0 (zero), 1 (hi), 2 (lo); a row
of odd length has its last pair completed by a zero. Every file is validated on load: anything
that is not exactly this layout raises ``TilerError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.dictionary import (
    DEFAULT_ZERO_FRACTION,
    PAIR_SYMBOLS,
    Dictionary,
    build_dictionary,
    dictionary_from_tree,
    frozen,
    pair_probabilities,
)

MAGIC = b"QMOETERN"
FORMAT_VERSION = 1

# Row offsets are stored as 32-bit prefix sums (4 G codes, some 10^11 weights, per layer).
MAX_LAYER_CODES = (1 << 32) - 1
DIGIT_TO_TERNARY = np.array([0, 1, -1], dtype=np.int8)
TERNARY_TO_DIGIT = np.array([2, 0, 1], dtype=np.uint8)  # indexed by ternary + 1


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """Return the bf16 bit patterns (uint16) nearest to ``values`` (round half to even)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    """Return the float32 values of bf16 bit patterns."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


@dataclass(frozen=True, eq=False)
class TernaryMatrix:
    """A matrix quantised per row to {lo, 0, hi}.

    Attributes:
        digits: int8[R, K] of -1 (lo), 0, 1 (hi).
        lo_bits, hi_bits: uint16[R], bf16 bit patterns of each row's lo <= 0 <= hi.
    """

    digits: np.ndarray
    lo_bits: np.ndarray
    hi_bits: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.digits.shape

    def values(self) -> np.ndarray:
        """Return the dequantised float32 matrix."""
        lo, hi = bf16_values(self.lo_bits), bf16_values(self.hi_bits)
        grid = np.stack([np.zeros_like(lo), hi, lo], axis=1)  # indexed by digit
        rows = np.arange(self.digits.shape[0])[:, None]
        return grid[rows, TERNARY_TO_DIGIT[self.digits + 1].astype(np.intp)]


@dataclass(frozen=True, eq=False)
class CompressedLayer:
    """One weight matrix as independent per-row code streams.

    Attributes:
        rows, columns: the matrix shape.
        offsets: int64[rows + 1]; row r's codes are ``codes[offsets[r]:offsets[r + 1]]``.
        codes: uint16 codes into the dictionary the layer was encoded with.
        lo_bits, hi_bits: uint16[rows], bf16 bits of each row's grid.
    """

    rows: int
    columns: int
    offsets: np.ndarray
    codes: np.ndarray
    lo_bits: np.ndarray
    hi_bits: np.ndarray

    def stored_bits(self) -> int:
        """Return the bits the layer takes in a file: codes, row offsets and row scales."""
        return 16 * len(self.codes) + 32 * len(self.offsets) + 32 * self.rows

    def bits_per_weight(self) -> float:
        """Return the stored bits per weight (the dictionary, shared by all layers, excluded)."""
        return self.stored_bits() / (self.rows * self.columns)

    def codes_per_row(self) -> np.ndarray:
        """Return the number of codes of each row."""
        return np.diff(self.offsets)


@dataclass(frozen=True, eq=False)
class CompressedModel:
    """Layers sharing one dictionary, as stored in one file."""

    dictionary: Dictionary
    layers: Mapping[str, CompressedLayer]


def quantise_ternary(matrix: np.ndarray,
                     zero_fraction: float = DEFAULT_ZERO_FRACTION) -> TernaryMatrix:
    """Return ``matrix`` quantised per row to {lo, 0, hi}, about ``zero_fraction`` of it zero.

    The thresholds are the row's own quantiles: hi/2 is the value that ``(1 - zero_fraction)/2``
    of the row exceeds, lo/2 the one that as many fall below. So every row has the same share
    of zeros whatever its length, scale or outliers (a min/max grid zeros more of a long row or
    of one with a single outlier), which fixes the code rate the dictionary is built for. Then
    ``w -> hi if w > hi/2, lo if w < lo/2, else 0`` with lo and hi already rounded to bf16; a
    row whose hi (lo) is 0 maps its positive (negative) weights to 0, the same value.

    Args:
        matrix: a finite 2-D float matrix (rows are output rows).
        zero_fraction: the share of each row to round to 0, in [0, 1).
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.size == 0:
        raise TilerError(f"expected a non-empty 2-D matrix, got shape {matrix.shape}")
    if not 0.0 <= zero_fraction < 1.0:
        raise TilerError(f"zero fraction must be in [0, 1), got {zero_fraction}")
    weights = matrix.astype(np.float64)
    if not np.isfinite(weights).all():
        raise TilerError("the matrix holds NaN or infinite values")
    tail = (1.0 - zero_fraction) / 2.0
    upper, lower = np.quantile(weights, [1.0 - tail, tail], axis=1)
    lo_bits = bf16_bits(np.minimum(2.0 * lower, 0.0))
    hi_bits = bf16_bits(np.maximum(2.0 * upper, 0.0))
    lo, hi = bf16_values(lo_bits).astype(np.float64), bf16_values(hi_bits).astype(np.float64)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise TilerError("the matrix holds values too large for a bf16 row scale")
    positive = (weights > hi[:, None] / 2) & (hi[:, None] > 0)
    negative = (weights < lo[:, None] / 2) & (lo[:, None] < 0)
    digits = positive.astype(np.int8) - negative.astype(np.int8)
    return TernaryMatrix(frozen(digits), frozen(lo_bits), frozen(hi_bits))


def pair_symbols(digits: np.ndarray) -> np.ndarray:
    """Return uint8[R, ceil(K/2)] pair symbols of a ternary digit matrix (odd K: zero-padded)."""
    rows, columns = digits.shape
    padded = np.zeros((rows, columns + columns % 2), dtype=np.uint8)
    padded[:, :columns] = TERNARY_TO_DIGIT[digits.astype(np.intp) + 1]
    return 3 * padded[:, 0::2] + padded[:, 1::2]


def encode(ternary: TernaryMatrix, dictionary: Dictionary) -> CompressedLayer:
    """Return the layer of ``ternary`` as per-row greedy longest-match code streams."""
    symbols = pair_symbols(ternary.digits)
    rows, pair_count = symbols.shape
    child = np.full((dictionary.size, PAIR_SYMBOLS), -1, dtype=np.int32)
    child[dictionary.parent[1:], dictionary.symbol[1:]] = np.arange(1, dictionary.size)
    # Walk all rows at once, one pair position at a time: a row emits its current word where
    # the next pair does not extend it, and starts the next word at that pair.
    ends = np.zeros((pair_count, rows), dtype=bool)
    emitted = np.zeros((pair_count, rows), dtype=np.uint16)
    node = child[0, symbols[:, 0]]
    for position in range(1, pair_count):
        extended = child[node, symbols[:, position]]
        stop = extended < 0
        ends[position - 1] = stop
        emitted[position - 1] = node
        node = np.where(stop, child[0, symbols[:, position]], extended)
    ends[pair_count - 1] = True
    emitted[pair_count - 1] = node
    codes = emitted.T[ends.T]
    offsets = np.concatenate([[0], np.cumsum(ends.sum(axis=0))]).astype(np.int64)
    if offsets[-1] > MAX_LAYER_CODES:
        raise TilerError(f"{offsets[-1]} codes do not fit the 32-bit row offsets of a layer")
    return CompressedLayer(rows, ternary.shape[1], frozen(offsets), frozen(codes),
                           ternary.lo_bits, ternary.hi_bits)


def compress(matrices: Mapping[str, np.ndarray], zero_fraction: float = DEFAULT_ZERO_FRACTION,
             dictionary: Dictionary | None = None) -> CompressedModel:
    """Return the matrices quantised and encoded with one dictionary (built from all of them
    unless given)."""
    ternaries = {name: quantise_ternary(matrix, zero_fraction) for name, matrix in matrices.items()}
    if dictionary is None:
        probabilities = pair_probabilities([pair_symbols(t.digits) for t in ternaries.values()])
        dictionary = build_dictionary(probabilities)
    layers = {name: encode(ternary, dictionary) for name, ternary in ternaries.items()}
    return CompressedModel(dictionary, layers)


def model_arrays(model: CompressedModel) -> dict[str, np.ndarray]:
    """Return the arrays of ``model`` by key, in the layout of this module's docstring."""
    arrays: dict[str, np.ndarray] = {
        "magic": np.frombuffer(MAGIC, dtype=np.uint8),
        "version": np.array([FORMAT_VERSION], dtype=np.uint32),
        "dictionary.parent": model.dictionary.parent,
        "dictionary.symbol": model.dictionary.symbol,
        "layer_names": np.frombuffer(json.dumps(list(model.layers)).encode(), dtype=np.uint8),
    }
    for number, layer in enumerate(model.layers.values()):
        arrays[f"layer{number}.shape"] = np.array([layer.rows, layer.columns], dtype=np.int64)
        arrays[f"layer{number}.offsets"] = layer.offsets.astype(np.uint32)
        arrays[f"layer{number}.codes"] = layer.codes
        arrays[f"layer{number}.lo"] = layer.lo_bits
        arrays[f"layer{number}.hi"] = layer.hi_bits
    return arrays


def write_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically (a temporary file
    renamed: a failure leaves nothing behind)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with open(temporary, "wb") as stream:
            np.savez(stream, **arrays)
        temporary.replace(target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TilerError(f"cannot write '{path}': {error.strerror}", filename=str(path)) from None


def save_compressed(path: str | Path, model: CompressedModel) -> None:
    """Write ``model`` to ``path`` in the layout of this module's docstring."""
    write_arrays(path, model_arrays(model))


def load_compressed(path: str | Path) -> CompressedModel:
    """Return the model stored at ``path``; raise ``TilerError`` for anything but a valid file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise TilerError(f"no such file '{path}'", filename=str(path)) from None
    except Exception as error:  # noqa: BLE001 - whatever a damaged archive makes zipfile raise
        raise TilerError(f"not a QMoE file (unreadable archive: {type(error).__name__}: "
                         f"{error})", filename=str(path)) from None
    try:
        return model_from_arrays(arrays)
    except TilerError as error:
        raise error.with_filename(str(path)) from None


def _array(arrays: Mapping[str, np.ndarray], name: str, dtype: type, ndim: int) -> np.ndarray:
    if name not in arrays:
        raise TilerError(f"missing array '{name}'")
    array = arrays[name]
    if array.dtype != np.dtype(dtype).newbyteorder("<") or array.ndim != ndim:
        raise TilerError(f"array '{name}' is {array.dtype}[{array.ndim}-D], expected "
                         f"{np.dtype(dtype)}[{ndim}-D]")
    return array.astype(np.dtype(dtype), copy=False)


def model_from_arrays(arrays: Mapping[str, np.ndarray]) -> CompressedModel:
    """Return the model held by ``arrays`` (a file's arrays by key); ``TilerError`` unless they
    are exactly this module's layout."""
    magic = arrays.get("magic")
    if magic is None or magic.dtype != np.uint8 or magic.tobytes() != MAGIC:
        raise TilerError("not a QMoE file (wrong magic)")
    version = _array(arrays, "version", np.uint32, 1)
    if version.tolist() != [FORMAT_VERSION]:
        raise TilerError(f"QMoE file version {version.tolist()}, this reader knows "
                         f"{FORMAT_VERSION}")
    dictionary = dictionary_from_tree(_array(arrays, "dictionary.parent", np.uint16, 1),
                                      _array(arrays, "dictionary.symbol", np.uint8, 1))
    try:
        names = json.loads(_array(arrays, "layer_names", np.uint8, 1).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TilerError("layer names are not a JSON list") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
            or len(set(names)) != len(names):
        raise TilerError("layer names are not a list of distinct strings")
    layers = {name: _layer_from_arrays(arrays, f"layer{number}", dictionary)
              for number, name in enumerate(names)}
    return CompressedModel(dictionary, layers)


def _layer_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str,
                       dictionary: Dictionary) -> CompressedLayer:
    shape = _array(arrays, f"{prefix}.shape", np.int64, 1)
    if len(shape) != 2 or (shape < 1).any() or shape.prod() >= 1 << 48:
        raise TilerError(f"{prefix}: bad shape {shape.tolist()}")
    rows, columns = (int(n) for n in shape)
    offsets = _array(arrays, f"{prefix}.offsets", np.uint32, 1).astype(np.int64)
    codes = _array(arrays, f"{prefix}.codes", np.uint16, 1)
    lo_bits = _array(arrays, f"{prefix}.lo", np.uint16, 1)
    hi_bits = _array(arrays, f"{prefix}.hi", np.uint16, 1)
    if len(offsets) != rows + 1 or len(lo_bits) != rows or len(hi_bits) != rows:
        raise TilerError(f"{prefix}: offsets or row scales do not match {rows} rows")
    if offsets[0] != 0 or offsets[-1] != len(codes):
        raise TilerError(f"{prefix}: row offsets do not span the {len(codes)} codes "
                         f"(first {offsets[0]}, last {offsets[-1]})")
    if (np.diff(offsets) < 1).any():
        raise TilerError(f"{prefix}: row offsets out of order or a row without codes")
    if len(codes) and int(codes.max()) >= dictionary.size:
        raise TilerError(f"{prefix}: code {int(codes.max())} beyond the dictionary of "
                         f"{dictionary.size} words")
    if (codes == 0).any():
        raise TilerError(f"{prefix}: a stream holds the empty filler word")
    pairs_per_row = np.add.reduceat(dictionary.lengths[codes].astype(np.int64), offsets[:-1])
    expected = (columns + 1) // 2
    if (pairs_per_row != expected).any():
        row = int(np.flatnonzero(pairs_per_row != expected)[0])
        raise TilerError(f"{prefix}: row {row} decodes to {pairs_per_row[row]} pairs, "
                         f"expected {expected}")
    lo, hi = bf16_values(lo_bits), bf16_values(hi_bits)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (lo > 0).any() or (hi < 0).any():
        raise TilerError(f"{prefix}: row scales must be finite with lo <= 0 <= hi")
    return CompressedLayer(rows, columns, frozen(offsets), frozen(codes), frozen(lo_bits),
                           frozen(hi_bits))
