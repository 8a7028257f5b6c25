"""Chapter 1's kernels in closed form for one-hidden-layer, bias-free networks, and kernel regression with them.

A network ``f(x) = s₂ A φ(s₁ W x)`` (``W [n, d]``, ``A [K, n]``, the scales ``s₁, s₂`` are the layers'
``weight_scale``: ``σ_w/√fan_in`` in the NTK parametrization and μP, 1 in the standard one) has the output-summed
empirical NTK

    Θ(x, x') = Σ_k ⟨∂f_k(x)/∂θ, ∂f_k(x')/∂θ⟩
             = K s₂² ⟨φ(h), φ(h')⟩ + s₂² s₁² (x·x') Σ_j (Σ_k A_kj²) φ'(h_j) φ'(h'_j),     h = s₁ W x,

computed here from ``[N, n]`` feature matrices — exact, and far cheaper than Jacobians for the ``[N_test, N_train]``
kernels the after-kernel test needs (tested against :func:`lib.ntk.empirical_ntk`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["one_hidden_layer_ntk", "kernel_regression_accuracy"]


def _activation_and_derivative(activation: nn.Module, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``φ(h)`` and ``φ'(h)`` elementwise (``φ`` an elementwise module such as ``nn.ReLU`` or ``nn.GELU``)."""
    with torch.enable_grad():
        hh = h.detach().requires_grad_(True)
        out = activation(hh)
        (grad,) = torch.autograd.grad(out.sum(), hh)
    return out.detach(), grad.detach()


def one_hidden_layer_ntk(model: nn.Sequential, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """The output-summed empirical NTK ``[N1, N2]`` (float64) of ``Sequential(hidden, φ, readout)``, both layers
    bias-free :class:`lib.models.layers.DenseLayer` s, between ``x1 [N1, d]`` and ``x2 [N2, d]``."""
    hidden, activation, readout = model[0], model[1], model[2]
    if getattr(hidden, "bias", None) is not None or getattr(readout, "bias", None) is not None:
        raise ValueError("one_hidden_layer_ntk needs bias-free layers; use lib.ntk.empirical_ntk for nets with "
                         "biases.")
    s1, s2 = float(hidden.weight_scale), float(readout.weight_scale)
    w = hidden.weight.detach().double()                              # [n, d]
    a2 = readout.weight.detach().double().pow(2).sum(dim=0)          # [n]: Σ_k A_kj²
    k = readout.weight.shape[0]
    x1, x2 = x1.detach().double(), x2.detach().double()
    phi1, d1 = _activation_and_derivative(activation, s1 * x1 @ w.T)
    phi2, d2 = _activation_and_derivative(activation, s1 * x2 @ w.T)
    readout_term = k * s2**2 * phi1 @ phi2.T
    hidden_term = s2**2 * s1**2 * (x1 @ x2.T) * ((d1 * a2) @ d2.T)
    return readout_term + hidden_term


def kernel_regression_accuracy(k_train: torch.Tensor, k_test_train: torch.Tensor, y_train: torch.Tensor,
                               labels_test: torch.Tensor, *, ridge: float = 1e-6) -> float:
    """Test accuracy of kernel regression (the t → ∞ limit of gradient flow on the squared loss with this kernel,
    started from zero): ``argmax Θ(X*, X) (Θ(X, X) + ρ I)⁻¹ Y``, with ``ρ = ridge · mean diag Θ(X, X)`` for
    numerical safety; NaN when the kernel is not finite or zero (a diverged or dead network).

    Args: ``k_train [N, N]``, ``k_test_train [M, N]``, ``y_train [N, K]``, ``labels_test [M]``.
    """
    k_train, k_test_train = k_train.double(), k_test_train.double()
    rho = ridge * k_train.diagonal().mean()
    if not (torch.isfinite(k_train).all() and torch.isfinite(k_test_train).all() and rho > 0):
        return float("nan")                          # a diverged or dead network has no usable kernel
    eye = torch.eye(k_train.shape[0], dtype=k_train.dtype, device=k_train.device)
    targets = y_train.double().to(k_train.device)
    try:
        alpha = torch.linalg.solve(k_train + rho * eye, targets)
    except torch.linalg.LinAlgError:                 # numerically singular (e.g. most units dead): least squares
        alpha = torch.linalg.lstsq(k_train.cpu() + rho.cpu() * eye.cpu(), targets.cpu(), driver="gelsd").solution
        alpha = alpha.to(k_train.device)
    predicted = (k_test_train @ alpha).argmax(dim=1)
    return float((predicted.cpu() == labels_test.cpu()).double().mean())
