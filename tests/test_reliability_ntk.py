"""Bad inputs and faults against lib.ntk: clear errors, no silent wrong numbers, no mutated models or inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lib.models import MLP
from lib.ntk import (
    apply_step,
    empirical_ntk,
    gauss_newton_step,
    gradient_descent_mse,
    gram_eigenvalues,
    jacobian,
    jacobian_difference_norm,
    linearize,
    ntk_gp_posterior,
    ntk_vp,
    relu_ntk,
)


def _shared_model() -> nn.Module:
    torch.manual_seed(0)
    lin = nn.Linear(4, 4)
    return nn.Sequential(lin, nn.Tanh(), lin, nn.Tanh(), nn.Linear(4, 2)).double()


def _frozen_layer_model() -> nn.Module:
    model = MLP(4, 6, 2, 2, generator=torch.Generator().manual_seed(1)).double()
    model[0].weight.requires_grad_(False)
    return model


def _snapshot(model: nn.Module) -> list:
    return [(m, name, p, p.detach().clone(), p.requires_grad, type(p))
            for m in model.modules() for name, p in m._parameters.items() if p is not None]


def _assert_unchanged(model: nn.Module, snap: list) -> None:
    for module, name, obj, value, grad, kind in snap:
        now = module._parameters[name]
        assert now is obj, f"parameter {name} of {type(module).__name__} was replaced"
        assert type(now) is kind and now.requires_grad == grad
        assert torch.equal(now.detach(), value)


def _reference_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Θ[n, m, a, b] from per-sample autograd gradients (independent of torch.func)."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for n in range(x.shape[0]):
        out = model(x[n:n + 1])[0]
        for a in range(out.shape[0]):
            grads = torch.autograd.grad(out[a], params, retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    j = torch.stack(rows).reshape(x.shape[0], -1, rows[0].numel())
    return torch.einsum("nap,mbp->nmab", j, j)


CALLS = {
    "empirical_ntk-auto": lambda m, x: empirical_ntk(m, x),
    "empirical_ntk-jacobian": lambda m, x: empirical_ntk(m, x, method="jacobian"),
    "empirical_ntk-ntk_vp": lambda m, x: empirical_ntk(m, x, method="ntk_vp"),
    "empirical_ntk-tiled": lambda m, x: empirical_ntk(m, x, x[:2], batch_size=1, mode="trace"),
    "ntk_vp": lambda m, x: ntk_vp(m, x, x, torch.ones(x.shape[0], 2, dtype=x.dtype)),
    "jacobian": lambda m, x: jacobian(m, x),
    "linearize": lambda m, x: linearize(m)(x),
    "gauss_newton_step": lambda m, x: gauss_newton_step(m, x, torch.zeros(x.shape[0], 2, dtype=x.dtype),
                                                         damping=1e-3),
    "gram_eigenvalues": lambda m, x: gram_eigenvalues(m, x),
    "jacobian_difference_norm": lambda m, x: jacobian_difference_norm(m, m, x, iterations=2,
                                                                      generator=torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("build", [_shared_model, _frozen_layer_model], ids=["shared", "frozen"])
@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_no_ntk_function_mutates_the_model_or_inputs(build, call):
    model = build()
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x_before = x.clone()
    before = empirical_ntk(model, x, method="jacobian")
    snap = _snapshot(model)
    CALLS[call](model, x)
    _assert_unchanged(model, snap)
    assert torch.equal(x, x_before)
    if build is _shared_model:
        assert model[0].weight is model[2].weight
    torch.testing.assert_close(empirical_ntk(model, x, method="jacobian"), before)


def test_shared_layer_kernel_matches_autograd_reference_after_ntk_vp():
    model = _shared_model()
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ntk_vp(model, x, x, torch.ones(3, 2, dtype=torch.float64))
    for method in ("auto", "jacobian", "ntk_vp"):
        torch.testing.assert_close(empirical_ntk(model, x, method=method), _reference_kernel(model, x))


def _mlp():
    return MLP(4, 8, 1, 2, generator=torch.Generator().manual_seed(0)).double()


X = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))


def _frozen_all():
    m = _mlp()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _nan_model():
    m = _mlp()
    with torch.no_grad():
        m[0].weight[0, 0] = float("nan")
    return m


BAD = [
    ("uint8 images", lambda: empirical_ntk(_mlp(), (X * 50).abs().to(torch.uint8)), TypeError, "uint8.*/ 255"),
    ("all frozen auto", lambda: empirical_ntk(_frozen_all(), X), ValueError, "requires_grad=True.*frozen"),
    ("all frozen jacobian", lambda: jacobian(_frozen_all(), X), ValueError, "frozen"),
    ("all frozen linearize", lambda: linearize(_frozen_all()), ValueError, "frozen"),
    ("nan parameter", lambda: empirical_ntk(_nan_model(), X), ValueError, "NaN or infinite"),
    ("float batch_size", lambda: empirical_ntk(_mlp(), X, batch_size=2.5), TypeError, "batch_size.*2.5.*int"),
    ("zero batch_size", lambda: empirical_ntk(_mlp(), X, batch_size=0), ValueError, "batch_size.*positive"),
    ("nan input", lambda: empirical_ntk(_mlp(), X.clone().fill_(float("nan"))), ValueError, "NaN"),
    ("empty input", lambda: empirical_ntk(_mlp(), X[:0]), ValueError, "N >= 1"),
    ("float32 input", lambda: empirical_ntk(_mlp(), X.float()), ValueError, "dtype"),
    ("not a tensor", lambda: empirical_ntk(_mlp(), X.tolist()), TypeError, "torch.Tensor"),
    ("not a model", lambda: empirical_ntk(lambda x: x, X), TypeError, "nn.Module"),
    ("bad mode", lambda: empirical_ntk(_mlp(), X, mode="sum"), ValueError, "use one of"),
    ("bad method", lambda: empirical_ntk(_mlp(), X, method="fast"), ValueError, "use one of"),
    ("v wrong shape", lambda: ntk_vp(_mlp(), X, X, torch.ones(3, 3, dtype=torch.float64)), ValueError, r"\[N2, K\]"),
    ("v nan", lambda: ntk_vp(_mlp(), X, X, torch.full((3, 2), float("nan"), dtype=torch.float64)), ValueError,
     "v contains"),
    ("v list", lambda: ntk_vp(_mlp(), X, X, [[1.0, 2.0]] * 3), TypeError, "v must be a torch.Tensor"),
    ("float chunk", lambda: jacobian(_mlp(), X, chunk_size=1.5), TypeError, "chunk_size"),
    ("gn nan lr", lambda: gauss_newton_step(_mlp(), X, torch.zeros(3, 2, dtype=torch.float64),
                                            learning_rate=float("nan")), ValueError, "learning_rate.*finite"),
    ("gn nan damping", lambda: gauss_newton_step(_mlp(), X, torch.zeros(3, 2, dtype=torch.float64),
                                                 damping=float("nan")), ValueError, "damping"),
    ("gn negative damping", lambda: gauss_newton_step(_mlp(), X, torch.zeros(3, 2, dtype=torch.float64),
                                                      damping=-1.0), ValueError, "damping"),
    ("gn ce damping 0", lambda: gauss_newton_step(_mlp(), X, torch.tensor([0, 1, 0]), loss="cross_entropy"),
     ValueError, "singular.*damping > 0"),
    ("gn ce label range", lambda: gauss_newton_step(_mlp(), X, torch.tensor([0, 5, 0]), loss="cross_entropy",
                                                    damping=1e-3), ValueError, "0..1"),
    ("gn mse singular", lambda: gauss_newton_step(_mlp(), torch.cat([X[:1]] * 3), torch.zeros(3, 2,
                                                  dtype=torch.float64)), ValueError, "singular.*damping > 0"),
    ("gn bad loss", lambda: gauss_newton_step(_mlp(), X, torch.zeros(3, 2, dtype=torch.float64), loss="hinge"),
     ValueError, "use one of"),
    ("gn nan target", lambda: gauss_newton_step(_mlp(), X, torch.full((3, 2), float("nan"), dtype=torch.float64),
                                                damping=1e-3), ValueError, "y contains"),
    ("gn wrong kernel", lambda: gauss_newton_step(_mlp(), X, torch.zeros(3, 2, dtype=torch.float64), damping=1e-3,
                                                  kernel=torch.eye(6, dtype=torch.float64)), ValueError, "kernel"),
    ("apply nan step", lambda: apply_step(_mlp(), torch.full((sum(p.numel() for p in _mlp().parameters()),),
                                                             float("nan"), dtype=torch.float64)), ValueError, "NaN"),
    ("relu_ntk float depth", lambda: relu_ntk(X, depth=2.0), TypeError, "depth.*int such as 2"),
    ("relu_ntk nan sigma", lambda: relu_ntk(X, depth=1, sigma_w=float("nan")), ValueError, "sigma_w"),
    ("relu_ntk int input", lambda: relu_ntk(torch.ones(2, 3, dtype=torch.long), depth=1), TypeError, "floating"),
    ("jdn float iterations", lambda: jacobian_difference_norm(_mlp(), _mlp(), X, iterations=2.5), TypeError,
     "iterations"),
]


@pytest.mark.parametrize("probe", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_give_clear_errors(probe):
    _, call, error, match = probe
    with pytest.raises(error, match=match):
        call()


def _dynamics():
    kernel = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    return gradient_descent_mse(kernel, torch.tensor([[1.0], [-1.0]], dtype=torch.float64)), kernel


DYN = [
    ("negative t", lambda d: d.train(torch.zeros(2, 1, dtype=torch.float64), -1.0), ValueError, "t must be"),
    ("nan t", lambda d: d.train(torch.zeros(2, 1, dtype=torch.float64), float("nan")), ValueError, "t must be"),
    ("fractional steps", lambda d: d.train(torch.zeros(2, 1, dtype=torch.float64), 1.5, steps=True), ValueError,
     "whole number"),
    ("wrong f0", lambda d: d.train(torch.zeros(3, 1, dtype=torch.float64)), ValueError, "f0 must"),
    ("kernel wrong width", lambda d: d.test(torch.zeros(4, 1, dtype=torch.float64),
                                            torch.ones(4, 3, dtype=torch.float64),
                                            torch.zeros(2, 1, dtype=torch.float64)), ValueError, r"\[4, 2\]"),
    ("nan f0_test", lambda d: d.test(torch.full((4, 1), float("nan"), dtype=torch.float64),
                                     torch.ones(4, 2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)),
     ValueError, "f0_test contains"),
]


@pytest.mark.parametrize("probe", DYN, ids=[b[0] for b in DYN])
def test_mse_dynamics_rejects_bad_arguments(probe):
    dynamics, _ = _dynamics()
    _, call, error, match = probe
    with pytest.raises(error, match=match):
        call(dynamics)


@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0, float("inf")])
def test_gradient_descent_mse_rejects_bad_learning_rates(lr):
    _, kernel = _dynamics()
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_descent_mse(kernel, torch.zeros(2, 1, dtype=torch.float64), learning_rate=lr)


def test_mse_dynamics_valid_call_matches_closed_form():
    dynamics, kernel = _dynamics()
    y = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    f0 = torch.zeros(2, 1, dtype=torch.float64)
    expected = y + torch.linalg.matrix_exp(-kernel * 0.7) @ (f0 - y)
    torch.testing.assert_close(dynamics.train(f0, 0.7), expected)


@pytest.mark.parametrize("kwargs, match", [(dict(ridge=float("nan")), "ridge"), (dict(t=-1.0), "t must"),
                                           (dict(learning_rate=float("nan")), "learning_rate")])
def test_ntk_gp_posterior_rejects_nan_and_negative_settings(kwargs, match):
    k = torch.eye(2, dtype=torch.float64)
    kernels = (k, torch.ones(1, 2, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match=match):
        ntk_gp_posterior(kernels, kernels, torch.zeros(2, 1, dtype=torch.float64), **kwargs)


def test_gauss_newton_mse_damping_zero_on_a_regular_system_still_works():
    model = MLP(4, 16, 1, 1, generator=torch.Generator().manual_seed(0)).double()
    y = torch.zeros(3, 1, dtype=torch.float64)
    step = gauss_newton_step(model, X, y)
    assert torch.isfinite(step.direction).all() and not math.isnan(step.direction.norm().item())
