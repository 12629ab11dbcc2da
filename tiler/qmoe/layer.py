"""A Switch-Transformer MoE layer: router, top-1/top-2 routing under a capacity, expert FFNs.

The layer maps tokens x (float32[T, d_model]) to sum_k gate_k(x) * FFN_e_k(x), where
FFN_e(x) = wo_e act(wi_e x). Routing (``route``): router logits x Wr^T, softmax over the E
experts, each token's top-k experts; gates are the probabilities (top-1, as Switch
Transformer) or the two probabilities normalised to sum 1 (top-2, as GShard). Each expert takes
at most ``capacity(T)`` = ceil(top_k * T * capacity_factor / E) tokens, first choices before
second choices and each in token order; a token beyond its expert's capacity contributes 0 for
that choice (the residual connection around the layer carries it, as in the Switch paper;
Hugging Face's implementation returns gate * x for such a token instead). The output is the MoE
block's alone, without the residual.

This module is the numpy reference (``DenseLayer.forward``); ``tiler.qmoe.runner`` runs the
same routing with the experts' products in the fused decoding kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tiler.errors import TilerError

ACTIVATIONS = ("relu", "gelu")
TOP_K_CHOICES = (1, 2)
# Switch Transformer's capacity factor when it was trained (its Table 1 uses 1.0-2.0).
DEFAULT_CAPACITY_FACTOR = 1.25
DEFAULT_ACTIVATION = "relu"
DEFAULT_TOP_K = 1
# GELU by its tanh form (what T5 v1.1 and Hugging Face's "gelu_new" compute).
_GELU_CUBIC = 0.044715


def activate(values: np.ndarray, activation: str) -> np.ndarray:
    """Return ``activation`` (relu or gelu) applied to ``values``, float32."""
    if activation == "relu":
        return np.maximum(values, np.float32(0.0))
    if activation == "gelu":
        inner = np.float32(math.sqrt(2.0 / math.pi)) * (values + np.float32(_GELU_CUBIC)
                                                         * values * values * values)
        return (np.float32(0.5) * values * (np.float32(1.0) + np.tanh(inner))).astype(np.float32)
    raise TilerError(f"unknown activation '{activation}' (expected {' or '.join(ACTIVATIONS)})")


@dataclass(frozen=True)
class LayerConfig:
    """How a layer routes and activates: ``activation`` in ACTIVATIONS, ``top_k`` 1 or 2."""

    experts: int
    model_width: int
    hidden_width: int
    activation: str = DEFAULT_ACTIVATION
    top_k: int = DEFAULT_TOP_K
    capacity_factor: float = DEFAULT_CAPACITY_FACTOR

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise TilerError(f"unknown activation '{self.activation}' "
                             f"(expected {' or '.join(ACTIVATIONS)})")
        if self.top_k not in TOP_K_CHOICES or self.top_k > self.experts:
            raise TilerError(f"top-k must be 1 or 2 and at most the {self.experts} experts, "
                             f"got {self.top_k}")
        if not (self.capacity_factor > 0 and math.isfinite(self.capacity_factor)):
            raise TilerError(f"capacity factor must be positive, got {self.capacity_factor}")
        if min(self.experts, self.model_width, self.hidden_width) < 1:
            raise TilerError("a layer needs at least one expert, model and hidden feature")

    def capacity(self, token_count: int) -> int:
        """Return the most tokens one expert takes from a batch of ``token_count``."""
        return max(1, math.ceil(self.top_k * token_count * self.capacity_factor / self.experts))


@dataclass(frozen=True, eq=False)
class Routing:
    """Where each token goes: ``experts`` int64[T, k] (-1: dropped by the capacity) and
    ``gates`` float32[T, k] (0 where dropped)."""

    experts: np.ndarray
    gates: np.ndarray

    def tokens_of(self, expert: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the token indices routed to ``expert`` and the slots (choice k) they use."""
        tokens, slots = np.nonzero(self.experts == expert)
        return tokens, slots


def router_probabilities(router: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Return float32[T, E], the softmax of the router logits ``tokens @ router.T``."""
    logits = (tokens @ router.T).astype(np.float32)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def route(router: np.ndarray, tokens: np.ndarray, config: LayerConfig,
          capacity: bool = True) -> Routing:
    """Return the routing of ``tokens`` (float32[T, d_model]) under the capacity rule (or none
    with ``capacity=False``, as for calibration)."""
    probabilities = router_probabilities(router, tokens)
    count = len(tokens)
    # Top-k by a stable sort of the negated probabilities: ties go to the lower expert.
    chosen = np.argsort(-probabilities, axis=1, kind="stable")[:, :config.top_k]
    gates = np.take_along_axis(probabilities, chosen, axis=1)
    if config.top_k > 1:
        gates = gates / gates.sum(axis=1, keepdims=True)
    experts = chosen.astype(np.int64)
    if capacity:
        limit = config.capacity(count)
        taken = np.zeros(config.experts, dtype=np.int64)
        for slot in range(config.top_k):
            column = experts[:, slot]
            # Position of each token among those choosing the same expert in this slot.
            order = np.argsort(column, kind="stable")
            sorted_experts = column[order]
            first = np.searchsorted(sorted_experts, sorted_experts, side="left")
            rank = np.empty(count, dtype=np.int64)
            rank[order] = np.arange(count) - first
            keep = taken[column] + rank < limit
            taken += np.bincount(column[keep], minlength=config.experts)
            experts[~keep, slot] = -1
    gates = np.where(experts >= 0, gates, 0.0).astype(np.float32)
    return Routing(experts, gates)


def combine(tokens: np.ndarray, routing: Routing, experts: int, model_width: int,
            expert_output: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    """Return float32[T, model_width], each token's gated sum of its experts' outputs, where
    ``expert_output(e, x)`` maps float32[n, d_model] tokens to float32[n, model_width]."""
    result = np.zeros((len(tokens), model_width), dtype=np.float32)
    for expert in range(experts):
        indices, slots = routing.tokens_of(expert)
        if len(indices) == 0:
            continue
        output = expert_output(expert, np.ascontiguousarray(tokens[indices]))
        np.add.at(result, indices, routing.gates[indices, slots][:, None] * output)
    return result


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """A layer with float32 weights: ``router`` [E, d_model], per expert ``wi`` [d_ff, d_model]
    and ``wo`` [d_model, d_ff]."""

    config: LayerConfig
    router: np.ndarray
    wi: tuple[np.ndarray, ...]
    wo: tuple[np.ndarray, ...]

    def expert_output(self, expert: int, tokens: np.ndarray) -> np.ndarray:
        """Return float32[n, d_model], the FFN of ``expert`` on ``tokens``."""
        hidden = activate((tokens @ self.wi[expert].T).astype(np.float32), self.config.activation)
        return (hidden @ self.wo[expert].T).astype(np.float32)

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """Return float32[T, d_model], the layer's output on ``tokens``."""
        tokens = checked_tokens(tokens, self.config.model_width)
        routing = route(self.router, tokens, self.config)
        return combine(tokens, routing, self.config.experts, self.config.model_width,
                       self.expert_output)


def checked_tokens(tokens: np.ndarray, model_width: int, what: str = "tokens") -> np.ndarray:
    """Return ``tokens`` as float32[T, model_width] if they are finite floats of that width."""
    tokens = np.asarray(tokens)
    if not np.issubdtype(tokens.dtype, np.floating):
        raise TilerError(f"{what} hold {tokens.dtype} values, expected floating point")
    if tokens.ndim != 2 or tokens.shape[1] != model_width or tokens.shape[0] < 1:
        raise TilerError(f"{what} of shape {list(tokens.shape)}, expected [T, {model_width}] "
                         f"(T >= 1; the layer's d_model is {model_width})")
    values = np.ascontiguousarray(tokens, dtype=np.float32)
    if not np.isfinite(values).all():
        row, column = (int(i) for i in np.argwhere(~np.isfinite(values))[0])
        raise TilerError(f"{what} hold a NaN or infinite value at token {row}, feature {column}")
    return values
