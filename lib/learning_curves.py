"""Learning curves of kernel regression predicted from a kernel's eigenspectrum.

For kernel ridge regression with a kernel whose integral operator has eigenvalues ``η_ρ`` and
orthonormal eigenfunctions ``φ_ρ``, and a target ``f* = Σ_ρ a_ρ φ_ρ``, the expected test error
(mean squared, summed over outputs) after ``p`` training samples is, to leading order in large
``p`` (Bordelon, Canatar & Pehlevan 2020; Canatar, Bordelon & Pehlevan 2021),

    E(p) = 1/(1 − γ) · Σ_ρ a_ρ² κ² / (p η_ρ + κ)²,
    κ   = λ + κ Σ_ρ η_ρ / (p η_ρ + κ),          γ = Σ_ρ p η_ρ² / (p η_ρ + κ)²,

with ``λ`` the ridge of the predictor ``k(x, X)(k(X, X) + λI)⁻¹ Y`` (noise-free targets). Modes with
``p η_ρ ≫ κ`` are learned, the others are not, so when the *target power beyond mode k*,
``T(k) = Σ_{ρ>k} a_ρ²``, falls as ``k^{−β}``, the error falls as ``p^{−β}`` (Spigler, Geiger & Wyart
2020 derive the same exponent for ridgeless regression): a kernel's data-scaling exponent is set by
how fast the target's power leaves its spectrum, not by the eigenvalues alone.

Empirically, from a kernel matrix ``K [M, M]`` on ``M`` samples of the input distribution with
eigenpairs ``(s_ρ, u_ρ)`` and targets ``Y [M, C]``: ``η_ρ ≈ s_ρ / M`` and
``a_ρ² ≈ Σ_c (u_ρᵀ Y_{:,c})² / M`` (the eigenfunctions at the samples are ``√M u_ρ``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq

from lib.scaling import PowerLawFit, fit_power_law

__all__ = ["Spectrum", "spectrum_of", "predicted_error", "tail_power_exponent"]


@dataclass(frozen=True)
class Spectrum:
    """Operator eigenvalues ``eigenvalues [M]`` (descending, ≥ 0) and target power per mode ``power [M]``.

    ``ridge_scale`` is the mean diagonal of the kernel matrix, so that a *relative* ridge ``ρ``
    (:mod:`lib.kernel_regression`) is the absolute ridge ``ρ · ridge_scale``.
    """

    eigenvalues: np.ndarray
    power: np.ndarray
    ridge_scale: float

    def tail(self) -> np.ndarray:
        """``T(k)``, the target power beyond the first ``k`` modes, for ``k = 0 … M`` (``T(0)`` is all of it)."""
        return np.concatenate([np.cumsum(self.power[::-1])[::-1], [0.0]])


def spectrum_of(kernel: torch.Tensor, targets: torch.Tensor) -> Spectrum:
    """The empirical :class:`Spectrum` of ``kernel [M, M]`` (symmetrized, float64) and ``targets [M, C]``."""
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square matrix [M, M]; got {tuple(kernel.shape)}.")
    if targets.dim() != 2 or targets.shape[0] != kernel.shape[0]:
        raise ValueError(f"targets must be [M={kernel.shape[0]}, C]; got {tuple(targets.shape)}.")
    k = kernel.detach().to(torch.float64).cpu()
    k = 0.5 * (k + k.T)
    if not torch.isfinite(k).all():
        raise ValueError("kernel contains NaN or infinite values.")
    values, vectors = torch.linalg.eigh(k)
    order = torch.argsort(values, descending=True)
    values, vectors = values[order].clamp_min(0.0), vectors[:, order]
    m = k.shape[0]
    projections = vectors.T @ targets.detach().to(torch.float64).cpu()  # [M, C]
    power = (projections ** 2).sum(dim=1) / m
    return Spectrum(values.numpy() / m, power.numpy(), float(k.diagonal().mean()))


def _kappa(eigenvalues: np.ndarray, p: float, ridge: float) -> float:
    """Solve ``κ = λ + κ Σ η/(pη + κ)`` for ``κ > 0``."""

    def h(kappa: float) -> float:  # increasing in κ; h(κ)/κ → 1 as κ → ∞
        return 1.0 - ridge / kappa - float(np.sum(eigenvalues / (p * eigenvalues + kappa)))

    top = float(eigenvalues.max()) * p + ridge + 1.0
    low = 1e-300 if ridge > 0 else 1e-30 * top
    if h(low) >= 0:  # fewer effective modes than samples and no ridge: everything is learned
        return low
    while h(top) <= 0:
        top *= 10
    return brentq(h, low, top, xtol=1e-300, rtol=1e-12, maxiter=500)


def predicted_error(spectrum: Spectrum, sizes: Sequence[int], *, ridge: float) -> np.ndarray:
    """Predicted test MSE ``E(p)`` (module docstring) at each ``p`` in ``sizes``.

    Args:
        spectrum: from :func:`spectrum_of`.
        sizes: training-set sizes ``p`` (positive).
        ridge: the *relative* ridge of :func:`lib.kernel_regression.kernel_regression`; the predictor's
            absolute ridge ``λ = ridge · mean diag(K)`` is the ``λ`` of the equations above (the Gram
            matrix ``k(X, X)`` is not divided by ``p`` in either).

    Returns:
        ``[len(sizes)]`` predicted mean squared test errors (summed over outputs).
    """
    eta = np.asarray(spectrum.eigenvalues, dtype=float)
    out = []
    for p in sizes:
        if p < 1:
            raise ValueError(f"Training-set sizes must be >= 1; got {p}.")
        lam = ridge * spectrum.ridge_scale
        kappa = _kappa(eta, float(p), lam)
        denominator = (p * eta + kappa) ** 2
        gamma = float(np.sum(p * eta ** 2 / denominator))
        if gamma >= 1:
            raise ValueError(f"The learning-curve equations are singular at p = {p} (γ = {gamma:.3f}); "
                             "use more samples M for the spectrum than the largest p.")
        out.append(float(np.sum(spectrum.power * kappa ** 2 / denominator)) / (1.0 - gamma))
    return np.asarray(out)


def tail_power_exponent(spectrum: Spectrum, k_min: int, k_max: int) -> PowerLawFit:
    """Fit ``T(k) ≈ c · k^{−β}`` over ``k_min ≤ k ≤ k_max``; the predicted data exponent is ``β = −slope``."""
    if not 1 <= k_min < k_max < len(spectrum.power):
        raise ValueError(f"Need 1 <= k_min < k_max < M = {len(spectrum.power)}; got {k_min}, {k_max}.")
    tail = spectrum.tail()
    ks = np.unique(np.geomspace(k_min, k_max, 30).astype(int))
    values = tail[ks]
    if np.any(values <= 0):
        raise ValueError("The target has no power beyond some k in the fit range; lower k_max.")
    return fit_power_law(ks, values)
