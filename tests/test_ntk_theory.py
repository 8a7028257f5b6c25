"""Infinite-width kernels, linearized dynamics and natural gradient against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from test_ntk_kernels import reference_jacobian, reference_ntk

from lib.models import MLP
from lib.ntk import (
    apply_step,
    empirical_ntk,
    gauss_newton_step,
    gradient_descent_mse,
    kernel_matrix,
    linearize,
    output_loss_derivatives,
    relu_ntk,
)
from tests.tolerances import assert_close


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_relu_ntk_diagonal_closed_form(depth, generator):
    x = torch.randn(7, 11, generator=generator, dtype=torch.float64)
    nngp, ntk = relu_ntk(x, depth=depth, sigma_w=math.sqrt(2.0), sigma_b=0.0)
    norms = (x * x).sum(1) / 11
    # Specific tolerance (tests/tolerances.py): closed form: tighter than roundoff.
    torch.testing.assert_close(torch.diagonal(ntk), (depth + 1) * 2 * norms, rtol=1e-14, atol=0)
    # Specific tolerance (tests/tolerances.py): closed form: tighter than roundoff.
    torch.testing.assert_close(torch.diagonal(nngp), 2 * norms, rtol=1e-14, atol=0)
    assert torch.equal(ntk, ntk.T) and torch.equal(nngp, nngp.T)


def test_relu_ntk_one_layer_arccos_formula(generator):
    """Depth 1, sigma_b = 0: Θ = Σ¹ + σ_w² κ₀ Σ¹ ... written out with arccos for well-separated points."""
    x1 = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    x2 = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    sw2 = 1.7
    s11 = sw2 * (x1 * x1).sum(1) / 3
    s22 = sw2 * (x2 * x2).sum(1) / 3
    s12 = sw2 * x1 @ x2.T / 3
    norm = torch.sqrt(s11[:, None] * s22[None, :])
    theta = torch.arccos(s12 / norm)
    kappa1 = norm * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) / (2 * math.pi)
    kappa0 = (math.pi - theta) / (2 * math.pi)
    expected_nngp = sw2 * kappa1
    expected_ntk = sw2 * kappa0 * s12 + expected_nngp
    nngp, ntk = relu_ntk(x1, x2, depth=1, sigma_w=math.sqrt(sw2))
    assert_close(nngp, expected_nngp, kind="roundoff")
    assert_close(ntk, expected_ntk, kind="roundoff")


def test_relu_ntk_diagonal_is_exact_for_nearly_parallel_points(generator):
    x = torch.randn(1, 5, generator=generator, dtype=torch.float64)
    nngp, ntk = relu_ntk(torch.cat([x, x * (1 + 1e-9)]), depth=4)
    nngp_self, ntk_self = relu_ntk(x, depth=4)
    # the off-diagonal (nearly identical points) is continuous with the exact diagonal
    assert abs(ntk[0, 1] / ntk_self[0, 0] - 1) < 1e-6


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_monte_carlo_empirical_ntk_converges_to_relu_ntk(parametrization):
    """≥ 20 seeds at width 1024: relative Frobenius error of the seed- and output-averaged kernel < 5 %."""
    depth, width, k, d = 2, 1024, 3, 6
    data = torch.Generator().manual_seed(123)
    x = torch.randn(5, d, generator=data, dtype=torch.float64)
    sigma_b = 0.5
    _, expected = relu_ntk(x, depth=depth, sigma_w=math.sqrt(2.0), sigma_b=sigma_b,
                           parametrization=parametrization, width=width)
    kernels = []
    for seed in range(20):
        model = MLP(d, width, depth, k, parametrization=parametrization, sigma_b=sigma_b,
                    generator=torch.Generator().manual_seed(seed)).double()
        kernels.append(empirical_ntk(model, x, mode="trace") / k)
    mean = torch.stack(kernels).mean(0)
    error = torch.linalg.matrix_norm(mean - expected) / torch.linalg.matrix_norm(expected)
    assert error < 0.05, f"relative Frobenius error {error:.3f}"
    # and the test can fail: a wrong depth is far off
    _, wrong = relu_ntk(x, depth=depth + 1, sigma_b=sigma_b, parametrization=parametrization, width=width)
    assert torch.linalg.matrix_norm(mean - wrong) / torch.linalg.matrix_norm(wrong) > 0.1


def test_linearized_model_is_first_order_taylor_expansion(generator):
    model = MLP(3, 8, 2, 2, parametrization="ntk", generator=generator).double()
    x = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    lin = linearize(model)
    # Specific tolerance (tests/tolerances.py): at θ₀ nothing but the forward pass: tighter.
    torch.testing.assert_close(lin(x), model(x), rtol=1e-14, atol=1e-14)
    delta = [0.1 * torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in lin.params]
    with torch.no_grad():
        for p, dp in zip(lin.params, delta):
            p.add_(dp)
    flat_delta = torch.cat([d.flatten() for d in delta])
    expected = model(x) + torch.einsum("nkp,p->nk", reference_jacobian(model, x), flat_delta)
    assert_close(lin(x), expected, kind="roundoff")
    # its NTK is the original network's NTK at θ₀, wherever it is evaluated
    assert_close(empirical_ntk(lin, x), reference_ntk(model, x, x), kind="method")


def test_closed_form_gd_matches_training_the_linearized_model(generator):
    model = MLP(3, 16, 1, 2, parametrization="ntk", generator=generator).double()
    x_train = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    x_test = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    lin = linearize(model)
    f0_train, f0_test = model(x_train).detach(), model(x_test).detach()
    kernel = empirical_ntk(model, x_train)
    lr = 0.5 / torch.linalg.eigvalsh(kernel_matrix(kernel)).max().item()
    steps = 25
    optimizer = torch.optim.SGD(lin.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * ((lin(x_train) - y) ** 2).sum()).backward()
        optimizer.step()
    dynamics = gradient_descent_mse(kernel, y, learning_rate=lr)
    assert_close(dynamics.train(f0_train, steps, steps=True), lin(x_train).detach(), kind="solver")
    predicted = dynamics.test(f0_test, empirical_ntk(model, x_test, x_train), f0_train, steps, steps=True)
    assert_close(predicted, lin(x_test).detach(), kind="solver")


def test_closed_form_end_point_is_kernel_regression(generator):
    x = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    xs = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    y = torch.randn(5, 1, generator=generator, dtype=torch.float64)
    _, k_xx = relu_ntk(x, depth=2)
    _, k_sx = relu_ntk(xs, x, depth=2)
    dynamics = gradient_descent_mse(k_xx, y, learning_rate=1.0)
    zeros_train, zeros_test = torch.zeros(5, 1, dtype=torch.float64), torch.zeros(3, 1, dtype=torch.float64)
    torch.testing.assert_close(dynamics.test(zeros_test, k_sx, zeros_train), k_sx @ torch.linalg.solve(k_xx, y))
    torch.testing.assert_close(dynamics.train(zeros_train), y)
    # gradient flow at a finite time: f_t = y + exp(-ηΘt)(f_0 - y), via the matrix exponential
    t = 0.7
    expected = y + torch.linalg.matrix_exp(-t * k_xx) @ (zeros_train - y)
    assert_close(dynamics.train(zeros_train, t), expected, kind="method")


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gauss_newton_step_equals_parameter_space_formula(loss, generator):
    model = MLP(4, 6, 2, 3, generator=generator, sigma_b=0.3).double()
    x = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(5, 3, generator=generator, dtype=torch.float64) if loss == "mse" else torch.tensor([0, 2, 1, 1, 0])
    damping, lr = 1e-3, 0.7
    step = gauss_newton_step(model, x, y, loss=loss, learning_rate=lr, damping=damping)
    j = reference_jacobian(model, x).reshape(15, -1)
    g, h = output_loss_derivatives(model(x).detach(), y, loss)
    if loss == "cross_entropy":  # independent check of g and H by autograd
        f = model(x).detach().requires_grad_(True)
        hessian = torch.autograd.functional.hessian(
            lambda z: torch.nn.functional.cross_entropy(z.reshape(5, 3), y, reduction="sum"), f.reshape(-1))
        assert_close(h, hessian, kind="roundoff")
    dense = -lr * torch.linalg.solve(j.T @ h @ j + damping * torch.eye(j.shape[1], dtype=j.dtype), j.T @ g)
    # Specific tolerance (tests/tolerances.py): damping 1e-3: the P x P solve is ill-conditioned.
    torch.testing.assert_close(step.direction, dense, rtol=1e-8, atol=1e-10)


def test_one_gauss_newton_step_hits_mse_targets_on_a_linear_model(generator):
    model = MLP(10, 1, 0, 2, generator=generator).double()  # depth 0: a linear model with P = 22 > N K = 8
    x = torch.randn(4, 10, generator=generator, dtype=torch.float64)
    y = torch.randn(4, 2, generator=generator, dtype=torch.float64)
    step = gauss_newton_step(model, x, y, loss="mse", learning_rate=1.0, damping=0.0)
    apply_step(model, step.direction)
    # Specific tolerance (tests/tolerances.py): undamped solve with the NK x NK Gram matrix.
    torch.testing.assert_close(model(x), y, rtol=1e-8, atol=1e-8)
