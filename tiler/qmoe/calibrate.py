"""Compressing a whole MoE layer: every expert by round-to-nearest or by GPTQ on its own tokens.

With calibration tokens, each is routed by the layer's (dense) router to its top-k experts,
every choice kept (no capacity limit: calibration wants each expert's inputs, not a batch's
drops). An expert's ``wi`` is quantised by GPTQ under the Hessian of the tokens it receives;
its ``wo`` under the Hessian of the hidden activations ``act(wi_q x)`` of those tokens through
the already quantised ``wi`` (GPTQ's sequential order, so ``wo`` corrects ``wi``'s error too).
An expert that receives no calibration token is rounded to nearest, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.checkpoint import CompressedLayerCheckpoint, expert_names
from tiler.qmoe.dictionary import DEFAULT_ZERO_FRACTION, build_dictionary, pair_probabilities
from tiler.qmoe.format import CompressedModel, TernaryMatrix, encode, pair_symbols, quantise_ternary
from tiler.qmoe.gptq import gptq_ternary, input_hessian
from tiler.qmoe.layer import DenseLayer, activate, checked_tokens, route

METHODS = ("gptq", "rtn")


@dataclass(frozen=True)
class LayerCompression:
    """A compressed layer, the method each expert got, and notes for the user."""

    checkpoint: CompressedLayerCheckpoint
    methods: tuple[str, ...]
    notes: tuple[str, ...]


def quantise_layer(layer: DenseLayer, method: str, calibration: np.ndarray | None = None,
                   zero_fraction: float = DEFAULT_ZERO_FRACTION
                   ) -> tuple[dict[str, TernaryMatrix], tuple[str, ...], tuple[str, ...]]:
    """Return every expert matrix of ``layer`` quantised (by name, as in a ``.qmoe`` file), the
    method each expert got and notes; ``method`` gptq needs ``calibration`` float[n, d_model]."""
    if method not in METHODS:
        raise TilerError(f"unknown method '{method}' (expected {' or '.join(METHODS)})")
    config = layer.config
    if method == "gptq":
        if calibration is None:
            raise TilerError("GPTQ needs calibration tokens (--calibration tokens.npy)")
        calibration = checked_tokens(calibration, config.model_width, "calibration tokens")
        routing = route(layer.router, calibration, config, capacity=False)
    ternaries: dict[str, TernaryMatrix] = {}
    methods, notes = [], []
    for expert in range(config.experts):
        inner, outer = expert_names(expert)
        tokens = None
        if method == "gptq":
            tokens = calibration[np.unique(routing.tokens_of(expert)[0])]
            if len(tokens) == 0:
                notes.append(f"expert {expert} receives none of the {len(calibration)} "
                             f"calibration tokens: rounded to nearest")
        if tokens is None or len(tokens) == 0:
            ternaries[inner] = quantise_ternary(layer.wi[expert], zero_fraction)
            ternaries[outer] = quantise_ternary(layer.wo[expert], zero_fraction)
            methods.append("rtn")
            continue
        ternaries[inner] = gptq_ternary(layer.wi[expert], input_hessian(tokens), zero_fraction)
        hidden = activate((tokens @ ternaries[inner].values().T).astype(np.float32),
                          config.activation)
        ternaries[outer] = gptq_ternary(layer.wo[expert], input_hessian(hidden), zero_fraction)
        methods.append("gptq")
    return ternaries, tuple(methods), tuple(notes)


def compress_layer(layer: DenseLayer, method: str, calibration: np.ndarray | None = None,
                   zero_fraction: float = DEFAULT_ZERO_FRACTION) -> LayerCompression:
    """Return ``layer`` compressed (``quantise_layer``) and encoded with one dictionary built
    from all its experts."""
    ternaries, methods, notes = quantise_layer(layer, method, calibration, zero_fraction)
    probabilities = pair_probabilities([pair_symbols(t.digits) for t in ternaries.values()])
    dictionary = build_dictionary(probabilities)
    layers = {name: encode(ternary, dictionary) for name, ternary in ternaries.items()}
    checkpoint = CompressedLayerCheckpoint(layer.config, layer.router,
                                           CompressedModel(dictionary, layers))
    return LayerCompression(checkpoint, methods, notes)


def dequantised_layer(checkpoint: CompressedLayerCheckpoint) -> DenseLayer:
    """Return the layer of ``checkpoint`` with its experts decoded to float32 (the reference
    the kernels are checked against)."""
    from tiler.qmoe.reference import decode_dense
    model = checkpoint.model
    wi, wo = [], []
    for expert in range(checkpoint.config.experts):
        inner, outer = expert_names(expert)
        wi.append(decode_dense(model.layers[inner], model.dictionary))
        wo.append(decode_dense(model.layers[outer], model.dictionary))
    return DenseLayer(checkpoint.config, np.asarray(checkpoint.router), tuple(wi), tuple(wo))
