"""A whole QMoE layer: GPTQ against RTN, routing, the checkpoint, ``tiler qmoe run``, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tiler.errors import TilerError
from tiler.qmoe.activations import activation_model
from tiler.qmoe.calibrate import compress_layer, dequantised_layer, quantise_layer
from tiler.qmoe.checkpoint import load_checkpoint, map_arrays, read_dense_layer, save_checkpoint
from tiler.qmoe.format import quantise_ternary
from tiler.qmoe.gptq import gptq_ternary, input_hessian
from tiler.qmoe.layer import LayerConfig, route
from tiler.qmoe.matrices import save_safetensors, synthetic_expert_weights, synthetic_layer_tensors
from tiler.qmoe.native import tiled_source

EXPERTS, MODEL_WIDTH, HIDDEN_WIDTH = 4, 32, 64
PREFIX = "decoder.block.3.layer.2"


def _layer_file(directory: Path, naming: str = "switch", **changes) -> Path:
    tensors = synthetic_layer_tensors(EXPERTS, MODEL_WIDTH, HIDDEN_WIDTH, seed=5,
                                      prefix=PREFIX if naming == "switch" else None)
    for name, value in changes.items():
        name = name.replace("__", ".")
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value
    path = directory / "layer.safetensors"
    save_safetensors(path, tensors)
    return path


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tiler.cli", "qmoe", *map(str, arguments)],
                          capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)


# --- GPTQ ------------------------------------------------------------------------------------

def test_gptq_beats_rtn_on_correlated_inputs_at_the_same_zeros():
    """Held-out output error of one matrix: GPTQ below RTN, rows keep RTN's zero counts."""
    weights = synthetic_expert_weights(96, 64, seed=2)
    distribution = activation_model(64, seed=4)
    calibration, held_out = distribution.sample(512, seed=1), distribution.sample(512, seed=2)
    rtn = quantise_ternary(weights)
    gptq = gptq_ternary(weights, input_hessian(calibration))
    expected = held_out @ weights.T

    def error(ternary) -> float:
        return float(np.linalg.norm(held_out @ ternary.values().T - expected)
                     / np.linalg.norm(expected))
    assert error(gptq) < 0.8 * error(rtn)
    zeros = np.count_nonzero(gptq.digits == 0, axis=1)
    assert np.abs(zeros - np.count_nonzero(rtn.digits == 0, axis=1)).max() <= 2


def test_gptq_with_isotropic_inputs_stays_on_the_grid():
    """With H = 2I there is nothing to exploit: digits still ternary, grid bf16, no NaN."""
    weights = synthetic_expert_weights(16, 40, seed=3)
    gptq = gptq_ternary(weights, 2 * np.eye(40))
    assert set(np.unique(gptq.digits)) <= {-1, 0, 1}
    assert np.isfinite(gptq.values()).all()


def test_gptq_layer_error_below_rtn_at_the_same_bits(tmp_path):
    """The done-when direction on a small layer: GPTQ-ternary's held-out layer-output error
    is below RTN-ternary's at (nearly) the same bits per weight."""
    layer = read_dense_layer(_layer_file(tmp_path))
    distribution = activation_model(MODEL_WIDTH, seed=1)
    calibration, held_out = distribution.sample(1024, seed=2), distribution.sample(256, seed=3)
    expected = layer.forward(held_out)
    found = {}
    for method in ("rtn", "gptq"):
        checkpoint = compress_layer(layer, method, calibration).checkpoint
        layers = checkpoint.model.layers.values()
        bits = sum(x.stored_bits() for x in layers) / sum(x.rows * x.columns for x in layers)
        output = dequantised_layer(checkpoint).forward(held_out)
        found[method] = (np.linalg.norm(output - expected) / np.linalg.norm(expected), bits)
    assert found["gptq"][0] < 0.8 * found["rtn"][0]
    assert found["gptq"][1] <= 1.03 * found["rtn"][1]


def test_expert_without_calibration_tokens_is_rounded_with_a_note(tmp_path):
    layer = read_dense_layer(_layer_file(tmp_path))
    one_token = activation_model(MODEL_WIDTH, seed=1).sample(1, seed=2)
    ternaries, methods, notes = quantise_layer(layer, "gptq", one_token)
    assert methods.count("gptq") == 1 and methods.count("rtn") == EXPERTS - 1
    assert len(notes) == EXPERTS - 1 and "rounded to nearest" in notes[0]
    rtn_expert = methods.index("rtn")
    np.testing.assert_array_equal(ternaries[f"expert{rtn_expert}.wi"].digits,
                                  quantise_ternary(layer.wi[rtn_expert]).digits)


# --- routing ---------------------------------------------------------------------------------

def _route_by_hand(probabilities: np.ndarray, top_k: int, capacity: int):
    """Switch/GShard routing written as a loop: first choices in token order, then second."""
    count, experts = probabilities.shape
    chosen = [sorted(range(experts), key=lambda e: (-probabilities[t, e], e))[:top_k]
              for t in range(count)]
    taken = [0] * experts
    result = [[-1] * top_k for _ in range(count)]
    for slot in range(top_k):
        for token in range(count):
            expert = chosen[token][slot]
            if taken[expert] < capacity:
                taken[expert] += 1
                result[token][slot] = expert
    return np.array(result), chosen


@pytest.mark.parametrize("top_k", [1, 2])
@pytest.mark.parametrize("capacity_factor", [0.5, 1.0, 4.0])
def test_routing_matches_the_capacity_rule(top_k, capacity_factor):
    generator = np.random.default_rng(top_k * 10 + int(capacity_factor * 2))
    router = generator.standard_normal((5, 12)).astype(np.float32)
    tokens = generator.standard_normal((37, 12)).astype(np.float32)
    config = LayerConfig(5, 12, 8, top_k=top_k, capacity_factor=capacity_factor)
    routing = route(router, tokens, config)
    logits = tokens.astype(np.float64) @ router.T.astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    expected, chosen = _route_by_hand(probabilities, top_k, config.capacity(37))
    np.testing.assert_array_equal(routing.experts, expected)
    picked = np.array([[probabilities[t, e] for e in chosen[t]] for t in range(37)])
    if top_k == 2:
        picked /= picked.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(routing.gates, np.where(expected >= 0, picked, 0), rtol=1e-5)


# --- checkpoint and run ----------------------------------------------------------------------

@pytest.mark.parametrize("naming, method, activation, top_k", [
    ("switch", "gptq", "relu", 1), ("short", "rtn", "gelu", 2)])
def test_run_matches_the_dequantised_layer(tmp_path, naming, method, activation, top_k):
    """compress -> run through the kernels -> within 1e-4 of the numpy reference of the
    dequantised layer, below and above the batched kernel's crossover, on 1 and 2 threads."""
    source = _layer_file(tmp_path, naming)
    distribution = activation_model(MODEL_WIDTH, seed=1)
    np.save(tmp_path / "calibration.npy", distribution.sample(512, seed=2))
    checkpoint = tmp_path / "layer.qmoe"
    extra = ["--layer", PREFIX] if naming == "switch" else []
    done = _cli("compress", source, checkpoint, "--method", method, "--activation", activation,
                "--top-k", top_k, "--calibration", tmp_path / "calibration.npy", *extra)
    assert done.returncode == 0, done.stderr
    reference = dequantised_layer(load_checkpoint(checkpoint))
    assert reference.config.activation == activation and reference.config.top_k == top_k
    for count, threads in ((1, 1), (3, 2), (40, 1), (40, 2)):
        tokens = distribution.sample(count, seed=10 + count)
        np.save(tmp_path / "x.npy", tokens)
        done = _cli("run", checkpoint, "--tokens", tmp_path / "x.npy", "--out",
                    tmp_path / "y.npy", "--threads", threads)
        assert done.returncode == 0, done.stderr
        result, expected = np.load(tmp_path / "y.npy"), reference.forward(tokens)
        assert result.shape == tokens.shape and result.dtype == np.float32
        assert np.abs(expected).max() > 0
        assert np.abs(result - expected).max() <= 1e-4 * np.abs(expected).max()


def test_checkpoint_is_memory_mapped(tmp_path):
    layer = read_dense_layer(_layer_file(tmp_path))
    path = tmp_path / "layer.qmoe"
    save_checkpoint(path, compress_layer(layer, "rtn").checkpoint)
    assert all(isinstance(array, np.memmap) for array in map_arrays(path).values()
               if array.size)
    loaded = load_checkpoint(path)
    codes = loaded.model.layers["expert0.wi"].codes
    assert isinstance(codes.base, np.memmap) or isinstance(codes, np.memmap)
    np.testing.assert_array_equal(loaded.router, layer.router)


def test_tiled_label_follows_the_report():
    """A region the pass leaves alone is not called tiled."""
    untileable = ("void f(int n, double a[restrict 4]) {\n#pragma scop\n  a[0] = a[1] + 1.0;\n"
                  "#pragma endscop\n}\n")
    assert not tiled_source(untileable, "one_statement.c").tiled
    tileable = ("void g(int n, double a[restrict n][n]) {\n  int i, j;\n#pragma scop\n"
                "  for (i = 0; i < n; i++)\n    for (j = 0; j < n; j++)\n"
                "      a[i][j] = a[i][j] * 2.0;\n#pragma endscop\n}\n")
    assert tiled_source(tileable, "scale.c", (8, 8)).tiled


# --- bad input -------------------------------------------------------------------------------

def _switch(name: str) -> str:
    return f"{PREFIX}__mlp__{name}"


@pytest.mark.parametrize("changes, message", [
    ({_switch("experts__expert_2__wo__weight"): None}, "expert_2.wo.weight"),
    ({_switch("experts__expert_1__wi__weight"): np.zeros((HIDDEN_WIDTH + 1, MODEL_WIDTH),
                                                         np.float32)}, "expert_1.wi.weight"),
    ({_switch("experts__expert_3__wo__weight"): np.zeros((MODEL_WIDTH, HIDDEN_WIDTH - 2),
                                                         np.float32)}, "expert_3.wo.weight"),
    ({_switch("router__classifier__weight"): None}, "router"),
    ({_switch("experts__expert_0__wi__weight"): np.full((HIDDEN_WIDTH, MODEL_WIDTH), np.nan,
                                                        np.float32)}, "NaN"),
], ids=["missing", "wi-shape", "wo-shape", "no-router", "nan-weight"])
def test_bad_layer_file_is_refused(tmp_path, changes, message):
    source = _layer_file(tmp_path, **changes)
    target = tmp_path / "out.qmoe"
    done = _cli("compress", source, target)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{source}: error:" in done.stderr and message in done.stderr, done.stderr
    assert not target.exists() and not list(tmp_path.glob(".*partial"))


def test_bad_calibration_and_tokens_are_refused(tmp_path):
    source = _layer_file(tmp_path)
    checkpoint = tmp_path / "layer.qmoe"
    calibration = activation_model(MODEL_WIDTH, seed=1).sample(64, seed=2)
    calibration[5, 7] = np.nan
    np.save(tmp_path / "nan.npy", calibration)
    done = _cli("compress", source, checkpoint, "--calibration", tmp_path / "nan.npy")
    assert done.returncode == 1 and f"{tmp_path / 'nan.npy'}: error:" in done.stderr
    assert "NaN" in done.stderr and "token 5" in done.stderr and not checkpoint.exists()
    assert _cli("compress", source, checkpoint).returncode == 0
    np.save(tmp_path / "wide.npy", np.zeros((3, MODEL_WIDTH + 1), np.float32))
    output = tmp_path / "y.npy"
    done = _cli("run", checkpoint, "--tokens", tmp_path / "wide.npy", "--out", output)
    assert done.returncode == 1 and f"{tmp_path / 'wide.npy'}: error:" in done.stderr
    assert f"[T, {MODEL_WIDTH}]" in done.stderr and not output.exists()
    done = _cli("run", tmp_path / "layer.safetensors", "--tokens", tmp_path / "wide.npy",
                "--out", output)
    assert done.returncode == 1 and "error:" in done.stderr and "Traceback" not in done.stderr


def test_damaged_checkpoint_is_refused(tmp_path):
    layer = read_dense_layer(_layer_file(tmp_path))
    path = tmp_path / "layer.qmoe"
    save_checkpoint(path, compress_layer(layer, "rtn").checkpoint)
    raw = bytearray(path.read_bytes())
    cut = tmp_path / "cut.qmoe"
    cut.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(TilerError, match="cut.qmoe"):
        load_checkpoint(cut)
    arrays = {name: np.array(array) for name, array in map_arrays(path).items()
              if name != "layer1.codes"}
    np.savez(tmp_path / "missing.qmoe.npz", **arrays)
    (tmp_path / "missing.qmoe.npz").rename(tmp_path / "missing.qmoe")
    with pytest.raises(TilerError, match="layer1.codes"):
        load_checkpoint(tmp_path / "missing.qmoe")


def test_peak_memory_is_the_childs():
    """The measurement sees a child's allocation (so a run that copied its weights would
    show)."""
    from tiler.qmoe.memory import peak_rss_bytes
    idle = peak_rss_bytes([sys.executable, "-c", "pass"])
    busy = peak_rss_bytes([sys.executable, "-c", "b = bytes(range(256)) * 240_000"])
    assert busy - idle >= 50_000_000
    with pytest.raises(TilerError, match="exit code 3"):
        peak_rss_bytes([sys.executable, "-c", "raise SystemExit(3)"])


@pytest.mark.parametrize("parallel", [False, True], ids=["row-blocks", "tiler-parallel"])
def test_threaded_batched_kernel_matches_the_dense_product(parallel):
    """Two threads on an odd number of rows: row blocks of the tiled kernel, and the kernel
    `tiler tile --parallel` writes."""
    from tiler.qmoe import compress, prepare_layer, reference_product
    from tiler.qmoe.native import load_tiled_kernels
    model = compress({"w": synthetic_expert_weights(37, 90, seed=4)})
    layer = model.layers["w"]
    kernels = load_tiled_kernels(parallel=parallel)
    assert kernels.tiled and kernels.parallel == parallel
    tokens = np.random.default_rng(3).standard_normal((23, 90)).astype(np.float32)
    expected = reference_product(layer, model.dictionary, tokens)
    try:
        kernels.set_threads(2)
        result = kernels.matmat(prepare_layer(layer, model.dictionary), tokens)
    finally:
        kernels.set_threads(1)
    np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
