"""Power-law fits with bootstrap intervals; kernel ridge regression; tiled infinite-width kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.kernel_regression import absolute_ridge, kernel_regression, relu_ntk_matrix
from lib.ntk import relu_ntk
from lib.scaling import bootstrap_power_law, fit_power_law
from tests.tolerances import assert_close


def test_bootstrap_interval_covers_the_true_exponent_and_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    sizes = np.array([128, 256, 512, 1024, 2048])
    true_error = 0.8 * sizes**-0.4   # exponent 0.4

    def draw(t: int) -> np.ndarray:
        return (rng.random((len(sizes), 2, t)) < true_error[:, None, None]).astype(float)

    small = bootstrap_power_law(sizes, draw(2000), resamples=300, seed=1)
    large = bootstrap_power_law(sizes, draw(20000), resamples=300, seed=1)
    for result in (small, large):
        low, high = result.exponent_interval
        assert low < 0.4 < high and low < result.exponent < high
    assert (large.slope_high - large.slope_low) < (small.slope_high - small.slope_low)
    assert small.fit.slope == pytest.approx(fit_power_law(sizes, draw(2000).mean(axis=(1, 2))).slope, abs=0.1)


def test_bootstrap_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="shape"):
        bootstrap_power_law([1, 2, 3], np.ones((2, 1, 5)))


def test_kernel_regression_matches_a_direct_solve_and_interpolates():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    xs = torch.randn(7, 4, generator=g, dtype=torch.float64)
    y = torch.randn(30, 3, generator=g, dtype=torch.float64)
    k, ks = relu_ntk(x, depth=2)[1], relu_ntk(xs, x, depth=2)[1]
    lam = absolute_ridge(k, 0.1)
    assert lam == pytest.approx(0.1 * k.diagonal().mean().item())
    expected = ks @ torch.linalg.solve(k + lam * torch.eye(30, dtype=torch.float64), y)
    assert_close(kernel_regression(k, y, ks, ridge=0.1), expected, kind="method")
    # Specific tolerance (tests/tolerances.py): interpolation with ridge 0 solves an ill-conditioned kernel.
    torch.testing.assert_close(kernel_regression(k, y, k, ridge=0.0), y, rtol=1e-6, atol=1e-6)


def test_kernel_regression_explains_a_singular_kernel():
    x = torch.ones(3, 2, dtype=torch.float64)
    k = x @ x.T
    with pytest.raises(ValueError, match="increase ridge"):
        kernel_regression(k, torch.ones(3, 1, dtype=torch.float64), k, ridge=0.0)


@pytest.mark.parametrize("symmetric", [True, False])
def test_tiled_infinite_kernel_equals_one_block(symmetric):
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(23, 5, generator=g, dtype=torch.float64)
    x2 = None if symmetric else torch.randn(17, 5, generator=g, dtype=torch.float64)
    whole = relu_ntk(x1, x2, depth=3, sigma_b=0.1)[1]
    tiled = relu_ntk_matrix(x1, x2, depth=3, sigma_b=0.1, tile=6)
    assert_close(tiled, whole, kind="roundoff")
    if symmetric:
        assert torch.equal(tiled, tiled.T)


def test_power_law_exponent_over_runs_and_inversion():
    from lib.scaling import crossover, power_law_exponent

    rng = np.random.default_rng(0)
    x = np.array([128, 256, 512, 1024, 2048])
    draws = np.repeat(np.arange(5), 3)
    runs = 2.0 * x ** -0.4 * np.exp(rng.normal(0, 0.03, size=(15, 1)) + rng.normal(0, 0.01, size=(15, 5)))
    fit = power_law_exponent(x, runs, groups=draws, resamples=1000)
    assert fit.low < 0.4 < fit.high and fit.exponent == pytest.approx(0.4, abs=0.02)
    assert "draws" in fit.method and fit.interval.n == 15
    assert fit.fit.solve(float(fit.fit(300.0))) == pytest.approx(300.0)
    from lib.scaling import PowerLawFit

    a, b = PowerLawFit(-0.5, 0.0), PowerLawFit(-0.25, -1.0)
    cross = crossover(a, b)
    assert a(cross) == pytest.approx(b(cross)) and crossover(a, a) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        power_law_exponent(x, runs[:, :3])
