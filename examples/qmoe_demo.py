"""Compress a Switch-Transformer-shaped MoE layer to sub-1-bit QMoE and route tokens through it.

    python examples/qmoe_demo.py [--experts 8] [--tokens 32]

Each expert is a pair of synthetic FFN matrices (768 -> 3072 -> 768); every token goes to one
expert (top-1). The script prints the memory of the dense and the compressed experts, checks
the decoding kernels against the dense product, and times one routed step both ways.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tiler.qmoe import compress, decode_dense, load_tiled_kernels, prepare_layer
from tiler.qmoe.bench import (
    SWITCH_HIDDEN_WIDTH,
    SWITCH_MODEL_WIDTH,
    median_seconds,
    moe_step,
    route_top1,
)
from tiler.qmoe.matrices import synthetic_experts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()

    started = time.perf_counter()
    matrices = synthetic_experts(args.experts, SWITCH_MODEL_WIDTH, SWITCH_HIDDEN_WIDTH)
    model = compress(matrices)
    dense_bytes = sum(m.nbytes for m in matrices.values())
    stored_bytes = sum(layer.stored_bits() for layer in model.layers.values()) / 8
    weights = sum(m.size for m in matrices.values())
    print(f"{args.experts} experts, {weights / 1e6:.1f} M weights, compressed in "
          f"{time.perf_counter() - started:.1f} s")
    print(f"  dense float32: {dense_bytes / 1e6:8.1f} MB")
    print(f"  QMoE:          {stored_bytes / 1e6:8.2f} MB  ({8 * stored_bytes / weights:.3f} "
          f"bits/weight, +{3 * model.dictionary.size / 1e6:.2f} MB shared dictionary)")

    kernels = load_tiled_kernels()      # the batched kernel as `tiler tile` rewrites it
    names = [(f"expert{e}.wi", f"expert{e}.wo") for e in range(args.experts)]
    dense = [tuple(decode_dense(model.layers[n], model.dictionary) for n in pair) for pair in names]
    prepared = [tuple(prepare_layer(model.layers[n], model.dictionary) for n in pair)
                for pair in names]

    def decoding(layer):
        return lambda x: kernels.apply(layer, x)

    dense_experts = [tuple((lambda x, w=w: x @ w.T) for w in pair) for pair in dense]
    decoding_experts = [tuple(decoding(layer) for layer in pair) for pair in prepared]

    tokens = np.random.default_rng(0).standard_normal(
        (args.tokens, SWITCH_MODEL_WIDTH)).astype(np.float32)
    routes = route_top1(args.tokens, args.experts)
    expected = moe_step(tokens, routes, dense_experts)
    got = moe_step(tokens, routes, decoding_experts)
    error = np.abs(got - expected).max() / np.abs(expected).max()
    print(f"{args.tokens} tokens routed to {sum(len(r) > 0 for r in routes)} experts; "
          f"largest difference to the dense product: {error:.1e} of the largest output")

    dense_time = median_seconds(lambda: moe_step(tokens, routes, dense_experts))
    decoding_time = median_seconds(lambda: moe_step(tokens, routes, decoding_experts))
    print(f"  dense numpy BLAS:     {dense_time * 1e3:8.3f} ms per step")
    print(f"  fused QMoE decoding:  {decoding_time * 1e3:8.3f} ms per step "
          f"({dense_time / decoding_time:.2f}x)")


if __name__ == "__main__":
    main()
