"""Spectral learning curves against Monte Carlo kernel regression with Gaussian features, and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.kernel_regression import kernel_regression
from lib.learning_curves import Spectrum, predicted_error, spectrum_of, tail_power_exponent


def _gaussian_problem(dim=300, alpha=1.6, beta_target=1.0):
    k = np.arange(1, dim + 1, dtype=float)
    eta = k ** (-alpha)
    power = k ** (-(1 + beta_target))  # tail beyond k ~ k^-beta_target
    return eta, power


def _monte_carlo(eta, power, p, ridge_abs, trials, rng):
    dim = len(eta)
    a = np.sqrt(power)
    errors = []
    for _ in range(trials):
        z = rng.standard_normal((p + 1000, dim))  # eigenfunction values φ_j(x) = z_j
        x = z * np.sqrt(eta)                       # features with covariance diag(η): k(x, x') = x·x'
        y = z @ a
        xt = torch.from_numpy(x)
        k_all = xt @ xt.T
        rel = ridge_abs / float(k_all[:p, :p].diagonal().mean())
        pred = kernel_regression(k_all[:p, :p], torch.from_numpy(y[:p, None]), k_all[p:, :p], ridge=rel)
        errors.append(float(((pred[:, 0].numpy() - y[p:]) ** 2).mean()))
    return float(np.mean(errors))


@pytest.mark.parametrize("p", [20, 80])
def test_prediction_matches_monte_carlo_kernel_regression(p):
    eta, power = _gaussian_problem()
    spectrum = Spectrum(eta, power, ridge_scale=float(eta.sum()))
    ridge_abs = 1e-3
    predicted = predicted_error(spectrum, [p], ridge=ridge_abs / spectrum.ridge_scale)[0]
    simulated = _monte_carlo(eta, power, p, ridge_abs, trials=30, rng=np.random.default_rng(p))
    assert predicted == pytest.approx(simulated, rel=0.15)


def test_single_mode_against_its_exact_expectation():
    # one mode φ with E φ² = 1: the predictor is a φ(x) ηS/(ηS + λ) with S = Σ_i φ(x_i)² ~ χ²_p, so the exact
    # expected error is a² E[(λ / (ηS + λ))²]; the equations are its large-p expansion (a few % off at p = 50)
    spectrum = Spectrum(np.array([2.0]), np.array([3.0]), ridge_scale=2.0)
    p, lam = 50, 0.4
    s = np.random.default_rng(0).chisquare(p, size=400_000)
    exact = float((3.0 * (lam / (2.0 * s + lam)) ** 2).mean())
    assert predicted_error(spectrum, [p], ridge=lam / 2.0)[0] == pytest.approx(exact, rel=0.1)
    assert predicted_error(spectrum, [5000], ridge=lam / 2.0)[0] == pytest.approx(
        3.0 * lam ** 2 / (5000 * 2.0 + lam) ** 2, rel=0.01)  # leading order, exact as p grows


def test_empirical_spectrum_recovers_operator_eigenvalues_and_target_power():
    rng = np.random.default_rng(0)
    eta, power = _gaussian_problem(dim=40)
    m = 1500
    z = rng.standard_normal((m, 40))
    x = torch.from_numpy(z * np.sqrt(eta))
    y = torch.from_numpy(z @ np.sqrt(power))[:, None]
    spectrum = spectrum_of(x @ x.T, y)
    np.testing.assert_allclose(spectrum.eigenvalues[:5], eta[:5], rtol=0.1)
    np.testing.assert_allclose(spectrum.power[:2], power[:2], rtol=0.1)  # sampling error grows with the index
    assert spectrum.power[:10].sum() == pytest.approx(power[:10].sum(), rel=0.1)
    assert spectrum.tail()[0] == pytest.approx(float((y ** 2).mean()), rel=1e-10)


def test_tail_exponent_of_a_power_law_target():
    eta, power = _gaussian_problem(dim=1_000_000, beta_target=0.7)
    fit = tail_power_exponent(Spectrum(eta, power, 1.0), 10, 500)
    assert -fit.slope == pytest.approx(0.7, abs=0.03)


def test_predicted_exponent_follows_the_tail_exponent():
    eta, power = _gaussian_problem(dim=20000, alpha=1.5, beta_target=0.8)
    spectrum = Spectrum(eta, power, float(eta.sum()))
    sizes = np.array([100, 200, 400, 800, 1600])
    errors = predicted_error(spectrum, sizes, ridge=0.0)
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -slope == pytest.approx(0.8, abs=0.08)


def test_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        spectrum_of(torch.zeros(3, 4), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="targets"):
        spectrum_of(torch.eye(3), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="k_min"):
        tail_power_exponent(Spectrum(np.ones(5), np.ones(5), 1.0), 3, 9)
