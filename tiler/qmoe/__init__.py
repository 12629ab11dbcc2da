"""QMoE: sub-1-bit ternary Mixture-of-Experts weights and their CPU decoding kernels.

Frantar & Alistarh's format (ternary rows, pairs of weights coded by a 2^16-word dictionary,
one 16-bit code stream per row) with numpy compression and reference decoding, and C kernels
that multiply by a compressed matrix without materialising it: batch 1 and a batch of tokens
routed to one expert, the latter a ``#pragma scop`` nest for the tiler.

    from tiler.qmoe import compress, load_tiled_kernels, prepare_layer, synthetic_expert_weights
    model = compress({"w": synthetic_expert_weights(768, 3072)})
    layer = prepare_layer(model.layers["w"], model.dictionary)
    y = load_tiled_kernels().apply(layer, tokens)     # tokens: float32[T, 3072]

A whole MoE layer (``checkpoint``, ``calibrate``, ``layer``, ``runner``):

    from tiler.qmoe import LayerRunner, compress_layer, load_checkpoint, read_dense_layer
    dense = read_dense_layer("layer.safetensors")           # HF Switch or short names
    save_checkpoint("layer.qmoe", compress_layer(dense, "gptq", calibration).checkpoint)
    y = LayerRunner(load_checkpoint("layer.qmoe"), threads=2).forward(x)
"""

from tiler.qmoe.activations import ActivationModel, activation_model
from tiler.qmoe.calibrate import compress_layer, dequantised_layer, quantise_layer
from tiler.qmoe.checkpoint import (
                               CompressedLayerCheckpoint,
                               load_checkpoint,
                               read_dense_layer,
                               save_checkpoint,
)
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
from tiler.qmoe.gptq import gptq_ternary, input_hessian
from tiler.qmoe.layer import DenseLayer, LayerConfig, Routing, route
from tiler.qmoe.matrices import (
                               load_matrices,
                               load_matrix,
                               save_safetensors,
                               synthetic_expert_weights,
                               synthetic_experts,
                               synthetic_layer_tensors,
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
from tiler.qmoe.runner import LayerRunner

__all__ = [
                               "ActivationModel",
                               "CompressedLayer",
                               "CompressedLayerCheckpoint",
                               "CompressedModel",
                               "DecodingKernels",
                               "DenseLayer",
                               "Dictionary",
                               "KernelLayer",
                               "LayerConfig",
                               "LayerRunner",
                               "Routing",
                               "TernaryMatrix",
                               "activation_model",
                               "build_dictionary",
                               "build_library",
                               "compress",
                               "compress_layer",
                               "decode_dense",
                               "decode_ternary",
                               "dequantised_layer",
                               "encode",
                               "gptq_ternary",
                               "input_hessian",
                               "kernel_source",
                               "load_checkpoint",
                               "load_compressed",
                               "load_kernels",
                               "load_matrices",
                               "load_matrix",
                               "load_tiled_kernels",
                               "pair_probabilities",
                               "pair_symbols",
                               "prepare_layer",
                               "quantise_layer",
                               "quantise_ternary",
                               "read_dense_layer",
                               "reference_product",
                               "route",
                               "save_checkpoint",
                               "save_compressed",
                               "save_safetensors",
                               "synthetic_expert_weights",
                               "synthetic_experts",
                               "synthetic_layer_tensors",
                               "tiled_matmat_source",
]
