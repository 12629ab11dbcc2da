"""Timing the QMoE decoding kernels against dense float32 BLAS (numpy) on expert-shaped layers.

Variants of a layer product at T tokens:
  ``dense``      numpy ``tokens @ W.T`` on the dequantised float32 matrix (BLAS sgemm/sgemv,
                 one thread, as the kernels use one);
  ``matvec``     the batch-1 kernel (T = 1 only);
  ``untiled``    the batched kernel as written (``kernels/decode_matmat.c``: one token at a
                 time);
  ``tiled``      the batched kernel as the tiler rewrites it (``tiler.tile_source``), sizes
                 from its cache model (the measured hierarchy) or given;
  ``autotuned``  the batched kernel tiled with the sizes an Optuna search found fastest on
                 that layer shape at 32 tokens (the search's wall time is reported);
and a routed top-1 MoE step over many experts (dense weights then no longer fit the caches).
Times are medians; every ratio is against ``dense`` measured in the same run, and every
output is checked against the dense product (``ok``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from tiler.bench.tune import search_optuna
from tiler.errors import TilerError
from tiler.qmoe.format import CompressedModel, compress
from tiler.qmoe.matrices import synthetic_experts
from tiler.qmoe.native import (
    DecodingKernels,
    KernelLayer,
    load_kernels,
    load_tiled_kernels,
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
# The auto-tuner: Optuna evaluations per layer shape (each tiles, compiles and times the kernel
# on the layer at TUNING_TOKENS tokens) and the sizes it picks each member's size from.
TUNING_BUDGET = 24
QUICK_TUNING_BUDGET = 8
TUNING_TOKENS = 32
TUNING_SIZES = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# An output is right when it is within this share of the largest dense output (float32
# sums in another order).
RELATIVE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Measurement:
    """One timing: ``variant`` on a ``rows`` x ``columns`` layer at ``T`` tokens."""

    rows: int
    columns: int
    T: int
    variant: str
    seconds: float
    tokens_per_s: float
    speedup_over_dense: float
    ok: bool


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


def close_to(result: np.ndarray, expected: np.ndarray) -> bool:
    """Return whether ``result`` is the dense product ``expected`` up to rounding."""
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    return result.shape == expected.shape and bool(
        np.all(np.abs(result - expected) <= RELATIVE_TOLERANCE * scale + 1e-30))


class Variants:
    """The decoding kernels to compare, by variant name; ``autotuned`` has one kernel per
    layer shape, found by ``tune`` before it is asked for."""

    def __init__(self, tile_sizes: tuple[int, ...] | None = None) -> None:
        self.fixed = {"untiled": load_kernels()}
        self.notes: list[str] = []
        tiled = load_tiled_kernels(tile_sizes)
        # Called "tiled" only when the pass says it tiled the region; a region it left alone
        # is the untiled kernel again.
        if tiled.tiled:
            self.fixed["tiled"] = tiled
        else:
            self.notes.append(f"no tiled variant: the pass left the batched kernel as it was "
                              f"({tiled.note})")
        self.tuned: dict[tuple[int, int], DecodingKernels] = {}
        self.tunings: list[dict] = []

    def names(self) -> list[str]:
        return list(self.fixed) + (["autotuned"] if self.tuned else [])

    def kernels(self, name: str, layer: KernelLayer) -> DecodingKernels:
        if name == "autotuned":
            return self.tuned[(layer.rows, layer.columns)]
        return self.fixed[name]

    def tune(self, layer: KernelLayer, dense: np.ndarray, budget: int, seed: int = 0) -> None:
        """Search tile sizes for ``layer``'s shape with Optuna, timing each candidate on the
        layer (``dense``: its dequantised matrix, to check each candidate's output)."""
        tokens = np.random.default_rng(seed).standard_normal(
            (TUNING_TOKENS, layer.columns)).astype(np.float32)
        expected = tokens @ dense.T
        built: dict[tuple[int, ...], DecodingKernels] = {}

        def evaluate(sizes: tuple[int, ...]) -> float | None:
            try:
                built[sizes] = load_tiled_kernels(sizes)
            except TilerError:
                return None
            if not built[sizes].tiled:
                return None
            run = built[sizes].matmat_call(layer, tokens)
            if not close_to(np.ascontiguousarray(run().T), expected):
                return None
            return median_seconds(run, min_runs=3, budget=0.05)

        tuning = search_optuna(evaluate, 3, budget, seed, TUNING_SIZES)
        best = tuning.best
        if best is None:
            raise TilerError(f"no tile sizes tried for {layer.rows}x{layer.columns} ran")
        self.tuned[(layer.rows, layer.columns)] = built[best.sizes]
        self.tunings.append({"rows": layer.rows, "columns": layer.columns,
                             "sizes": list(best.sizes), "trials": len(tuning.trials),
                             "wall_s": tuning.wall_s, "library": tuning.library})


def bench_layer(layer: KernelLayer, dense: np.ndarray, token_counts=TOKEN_COUNTS,
                variants: Variants | None = None,
                budget: float = SECONDS_PER_TIMING, seed: int = 0) -> list[Measurement]:
    """Return the timings of every variant on ``layer`` at each token count."""
    variants = Variants() if variants is None else variants
    generator = np.random.default_rng(seed)
    found = []
    for count in token_counts:
        tokens = generator.standard_normal((count, layer.columns)).astype(np.float32)
        expected = tokens @ dense.T
        timings = {"dense": median_seconds(lambda tokens=tokens: tokens @ dense.T,
                                           budget=budget)}
        right = {"dense": True}
        if count == 1:
            kernels = variants.kernels("untiled", layer)
            timings["matvec"] = median_seconds(
                lambda kernels=kernels, vector=tokens[0]: kernels.matvec(layer, vector),
                budget=budget)
            right["matvec"] = close_to(kernels.matvec(layer, tokens[0])[None, :], expected)
        for name in variants.names():
            run = variants.kernels(name, layer).matmat_call(layer, tokens)
            right[name] = close_to(np.ascontiguousarray(run().T), expected)
            timings[name] = median_seconds(run, budget=budget)
        for name, seconds in timings.items():
            found.append(Measurement(layer.rows, layer.columns, count, name, seconds,
                                     count / seconds, timings["dense"] / seconds, right[name]))
    return found


@dataclass(frozen=True)
class MoeMeasurement:
    """One timing of a routed MoE FFN step: ``T`` tokens, each sent to one of ``experts``
    experts, through ``relu(x Wi^T) Wo^T`` of its expert."""

    experts: int
    T: int
    variant: str
    seconds: float
    tokens_per_s: float
    speedup_over_dense: float
    ok: bool


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
              variants: Variants | None = None,
              budget: float = SECONDS_PER_TIMING, seed: int = 0) -> list[MoeMeasurement]:
    """Return the timings of a routed MoE step over the experts of ``model`` (layers
    ``expert{e}.wi`` and ``expert{e}.wo``) for dense float32 weights and each kernel variant
    (few tokens: the batch-1 kernel per token; more: the batched one)."""
    variants = Variants() if variants is None else variants
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
        expected = moe_step(tokens, routings[0], dense_experts)
        timings = {"dense": median_seconds(_steps(tokens, routings, dense_experts), budget=budget)}
        right = {"dense": True}
        for name in variants.names():
            experts = [tuple(_decoding_expert(variants.kernels(name, layer), layer)
                             for layer in pair) for pair in prepared]
            right[name] = close_to(moe_step(tokens, routings[0], experts), expected)
            timings[name] = median_seconds(_steps(tokens, routings, experts), budget=budget)
        for name, seconds in timings.items():
            found.append(MoeMeasurement(count, tokens_count, name, seconds,
                                        tokens_count / seconds, timings["dense"] / seconds,
                                        right[name]))
    return found


def switch_layers(experts: int = 1, seed: int = 0) -> CompressedModel:
    """Return Switch-shaped synthetic experts (``expert{e}.wi`` 3072x768, ``.wo`` 768x3072)
    compressed with one dictionary."""
    return compress(synthetic_experts(experts, SWITCH_MODEL_WIDTH, SWITCH_HIDDEN_WIDTH, seed))


def run_bench(quick: bool = False, tile_sizes: tuple[int, ...] | None = None,
              experts: int | None = None, autotune: bool = True) -> dict:
    """Return the benchmark as plain data (for ``--json``): each layer of one Switch expert at
    every token count, then a routed step over ``experts`` experts (default 16, quick 4).
    BLAS runs on one thread, as the kernels do."""
    from threadpoolctl import threadpool_limits
    experts = experts or (4 if quick else 16)
    model = switch_layers(experts)
    variants = Variants(tile_sizes)
    counts = (1, 32) if quick else TOKEN_COUNTS
    budget = 0.1 if quick else SECONDS_PER_TIMING
    layers = []
    measurements: list[Measurement] = []
    with threadpool_limits(limits=1):
        prepared = {}
        for name in ("expert0.wi", "expert0.wo"):
            layer = model.layers[name]
            prepared[name] = (prepare_layer(layer, model.dictionary),
                              decode_dense(layer, model.dictionary))
            if autotune:
                variants.tune(*prepared[name], QUICK_TUNING_BUDGET if quick else TUNING_BUDGET)
        for name, (kernel_layer, dense) in prepared.items():
            layer = model.layers[name]
            layers.append({"name": name, "rows": layer.rows, "columns": layer.columns,
                           "bits_per_weight": layer.bits_per_weight(),
                           "padded_bits_per_weight": kernel_layer.padded_bits_per_weight(),
                           "compressed_bytes": layer.stored_bits() // 8,
                           "dense_bytes": 4 * layer.rows * layer.columns})
            measurements += bench_layer(kernel_layer, dense, counts, variants, budget)
        moe = bench_moe(model, counts, variants, budget)
    weights = sum(layer.rows * layer.columns for layer in model.layers.values())
    total_bits = sum(layer.stored_bits() for layer in model.layers.values())
    return {"bits_per_weight": total_bits / weights,
            "memory": {"weights": weights, "compressed_bytes": total_bits // 8,
                       "dictionary_bytes": 3 * model.dictionary.size,
                       "bf16_bytes": 2 * weights, "fp32_bytes": 4 * weights},
            "layers": layers, "measurements": [asdict(m) for m in measurements],
            "moe": {"experts": experts, "measurements": [asdict(m) for m in moe]},
            "tuning": variants.tunings, "notes": variants.notes,
            "all_ok": all(m.ok for m in measurements) and all(m.ok for m in moe)}


def format_report(report: dict) -> str:
    """Return the benchmark report as a table."""
    memory = report["memory"]
    lines = [(f"{report['bits_per_weight']:.3f} bits/weight over {memory['weights'] / 1e6:.1f} M "
             f"weights: {memory['compressed_bytes'] / 1e6:.2f} MB "
             f"(+{memory['dictionary_bytes'] / 1e6:.2f} MB dictionary) vs "
             f"{memory['bf16_bytes'] / 1e6:.1f} MB bf16 "
             f"({memory['bf16_bytes'] / memory['compressed_bytes']:.1f}x) and "
             f"{memory['fp32_bytes'] / 1e6:.1f} MB fp32 "
             f"({memory['fp32_bytes'] / memory['compressed_bytes']:.1f}x)")]
    for layer in report["layers"]:
        lines.append(f"{layer['name']}: {layer['rows']}x{layer['columns']}, "
                     f"{layer['bits_per_weight']:.3f} bits/weight stored "
                     f"({layer['padded_bits_per_weight']:.3f} padded for the batched kernel)")
    for tuning in report["tuning"]:
        lines.append(f"autotuned {tuning['rows']}x{tuning['columns']}: sizes "
                     f"{','.join(map(str, tuning['sizes']))} after {tuning['trials']} trials "
                     f"in {tuning['wall_s']:.1f} s ({tuning['library']})")
    header = f"{'T':>4} {'variant':>9} {'ms':>9} {'tokens/s':>10} {'vs dense':>9} {'ok':>3}"
    lines.append(f"{'layer':>9} " + header)

    def row(m: dict) -> str:
        return (f"{m['T']:>4} {m['variant']:>9} {m['seconds'] * 1e3:9.3f} "
                f"{m['tokens_per_s']:10.0f} {m['speedup_over_dense']:8.2f}x "
                f"{'ok' if m['ok'] else 'BAD':>3}")
    for m in report["measurements"]:
        lines.append(f"{m['rows']}x{m['columns']:<4} " + row(m))
    moe = report["moe"]
    lines.append(f"routed top-1 over {moe['experts']} experts (dense fp32 "
                 f"{memory['fp32_bytes'] / 1e6:.0f} MB):")
    lines.append(header)
    lines += [row(m) for m in moe["measurements"]]
    lines += [f"note: {note}" for note in report.get("notes", [])]
    if not report["all_ok"]:
        lines.append("some outputs differ from the dense product (BAD above)")
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
