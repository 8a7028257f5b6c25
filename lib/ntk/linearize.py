"""The linearized network ``f_lin(x; θ) = f(x; θ₀) + J(x; θ₀)(θ − θ₀)`` (Lee et al. 2019)."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import jvp

from lib.ntk.checks import check_model, trainable_parameters
from lib.ntk.functional import call_with_parameters


class LinearizedModel(nn.Module):
    """First-order Taylor model of ``model`` around its parameters at construction time.

    The trainable parameters of this module (``params``, an ``nn.ParameterList``) have the
    shapes and the order of ``model``'s trainable parameters and start at ``θ₀``; training them trains
    ``f_lin``. The forward pass is one Jacobian-vector product, so its cost is about
    three forward passes of the original network. Its NTK equals the original network's
    NTK at ``θ₀`` for every θ.

    Input ``[N, ...]``, output ``[N, K]``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_model(model)
        self._base = copy.deepcopy(model)
        for p in self._base.parameters():
            p.requires_grad_(False)
        self._names = [name for name, _ in trainable_parameters(model)]
        self._theta0 = {name: p.detach().clone() for name, p in trainable_parameters(model)}
        self.params = nn.ParameterList(nn.Parameter(p.detach().clone()) for _, p in trainable_parameters(model))

    def theta0(self) -> dict[str, torch.Tensor]:
        """The expansion point ``θ₀`` as ``{name: tensor}``."""
        return dict(self._theta0)

    def current(self) -> dict[str, torch.Tensor]:
        """The current parameters θ as ``{name: tensor}`` (original names)."""
        return dict(zip(self._names, self.params))

    def _apply(self, fn, recurse=True):  # keep θ₀ on the same device/dtype as the module
        super()._apply(fn, recurse)
        self._theta0 = {k: fn(v) for k, v in self._theta0.items()}
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.current()
        delta = {name: theta[name] - self._theta0[name] for name in self._names}

        def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return call_with_parameters(self._base, params, x)

        f0, df = jvp(f, (self._theta0,), (delta,))
        return f0 + df


def linearize(model: nn.Module) -> LinearizedModel:
    """Return the linearization of ``model`` at its current parameters (a new module)."""
    return LinearizedModel(model)
