"""Timing the QMoE decoding kernels against dense float32 BLAS (numpy) on expert-shaped layers.

Variants of a layer product at T tokens:
  ``dense``    numpy ``tokens @ W.T`` on the dequantised float32 matrix (BLAS sgemm/sgemv);
  ``matvec``   the batch-1 kernel (T = 1 only);
  ``untiled``  the batched kernel as written (``kernels/decode_matmat.c``);
  ``tiled``    the batched kernel as the tiler rewrites it (``tiler.tile_source``), sizes from
               its cache model or given.
and a routed top-1 MoE step over many experts (dense weights then no longer fit the caches).
Times are medians; every ratio is against ``dense`` measured in the same run.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.format import CompressedModel, compress
from tiler.qmoe.matrices import synthetic_experts
from tiler.qmoe.native import (
    MATMAT_SOURCE,
    DecodingKernels,
    KernelLayer,
    kernel_source,
    load_kernels,
    prepare_layer,
)
from tiler.qmoe.reference import decode_dense

# Switch-Transformer base experts: d_model 768, d_ff 3072.
SWITCH_MODEL_WIDTH = 768
SWITCH_HIDDEN_WIDTH = 3072
TOKEN_COUNTS = (1, 8, 32, 128)
# A timing is the median of at least this many runs, more while under the time budget.
MIN_RUNS = 5
MAX_RUNS = 200
SECONDS_PER_TIMING = 0.3
# Consecutive MoE steps route differently (as consecutive tokens of a decode do), so the
# experts a step uses are not still in cache from the step before.
ROUTINGS_PER_TIMING = 8


@dataclass(frozen=True)
class Measurement:
    """One timing: ``variant`` on a ``rows`` x ``columns`` layer at ``tokens`` tokens."""

    rows: int
    columns: int
    tokens: int
    variant: str
    seconds: float
    speedup_over_dense: float


def median_seconds(run: Callable[[], object], min_runs: int = MIN_RUNS,
                   budget: float = SECONDS_PER_TIMING) -> float:
    """Return the median wall time of ``run()`` after one warm-up call."""
    run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - started < budget
                                    and len(times) < MAX_RUNS):
        before = time.perf_counter()
        run()
        times.append(time.perf_counter() - before)
    return float(np.median(times))


def tiled_matmat_source(tile_sizes: tuple[int, ...] | None = None) -> str | None:
    """Return the batched kernel as the tiler tiles it (model sizes unless ``tile_sizes``), or
    None when this installation of tiler has no ``tile_source`` yet."""
    try:
        import tiler
        tile_source = getattr(tiler, "tile_source", None)
        if tile_source is None:
            from tiler.pipeline import tile_source
        from tiler.pipeline import TileOptions
    except ImportError:
        return None
    options = TileOptions(tile_sizes=tile_sizes) if tile_sizes else TileOptions()
    return tile_source(kernel_source(MATMAT_SOURCE), filename=MATMAT_SOURCE, options=options).text


def kernel_variants(tile_sizes: tuple[int, ...] | None = None) -> dict[str, DecodingKernels]:
    """Return the kernels to compare by variant name (``tiled`` only when tiler can tile)."""
    variants = {"untiled": load_kernels()}
    tiled = tiled_matmat_source(tile_sizes)
    if tiled is not None:
        variants["tiled"] = load_kernels(tiled)
    return variants


def bench_layer(layer: KernelLayer, dense: np.ndarray, token_counts=TOKEN_COUNTS,
                variants: dict[str, DecodingKernels] | None = None,
                budget: float = SECONDS_PER_TIMING, seed: int = 0) -> list[Measurement]:
    """Return the timings of every variant on ``layer`` at each token count."""
    variants = kernel_variants() if variants is None else variants
    generator = np.random.default_rng(seed)
    found = []
    for count in token_counts:
        tokens = generator.standard_normal((count, layer.columns)).astype(np.float32)
        timings = {"dense": median_seconds(lambda tokens=tokens: tokens @ dense.T,
                                           budget=budget)}
        if count == 1:
            kernels = next(iter(variants.values()))
            timings["matvec"] = median_seconds(
                lambda kernels=kernels, vector=tokens[0]: kernels.matvec(layer, vector),
                budget=budget)
        for name, kernels in variants.items():
            timings[name] = median_seconds(kernels.matmat_call(layer, tokens), budget=budget)
        for name, seconds in timings.items():
            found.append(Measurement(layer.rows, layer.columns, count, name, seconds,
                                     timings["dense"] / seconds))
    return found


@dataclass(frozen=True)
class MoeMeasurement:
    """One timing of a routed MoE FFN step: ``tokens`` tokens, each sent to one of ``experts``
    experts, through ``relu(x Wi^T) Wo^T`` of its expert."""

    experts: int
    tokens: int
    variant: str
    seconds: float
    speedup_over_dense: float


def route_top1(token_count: int, experts: int, seed: int = 0) -> list[np.ndarray]:
    """Return, per expert, the indices of the tokens routed to it (uniformly at random)."""
    choice = np.random.default_rng(seed).integers(0, experts, size=token_count)
    return [np.flatnonzero(choice == expert) for expert in range(experts)]


def moe_step(tokens: np.ndarray, routes: list[np.ndarray],
             experts: list[tuple[Callable, Callable]]) -> np.ndarray:
    """Return the MoE FFN output of ``tokens``: per expert, its tokens through ``wo(relu(wi))``
    where ``experts[e] = (wi, wo)`` are functions from float32[n, in] to float32[n, out]."""
    result = None
    for indices, (wi, wo) in zip(routes, experts):
        if len(indices) == 0:
            continue
        out = wo(np.maximum(wi(tokens[indices]), 0.0))
        if result is None:
            result = np.zeros((len(tokens), out.shape[1]), dtype=np.float32)
        result[indices] = out
    return result


def _steps(tokens: np.ndarray, routings: list[list[np.ndarray]], experts: list) -> Callable:
    """Return a function running one MoE step per call, each with the next routing."""
    calls = itertools.count()
    return lambda: moe_step(tokens, routings[next(calls) % len(routings)], experts)


def _decoding_expert(kernels: DecodingKernels, layer: KernelLayer) -> Callable:
    return lambda tokens: kernels.apply(layer, tokens)


def bench_moe(model: CompressedModel, token_counts=TOKEN_COUNTS,
              variants: dict[str, DecodingKernels] | None = None,
              budget: float = SECONDS_PER_TIMING, seed: int = 0) -> list[MoeMeasurement]:
    """Return the timings of a routed MoE step over the experts of ``model`` (layers
    ``expert{e}.wi`` and ``expert{e}.wo``) for dense float32 weights and each kernel variant
    (few tokens: the batch-1 kernel per token; more: the batched one)."""
    variants = kernel_variants() if variants is None else variants
    count = len(model.layers) // 2
    names = [(f"expert{e}.wi", f"expert{e}.wo") for e in range(count)]
    dense = [tuple(decode_dense(model.layers[n], model.dictionary) for n in pair)
             for pair in names]
    dense_experts = [tuple((lambda x, w=w: x @ w.T) for w in pair) for pair in dense]
    prepared = [tuple(prepare_layer(model.layers[n], model.dictionary) for n in pair)
                for pair in names]
    generator = np.random.default_rng(seed)
    width = model.layers[names[0][0]].columns
    found = []
    for tokens_count in token_counts:
        tokens = generator.standard_normal((tokens_count, width)).astype(np.float32)
        routings = [route_top1(tokens_count, count, seed + 1000 * tokens_count + k)
                    for k in range(ROUTINGS_PER_TIMING)]
        timings = {"dense": median_seconds(_steps(tokens, routings, dense_experts), budget=budget)}
        for name, kernels in variants.items():
            experts = [tuple(_decoding_expert(kernels, layer) for layer in pair)
                       for pair in prepared]
            timings[name] = median_seconds(_steps(tokens, routings, experts), budget=budget)
        for name, seconds in timings.items():
            found.append(MoeMeasurement(count, tokens_count, name, seconds,
                                        timings["dense"] / seconds))
    return found


def switch_layers(experts: int = 1, seed: int = 0) -> CompressedModel:
    """Return Switch-shaped synthetic experts (``expert{e}.wi`` 3072x768, ``.wo`` 768x3072)
    compressed with one dictionary."""
    return compress(synthetic_experts(experts, SWITCH_MODEL_WIDTH, SWITCH_HIDDEN_WIDTH, seed))


def run_bench(quick: bool = False, tile_sizes: tuple[int, ...] | None = None,
              experts: int | None = None) -> dict:
    """Return the benchmark as plain data (for ``--json``): each layer of one Switch expert at
    every token count, then a routed step over ``experts`` experts (default 16, quick 4)."""
    experts = experts or (4 if quick else 16)
    model = switch_layers(experts)
    variants = kernel_variants(tile_sizes)
    counts = (1, 32) if quick else TOKEN_COUNTS
    budget = 0.1 if quick else SECONDS_PER_TIMING
    layers = []
    measurements: list[Measurement] = []
    for name in ("expert0.wi", "expert0.wo"):
        layer = model.layers[name]
        prepared = prepare_layer(layer, model.dictionary)
        dense = decode_dense(layer, model.dictionary)
        layers.append({"name": name, "rows": layer.rows, "columns": layer.columns,
                       "bits_per_weight": layer.bits_per_weight(),
                       "padded_bits_per_weight": prepared.padded_bits_per_weight(),
                       "compressed_bytes": layer.stored_bits() // 8,
                       "dense_bytes": 4 * layer.rows * layer.columns})
        measurements += bench_layer(prepared, dense, counts, variants, budget)
    moe = bench_moe(model, counts, variants, budget)
    notes = [] if "tiled" in variants else [
        "tiled variant left out: this tiler has no tile_source"]
    total_bits = sum(layer.stored_bits() for layer in model.layers.values())
    return {"layers": layers, "measurements": [asdict(m) for m in measurements],
            "moe": {"experts": experts, "dense_bytes": sum(4 * layer.rows * layer.columns
                                                           for layer in model.layers.values()),
                    "compressed_bytes": total_bits // 8,
                    "dictionary_bytes": 3 * model.dictionary.size,
                    "measurements": [asdict(m) for m in moe]},
            "notes": notes}


def format_report(report: dict) -> str:
    """Return the benchmark report as a table."""
    lines = []
    for layer in report["layers"]:
        lines.append(f"{layer['name']}: {layer['rows']}x{layer['columns']}, "
                     f"{layer['bits_per_weight']:.3f} bits/weight stored "
                     f"({layer['padded_bits_per_weight']:.3f} padded for the batched kernel), "
                     f"{layer['compressed_bytes'] / 1e6:.2f} MB vs {layer['dense_bytes'] / 1e6:.2f}"
                     f" MB dense")
    lines.append(f"{'layer':>10} {'T':>4} {'variant':>8} {'ms':>9} {'vs dense':>9}")
    for m in report["measurements"]:
        lines.append(f"{m['rows']}x{m['columns']:<5} {m['tokens']:>4} {m['variant']:>8} "
                     f"{m['seconds'] * 1e3:9.3f} {m['speedup_over_dense']:8.2f}x")
    moe = report["moe"]
    lines.append(f"routed top-1 over {moe['experts']} experts: "
                 f"{moe['compressed_bytes'] / 1e6:.1f} MB compressed "
                 f"(+{moe['dictionary_bytes'] / 1e6:.2f} MB dictionary) vs "
                 f"{moe['dense_bytes'] / 1e6:.1f} MB dense")
    lines.append(f"{'T':>4} {'variant':>8} {'ms':>9} {'vs dense':>9}")
    for m in moe["measurements"]:
        lines.append(f"{m['tokens']:>4} {m['variant']:>8} {m['seconds'] * 1e3:9.3f} "
                     f"{m['speedup_over_dense']:8.2f}x")
    lines += report["notes"]
    return "\n".join(lines)


def parse_tile_sizes(text: str) -> tuple[int, ...]:
    """Return tile sizes from ``"32,32,8"``."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise TilerError(f"tile sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise TilerError(f"tile sizes must be positive, got {text!r}")
    return sizes
