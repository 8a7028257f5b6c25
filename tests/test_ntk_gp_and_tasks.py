"""The NTK-GP against closed forms and Monte Carlo; the small data tasks of the chapters."""

from __future__ import annotations

import math

import pytest
import torch

from lib.data.synthetic import regression_1d, target_function
from lib.data.tasks import centred_one_hot, image_regression_task, sphere_normalize
from lib.models import MLP
from lib.ntk import empirical_ntk, gradient_descent_mse, ntk_gp_posterior, relu_ntk
from tests.tolerances import assert_close

DEPTH, SIGMA_B = 1, 0.5


def _kernels(x, xs):
    pairs = [relu_ntk(a, b, depth=DEPTH, sigma_b=SIGMA_B) for a, b in ((x, None), (xs, x), (xs, None))]
    return tuple(p[1] for p in pairs), tuple(p[0] for p in pairs)


def test_ntk_gp_with_ntk_equal_to_nngp_is_the_gp_posterior(generator):
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    xs = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    _, nngp = _kernels(x, xs)
    gp = ntk_gp_posterior(nngp, nngp, y)
    k_xx, k_sx, k_ss = nngp
    assert_close(gp.mean, k_sx @ torch.linalg.solve(k_xx, y), kind="solver")
    # Specific tolerance (tests/tolerances.py): a difference of nearly equal terms: cancellation.
    torch.testing.assert_close(gp.covariance, k_ss - k_sx @ torch.linalg.solve(k_xx, k_sx.T), rtol=1e-7, atol=1e-9)


def test_ntk_gp_at_time_zero_is_the_prior_and_steps_approach_flow(generator):
    x = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    xs = torch.randn(3, 2, generator=generator, dtype=torch.float64)
    y = torch.randn(5, 1, generator=generator, dtype=torch.float64)
    ntk, nngp = _kernels(x, xs)
    start = ntk_gp_posterior(ntk, nngp, y, t=0)
    assert torch.equal(start.mean, torch.zeros(3, 1, dtype=torch.float64))
    torch.testing.assert_close(start.covariance, nngp[2])
    flow = ntk_gp_posterior(ntk, nngp, y, t=2.0, learning_rate=1.0)
    steps = ntk_gp_posterior(ntk, nngp, y, t=20000, learning_rate=1e-4, steps=True)
    # Specific tolerance (tests/tolerances.py): discretization: small-step GD vs gradient flow.
    torch.testing.assert_close(steps.mean, flow.mean, rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="singular"):
        ntk_gp_posterior(_kernels(torch.cat([x, x[:1]]), xs)[0], _kernels(torch.cat([x, x[:1]]), xs)[1],
                         torch.cat([y, y[:1]]))


def test_ntk_gp_matches_an_ensemble_of_wide_linearized_networks():
    # Each trained linearized net: f_∞(x*) = f₀(x*) − Θ̂(x*, X) Θ̂⁻¹ (f₀(X) − y) with its own
    # empirical Θ̂ and f₀. Over 300 initialisations at width 2048 their mean and variance must
    # match the NTK-GP up to Monte Carlo and finite-width error.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 2, generator=g, dtype=torch.float64)
    xs = torch.randn(3, 2, generator=g, dtype=torch.float64)
    y = torch.randn(5, 1, generator=g, dtype=torch.float64)
    gp = ntk_gp_posterior(*_kernels(x, xs), y)
    outs = []
    for seed in range(300):
        net = MLP(2, 2048, DEPTH, 1, parametrization="ntk", sigma_b=SIGMA_B,
                  generator=torch.Generator().manual_seed(seed)).double()
        with torch.no_grad():
            f0, f0s = net(x), net(xs)
        dyn = gradient_descent_mse(empirical_ntk(net, x, mode="trace"), y)
        outs.append(dyn.test(f0s, empirical_ntk(net, xs, x, mode="trace"), f0)[:, 0])
    outs = torch.stack(outs)
    sd = gp.std
    # mean: MC standard error sd/√300 ≈ 0.06 sd; allow 4 of those plus 2% of the scale
    assert ((outs.mean(0) - gp.mean[:, 0]).abs() <= 4 * sd / math.sqrt(300) + 0.02 * y.abs().max()).all()
    # variance: relative MC error of a variance from 300 samples ≈ √(2/299) ≈ 8%; allow 30%
    # Specific tolerance (tests/tolerances.py): Monte Carlo estimate of a variance.
    torch.testing.assert_close(outs.var(0), sd**2, rtol=0.3, atol=1e-3)
    assert not torch.allclose(outs.var(0), torch.zeros(3, dtype=torch.float64), atol=1e-3)  # non-trivial check


def test_regression_1d_is_seeded_and_leaves_a_gap():
    a = regression_1d(20, generator=torch.Generator().manual_seed(1))
    b = regression_1d(20, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.shape == (20, 1) and a.x_grid.shape == (200, 1)
    assert (a.x_train.abs() >= 0.35).all() and (a.x_train.abs() <= 1.5).all()
    torch.testing.assert_close(a.f_grid, target_function(a.x_grid))
    noise = a.y_train - target_function(a.x_train)
    assert 0.01 < noise.std().item() < 0.15


def test_sphere_normalization_and_centred_targets():
    x = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 1.0, 0.0]])
    z = sphere_normalize(x)
    # Specific tolerance (tests/tolerances.py): float32 standardized data: mean 0 up to single-precision rounding.
    torch.testing.assert_close(z.mean(1), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(z.norm(dim=1), torch.full((2,), 2.0))
    with pytest.raises(ValueError, match="constant"):
        sphere_normalize(torch.ones(1, 4))
    y = centred_one_hot(torch.tensor([2, 0]), 4)
    torch.testing.assert_close(y.sum(1), torch.zeros(2))
    assert y[0, 2] == pytest.approx(0.75) and y[0, 0] == pytest.approx(-0.25)


def test_image_regression_task_from_real_mnist():
    task = image_regression_task("mnist", 50, 30, seed=4, classes=[3, 8])
    assert task.x_train.shape == (50, 784) and task.y_train.shape == (50, 2) and task.x_test.shape == (30, 784)
    assert set(task.labels_train.tolist()) <= {0, 1} and task.classes == ("3 - three", "8 - eight")
    torch.testing.assert_close(task.x_train.norm(dim=1), torch.full((50,), 28.0))
    again = image_regression_task("mnist", 50, 30, seed=4, classes=[3, 8])
    assert torch.equal(task.x_train, again.x_train)
    with pytest.raises(ValueError, match="distinct indices"):
        image_regression_task("mnist", 5, 5, seed=0, classes=[3, 3])
    with pytest.raises(ValueError, match="not an image dataset"):
        image_regression_task("mushroom", 5, 5, seed=0)
