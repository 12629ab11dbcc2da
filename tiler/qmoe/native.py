"""The C decoding kernels: built from source text at run time, called through ctypes.

``build_library`` compiles any C text (the packaged kernel, or the tiler's tiled version of it)
with ``$CC`` (default ``cc``) and ``DEFAULT_CFLAGS`` (plus ``GCC_CFLAGS`` for GCC) into tiler's cache directory, once per
text, compiler and flags. ``prepare_layer`` turns a compressed layer into the arrays the kernels
read; ``DecodingKernels`` runs them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tiler.errors import TilerError
from tiler.hierarchy import cache_dir
from tiler.native import build_shared_library, compiler_is_gcc
from tiler.qmoe.dictionary import DICTIONARY_SIZE, MAX_WORD_NONZEROS, MAX_WORD_PAIRS, Dictionary
from tiler.qmoe.format import DIGIT_TO_TERNARY, CompressedLayer, bf16_values

DEFAULT_CFLAGS = ("-O3", "-march=native")
# Added when the compiler is GCC: its unroll-and-jam (on at -O3) jams two words of the batched
# kernel's point loops into one token loop it then leaves scalar, 3x slower at 32 tokens
# (tiled, or written in that order by hand). Clang has no such option.
GCC_CFLAGS = ("-fno-loop-unroll-and-jam",)
# Position-independent shared object: what ctypes loads. OpenMP always: the tiled kernel's
# parallel loops and the batch-1 kernel's row loop run on ``set_threads`` threads (one by
# default, where OpenMP costs nothing measurable).
_LIBRARY_FLAGS = ("-std=gnu11", "-fopenmp")
MATVEC_SOURCE = "decode_matvec.c"
MATMAT_SOURCE = "decode_matmat.c"
HEADER = "qmoe_decode.h"
# Below this many tokens the batch-1 kernel once per token beats the batched kernel, whose fixed
# cost per word (start offsets, the token loop's set-up) is about three batch-1 passes
# (measured on 768x3072 and 3072x768 Switch experts, batched kernel tiled by tiler: 4 tokens
# 0.64 vs 0.67 ms, 6 tokens 0.96 vs 0.88 ms).
BATCHED_MIN_TOKENS = 5
# OpenMP threads sleep between parallel regions instead of spinning, unless the user set
# OMP_WAIT_POLICY (read when libgomp loads). Measured on the 2-core machine under load from
# other processes: a 256x64 batch-1 product took 13 ms on 2 spinning threads against 34 us on
# 2 sleeping ones (20 us on one): spinning threads fight the other load for the cores.
OMP_WAIT_POLICY = "passive"
# x carries two extra zero values: a word's unused slots read x at the word's start with
# weight 0, which for the filler words after a row of odd length is one past the padded row.
INPUT_PADDING = 2


def kernel_directory() -> Path:
    """Return the directory of the packaged kernel sources (also the include directory)."""
    return Path(str(resources.files("tiler.qmoe") / "kernels"))


def kernel_source(name: str) -> str:
    """Return the text of a packaged kernel source, e.g. ``decode_matmat.c``."""
    try:
        return (kernel_directory() / name).read_text(encoding="utf-8")
    except OSError as error:
        raise TilerError(f"cannot read the kernel source '{name}': {error.strerror}") from None


def build_library(source: str, name: str = "qmoe",
                  cflags: tuple[str, ...] = DEFAULT_CFLAGS) -> Path:
    """Return the shared library compiled from the C text ``source``, building it on first use.

    Args:
        source: a C translation unit; it may include the kernel header.
        name: a label for error messages.
        cflags: the optimisation flags.
    """
    purpose = f"{name} kernel"
    extra = GCC_CFLAGS if compiler_is_gcc(purpose) else ()
    return build_shared_library(source, "qmoe", purpose,
                                (*cflags, *extra, *_LIBRARY_FLAGS), (kernel_directory(),),
                                key_extra=kernel_source(HEADER))


@functools.lru_cache(maxsize=8)
def decode_table(dictionary: Dictionary) -> np.ndarray:
    """Return uint32[2^16], each code's packed word (layout in ``kernels/qmoe_decode.h``).

    One table per dictionary, shared by all its layers: 256 KiB that stay in cache however many
    experts take turns."""
    size = dictionary.size
    digits = np.zeros((size, 2 * MAX_WORD_PAIRS), dtype=np.int8)
    digits[:, 0::2] = DIGIT_TO_TERNARY[dictionary.pairs // 3]
    digits[:, 1::2] = DIGIT_TO_TERNARY[dictionary.pairs % 3]
    digits[np.arange(2 * MAX_WORD_PAIRS)[None, :] >= 2 * dictionary.lengths[:, None]] = 0
    nonzero = digits != 0
    # int8 sums: this runs in every process that loads a layer, and an int64 cumulative sum
    # over the 2^16 x 28 weights was its peak memory (15 MB).
    slot = np.cumsum(nonzero, axis=1, dtype=np.int8) - 1
    entries = 2 * dictionary.lengths.astype(np.uint32)
    words, positions = np.nonzero(nonzero)
    slots = slot[words, positions]
    if len(slots) and slots.max() >= MAX_WORD_NONZEROS:
        raise TilerError(f"a dictionary word has more than {MAX_WORD_NONZEROS} nonzero weights")
    kind = np.where(digits[words, positions] > 0, 1, 2).astype(np.uint32)
    packed = (positions.astype(np.uint32) | (kind << 5)) << (5 + 7 * slots.astype(np.uint32))
    np.bitwise_or.at(entries, words, packed)
    table = np.zeros(DICTIONARY_SIZE, dtype=np.uint32)
    table[:size] = entries
    table.flags.writeable = False
    return table


@dataclass(frozen=True, eq=False)
class KernelLayer:
    """A compressed layer as the kernels read it.

    Attributes:
        rows, columns: the matrix shape.
        offsets, codes: the row streams (for the batch-1 kernel).
        padded_codes: uint16[rows, C], each stream padded with the empty word to the longest
            row's C codes (for the batched kernel, whose loops must be affine).
        grid: float32[rows, 4], each row's {0, hi, lo, 0}, indexed by a slot's kind.
        table: the decode table.
    """

    rows: int
    columns: int
    offsets: np.ndarray
    codes: np.ndarray
    padded_codes: np.ndarray
    grid: np.ndarray
    table: np.ndarray

    @property
    def codes_per_row(self) -> int:
        return self.padded_codes.shape[1]

    def padded_bits_per_weight(self) -> float:
        """Return the bits per weight of the padded codes the batched kernel streams."""
        return 16 * self.padded_codes.size / (self.rows * self.columns)


def prepare_layer(layer: CompressedLayer, dictionary: Dictionary) -> KernelLayer:
    """Return ``layer``, encoded with ``dictionary``, ready for the kernels."""
    counts = np.diff(layer.offsets)
    width = int(counts.max())
    row_of_code = np.repeat(np.arange(layer.rows), counts)
    column_of_code = np.arange(len(layer.codes)) - layer.offsets[row_of_code]
    padded = np.zeros((layer.rows, width), dtype=np.uint16)
    padded[row_of_code, column_of_code] = layer.codes
    grid = np.zeros((layer.rows, 4), dtype=np.float32)
    grid[:, 1], grid[:, 2] = bf16_values(layer.hi_bits), bf16_values(layer.lo_bits)
    return KernelLayer(layer.rows, layer.columns,
                       np.ascontiguousarray(layer.offsets, dtype=np.int64), layer.codes, padded,
                       grid, decode_table(dictionary))


def _pointer(array: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(array.ctypes.data)


@dataclass(frozen=True)
class DecodingKernels:
    """The two decoding kernels, loaded: batch 1 and a batch of tokens. ``tiled`` and
    ``parallel``: whether ``tiler tile`` reported the batched kernel's region tiled and marked
    a parallel loop in it (``note``: what it said); the packaged nest is neither."""

    matvec_function: Callable
    matmat_function: Callable
    threads_function: Callable
    tiled: bool = False
    parallel: bool = False
    note: str = "the packaged nest, not tiled"

    def set_threads(self, threads: int) -> None:
        """Run the kernels' parallel loops on ``threads`` OpenMP threads from now on."""
        if threads < 1:
            raise TilerError(f"threads must be at least 1, got {threads}")
        self.threads_function(threads)

    def matvec(self, layer: KernelLayer, vector: np.ndarray) -> np.ndarray:
        """Return ``W @ vector`` (float32[rows]) for a float[columns] vector."""
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (layer.columns,):
            raise TilerError(f"vector of shape {vector.shape}, expected ({layer.columns},)")
        padded = np.zeros(layer.columns + INPUT_PADDING, dtype=np.float32)
        padded[:layer.columns] = vector
        result = np.empty(layer.rows, dtype=np.float32)
        self.matvec_function(layer.rows, _pointer(layer.offsets), _pointer(layer.codes),
                             _pointer(layer.grid), _pointer(layer.table), _pointer(padded),
                             _pointer(result))
        return result

    def matmat_call(self, layer: KernelLayer, tokens: np.ndarray) -> Callable[[], np.ndarray]:
        """Return a function that runs the batched kernel on ``tokens`` (float[T, columns]) and
        returns float32[rows, T] (token-minor); its buffers are made once, here, so timing it
        times the kernel."""
        tokens = np.asarray(tokens, dtype=np.float32)
        if tokens.ndim != 2 or tokens.shape[1] != layer.columns or tokens.shape[0] < 1:
            raise TilerError(f"tokens of shape {tokens.shape}, expected (T, {layer.columns})")
        count = tokens.shape[0]
        transposed = np.zeros((layer.columns + INPUT_PADDING, count), dtype=np.float32)
        transposed[:layer.columns] = tokens.T
        starts = np.zeros((layer.rows, layer.codes_per_row + 1), dtype=np.int32)
        result = np.zeros((layer.rows, count), dtype=np.float32)
        arguments = (layer.rows, layer.codes_per_row, count, transposed.shape[0],
                     _pointer(layer.padded_codes), _pointer(starts), _pointer(layer.grid),
                     _pointer(layer.table), _pointer(transposed), _pointer(result))

        buffers = (transposed, starts, result)  # the pointers above stay valid while run lives

        def run() -> np.ndarray:
            result.fill(0.0)
            self.matmat_function(*arguments)
            return buffers[2]

        return run

    def matmat(self, layer: KernelLayer, tokens: np.ndarray) -> np.ndarray:
        """Return ``tokens @ W.T`` (float32[T, rows]) for float[T, columns] tokens."""
        return np.ascontiguousarray(self.matmat_call(layer, tokens)().T)

    def apply(self, layer: KernelLayer, tokens: np.ndarray) -> np.ndarray:
        """Return ``tokens @ W.T`` by the faster kernel for the number of tokens."""
        tokens = np.asarray(tokens, dtype=np.float32)
        if tokens.ndim == 2 and len(tokens) < BATCHED_MIN_TOKENS:
            return np.stack([self.matvec(layer, token) for token in tokens])
        return self.matmat(layer, tokens)


def load_kernels(matmat_source: str | None = None,
                 cflags: tuple[str, ...] = DEFAULT_CFLAGS) -> DecodingKernels:
    """Return the kernels, the batched one built from ``matmat_source`` (e.g. the tiler's
    tiled text) instead of the packaged ``decode_matmat.c`` when given."""
    matvec = _load_function(kernel_source(MATVEC_SOURCE), "qmoe_matvec", cflags)
    matmat = _load_function(matmat_source if matmat_source is not None
                            else kernel_source(MATMAT_SOURCE), "qmoe_matmat", cflags)
    threads = _load_function(kernel_source(MATVEC_SOURCE), "qmoe_set_threads", cflags)
    return DecodingKernels(matvec, matmat, threads)


@dataclass(frozen=True)
class TiledSource:
    """The batched kernel as ``tiler tile`` left it: its text, whether the pass reported its
    region tiled (and, with ``parallel``, marked a parallel loop) and the pass's note."""

    text: str
    tiled: bool
    parallel: bool
    note: str


def tiled_matmat_source(tile_sizes: tuple[int, ...] | None = None,
                        parallel: bool = False) -> TiledSource:
    """Return the batched kernel as ``tiler tile`` rewrites it (with ``parallel``, as
    ``--parallel`` does): sizes from the cache model on the measured hierarchy, or
    ``tile_sizes``. The result is cached by kernel text, options and hierarchy, so a process
    that runs a layer does not load the polyhedral pass once the kernel has been tiled."""
    return tiled_source(kernel_source(MATMAT_SOURCE), MATMAT_SOURCE, tile_sizes, parallel)


def tiled_source(source: str, filename: str, tile_sizes: tuple[int, ...] | None = None,
                 parallel: bool = False) -> TiledSource:
    """Return the C text ``source`` as ``tiler tile`` rewrites it, with what the pass reported
    (cached, see ``tiled_matmat_source``)."""
    from tiler.hierarchy import default_hierarchy
    hierarchy = None if tile_sizes else default_hierarchy()
    key = hashlib.sha256("\0".join([source, repr(tile_sizes), repr(parallel),
                                     hierarchy.to_json() if hierarchy else "",
                                     _pass_fingerprint()]).encode())
    cached = cache_dir() / "qmoe" / f"tiled-{key.hexdigest()[:16]}.json"
    try:
        return TiledSource(**json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pass
    from tiler.pipeline import TileOptions, tile_source
    options = TileOptions(tile_sizes=tile_sizes, hierarchy=hierarchy, parallel=parallel)
    result = tile_source(source, filename=filename, options=options)
    tiled = bool(result.regions) and all(region.tiled for region in result.regions)
    found = TiledSource(result.text, tiled, parallel and "#pragma omp parallel" in result.text,
                        "; ".join(region.note for region in result.regions) or "no region")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_name(f".{cached.name}.{os.getpid()}")
        temporary.write_text(json.dumps(asdict(found)), encoding="utf-8")
        temporary.replace(cached)
    except OSError:
        pass  # no cache: the next process tiles again
    return found


# Threads for the batched kernel: each takes a block of rows and runs the tiled kernel on it.
# What `tiler tile --parallel` writes (the row loop marked) is correct but 2-3x slower per
# thread: GCC outlines the marked loop into a function where the arrays lose `restrict`, the
# token loop is versioned for aliasing and the decoding is no longer hoisted out of it
# (measured on 3072x768 and 768x3072 experts at 8, 32, 128 tokens, one thread: 1.4-3.0x the
# serial tiled kernel's time; on two threads, on the loaded machine, still slower than it).
ROW_BLOCKS_SOURCE = """
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void qmoe_matmat_rows(int R, int C, int T, int K, const uint16_t *codes, int32_t *start,
                      const float *grid, const uint32_t *table, const float *xt, float *y)
{
#pragma omp parallel
    {
#ifdef _OPENMP
        const long long parts = omp_get_num_threads(), part = omp_get_thread_num();
#else
        const long long parts = 1, part = 0;
#endif
        const int first = (int)(R * part / parts), last = (int)(R * (part + 1) / parts);
        if (last > first)
            qmoe_matmat(last - first, C, T, K, (const void *)(codes + (size_t)first * C),
                        (void *)(start + (size_t)first * (C + 1)),
                        (const void *)(grid + (size_t)first * 4), table, (const void *)xt,
                        (void *)(y + (size_t)first * T));
    }
}
"""


def load_tiled_kernels(tile_sizes: tuple[int, ...] | None = None,
                       cflags: tuple[str, ...] = DEFAULT_CFLAGS,
                       parallel: bool = False) -> DecodingKernels:
    """Return the kernels with the batched one as the tiler rewrote it
    (``tiled_matmat_source``): the one to use, the packaged nest decodes the whole matrix once
    per token. Threads (``set_threads``) take blocks of rows of the tiled kernel
    (``ROW_BLOCKS_SOURCE``); with ``parallel``, the kernel is instead what ``tiler tile
    --parallel`` writes, its own row loop marked. ``tiled`` and ``parallel`` of the result say
    what the pass reported; a region it left alone is the packaged nest again, and is not
    called tiled."""
    tiled = tiled_matmat_source(tile_sizes, parallel)
    if parallel:
        kernels = load_kernels(tiled.text, cflags)
        matmat = kernels.matmat_function
    else:
        kernels = load_kernels(None, cflags)
        matmat = _load_function(tiled.text + ROW_BLOCKS_SOURCE, "qmoe_matmat_rows", cflags)
    return DecodingKernels(kernels.matvec_function, matmat, kernels.threads_function,
                           tiled.tiled, tiled.parallel, tiled.note)


@functools.cache
def _pass_fingerprint() -> str:
    """Return a hash of the tiler's own modules: a cached tiling is stale once they change."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for module in sorted(package.glob("*.py")) + sorted(package.glob("grammar/*.lark")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


@functools.cache
def _load_function(source: str, symbol: str, cflags: tuple[str, ...]) -> Callable:
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    library = ctypes.CDLL(str(build_library(source, symbol.removeprefix("qmoe_"), cflags)))
    try:
        function = getattr(library, symbol)
    except AttributeError:
        raise TilerError(f"the kernel source defines no function {symbol}") from None
    function.restype = None
    if symbol == "qmoe_set_threads":
        function.argtypes = [ctypes.c_int]
        # One thread unless asked (set_threads, or OMP_NUM_THREADS): OpenMP would take every
        # core, and the benchmarks compare single-threaded kernels with single-threaded BLAS.
        if "OMP_NUM_THREADS" not in os.environ:
            function(1)
    elif symbol == "qmoe_matvec":
        function.argtypes = [ctypes.c_int] + [ctypes.c_void_p] * 6
    else:
        function.argtypes = [ctypes.c_int] * 4 + [ctypes.c_void_p] * 6
    return function
