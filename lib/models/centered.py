"""Centred networks: subtract the function at initialisation.

``CenteredModel(model)`` computes ``g(x; θ) = f(x; θ) − f(x; θ₀)`` with ``θ₀`` a frozen copy
of ``model``'s parameters at wrapping time (the centring of Chizat et al. 2019). ``g`` has
the same Jacobian and NTK as ``f`` but outputs exactly 0 at initialisation, so in the
kernel regime its trained outputs converge to the *mean* of the NTK-GP (no random ``f₀`` term).

:class:`ScaledModel` multiplies a model's output by a constant ``α``: the output scale of Chizat, Oyallon & Bach
(2019), whose kernel is ``α² Θ``; ``α → ∞`` (with the step size scaled by ``1/α²``) is the lazy limit.
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


class ScaledModel(nn.Module):
    """``x [N, ...] -> scale · f(x; θ)`` of shape ``[N, K]``; its NTK is ``scale² Θ`` (module docstring)."""

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        from lib.validation import check_positive

        self.model = model
        self.scale = check_positive("scale", scale, fix="pass an output scale α > 0 such as 1.0")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.model(x)
