"""lib.jacobian_change against dense float64 Jacobians from torch.func: Gram matrices, and the split of a Jacobian
change into its activation and smooth parts, with the frozen network written independently here."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.func import jacrev

from lib.jacobian_change import (
    feed_forward,
    jacobian_change,
    jacobian_gram,
    layer_signals,
    pre_activations,
)
from lib.models import MLP
from tests.test_ntk_kernels import reference_jacobian

PHI = {"relu": torch.relu, "softplus": nn.functional.softplus, "gelu": nn.functional.gelu}


def _perturbed(model: nn.Module, scale: float, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return moved


def _frozen_jacobian(model: nn.Sequential, x: torch.Tensor, anchors: list[torch.Tensor], phi) -> torch.Tensor:
    """Dense [NK, P] Jacobian of the network whose activations are replaced by φ(z⁰) + φ'(z⁰)(z − z⁰), with φ'
    from autograd (an independent implementation of the frozen network)."""
    slopes = [torch.func.vmap(torch.func.vmap(torch.func.grad(lambda t: phi(t))))(z0) for z0 in anchors]
    values = [phi(z0) for z0 in anchors]
    layers = list(model)[0::2]
    names = [n for n, _ in model.named_parameters()]

    def forward(params):
        a = x
        for i, layer in enumerate(layers):
            w = params[f"{2 * i}.weight"]
            z = layer.weight_scale * a @ w.T if hasattr(layer, "weight_scale") else a @ w.T
            bias = params.get(f"{2 * i}.bias")
            if bias is not None:
                z = z + (layer.bias_scale if hasattr(layer, "bias_scale") else 1.0) * bias
            if i == len(layers) - 1:
                return z
            a = values[i] + slopes[i] * (z - anchors[i])

    params = {n: p.detach() for n, p in model.named_parameters()}
    jac = jacrev(forward)(params)
    n, k = x.shape[0], layers[-1].weight.shape[0]
    return torch.cat([jac[name].reshape(n * k, -1) for name in names], dim=1)


@pytest.mark.parametrize("activation", ["relu", "softplus", "gelu"])
@pytest.mark.parametrize("depth", [1, 2])
def test_gram_matches_dense_jacobians(activation, depth):
    g = torch.Generator().manual_seed(depth)
    model = feed_forward(5, 9, depth, 3, activation=activation, generator=g).double()
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    j = reference_jacobian(model, x).reshape(12, -1)
    torch.testing.assert_close(jacobian_gram(layer_signals(model, x)), j @ j.T, rtol=1e-12, atol=1e-12)
    other = _perturbed(model, 0.3, 7)
    j2 = reference_jacobian(other, x).reshape(12, -1)
    torch.testing.assert_close(jacobian_gram(layer_signals(model, x), layer_signals(other, x)), j @ j2.T,
                               rtol=1e-12, atol=1e-12)


def test_gram_of_pytorch_linear_layers_with_biases_and_lib_mlp():
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 7), nn.ReLU(), nn.Linear(7, 7), nn.ReLU(), nn.Linear(7, 4)).double()
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    j = reference_jacobian(net, x).reshape(20, -1)
    torch.testing.assert_close(jacobian_gram(layer_signals(net, x)), j @ j.T, rtol=1e-12, atol=1e-12)
    mlp = MLP(6, 8, 2, 4, parametrization="ntk", sigma_b=0.5, generator=g).double()  # biases with a scale
    j = reference_jacobian(mlp, x).reshape(20, -1)
    torch.testing.assert_close(jacobian_gram(layer_signals(mlp, x)), j @ j.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "softplus", "gelu"])
def test_split_parts_sum_to_the_total_and_match_dense_norms(activation):
    g = torch.Generator().manual_seed(11)
    initial = feed_forward(6, 12, 2, 3, activation=activation, generator=g).double()
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    moved = _perturbed(initial, 0.4, 5)
    j0 = reference_jacobian(initial, x).reshape(15, -1)
    jt = reference_jacobian(moved, x).reshape(15, -1)
    jf = _frozen_jacobian(moved, x, pre_activations(initial, x), PHI[activation])
    torch.testing.assert_close((jt - jf) + (jf - j0), jt - j0, rtol=0, atol=1e-12)
    change = jacobian_change(moved, initial, x)
    norm = lambda m: torch.linalg.matrix_norm(m, ord=2).item()  # noqa: E731
    assert change.total == pytest.approx(norm(jt - j0), rel=1e-9)
    assert change.activation == pytest.approx(norm(jt - jf), rel=1e-9)
    assert change.smooth == pytest.approx(norm(jf - j0), rel=1e-9)
    fro = lambda m: torch.linalg.matrix_norm(m).item()  # noqa: E731
    assert change.total_fro == pytest.approx(fro(jt - j0), rel=1e-9)
    assert change.activation_fro == pytest.approx(fro(jt - jf), rel=1e-9)
    assert change.smooth_fro == pytest.approx(fro(jf - j0), rel=1e-9)
    # the frozen network at θ₀ is the network itself: no change, no activation part
    zero = jacobian_change(copy.deepcopy(initial), initial, x)
    assert zero.total == pytest.approx(0, abs=1e-7) and zero.activation == pytest.approx(0, abs=1e-7)


def test_relu_activation_part_is_carried_by_flipped_units_only():
    """For ReLU, a move that changes no sign has no activation part."""
    g = torch.Generator().manual_seed(2)
    initial = feed_forward(4, 10, 1, 2, activation="relu", generator=g).double()
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    moved = copy.deepcopy(initial)
    with torch.no_grad():
        moved[2].weight.add_(0.5)          # readout only: pre-activations unchanged
    change = jacobian_change(moved, initial, x)
    assert change.activation == pytest.approx(0, abs=1e-10) and change.smooth > 0.01


def test_inputs_are_not_modified_and_bad_models_are_refused():
    g = torch.Generator().manual_seed(0)
    model = feed_forward(3, 4, 1, 2, generator=g).double()
    x = torch.randn(2, 3, generator=g, dtype=torch.float64)
    before = [p.clone() for p in model.parameters()]
    x0 = x.clone()
    jacobian_change(_perturbed(model, 0.1, 1), model, x)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=False)) and torch.equal(x, x0)
    with pytest.raises(TypeError, match="nn.Sequential"):
        layer_signals(nn.Linear(3, 2).double(), x)
    with pytest.raises(TypeError, match="Unsupported activation"):
        layer_signals(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double(), x)
    with pytest.raises(ValueError, match="anchor"):
        layer_signals(model, x, anchor=[])
    with pytest.raises(ValueError, match="activation"):
        feed_forward(3, 4, 1, 2, activation="swish")
