"""Weight matrices in: ``.npy`` and ``.safetensors`` readers, and realistic synthetic experts.

The safetensors layout is read directly (an 8-byte little-endian header length, a JSON header
of ``{name: {dtype, shape, data_offsets}}``, then the raw little-endian data), so no package
beyond numpy is needed.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from tiler.errors import TilerError

# safetensors dtype names of the floating-point types a weight matrix may have.
_SAFETENSORS_FLOATS = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
                       "BF16": np.dtype("<u2")}
_SAFETENSORS_OTHERS = {"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2,
                       "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
# A header larger than this is not a weight file (safetensors itself caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000

# Synthetic experts: trained FFN weights are close to Gaussian with heavier tails (excess
# kurtosis of a few) and scales that vary between output rows and, less, between input features.
SYNTHETIC_TAIL_DEGREES = 6.0
SYNTHETIC_ROW_SCALE_SPREAD = 0.25
SYNTHETIC_COLUMN_SCALE_SPREAD = 0.15


def checked_matrix(matrix: np.ndarray, what: str) -> np.ndarray:
    """Return ``matrix`` as float32 if it is a non-empty finite 2-D float matrix, else raise."""
    if not np.issubdtype(matrix.dtype, np.floating):
        raise TilerError(f"{what} holds {matrix.dtype} values, expected floating point")
    if matrix.ndim != 2:
        raise TilerError(f"{what} has shape {list(matrix.shape)}, expected a 2-D matrix")
    if matrix.size == 0:
        raise TilerError(f"{what} is empty (shape {list(matrix.shape)})")
    with np.errstate(over="ignore"):                 # too large for float32: infinite, below
        values = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))[0]
        raise TilerError(f"{what} holds a NaN or infinite value at {tuple(int(i) for i in bad)}"
                         f" (or one too large for float32)")
    return values


def load_matrix(path: str | Path, name: str | None = None) -> np.ndarray:
    """Return the float32 matrix stored at ``path`` (``.npy``, or ``.safetensors`` with ``name``
    or a single 2-D float tensor)."""
    matrices = load_matrices(path) if name is None else None
    if matrices is not None:
        if len(matrices) != 1:
            raise TilerError(f"{len(matrices)} matrices in the file ({', '.join(matrices)}); "
                             f"name one", filename=str(path))
        return next(iter(matrices.values()))
    tensors = safetensors_entries(Path(path))
    if name not in tensors:
        raise TilerError(f"no tensor '{name}' in the file", filename=str(path))
    return checked_matrix(safetensors_tensor(Path(path), name, tensors[name]), f"tensor '{name}'")


def load_matrices(path: str | Path) -> dict[str, np.ndarray]:
    """Return every 2-D float matrix at ``path`` by name (a ``.npy`` file: one, by its stem)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise TilerError(f"no such file '{path}'", filename=str(path)) from None
        except (OSError, ValueError, EOFError) as error:
            raise TilerError(f"not a readable .npy file: {error}", filename=str(path)) from None
        try:
            return {path.stem: checked_matrix(array, "the matrix")}
        except TilerError as error:
            raise error.with_filename(str(path)) from None
    if suffix != ".safetensors":
        raise TilerError("expected a .npy or .safetensors file", filename=str(path))
    tensors = safetensors_entries(path)
    matrices = {}
    for name, entry in tensors.items():
        if entry["dtype"] in _SAFETENSORS_FLOATS and len(entry["shape"]) == 2:
            try:
                matrices[name] = checked_matrix(safetensors_tensor(path, name, entry),
                                                f"tensor '{name}'")
            except TilerError as error:
                raise error.with_filename(str(path)) from None
    if not matrices:
        raise TilerError("no 2-D floating-point tensor in the file", filename=str(path))
    return matrices


def safetensors_entries(path: Path) -> dict[str, dict]:
    """Return the validated header entries (without ``__metadata__``) of a safetensors file."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(8)
            file_size = path.stat().st_size
            if len(head) < 8:
                raise TilerError("truncated safetensors file (no header length)",
                                 filename=str(path))
            (header_size,) = struct.unpack("<Q", head)
            if header_size > min(MAX_HEADER_BYTES, file_size - 8):
                raise TilerError(f"safetensors header of {header_size} bytes does not fit the "
                                 f"{file_size}-byte file", filename=str(path))
            header_bytes = stream.read(header_size)
    except FileNotFoundError:
        raise TilerError(f"no such file '{path}'", filename=str(path)) from None
    except OSError as error:
        raise TilerError(f"cannot read '{path}': {error.strerror}", filename=str(path)) from None
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TilerError(f"safetensors header is not JSON: {error}", filename=str(path)) from None
    if not isinstance(header, dict):
        raise TilerError("safetensors header is not a JSON object", filename=str(path))
    data_size = file_size - 8 - header_size
    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        entries[name] = _checked_entry(name, entry, data_size, path)
    return entries


def _checked_entry(name: str, entry: object, data_size: int, path: Path) -> dict:
    def fail(why: str) -> TilerError:
        return TilerError(f"tensor '{name}': {why}", filename=str(path))

    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise fail("header entry lacks dtype, shape or data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype in _SAFETENSORS_FLOATS:
        item_size = _SAFETENSORS_FLOATS[dtype].itemsize
    elif dtype in _SAFETENSORS_OTHERS:
        item_size = _SAFETENSORS_OTHERS[dtype]
    else:
        raise fail(f"unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise fail(f"bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(n, int) for n in offsets) and 0 <= offsets[0] <= offsets[1]
            <= data_size):
        raise fail(f"data offsets {offsets!r} outside the {data_size} data bytes")
    if offsets[1] - offsets[0] != item_size * int(np.prod(shape, dtype=np.int64)):
        raise fail(f"data offsets {offsets!r} do not hold a {dtype} tensor of shape {shape}")
    return entry


def safetensors_tensor(path: Path, name: str, entry: dict) -> np.ndarray:
    """Return one tensor's values (bf16 widened to float32); the entry is already checked."""
    with open(path, "rb") as stream:
        (header_size,) = struct.unpack("<Q", stream.read(8))
        begin, end = entry["data_offsets"]
        stream.seek(8 + header_size + begin)
        raw = stream.read(end - begin)
    if len(raw) != end - begin:
        raise TilerError(f"tensor '{name}': truncated data", filename=str(path))
    values = np.frombuffer(raw, dtype=_SAFETENSORS_FLOATS[entry["dtype"]])
    if entry["dtype"] == "BF16":
        values = (values.astype(np.uint32) << 16).view(np.float32)
    return values.reshape(entry["shape"])


def save_safetensors(path: str | Path, tensors: dict[str, np.ndarray]) -> None:
    """Write float32/float64/float16 arrays to ``path`` in the safetensors layout."""
    names = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}
    header: dict[str, object] = {}
    blobs, position = [], 0
    for name, tensor in tensors.items():
        array = np.ascontiguousarray(tensor)
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        if array.dtype not in names:
            raise TilerError(f"tensor '{name}': cannot store {array.dtype} as safetensors")
        blob = array.tobytes()
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [position, position + len(blob)]}
        blobs.append(blob)
        position += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def synthetic_expert_weights(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """Return a float32[rows, columns] matrix shaped like a trained FFN weight.

    Each weight is ``row_scale * column_scale * z / sqrt(columns)``: z Student-t with
    ``SYNTHETIC_TAIL_DEGREES`` degrees of freedom scaled to unit variance (Gaussian bulk,
    heavier tails), row scales log-normal with spread ``SYNTHETIC_ROW_SCALE_SPREAD``, column
    scales log-normal with spread ``SYNTHETIC_COLUMN_SCALE_SPREAD``.
    """
    if rows < 1 or columns < 1:
        raise TilerError(f"a matrix needs at least one row and column, got {rows}x{columns}")
    generator = np.random.default_rng(seed)
    degrees = SYNTHETIC_TAIL_DEGREES
    z = generator.standard_t(degrees, size=(rows, columns)) / np.sqrt(degrees / (degrees - 2))
    row_scale = generator.lognormal(0.0, SYNTHETIC_ROW_SCALE_SPREAD, size=(rows, 1))
    column_scale = generator.lognormal(0.0, SYNTHETIC_COLUMN_SCALE_SPREAD, size=(1, columns))
    return (z * row_scale * column_scale / np.sqrt(columns)).astype(np.float32)


def synthetic_experts(experts: int, model_width: int, hidden_width: int,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Return the two FFN matrices of each expert, ``expert{e}.wi`` (hidden x model) and
    ``expert{e}.wo`` (model x hidden), as in a Switch-Transformer MoE layer."""
    matrices = {}
    for expert in range(experts):
        matrices[f"expert{expert}.wi"] = synthetic_expert_weights(
            hidden_width, model_width, seed=seed * 1000 + 2 * expert)
        matrices[f"expert{expert}.wo"] = synthetic_expert_weights(
            model_width, hidden_width, seed=seed * 1000 + 2 * expert + 1)
    return matrices


def synthetic_layer_tensors(experts: int, model_width: int, hidden_width: int, seed: int = 0,
                            prefix: str | None = None) -> dict[str, np.ndarray]:
    """Return the tensors of a Switch-style MoE layer by name: the Hugging Face naming under
    ``prefix`` (``PREFIX.mlp.router.classifier.weight``, ``PREFIX.mlp.experts.expert_N.wi
    .weight``, ...) or, without one, the short naming (``router.weight``,
    ``experts.N.wi.weight``, ...). Experts as ``synthetic_experts``; the router Gaussian with
    variance 1/d_model."""
    router = np.random.default_rng(seed + 7919).standard_normal((experts, model_width))
    tensors = {"router": (router / np.sqrt(model_width)).astype(np.float32)}
    matrices = synthetic_experts(experts, model_width, hidden_width, seed)
    if prefix is None:
        named = {"router.weight": tensors["router"]}
        for expert in range(experts):
            for matrix in ("wi", "wo"):
                named[f"experts.{expert}.{matrix}.weight"] = matrices[f"expert{expert}.{matrix}"]
        return named
    named = {f"{prefix}.mlp.router.classifier.weight": tensors["router"]}
    for expert in range(experts):
        for matrix in ("wi", "wo"):
            named[f"{prefix}.mlp.experts.expert_{expert}.{matrix}.weight"] = \
                matrices[f"expert{expert}.{matrix}"]
    return named
