"""QMoE: sub-1-bit ternary Mixture-of-Experts weights and their CPU decoding kernels.

Frantar & Alistarh's format (ternary rows, pairs of weights coded by a 2^16-word dictionary,
one 16-bit code stream per row) with numpy compression and reference decoding, and C kernels
that multiply by a compressed matrix without materialising it: batch 1 and a batch of tokens
routed to one expert, the latter a ``#pragma scop`` nest for the tiler.

    from tiler.qmoe import compress, load_tiled_kernels, prepare_layer, synthetic_expert_weights
    model = compress({"w": synthetic_expert_weights(768, 3072)})
    layer = prepare_layer(model.layers["w"], model.dictionary)
    y = load_tiled_kernels().apply(layer, tokens)     # tokens: float32[T, 3072]
"""

from tiler.qmoe.dictionary import Dictionary, build_dictionary, pair_probabilities
from tiler.qmoe.format import (
                               CompressedLayer,
                               CompressedModel,
                               TernaryMatrix,
                               compress,
                               encode,
                               load_compressed,
                               pair_symbols,
                               quantise_ternary,
                               save_compressed,
)
from tiler.qmoe.matrices import (
                               load_matrices,
                               load_matrix,
                               save_safetensors,
                               synthetic_expert_weights,
                               synthetic_experts,
)
from tiler.qmoe.native import (
                               DecodingKernels,
                               KernelLayer,
                               build_library,
                               kernel_source,
                               load_kernels,
                               load_tiled_kernels,
                               prepare_layer,
                               tiled_matmat_source,
)
from tiler.qmoe.reference import decode_dense, decode_ternary, reference_product

__all__ = [
    "CompressedLayer", "CompressedModel", "DecodingKernels", "Dictionary", "KernelLayer",
    "TernaryMatrix", "build_dictionary", "build_library", "compress", "decode_dense",
    "decode_ternary", "encode", "kernel_source", "load_compressed", "load_kernels",
    "load_matrices", "load_matrix", "load_tiled_kernels", "pair_probabilities", "pair_symbols", "prepare_layer",
    "quantise_ternary", "reference_product", "save_compressed", "save_safetensors",
    "synthetic_expert_weights", "synthetic_experts", "tiled_matmat_source",
]
