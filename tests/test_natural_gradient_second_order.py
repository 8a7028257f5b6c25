"""Mini-batch natural gradient and the K-FAC wrapper against dense float64 references: the damped NGD step vs a
dense solve with the Fisher from explicit Jacobians, the wrapper's K-FAC vs curvlinops' own matrix, and K-FAC vs the
exact GGN where the Kronecker factorization is exact."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lib.kernel_change import flat_parameters
from lib.kfac import KFAC, kfac_direction, kfac_operator
from lib.training import kernel_from_signals, minibatch_natural_gradient_step
from tests.test_ntk_kernels import reference_jacobian


def _net(seed: int = 0, hidden: int = 6) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, hidden), nn.ReLU(), nn.Linear(hidden, 4)).double()


def _batch(n: int = 7, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (n,), generator=g)


def _fisher_and_gradient(model, x, labels):
    """Dense Fisher (= GGN) of the mean cross-entropy [P, P] and its gradient [P], from explicit Jacobians."""
    j = reference_jacobian(model, x)                            # [B, K, P]
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)
    h = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]      # [B, K, K]
    b = x.shape[0]
    fisher = torch.einsum("nap,nab,nbq->pq", j, h, j) / b
    g = p - nn.functional.one_hot(labels, p.shape[1]).double()
    return fisher, torch.einsum("nap,na->p", j, g) / b


@pytest.mark.parametrize("kernel_fn", [None, kernel_from_signals])
def test_minibatch_ngd_step_is_the_damped_dense_solve(kernel_fn):
    model = _net()
    x, labels = _batch()
    fisher, grad = _fisher_and_gradient(model, x, labels)
    damping, eta = 0.05, 0.7
    expected = flat_parameters(model) - eta * torch.linalg.solve(fisher + damping * torch.eye(len(grad),
                                                                                              dtype=grad.dtype), grad)
    minibatch_natural_gradient_step(model, x, labels, learning_rate=eta, damping=damping, kernel_fn=kernel_fn)
    torch.testing.assert_close(flat_parameters(model), expected, rtol=1e-8, atol=1e-10)


def test_minibatch_ngd_rejects_bad_settings_and_a_diverged_network():
    model = _net()
    x, labels = _batch()
    with pytest.raises(ValueError, match="damping"):
        minibatch_natural_gradient_step(model, x, labels, learning_rate=1.0, damping=0.0)
    with torch.no_grad():
        model[0].weight.fill_(float("inf"))
    with pytest.raises(ValueError):
        minibatch_natural_gradient_step(model, x, labels, learning_rate=1.0, damping=0.1)


def _dense(operator, p: int) -> torch.Tensor:
    return operator @ torch.eye(p, dtype=torch.float64)


def test_kfac_direction_is_the_damped_solve_with_curvlinops_matrix():
    """The wrapper's step equals (A⊗B + λI)⁻¹ g with curvlinops' dense K-FAC matrix — per layer block, since the
    exact damping is applied to each Kronecker block."""
    model = _net(hidden=5)
    x, labels = _batch()
    params = [p for p in model.parameters()]
    p = sum(q.numel() for q in params)
    damping = 0.1
    direction, loss = kfac_direction(model, x, labels, damping=damping, fisher_type="type-2")
    dense = _dense(kfac_operator(model, x, labels, fisher_type="type-2"), p)
    value = nn.functional.cross_entropy(model(x), labels)
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(value, params)])
    expected = torch.linalg.solve(dense + damping * torch.eye(p, dtype=torch.float64), grad)
    torch.testing.assert_close(torch.cat([d.reshape(-1) for d in direction]), expected, rtol=1e-7, atol=1e-10)
    assert loss == pytest.approx(value.item())


def test_kfac_is_the_exact_ggn_for_a_linear_model_on_one_input():
    """One sample through one linear layer: A = a aᵀ and B = the output Hessian, so A ⊗ B is the GGN exactly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3, bias=False)).double()
    x, labels = _batch(n=1)
    labels = labels % 3
    dense = _dense(kfac_operator(model, x, labels, fisher_type="type-2"), 15)
    j = reference_jacobian(model, x)[0]                          # [K, P]
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)[0]
    ggn = j.T @ (torch.diag(p) - torch.outer(p, p)) @ j
    torch.testing.assert_close(dense, ggn, rtol=1e-9, atol=1e-12)


def test_kfac_optimizer_reuses_its_curvature_and_trains():
    model = _net(hidden=8)
    x, labels = _batch(n=32)
    reference = copy.deepcopy(model)
    opt = KFAC(model, learning_rate=0.5, damping=0.1, update_every=3, seed=0)
    losses = [opt.step(x, labels) for _ in range(6)]
    assert losses[-1] < losses[0] and opt.steps == 6
    # the first step equals kfac_direction with the same sampled labels (seed 0)
    direction, _ = kfac_direction(reference, x, labels, damping=0.1, seed=0)
    first = copy.deepcopy(reference)
    KFAC(first, learning_rate=0.5, damping=0.1, seed=0).step(x, labels)
    expected = flat_parameters(reference) - 0.5 * torch.cat([d.reshape(-1) for d in direction])
    torch.testing.assert_close(flat_parameters(first), expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="damping"):
        KFAC(model, learning_rate=0.1, damping=0.0)
    with pytest.raises(ValueError, match="fisher_type"):
        KFAC(model, learning_rate=0.1, damping=0.1, fisher_type="exact")


def test_kfac_running_averages_and_momentum_against_a_union_batch_reference():
    """One linear layer, squared loss: A = mean x xᵀ over the batch and B is the same on every batch and at every θ,
    so the average of two batches' factors (decay 0.5, two updates: weights ½, ½) is K-FAC on the union of the two
    batches. The second step is then θ₂ = θ₁ − η (μ d₁ + d₂) with d₂ = (K-FAC(union) + λI)⁻¹ ∇L(θ₁; batch 2)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3)).double()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, 3, generator=g, dtype=torch.float64)
    (x1, y1), (x2, y2) = (x[:4], y[:4]), (x[4:], y[4:])
    lr, mu, damping = 0.3, 0.9, 0.1
    start = copy.deepcopy(model)
    opt = KFAC(model, learning_rate=lr, damping=damping, momentum=mu, ema=0.5, loss="mse", fisher_type="type-2")
    opt.step(x1, y1)
    opt.step(x2, y2)
    d1, _ = kfac_direction(start, x1, y1, damping=damping, loss="mse", fisher_type="type-2")
    d1 = torch.cat([d.reshape(-1) for d in d1])
    theta1 = flat_parameters(start) - lr * d1
    torch.nn.utils.vector_to_parameters(theta1, start.parameters())
    p = theta1.numel()
    union = _dense(kfac_operator(start, x, y, loss="mse", fisher_type="type-2"), p)
    value = nn.functional.mse_loss(start(x2), y2)
    grad = torch.cat([q.reshape(-1) for q in torch.autograd.grad(value, list(start.parameters()))])
    d2 = torch.linalg.solve(union + damping * torch.eye(p, dtype=torch.float64), grad)
    torch.testing.assert_close(flat_parameters(model), theta1 - lr * (mu * d1 + d2), rtol=1e-8, atol=1e-10)
    # decays and momenta outside [0, 1) are refused with the fix named
    plain = copy.deepcopy(model)
    for decay in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema"):
            KFAC(plain, learning_rate=lr, damping=damping, ema=decay)
    with pytest.raises(ValueError, match="momentum"):
        KFAC(plain, learning_rate=lr, damping=damping, momentum=1.0)
