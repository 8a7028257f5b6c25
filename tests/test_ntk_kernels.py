"""Empirical NTKs and Jacobians against independent float64 references."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, jacrev

from lib.models import MLP, SmallCNN
from lib.ntk import empirical_ntk, jacobian, ntk_vp
from tests.tolerances import assert_close

METHODS = ["structured", "jacobian", "ntk_vp", "auto"]


def reference_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Dense Jacobian [N, K, P] by torch.func.jacrev on the whole batch (no vmap, no hooks)."""
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    jac = jacrev(lambda p: functional_call(model, p, (x,)))(params)
    n, k = x.shape[0], model(x[:1]).shape[1]
    return torch.cat([j.reshape(n, k, -1) for j in jac.values()], dim=2)


def reference_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    j1, j2 = reference_jacobian(model, x1), reference_jacobian(model, x2)
    return torch.einsum("nap,mbp->nmab", j1, j2)


def finite_difference_jacobian(model: nn.Module, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    columns = []
    with torch.no_grad():
        for p in params:
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                up = model(x)
                flat[i] = old - eps
                down = model(x)
                flat[i] = old
                columns.append((up - down) / (2 * eps))
    return torch.stack(columns, dim=2)


def make_model(kind: str, k: int, bias: bool, generator: torch.Generator) -> tuple[nn.Module, torch.Tensor]:
    if kind == "mlp_ntk":
        model = MLP(5, 7, 2, k, parametrization="ntk", sigma_b=0.3, bias=bias, generator=generator)
        x = torch.randn(6, 5, generator=generator)
    elif kind == "mlp_standard":
        model = MLP(5, 7, 3, k, parametrization="standard", sigma_b=0.2, bias=bias, generator=generator)
        x = torch.randn(6, 5, generator=generator)
    elif kind == "torch_linear":
        model = nn.Sequential(nn.Linear(4, 6, bias=bias), nn.Tanh(), nn.Linear(6, k, bias=bias))
        x = torch.randn(5, 4, generator=generator)
    else:  # cnn
        model = SmallCNN(2, 3, 2, k, bias=bias, sigma_b=0.1, generator=generator)
        x = torch.randn(4, 2, 6, 6, generator=generator)
    return model.double(), x.double()


CASES = [(kind, k, bias) for kind in ["mlp_ntk", "mlp_standard", "torch_linear", "cnn"]
         for k in [1, 3] for bias in [True, False]]


@pytest.mark.parametrize("kind,k,bias", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_matches_float64_reference(kind, k, bias, method, generator):
    model, x = make_model(kind, k, bias, generator)
    x2 = x[:3] + 0.1 * torch.randn(3, *x.shape[1:], generator=generator, dtype=torch.float64)
    expected = reference_ntk(model, x, x2)
    got = empirical_ntk(model, x, x2, method=method)
    assert got.shape == (x.shape[0], 3, k, k)
    assert_close(got, expected, kind="method")
    expected_sym = reference_ntk(model, x, x)
    got_sym = empirical_ntk(model, x, method=method)
    assert_close(got_sym, expected_sym, kind="method")
    assert torch.equal(got_sym, got_sym.permute(1, 0, 3, 2)), "x2=None must give an exactly symmetric kernel"


@pytest.mark.parametrize("kind", ["mlp_ntk", "cnn"])
@pytest.mark.parametrize("method", ["structured", "jacobian", "ntk_vp"])
def test_trace_and_diagonal_are_consistent_with_full(kind, method, generator):
    model, x = make_model(kind, 3, True, generator)
    full = empirical_ntk(model, x, method=method)
    diag = empirical_ntk(model, x, mode="diagonal", method=method)
    trace = empirical_ntk(model, x, mode="trace", method=method)
    assert_close(diag, torch.diagonal(full, dim1=2, dim2=3), kind="roundoff")
    assert_close(trace, torch.diagonal(full, dim1=2, dim2=3).sum(-1), kind="roundoff")


@pytest.mark.parametrize("method", ["structured", "jacobian", "ntk_vp"])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("mode", ["full", "trace"])
def test_tiling_gives_the_same_kernel(method, symmetric, mode, generator):
    model, x = make_model("mlp_ntk", 2, True, generator)
    x = torch.cat([x, x + 1.0])  # 12 samples, tiles of 5 leave a ragged edge
    x2 = None if symmetric else x[:7] * 0.5
    whole = empirical_ntk(model, x, x2, mode=mode, method=method)
    tiled = empirical_ntk(model, x, x2, mode=mode, method=method, batch_size=5)
    assert_close(tiled, whole, kind="roundoff")
    if symmetric:
        assert torch.equal(tiled, tiled.transpose(0, 1) if mode == "trace" else tiled.permute(1, 0, 3, 2))


@pytest.mark.parametrize("kind", ["mlp_ntk", "torch_linear", "cnn"])
@pytest.mark.parametrize("bias", [True, False])
def test_jacobian_matches_finite_differences(kind, bias, generator):
    model, x = make_model(kind, 2, bias, generator)
    got = jacobian(model, x)
    expected = finite_difference_jacobian(model, x)
    assert got.shape == expected.shape
    # Specific tolerance (tests/tolerances.py): finite differences: O(h²) truncation error.
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
    assert_close(jacobian(model, x, chunk_size=2), got, kind="roundoff")


@pytest.mark.parametrize("kind", ["mlp_standard", "cnn"])
def test_ntk_vp_equals_flattened_kernel_times_vector(kind, generator):
    model, x = make_model(kind, 3, True, generator)
    x2 = x.flip(0)[:4]
    v = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    kernel = reference_ntk(model, x, x2)
    expected = torch.einsum("nmab,mb->na", kernel, v)
    assert_close(ntk_vp(model, x, x2, v), expected, kind="method")


def test_frozen_parameters_are_excluded(generator):
    model, x = make_model("mlp_ntk", 2, True, generator)
    model[0].weight.requires_grad_(False)
    expected = reference_ntk(model, x, x)
    for method in ["structured", "jacobian", "ntk_vp"]:
        assert_close(empirical_ntk(model, x, method=method), expected, kind="method")
    assert jacobian(model, x).shape[2] == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_auto_falls_back_for_unsupported_layers(generator):
    model = nn.Sequential(nn.Linear(4, 5), nn.LayerNorm(5), nn.ReLU(), nn.Linear(5, 2)).double()
    x = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    assert_close(empirical_ntk(model, x), reference_ntk(model, x, x), kind="method")
    with pytest.raises(ValueError, match="LayerNorm"):
        empirical_ntk(model, x, method="structured")


def test_shared_module_and_inplace_relu_are_detected(generator):
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.Tanh(), shared, nn.Linear(4, 2)).double()
    x = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    with pytest.raises(ValueError, match="called 2 times"):
        empirical_ntk(model, x, method="structured")
    assert_close(empirical_ntk(model, x), reference_ntk(model, x, x), kind="method")
    inplace = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)).double()
    with pytest.raises(ValueError, match="in place"):
        empirical_ntk(inplace, x, method="structured")
    assert_close(empirical_ntk(inplace, x), reference_ntk(inplace, x, x), kind="method")
