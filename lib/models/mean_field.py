"""One-hidden-layer ReLU network in the mean-field (μP) parametrization.

``f(x) = (√2 / n) Σ_i a_i relu(√2 w_i·x / √d)`` with ``a_i, w_ij ~ N(0, 1)``: the NTK
parametrization with the readout scaled by ``1/n`` instead of ``1/√n`` (Mei, Montanari & Nguyen 2018;
Chizat & Bach 2018). For one hidden layer this is μP (Yang & Hu 2021). The output at initialisation
is ``O(n^{−1/2})`` and the NTK is ``O(1/n)``; gradient descent with a step ``∝ n`` (for example
``c·N/λ_max(Θ̂₀)``) keeps the function moving at a width-independent rate *and* moves the hidden
features by ``O(1)`` — no kernel regime as ``n → ∞``, unlike the NTK and standard parametrizations at
the same rule.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.models.layers import DenseLayer


def mean_field_mlp(in_features: int, width: int, out_features: int, *,
                   generator: torch.Generator | None = None) -> nn.Sequential:
    """``[N, d] -> [N, K]``: ``Dense(d, n) -> ReLU -> Dense(n, K)`` with readout scale ``√2 / n``.

    Both layers are :class:`lib.models.layers.DenseLayer` in the NTK parametrization (so the
    structured NTK code applies); the readout's ``sigma_w`` is ``√(2/n)``, giving
    ``weight_scale = √2 / n``. Biases are off.
    """
    for name, value in (("in_features", in_features), ("width", width), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    hidden = DenseLayer(in_features, width, parametrization="ntk", sigma_w=math.sqrt(2.0), bias=False,
                        generator=generator)
    readout = DenseLayer(width, out_features, parametrization="ntk", sigma_w=math.sqrt(2.0 / width), bias=False,
                         generator=generator)
    model = nn.Sequential(hidden, nn.ReLU(), readout)
    model.in_features, model.width, model.out_features = in_features, width, out_features
    return model
