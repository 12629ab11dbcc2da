"""Compress a Switch-style MoE layer to sub-1-bit QMoE and run it through the decoding kernels.

Writes a synthetic 8-expert layer (d_model 768, d_ff 3072) in the Hugging Face Switch naming,
compresses it (round-to-nearest, or GPTQ on calibration tokens with ``--gptq``, a few minutes),
runs a batch of tokens through the compressed layer on ``--threads`` threads, checks the result
against numpy on the dequantised layer and reports the error against the dense layer.

    python3 examples/qmoe_demo.py [--gptq] [--tokens 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tiler.qmoe.activations import activation_model
from tiler.qmoe.calibrate import compress_layer, dequantised_layer
from tiler.qmoe.checkpoint import load_checkpoint, read_dense_layer, save_checkpoint
from tiler.qmoe.matrices import save_safetensors, synthetic_layer_tensors
from tiler.qmoe.runner import LayerRunner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gptq", action="store_true", help="calibrate with 8192 tokens")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        dense_path, path = Path(work) / "layer.safetensors", Path(work) / "layer.qmoe"
        save_safetensors(dense_path, synthetic_layer_tensors(args.experts, 768, 3072,
                                                             prefix="encoder.block.1.layer.1"))
        dense = read_dense_layer(dense_path)
        tokens_of = activation_model(768, seed=1)
        started = time.perf_counter()
        compressed = compress_layer(dense, "gptq" if args.gptq else "rtn",
                                    tokens_of.sample(8192, seed=2) if args.gptq else None)
        save_checkpoint(path, compressed.checkpoint)
        print(f"compressed in {time.perf_counter() - started:.1f} s: "
              f"{dense_path.stat().st_size / 1e6:.1f} MB of fp32 -> "
              f"{path.stat().st_size / 1e6:.2f} MB")
        checkpoint = load_checkpoint(path)           # memory-mapped
        runner = LayerRunner(checkpoint, threads=args.threads)
        tokens = tokens_of.sample(args.tokens, seed=3)
        result = runner.forward(tokens)
        expected = dequantised_layer(checkpoint).forward(tokens)
        exact = dense.forward(tokens)
        print(f"{args.tokens} tokens: kernels vs numpy on the dequantised layer "
              f"{np.abs(result - expected).max() / np.abs(expected).max():.1e} (max, relative); "
              f"vs the dense layer {np.linalg.norm(result - exact) / np.linalg.norm(exact):.3f} "
              f"(quantisation error)")
        started = time.perf_counter()
        for _ in range(10):
            runner.forward(tokens)
        seconds = (time.perf_counter() - started) / 10
        print(f"{args.tokens / seconds:.0f} tokens/s on {args.threads} thread(s); batched "
              f"kernel {'tiled by tiler' if runner.kernels.tiled else 'NOT tiled'}")


if __name__ == "__main__":
    main()
