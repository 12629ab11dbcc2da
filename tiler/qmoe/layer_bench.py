"""``tiler qmoe bench --layer``: a whole Switch-style layer, as its users would run it.

On a synthetic 8-expert layer (Switch base: d_model 768, d_ff 3072; ``--quick``: a small one)
written as a Hugging Face ``.safetensors`` file and compressed by ``tiler qmoe compress``:

- accuracy: the layer-output relative error ||y_q - y|| / ||y|| on held-out tokens of RTN
  ternary and of GPTQ ternary (calibrated on other tokens of the same distribution,
  ``tiler.qmoe.activations``), with the bits per weight of each;
- speed: tokens/s of ``LayerRunner.forward`` (the fused decoding kernels) and of the dense
  fp32 layer in numpy (BLAS on the same number of threads), interleaved rounds, medians, at
  each T and thread count; every kernel output checked against the numpy reference of the
  dequantised layer (``ok``: within ``LAYER_TOLERANCE`` relative);
- memory: the peak resident memory of a ``tiler qmoe run`` process on the compressed
  checkpoint, of the dense fp32 run (``tiler.qmoe.memory``), and of ``tiler qmoe run`` on a
  tiny checkpoint: the fixed runtime overhead (interpreter, numpy, the CLI's imports, kernels).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tiler.qmoe.activations import activation_model
from tiler.qmoe.bench import SWITCH_HIDDEN_WIDTH, SWITCH_MODEL_WIDTH, TOKEN_COUNTS
from tiler.qmoe.calibrate import compress_layer, dequantised_layer
from tiler.qmoe.checkpoint import load_checkpoint, read_dense_layer, save_checkpoint
from tiler.qmoe.layer import DenseLayer
from tiler.qmoe.matrices import save_safetensors, synthetic_layer_tensors
from tiler.qmoe.memory import peak_rss_bytes
from tiler.qmoe.runner import LayerRunner

# switch-base-8's expert count; the quick layer is small enough for a test.
LAYER_EXPERTS = 8
SWITCH_SHAPE = (SWITCH_MODEL_WIDTH, SWITCH_HIDDEN_WIDTH)
QUICK_SHAPE = (64, 256)
QUICK_TOKEN_COUNTS = (1, 8)
# One thread and every core of the development machine.
THREAD_COUNTS = (1, 2)
# Calibration tokens: GPTQ's paper uses 128 sequences of 2048 tokens for a whole model; per
# expert of 8 this gives ~1000 tokens, more than d_model, so H is well conditioned.
CALIBRATION_TOKENS = 8192
QUICK_CALIBRATION_TOKENS = 1024
HELD_OUT_TOKENS = 1024
# Interleaved timing rounds (each times the dense and the compressed layer once) and the least
# wall time a round's timing should take (a call is repeated to fill it).
ROUNDS = 7
QUICK_ROUNDS = 3
MIN_TIMING_SECONDS = 0.05
# The kernels sum in float32 in another order than the reference.
LAYER_TOLERANCE = 1e-4
# The layer of the memory comparison's fixed overhead: tiny, the same code path.
OVERHEAD_SHAPE = (16, 32)
MEMORY_TOKENS = 32
LAYER_PREFIX = "encoder.block.1.layer.1"


def relative_error(result: np.ndarray, expected: np.ndarray) -> float:
    """Return ||result - expected|| / ||expected|| (Frobenius)."""
    return float(np.linalg.norm(result.astype(np.float64) - expected)
                 / max(np.linalg.norm(expected.astype(np.float64)), 1e-30))


def _timed(call, minimum: float) -> float:
    """Return the seconds per call of ``call``, repeated until ``minimum`` seconds passed."""
    repeats, started = 0, time.perf_counter()
    while True:
        call()
        repeats += 1
        elapsed = time.perf_counter() - started
        if elapsed >= minimum:
            return elapsed / repeats


def _bits_per_weight(checkpoint) -> float:
    layers = checkpoint.model.layers.values()
    return sum(layer.stored_bits() for layer in layers) / sum(
        layer.rows * layer.columns for layer in layers)


def accuracy(layer: DenseLayer, calibration: np.ndarray, held_out: np.ndarray,
             methods: tuple[str, ...] = ("rtn", "gptq")) -> dict:
    """Return the held-out layer-output error and bits per weight of each method."""
    expected = layer.forward(held_out)
    found = {}
    for method in methods:
        started = time.perf_counter()
        compressed = compress_layer(layer, method, calibration if method == "gptq" else None)
        seconds = time.perf_counter() - started
        error = relative_error(dequantised_layer(compressed.checkpoint).forward(held_out),
                               expected)
        found[method] = {"relative_error": error, "seconds": seconds,
                         "bits_per_weight": _bits_per_weight(compressed.checkpoint),
                         "notes": list(compressed.notes), "checkpoint": compressed.checkpoint}
    if "gptq" in found:
        found["ratio"] = found["gptq"]["relative_error"] / found["rtn"]["relative_error"]
    return found


def throughput(checkpoint, dense: DenseLayer, tokens_of, counts, rounds: int) -> list[dict]:
    """Return tokens/s of the compressed and the dense layer at each T and thread count."""
    from threadpoolctl import threadpool_limits
    reference = dequantised_layer(checkpoint)
    found = []
    for threads in THREAD_COUNTS:
        runner = LayerRunner(checkpoint, threads=threads)
        for count in counts:
            tokens = tokens_of(count)
            expected = reference.forward(tokens)
            result = runner.forward(tokens)
            ok = bool(np.abs(result - expected).max()
                      <= LAYER_TOLERANCE * max(float(np.abs(expected).max()), 1e-30))
            times = {"qmoe": [], "dense": []}
            with threadpool_limits(limits=threads):
                for _ in range(rounds):
                    times["dense"].append(_timed(lambda x=tokens: dense.forward(x),
                                                 MIN_TIMING_SECONDS))
                    times["qmoe"].append(_timed(lambda x=tokens, r=runner: r.forward(x),
                                                MIN_TIMING_SECONDS))
            dense_s, qmoe_s = (float(np.median(times[k])) for k in ("dense", "qmoe"))
            found.append({"threads": threads, "T": count, "dense_tokens_per_s": count / dense_s,
                          "qmoe_tokens_per_s": count / qmoe_s, "speedup": dense_s / qmoe_s,
                          "ok": ok, "max_relative_difference": float(
                              np.abs(result - expected).max()
                              / max(float(np.abs(expected).max()), 1e-30))})
    return found


def memory(directory: Path, dense_path: Path, checkpoint_path: Path, tokens: np.ndarray,
           experts: int) -> dict:
    """Return the peak resident memory of the compressed run, the dense run and the
    overhead run (``tiler qmoe run`` on a tiny checkpoint)."""
    tokens_path = directory / "memory_tokens.npy"
    np.save(tokens_path, tokens)
    tiny_dense = directory / "tiny.safetensors"
    save_safetensors(tiny_dense, synthetic_layer_tensors(experts, *OVERHEAD_SHAPE,
                                                         prefix=LAYER_PREFIX))
    tiny = directory / "tiny.qmoe"
    save_checkpoint(tiny, compress_layer(read_dense_layer(tiny_dense), "rtn").checkpoint)
    tiny_tokens = directory / "tiny_tokens.npy"
    np.save(tiny_tokens, tokens[:, :OVERHEAD_SHAPE[0]])
    run = [sys.executable, "-m", "tiler.cli", "qmoe", "run"]
    output = str(directory / "out.npy")
    compressed = peak_rss_bytes([*run, str(checkpoint_path), "--tokens", str(tokens_path),
                                 "--out", output])
    overhead = peak_rss_bytes([*run, str(tiny), "--tokens", str(tiny_tokens), "--out", output])
    dense = peak_rss_bytes([sys.executable, "-m", "tiler.qmoe.memory", "dense",
                            str(dense_path), str(tokens_path), output])
    layer = read_dense_layer(dense_path)
    weight_bytes = layer.router.nbytes + sum(w.nbytes for w in layer.wi + layer.wo)
    checkpoint_bytes = checkpoint_path.stat().st_size
    return {"compressed_peak_bytes": compressed, "dense_peak_bytes": dense,
            "overhead_peak_bytes": overhead, "dense_weight_bytes": weight_bytes,
            "checkpoint_file_bytes": checkpoint_bytes,
            "compressed_above_overhead_bytes": compressed - overhead,
            "within_target": compressed <= weight_bytes / 10 + overhead}


def run_layer_bench(quick: bool = False, gptq: bool = True) -> dict:
    """Return the layer benchmark (accuracy, speed, memory) as plain data; without ``gptq``
    only RTN is compressed (and timed: the kernels are the same)."""
    model_width, hidden_width = QUICK_SHAPE if quick else SWITCH_SHAPE
    distribution = activation_model(model_width, seed=1)
    calibration = distribution.sample(QUICK_CALIBRATION_TOKENS if quick else CALIBRATION_TOKENS,
                                      seed=2)
    held_out = distribution.sample(HELD_OUT_TOKENS, seed=3)
    with tempfile.TemporaryDirectory(prefix="tiler-qmoe-") as work:
        directory = Path(work)
        dense_path = directory / "layer.safetensors"
        save_safetensors(dense_path, synthetic_layer_tensors(
            LAYER_EXPERTS, model_width, hidden_width, prefix=LAYER_PREFIX))
        dense = read_dense_layer(dense_path)
        methods = ("rtn", "gptq") if gptq else ("rtn",)
        quality = accuracy(dense, calibration, held_out, methods)
        checkpoint_path = directory / "layer.qmoe"
        save_checkpoint(checkpoint_path, quality[methods[-1]]["checkpoint"])
        checkpoint = load_checkpoint(checkpoint_path)
        sample = iter(range(100, 10_000))
        speed = throughput(checkpoint, dense,
                           lambda count: distribution.sample(count, seed=next(sample)),
                           QUICK_TOKEN_COUNTS if quick else TOKEN_COUNTS,
                           QUICK_ROUNDS if quick else ROUNDS)
        peaks = memory(directory, dense_path, checkpoint_path,
                       distribution.sample(MEMORY_TOKENS, seed=4), LAYER_EXPERTS)
    kernels = LayerRunner(checkpoint).kernels
    for method in methods:
        del quality[method]["checkpoint"]
    return {"experts": LAYER_EXPERTS, "model_width": model_width, "hidden_width": hidden_width,
            "calibration_tokens": len(calibration), "held_out_tokens": len(held_out),
            "accuracy": quality, "throughput": speed, "memory": peaks,
            "batched_kernel": {"tiled": kernels.tiled, "parallel": kernels.parallel,
                               "note": kernels.note},
            "all_ok": all(entry["ok"] for entry in speed)}


def format_layer_report(report: dict) -> str:
    """Return the layer benchmark as text."""
    quality = report["accuracy"]
    lines = [(f"{report['experts']} experts, d_model {report['model_width']}, d_ff "
             f"{report['hidden_width']}; batched kernel "
             f"{'tiled' if report['batched_kernel']['tiled'] else 'NOT tiled'}"
             f"{' with a parallel loop' if report['batched_kernel']['parallel'] else ''}"
             f", threads on blocks of rows "
             f"({report['batched_kernel']['note']})")]
    for method in [m for m in ("rtn", "gptq") if m in quality]:
        entry = quality[method]
        lines.append(f"{method:>5}: layer-output error {entry['relative_error']:.4f} on "
                     f"{report['held_out_tokens']} held-out tokens, "
                     f"{entry['bits_per_weight']:.3f} bits/weight, {entry['seconds']:.1f} s")
        lines += [f"       note: {note}" for note in entry["notes"]]
    if "ratio" in quality:
        lines.append(f"GPTQ / RTN error: {quality['ratio']:.3f} "
                     f"({report['calibration_tokens']} calibration tokens)")
    lines.append(f"{'threads':>7} {'T':>4} {'dense tok/s':>12} {'qmoe tok/s':>11} "
                 f"{'qmoe/dense':>10} {'ok':>3}")
    for entry in report["throughput"]:
        lines.append(f"{entry['threads']:>7} {entry['T']:>4} "
                     f"{entry['dense_tokens_per_s']:12.0f} {entry['qmoe_tokens_per_s']:11.0f} "
                     f"{entry['speedup']:9.2f}x {'ok' if entry['ok'] else 'BAD':>3}")
    peaks = report["memory"]
    mb = 1e6
    lines.append(f"peak RSS: compressed run {peaks['compressed_peak_bytes'] / mb:.1f} MB, "
                 f"dense fp32 run {peaks['dense_peak_bytes'] / mb:.1f} MB, fixed overhead "
                 f"(tiny checkpoint) {peaks['overhead_peak_bytes'] / mb:.1f} MB; dense weights "
                 f"{peaks['dense_weight_bytes'] / mb:.1f} MB, checkpoint file "
                 f"{peaks['checkpoint_file_bytes'] / mb:.2f} MB; compressed above overhead "
                 f"{peaks['compressed_above_overhead_bytes'] / mb:.1f} MB "
                 f"({'within' if peaks['within_target'] else 'OVER'} 1/10 of the dense weights)")
    if not report["all_ok"]:
        lines.append("some kernel outputs differ from the dequantised reference (BAD above)")
    return "\n".join(lines)
