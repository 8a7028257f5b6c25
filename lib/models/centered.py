"""Centred networks: subtract the function at initialisation.

``CenteredModel(model)`` computes ``g(x; θ) = f(x; θ) − f(x; θ₀)`` with ``θ₀`` a frozen copy
of ``model``'s parameters at wrapping time (the centring of Chizat et al. 2019). ``g`` has
the same Jacobian and NTK as ``f`` but outputs exactly 0 at initialisation, so in the
kernel regime its trained outputs converge to the *mean* of the NTK-GP (no random ``f₀`` term).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class CenteredModel(nn.Module):
    """``x [N, ...] -> f(x; θ) − f(x; θ₀)`` of shape ``[N, K]``; only ``self.model`` is trainable."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.initial = copy.deepcopy(model)
        for p in self.initial.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f0 = self.initial(x)
        return self.model(x) - f0
