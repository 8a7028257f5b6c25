"""The reward networks of the neural bandits: one scalar score per arm context.

* :func:`symmetric_network` — the network of NeuralUCB's analysis (Zhou et al. 2020, Sec. 3):
  ``f(x; θ) = √m · W_L σ(W_{L−1} ··· σ(W_1 x'))`` without biases, on the input
  ``x' = [x; x] / √2`` (Zhou et al. assume inputs of this doubled form with unit norm), and the
  *symmetric initialisation* ``W_l = [[W, 0], [0, W]]`` with ``W ~ N(0, 4/m)`` entries
  (``l < L``), ``W_L = (w, −w)`` with ``w ~ N(0, 2/m)``. The two halves compute the same value
  at ``θ₀``, so ``f(x; θ₀) = 0`` for every ``x`` (up to rounding); all entries, including the
  zero off-diagonal blocks, are trained.
* :func:`plain_network` — what the official code trains: a ReLU MLP with biases
  (:class:`lib.models.MLP`, He initialisation; the official code uses PyTorch's default
  ``nn.Linear`` initialisation), output not centred.

``parametrization`` is ``"standard"`` (the scales above live in the initial weights) or
``"ntk"`` (weights ``N(0, 1)``, the same scales applied in the forward pass): same function at
initialisation, different gradients, hence different NTKs and step sizes. Depth counts hidden
layers: ``depth = L − 1`` in Zhou et al.'s notation. Both networks are built from
:class:`lib.models.DenseLayer`, so :mod:`lib.ntk`'s structured kernels apply.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.models import MLP, count_parameters
from lib.models.layers import DenseLayer, _check_parametrization


class SymmetricNetwork(nn.Module):
    """Zhou et al.'s network (module doc): ``[N, D] -> [N, 1]``, ``f(x; θ₀) = 0``."""

    def __init__(self, in_features: int, width: int, depth: int, *, parametrization: str = "standard",
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        _check_parametrization(parametrization)
        if width < 2 or width % 2 or depth < 1 or in_features < 1:
            raise ValueError(f"Need an even width >= 2, depth >= 1 and in_features >= 1; got width={width}, "
                             f"depth={depth}, in_features={in_features}.")
        self.in_features, self.width, self.depth, self.parametrization = in_features, width, depth, parametrization
        half = width // 2
        ntk = parametrization == "ntk"
        layers: list[nn.Module] = []
        fan_in = 2 * in_features
        for _ in range(depth):
            layer = DenseLayer(fan_in, width, parametrization=parametrization, bias=False,
                               generator=generator).to(dtype)
            std = math.sqrt(4.0 / width)
            block = torch.randn(half, fan_in // 2, generator=generator, dtype=layer.weight.dtype)
            with torch.no_grad():
                layer.weight.zero_()
                layer.weight[:half, :fan_in // 2] = block * (1.0 if ntk else std)
                layer.weight[half:, fan_in // 2:] = block * (1.0 if ntk else std)
            layer.weight_scale = std if ntk else 1.0
            layers += [layer, nn.ReLU()]
            fan_in = width
        readout = DenseLayer(width, 1, parametrization=parametrization, bias=False, generator=generator).to(dtype)
        w = torch.randn(half, generator=generator, dtype=readout.weight.dtype)
        std = math.sqrt(2.0 / width)
        with torch.no_grad():
            readout.weight[0, :half] = w * (1.0 if ntk else std)
            readout.weight[0, half:] = -w * (1.0 if ntk else std)
        # the √m output factor of f(x; θ) = √m · W_L (...)
        readout.weight_scale = math.sqrt(width) * (std if ntk else 1.0)
        layers.append(readout)
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"expected inputs [N, {self.in_features}], got {tuple(x.shape)}.")
        return self.layers(torch.cat([x, x], dim=-1) / math.sqrt(2.0))


def symmetric_network(in_features: int, width: int, depth: int = 1, *, parametrization: str = "standard",
                      seed: int = 0, dtype: torch.dtype = torch.float64) -> SymmetricNetwork:
    """Zhou et al.'s symmetric network (module doc), initialised from ``seed``."""
    return SymmetricNetwork(in_features, width, depth, parametrization=parametrization,
                            generator=torch.Generator().manual_seed(seed), dtype=dtype)


def plain_network(in_features: int, width: int, depth: int = 1, *, parametrization: str = "standard",
                  seed: int = 0, dtype: torch.dtype = torch.float64) -> MLP:
    """The official code's network: a ReLU MLP with biases and He initialisation, ``[N, D] -> [N, 1]``."""
    return MLP(in_features, width, depth, 1, parametrization=parametrization,
               generator=torch.Generator().manual_seed(seed)).to(dtype)


def num_parameters(model: nn.Module) -> int:
    """``P``, the number of trainable parameters (:func:`lib.models.count_parameters`)."""
    return count_parameters(model)
