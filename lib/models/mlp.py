"""Fully connected ReLU networks."""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.models.layers import DenseLayer
from lib.validation import check_nonnegative_int, check_positive_int


class MLP(nn.Sequential):
    """ReLU MLP with ``depth`` hidden layers of size ``width`` and a linear readout.

    ``MLP(d, n, L, K)`` computes ``x [N, d] -> [N, K]`` through
    ``Dense(d, n) -> ReLU -> (Dense(n, n) -> ReLU) * (L - 1) -> Dense(n, K)``,
    every dense layer with the same ``sigma_w``, ``sigma_b`` and parametrization
    (see :mod:`lib.models.layers`). With ``parametrization="ntk"`` the empirical
    NTK converges, as ``width -> inf``, to :func:`lib.ntk.relu_ntk` with the same
    ``depth``, ``sigma_w`` and ``sigma_b``.

    Args:
        in_features: input dimension ``d``.
        width: hidden width ``n``.
        depth: number of hidden layers ``L >= 1`` (``depth=0`` is a linear model).
        out_features: output dimension ``K``.
        parametrization: ``"standard"`` or ``"ntk"``.
        sigma_w, sigma_b: weight and bias standard deviations (``sigma_w**2 / fan_in``
            is the weight variance in the standard parametrization).
        bias: whether the dense layers have biases.
        generator: explicit RNG for the initialisation.
    """

    def __init__(self, in_features: int, width: int, depth: int, out_features: int, *,
                 parametrization: str = "standard", sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.0,
                 bias: bool = True, generator: torch.Generator | None = None) -> None:
        in_features = check_positive_int("in_features", in_features, example=784)
        width = check_positive_int("width", width, example=512)
        depth = check_nonnegative_int("depth", depth, example=2)
        out_features = check_positive_int("out_features", out_features, example=10)
        if depth < 0 or width < 1 or in_features < 1 or out_features < 1:
            raise ValueError(f"Need depth >= 0 and positive sizes; got in={in_features}, width={width}, "
                             f"depth={depth}, out={out_features}.")
        kwargs = dict(parametrization=parametrization, sigma_w=sigma_w, sigma_b=sigma_b, bias=bias,
                      generator=generator)
        layers: list[nn.Module] = []
        fan_in = in_features
        for _ in range(depth):
            layers += [DenseLayer(fan_in, width, **kwargs), nn.ReLU()]
            fan_in = width
        layers.append(DenseLayer(fan_in, out_features, **kwargs))
        super().__init__(*layers)
        self.in_features, self.width, self.depth, self.out_features = in_features, width, depth, out_features
        self.parametrization = parametrization

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise TypeError(f"MLP expects inputs [N, {self.in_features}] as a tensor, got {type(x).__name__}"
                            f"{'' if not isinstance(x, torch.Tensor) else ' of shape ' + str(tuple(x.shape))}.")
        if x.dim() > 2:
            x = x.flatten(1)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP expects inputs [N, {self.in_features}], got {tuple(x.shape)}.")
        return super().forward(x)
