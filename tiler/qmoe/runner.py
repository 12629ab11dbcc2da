"""Running a compressed MoE layer: the layer's routing, each expert through the fused decoding
kernels, the combine step.

    from tiler.qmoe.checkpoint import load_checkpoint
    from tiler.qmoe.runner import LayerRunner
    runner = LayerRunner(load_checkpoint("layer.qmoe"), threads=2)
    y = runner.forward(x)                   # x: float32[T, d_model]

Per expert, its tokens go through ``wi``, the activation and ``wo`` together: the batched
kernel tiled by ``tiler tile`` (threads take blocks of its rows, ``ROW_BLOCKS_SOURCE``) from
``BATCHED_MIN_TOKENS`` tokens, the batch-1 kernel (threads split its rows) per token below.
"""

from __future__ import annotations

import numpy as np

from tiler.qmoe.checkpoint import CompressedLayerCheckpoint, expert_names
from tiler.qmoe.layer import activate, checked_tokens, combine, route
from tiler.qmoe.native import DecodingKernels, KernelLayer, load_tiled_kernels, prepare_layer


class LayerRunner:
    """A compressed layer ready to run: its experts prepared for the kernels (the code
    streams are read from the checkpoint, memory-mapped, and padded once here)."""

    def __init__(self, checkpoint: CompressedLayerCheckpoint,
                 kernels: DecodingKernels | None = None, threads: int = 1,
                 tile_sizes: tuple[int, ...] | None = None) -> None:
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.kernels = kernels if kernels is not None else load_tiled_kernels(tile_sizes)
        self.threads = threads
        self.kernels.set_threads(threads)
        model = checkpoint.model
        self.experts: list[tuple[KernelLayer, KernelLayer]] = [
            tuple(prepare_layer(model.layers[name], model.dictionary)
                  for name in expert_names(expert))
            for expert in range(self.config.experts)]

    def expert_output(self, expert: int, tokens: np.ndarray) -> np.ndarray:
        """Return float32[n, d_model], expert ``expert``'s FFN on ``tokens`` by the kernels."""
        inner, outer = self.experts[expert]
        hidden = activate(self.kernels.apply(inner, tokens), self.config.activation)
        return self.kernels.apply(outer, np.ascontiguousarray(hidden))

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """Return float32[T, d_model], the layer's output on ``tokens`` float[T, d_model]."""
        tokens = checked_tokens(tokens, self.config.model_width)
        self.kernels.set_threads(self.threads)
        routing = route(np.asarray(self.checkpoint.router), tokens, self.config)
        return combine(tokens, routing, self.config.experts, self.config.model_width,
                       self.expert_output)
