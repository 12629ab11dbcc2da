"""MoE layer checkpoints: a dense layer from ``.safetensors``, the compressed ``.qmoe`` file.

Dense input, one layer, in the Hugging Face Switch Transformers naming (``--layer PREFIX``)::

    PREFIX.mlp.router.classifier.weight      [E, d_model]
    PREFIX.mlp.experts.expert_N.wi.weight    [d_ff, d_model]
    PREFIX.mlp.experts.expert_N.wo.weight    [d_model, d_ff]

or the short names ``router.weight``, ``experts.N.wi.weight``, ``experts.N.wo.weight``.

A ``.qmoe`` checkpoint is a QMoE file (``tiler.qmoe.format``; layers ``expert{N}.wi`` and
``expert{N}.wo``) with two more arrays: ``router.weight`` float32[E, d_model] (the router stays
dense: E x d_model is a rounding error beside the experts) and ``layer.config``, the UTF-8 JSON
of the ``LayerConfig``. It is read memory-mapped (``map_arrays``): numpy's ``.npz`` stores
each array as an uncompressed ``.npy`` inside a zip archive, so each array is mapped at its
offset in the file and no code stream is copied into the process.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.format import CompressedModel, model_arrays, model_from_arrays, write_arrays
from tiler.qmoe.layer import (
    DEFAULT_ACTIVATION,
    DEFAULT_CAPACITY_FACTOR,
    DEFAULT_TOP_K,
    DenseLayer,
    LayerConfig,
)
from tiler.qmoe.matrices import checked_matrix, safetensors_entries, safetensors_tensor

_SWITCH_ROUTER = "{prefix}.mlp.router.classifier.weight"
_SWITCH_EXPERT = re.compile(r"^(?P<prefix>.+)\.mlp\.experts\.expert_(?P<n>\d+)\.(?P<m>wi|wo)"
                            r"\.weight$")
_SHORT_ROUTER = "router.weight"
_SHORT_EXPERT = re.compile(r"^experts\.(?P<n>\d+)\.(?P<m>wi|wo)\.weight$")
_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")
_ZIP_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True, eq=False)
class CompressedLayerCheckpoint:
    """A layer whose experts are compressed: ``model.layers`` holds ``expert{N}.wi`` and
    ``expert{N}.wo`` for N < ``config.experts``."""

    config: LayerConfig
    router: np.ndarray
    model: CompressedModel


def expert_names(expert: int) -> tuple[str, str]:
    """Return the names of expert ``expert``'s two matrices in a ``.qmoe`` file."""
    return f"expert{expert}.wi", f"expert{expert}.wo"


def is_layer_file(path: str | Path, prefix: str | None = None) -> bool:
    """Return whether the safetensors file at ``path`` holds an MoE layer (a router or expert
    matrices in either naming; with ``prefix``, it must)."""
    names = safetensors_entries(Path(path))
    return prefix is not None or any(
        name == _SHORT_ROUTER or name.endswith(".mlp.router.classifier.weight")
        or _SHORT_EXPERT.match(name) or _SWITCH_EXPERT.match(name) for name in names)


def read_dense_layer(path: str | Path, prefix: str | None = None,
                     activation: str = DEFAULT_ACTIVATION, top_k: int = DEFAULT_TOP_K,
                     capacity_factor: float = DEFAULT_CAPACITY_FACTOR) -> DenseLayer:
    """Return the layer stored at ``path`` (``.safetensors``, either naming; ``prefix`` chooses
    a layer in the Switch naming) with that activation, top-k and capacity factor."""
    path = Path(path)
    entries = safetensors_entries(path)
    router_name, experts = _layer_names(entries, prefix, path)

    def load(name: str) -> np.ndarray:
        if name not in entries:
            raise TilerError(f"missing tensor '{name}'", filename=str(path))
        try:
            return checked_matrix(safetensors_tensor(path, name, entries[name]),
                                  f"tensor '{name}'")
        except TilerError as error:
            raise error.with_filename(str(path)) from None

    router = load(router_name)
    count, model_width = router.shape
    if sorted(experts) != list(range(len(experts))) or len(experts) != count:
        present = sorted(experts)
        missing = sorted(set(range(count)) - set(present))
        raise TilerError(f"the router '{router_name}' has {count} experts but the file holds "
                         f"experts {present}" + (f" (missing {missing})" if missing else ""),
                         filename=str(path))
    wi, wo = [], []
    hidden_width = None
    for expert in range(count):
        inner, outer = (load(experts[expert][m]) if m in experts[expert]
                        else load(_expected_name(prefix, router_name, expert, m))
                        for m in ("wi", "wo"))
        hidden_width = inner.shape[0] if hidden_width is None else hidden_width
        for name, matrix, shape in ((experts[expert].get("wi"), inner, (hidden_width, model_width)),
                                    (experts[expert].get("wo"), outer, (model_width, hidden_width))):
            if matrix.shape != shape:
                raise TilerError(f"tensor '{name}' has shape {list(matrix.shape)}, expected "
                                 f"{list(shape)} (router [{count}, {model_width}], expert 0's "
                                 f"d_ff {hidden_width})", filename=str(path))
        wi.append(inner)
        wo.append(outer)
    try:
        layer_config = LayerConfig(count, model_width, hidden_width, activation, top_k,
                                   capacity_factor)
    except TilerError as error:
        raise error.with_filename(str(path)) from None
    return DenseLayer(layer_config, router, tuple(wi), tuple(wo))


def _expected_name(prefix: str | None, router_name: str, expert: int, matrix: str) -> str:
    if router_name == _SHORT_ROUTER:
        return f"experts.{expert}.{matrix}.weight"
    layer = router_name.removesuffix(".mlp.router.classifier.weight")
    return f"{layer}.mlp.experts.expert_{expert}.{matrix}.weight"


def _layer_names(entries: dict, prefix: str | None,
                 path: Path) -> tuple[str, dict[int, dict[str, str]]]:
    """Return the router's name and, per expert number, its matrices' names."""
    experts: dict[int, dict[str, str]] = {}
    if prefix is None and _SHORT_ROUTER in entries:
        router = _SHORT_ROUTER
        for name in entries:
            match = _SHORT_EXPERT.match(name)
            if match:
                experts.setdefault(int(match["n"]), {})[match["m"]] = name
        return router, experts
    if prefix is None and any(_SHORT_EXPERT.match(name) for name in entries):
        raise TilerError(f"missing tensor '{_SHORT_ROUTER}' (the router of the experts "
                         f"'experts.N.wi.weight')", filename=str(path))
    if prefix is None:
        prefixes = sorted(n.removesuffix(".mlp.router.classifier.weight") for n in entries
                          if n.endswith(".mlp.router.classifier.weight"))
        if not prefixes:
            prefixes = sorted({match["prefix"] for match in map(_SWITCH_EXPERT.match, entries)
                               if match})
        if len(prefixes) != 1:
            what = ("no router ('router.weight' or 'PREFIX.mlp.router.classifier.weight')"
                    if not prefixes else f"{len(prefixes)} layers ({', '.join(prefixes)}); "
                    f"choose one with --layer")
            raise TilerError(f"not one MoE layer: {what}", filename=str(path))
        prefix = prefixes[0]
    router = _SWITCH_ROUTER.format(prefix=prefix)
    if router not in entries:
        raise TilerError(f"missing tensor '{router}' (the router of layer '{prefix}')",
                         filename=str(path))
    for name in entries:
        match = _SWITCH_EXPERT.match(name)
        if match and match["prefix"] == prefix:
            experts.setdefault(int(match["n"]), {})[match["m"]] = name
    return router, experts


def save_checkpoint(path: str | Path, checkpoint: CompressedLayerCheckpoint) -> None:
    """Write ``checkpoint`` to ``path`` (atomically) as a ``.qmoe`` file."""
    arrays = model_arrays(checkpoint.model)
    arrays["router.weight"] = np.ascontiguousarray(checkpoint.router, dtype="<f4")
    arrays["layer.config"] = np.frombuffer(json.dumps(asdict(checkpoint.config)).encode(),
                                           dtype=np.uint8)
    write_arrays(path, arrays)


def load_checkpoint(path: str | Path) -> CompressedLayerCheckpoint:
    """Return the ``.qmoe`` checkpoint at ``path``, its arrays memory-mapped; ``TilerError``
    naming the file and the array for anything but a valid checkpoint."""
    arrays = map_arrays(path)
    try:
        model = model_from_arrays(arrays)
        config = _config(arrays)
        router = arrays.get("router.weight")
        if router is None:
            raise TilerError("missing array 'router.weight'")
        if router.dtype != np.dtype("<f4") or router.shape != (config.experts,
                                                               config.model_width):
            raise TilerError(f"array 'router.weight' is {router.dtype}{list(router.shape)}, "
                             f"expected float32[{config.experts}, {config.model_width}]")
        router = checked_matrix(router, "array 'router.weight'")
        for expert in range(config.experts):
            inner, outer = expert_names(expert)
            for name, shape in ((inner, (config.hidden_width, config.model_width)),
                                (outer, (config.model_width, config.hidden_width))):
                if name not in model.layers:
                    raise TilerError(f"missing layer '{name}'")
                layer = model.layers[name]
                if (layer.rows, layer.columns) != shape:
                    raise TilerError(f"layer '{name}' is {layer.rows}x{layer.columns}, "
                                     f"expected {shape[0]}x{shape[1]}")
    except TilerError as error:
        raise error.with_filename(str(path)) from None
    return CompressedLayerCheckpoint(config, router, model)


def _config(arrays: dict[str, np.ndarray]) -> LayerConfig:
    raw = arrays.get("layer.config")
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise TilerError("missing array 'layer.config' (a QMoE file of matrices, not a layer "
                         "checkpoint?)")
    try:
        fields = json.loads(raw.tobytes().decode("utf-8"))
        return LayerConfig(**fields)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
        raise TilerError(f"array 'layer.config' is not a layer configuration: {error}") from None


def map_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Return the arrays of the uncompressed ``.npz`` at ``path`` by key, each memory-mapped
    read-only at its place in the file."""
    path = Path(path)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as stream:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise TilerError(f"archive member '{info.filename}' is not an array")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise TilerError(f"archive member '{info.filename}' is compressed; "
                                     f"checkpoints store arrays uncompressed")
                arrays[info.filename.removesuffix(".npy")] = _mapped_member(path, stream, info)
    except FileNotFoundError:
        raise TilerError(f"no such file '{path}'", filename=str(path)) from None
    except TilerError as error:
        raise error.with_filename(str(path)) from None
    except (OSError, ValueError, zipfile.BadZipFile, struct.error, EOFError) as error:
        raise TilerError(f"not a QMoE checkpoint (unreadable archive: {type(error).__name__}: "
                         f"{error})", filename=str(path)) from None
    return arrays


def _mapped_member(path: Path, stream, info: zipfile.ZipInfo) -> np.ndarray:
    stream.seek(info.header_offset)
    signature, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(
        stream.read(_ZIP_LOCAL_HEADER.size))
    if signature != _ZIP_LOCAL_SIGNATURE:
        raise TilerError(f"archive member '{info.filename}' has no local header")
    stream.seek(info.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject or fortran:
        raise TilerError(f"array '{info.filename}' is not a plain C-ordered array")
    offset = stream.tell()
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset + size > path.stat().st_size or size > info.file_size:
        raise TilerError(f"array '{info.filename}' runs past the end of the file")
    if size == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
