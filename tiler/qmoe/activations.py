"""Synthetic layer inputs correlated as a transformer's hidden states are.

Hidden states of trained transformers are far from isotropic: most of their energy lies in a
low-dimensional subspace, and a few feature dimensions carry systematic outliers, in every
token, up to about 20x the others (Dettmers et al., LLM.int8(), arXiv 2208.07339). A token here
is ``z A + noise``: ``z`` standard normal over ``width * FACTOR_SHARE`` latent factors, ``A``
fixed Gaussian loadings, isotropic noise of standard deviation ``NOISE_LEVEL``; then
``OUTLIER_FEATURES`` fixed columns are multiplied by ``OUTLIER_SCALE``. Calibration and
held-out tokens come from one ``ActivationModel`` (same loadings and outlier columns) with
different sample seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiler.errors import TilerError
from tiler.qmoe.dictionary import frozen

# One latent factor per 8 features: the factors hold ~92 % of a token's energy at the noise
# level below (the rest isotropic).
FACTOR_SHARE = 1 / 8
NOISE_LEVEL = 0.3
# LLM.int8() finds a handful of outlier dimensions (6 in a 6.7B model's 4096), ~20x the rest.
OUTLIER_FEATURES = 6
OUTLIER_SCALE = 20.0


@dataclass(frozen=True, eq=False)
class ActivationModel:
    """A distribution of tokens: ``loadings`` float64[factors, width], the ``outliers``
    columns, the ``noise`` level."""

    loadings: np.ndarray
    outliers: np.ndarray
    noise: float

    @property
    def width(self) -> int:
        return self.loadings.shape[1]

    def sample(self, count: int, seed: int) -> np.ndarray:
        """Return float32[count, width] tokens drawn with ``seed``."""
        if count < 1:
            raise TilerError(f"need at least one token, got {count}")
        generator = np.random.default_rng(seed)
        factors = generator.standard_normal((count, self.loadings.shape[0]))
        tokens = factors @ self.loadings + self.noise * generator.standard_normal(
            (count, self.width))
        tokens[:, self.outliers] *= OUTLIER_SCALE
        return tokens.astype(np.float32)


def activation_model(width: int, seed: int = 0, noise: float = NOISE_LEVEL) -> ActivationModel:
    """Return the token distribution of a layer of ``width`` features (see the module)."""
    if width < 1:
        raise TilerError(f"a token needs at least one feature, got {width}")
    generator = np.random.default_rng(seed)
    factors = max(1, round(width * FACTOR_SHARE))
    loadings = generator.standard_normal((factors, width)) / np.sqrt(factors)
    outliers = np.sort(generator.choice(width, min(OUTLIER_FEATURES, width), replace=False))
    return ActivationModel(frozen(loadings), frozen(outliers), noise)
